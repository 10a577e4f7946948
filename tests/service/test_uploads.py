"""Name checks of uploads (unit level, beside the server tests in test_documents.py)."""

from __future__ import annotations

import pytest

from generator.service.uploads import UnsafeName, safe_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("a.md", "a.md"), ("docs/a.md", "docs/a.md"), ("./docs//a.md", "docs/a.md"),
     ("docs\\a.md", "docs/a.md"), ("ünïcode/é.md", "ünïcode/é.md")],
)  # fmt: skip
def test_safe_names(raw: str, expected: str) -> None:
    assert safe_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "  ", "/etc/passwd", "\\\\server\\share\\a.md", "C:\\a.md", "c:a.md", "../a.md",
     "a/../../b.md", "a/..", "..", "a\x00.md", "a\nb.md", "a\u2028b.md", ".", "./",
     "x" * 256 + ".md", "/".join(["d"] * 40) + "/a.md"],
)  # fmt: skip
def test_unsafe_names(raw: str) -> None:
    with pytest.raises(UnsafeName):
        safe_name(raw)
