"""Freshness: past review date, superseded, and old documents go to review."""

from __future__ import annotations

from datetime import date

from generator.curate.freshness import FreshnessConfig, FreshnessStep
from generator.records import AlpacaRecord, Meta, SourceRef


def _rec(rid: str, path: str, **info: str) -> AlpacaRecord:
    meta = Meta(
        id=rid,
        format="alpaca",
        source=SourceRef(path=path, doc_sha256="0" * 64, chunk_id="c", span=(0, 1)),
        source_info=info,
    )
    return AlpacaRecord(instruction="What is the VPN host?", output="vpn.example.com", meta=meta)


def test_outdated_sources_go_to_review_by_document() -> None:
    step = FreshnessStep(FreshnessConfig(today=date(2026, 11, 25), max_age_days=365))
    records = [
        _rec("fresh", "it/vpn.md", updated="2026-10-01", review_by="2027-06-01"),
        _rec("past", "it/old-vpn.md", updated="2026-01-01", review_by="2026-06-30"),
        _rec("super", "hr/leave-2023.md", updated="2026-02-01", superseded_by="hr/leave.md"),
        _rec("old", "manual/v1.pdf", updated="2023-05-02T10:00:00Z"),
        _rec("undated", "faq.md"),
    ]
    kept = list(step.run(records))
    assert [r.meta.id for r in kept] == ["fresh", "undated"]
    reasons = {e.record.meta.id: e.reason for e in step.excluded}
    assert reasons == {
        "past": "outdated:past_review_by",
        "super": "outdated:superseded_by",
        "old": "outdated:older_than",
    }
    assert all(e.destination == "review" for e in step.excluded)
    assert step.stats()["by_document"]["it/old-vpn.md"] == ["past_review_by:2026-06-30"]


def test_age_check_can_be_disabled_and_action_changed() -> None:
    step = FreshnessStep(
        FreshnessConfig(today=date(2026, 11, 25), max_age_days=None, action="excluded")
    )
    kept = list(
        step.run(
            [
                _rec("old", "a.md", updated="2001-01-01"),
                _rec("past", "b.md", review_by="2020-01-01"),
            ]
        )
    )
    assert [r.meta.id for r in kept] == ["old"]
    assert step.excluded[0].destination == "excluded"


def test_source_paths_in_the_report_are_escaped_on_one_line() -> None:
    """A file name holding a newline or an escape sequence must not break the report's
    table or drive the terminal: printed escaped, as ingest prints it."""
    from generator.curate.risk_report import risk_sections

    step = FreshnessStep(FreshnessConfig(today=date(2026, 11, 25)))
    bad = "it/old\nvpn\x1b[31m.md"
    records = [_rec("past", bad, review_by="2026-06-30", superseded_by="it/new\r\nvpn.md")]
    assert list(step.run(records)) == []
    stats = {"step": "freshness", **step.stats()}
    assert list(stats["by_document"]) == ["it/old\\nvpn\\x1b[31m.md"]
    assert stats["by_document"]["it/old\\nvpn\\x1b[31m.md"] == ["past_review_by:2026-06-30"]
    rows = [line for line in risk_sections([stats], None) if "vpn" in line]
    assert rows == ["| it/old\\nvpn\\x1b[31m.md | past_review_by:2026-06-30 |"]
    details = step.excluded[0].details["reasons"]
    assert "superseded_by:it/new\\r\\nvpn.md" in details
