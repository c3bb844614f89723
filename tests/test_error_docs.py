"""docs/api.md's error table says what the API answers: every code, its status and its
description, as the ErrorCode enum carries them, and no code the API does not have."""

import re
from pathlib import Path

from otp.errors import ErrorCode

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
ROW = re.compile(r"^\| `(?P<code>[a-z_]+)` \| (?P<status>\d{3}) \| (?P<when>.+?) \|$")


def _documented_errors() -> dict[str, tuple[int, str]]:
    section = API_DOC.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = (ROW.match(line) for line in section.splitlines())
    return {m["code"]: (int(m["status"]), m["when"]) for m in rows if m}


def test_the_error_table_in_the_docs_matches_the_error_codes():
    documented = _documented_errors()
    expected = {code.value: (code.status, code.description) for code in ErrorCode}
    assert documented == expected
