"""URL credentials are scrubbed from everything we write or print (generator/redact.py)."""

from __future__ import annotations

import pytest

from generator.export.legal import scrub
from generator.providers.errors import scrub as scrub_error
from generator.redact import scrub_url_credentials


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://u:p@host/v1", "https://***@host/v1"),
        (
            "http://TOKEN@h:8/x and https://a:b@c@d.e/f?x=1",
            "http://***@h:8/x and https://***@d.e/f?x=1",
        ),
        ("https:/u:p@host/v1", "https:/***@host/v1"),  # a URL that went through Path()
        ("https://u:p%40x@h", "https://***@h"),
        ("mail a@b.com", "mail a@b.com"),
        ("https://host/v1?u=a@b", "https://host/v1?u=a@b"),
        ("https://host/v1", "https://host/v1"),
    ],
)
def test_scrub_url_credentials(text: str, expected: str) -> None:
    assert scrub_url_credentials(text) == expected


def test_error_and_manifest_scrubbers_remove_url_credentials() -> None:
    assert "pw" not in scrub_error("cannot connect to https://me:pw1234@llm.example.net/v1")
    config = {"api_base": "https://me:pw1234@llm.example.net/v1", "n": [1, "x"]}
    assert scrub(config, {}) == {"api_base": "https://***@llm.example.net/v1", "n": [1, "x"]}
