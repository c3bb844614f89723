"""The console's shape: its views write only through services and read only through
selectors, it imports otp and gateways only through their selectors, streams imports
nothing above it, and a signed-in user without an account is told how to get one."""

import ast
from pathlib import Path

import pytest

from tests.support import factories

ROOT = Path(__file__).resolve().parent.parent
VIEWS = ROOT / "console" / "views"
OUR_APPS = {"streams", "gateways", "otp", "console", "compat", "config", "bench"}
WRITES = {
    "save",
    "delete",
    "update",
    "create",
    "get_or_create",
    "update_or_create",
    "bulk_create",
    "bulk_update",
}


def direct_model_access(source: str) -> list[str]:
    """Calls that write (``x.save()``, ``qs.update()``, ...) and any ``Model.objects``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        if call and node.func.attr in WRITES:
            found.append(f"line {node.lineno}: .{node.func.attr}(")
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            found.append(f"line {node.lineno}: .objects")
    return found


def test_the_check_sees_writes_and_queries():
    source = "form.save()\nqs.update(status=1)\nStream.objects.filter(pk=1)\nd.get('x')\n"
    assert direct_model_access(source) == ["line 1: .save(", "line 2: .update(", "line 3: .objects"]


def test_console_views_write_through_services_and_read_through_selectors():
    modules = sorted(VIEWS.glob("*.py"))
    assert len(modules) > 3
    offences = {
        path.name: found
        for path in modules
        if (found := direct_model_access(path.read_text(encoding="utf-8")))
    }
    assert offences == {}


def imported_modules(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` (a folder under the project) and what it imports from
    our apps, in-function imports included; migrations left out."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(ROOT))] = {n for n in names if n.split(".")[0] in OUR_APPS}
    return found


def test_streams_imports_no_other_app_of_ours():
    upward = {
        module: {n for n in names if n.split(".")[0] != "streams"}
        for module, names in imported_modules("streams").items()
    }
    assert {module: names for module, names in upward.items() if names} == {}


def test_the_console_reads_otp_and_gateways_only_through_their_selectors():
    # The routing rules are the account's configuration kept by gateways: the console
    # edits them with a model form and writes them through their service module.
    allowed = {
        "otp.selectors",
        "gateways.selectors",
        "gateways.sms.sms_parts",
        "gateways.rules",
        "gateways.models.RouteRule",
    }
    crossing = {
        module: {n for n in names if n.split(".")[0] in {"otp", "gateways"}} - allowed
        for module, names in imported_modules("console").items()
    }
    assert {module: names for module, names in crossing.items() if names} == {}
    top = {
        module: {n for n in names if n.split(".")[0] in {"compat", "bench", "config"}}
        for module, names in imported_modules("console").items()
    }
    assert {module: names for module, names in top.items() if names} == {}


@pytest.mark.django_db
def test_signed_in_user_without_an_account_is_told_how_to_get_access(client):
    client.force_login(factories.make_user())  # a user of no account
    for url in ("/", "/streams/", "/senders/", "/contacts/", "/outbox/"):
        response = client.get(url)
        assert response.status_code == 403, url
        html = response.content.decode()
        assert "No account yet" in html
        assert "ask an owner or an admin of your account to invite you" in html
        assert 'href="/admin/"' in html
