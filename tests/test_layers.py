"""The layering rule of docs/architecture.md, kept true by walking every import (lazy
ones inside functions included) of the product's packages with ``ast``.

Bottom: ``streams`` (tenancy and stream configuration, and the platform's shared
primitives), then ``gateways`` (may use ``streams``); middle: ``otp``; top: ``console``,
``compat`` and ``bench``, which do not import each other; ``config`` wires everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each package and the product packages it may import (besides itself).
MAY_IMPORT: dict[str, set[str]] = {
    "streams": set(),
    "gateways": {"streams"},
    "otp": {"streams", "gateways"},
    "console": {"streams", "gateways", "otp"},
    "compat": {"streams", "gateways", "otp"},
    "bench": {"streams", "gateways", "otp", "config"},
    "config": {"streams", "gateways", "otp", "console", "compat", "bench"},
}
PACKAGES = set(MAY_IMPORT)


def imports_of(path: Path, package: str) -> set[tuple[str, int]]:
    """(imported product package, line) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module_parts = path.relative_to(ROOT).with_suffix("").parts
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's own package
                base = module_parts[: len(module_parts) - node.level]
                names = [".".join((*base, node.module or ""))]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in PACKAGES and top != package:
                found.add((top, node.lineno))
    return found


def all_imports() -> list[tuple[str, str, str, int]]:
    """(package, file, imported package, line) for every cross-package import."""
    rows = []
    for package in sorted(PACKAGES):
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported, line in imports_of(path, package):
                rows.append((package, str(path.relative_to(ROOT)), imported, line))
    return rows


def test_the_walk_sees_the_product_and_its_imports():
    rows = all_imports()
    assert {package for package, *_ in rows} >= {"gateways", "otp", "console", "compat"}
    assert ("otp", "gateways") in {(p, imported) for p, _, imported, _ in rows}


def test_no_package_imports_upward_or_sideways():
    upward = [
        f"{file}:{line} ({package} imports {imported})"
        for package, file, imported, line in all_imports()
        if imported not in MAY_IMPORT[package]
    ]
    assert upward == []


def test_no_cycle_between_apps():
    edges = {(package, imported) for package, _, imported, _ in all_imports()}
    cycles = sorted(f"{a} <-> {b}" for a, b in edges if (b, a) in edges and a < b)
    assert cycles == []


@pytest.mark.parametrize("package", sorted(PACKAGES - {"bench"}))
def test_every_package_is_a_django_app_or_the_wiring(package):
    assert (ROOT / package / "__init__.py").exists()
    assert (ROOT / package / "apps.py").exists()
