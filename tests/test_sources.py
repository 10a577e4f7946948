"""sources.yaml: globs, labels, dates and the verdicts per source label."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.config import policies_dir
from generator.errors import ConfigError
from generator.pathglob import _run, compile_glob, glob_match
from generator.records import USES
from generator.sources import (
    SourceInfo,
    label_rules,
    label_rules_ref,
    label_verdict,
    load_sources,
    source_info,
    source_verdict,
)

SOURCES_YAML = """\
sources:
  "handbook/**":
    labels: [internal]
    review_by: 2027-01-31
  "handbook/hr/*.md":
    labels: [confidential]
    updated: 2025-03-01
  "vendor/*.pdf":
    labels: [third-party-copyright]
  "handbook/old-leave.md":
    superseded_by: handbook/leave.md
  "open/":
    labels: [CC-BY-4.0, made-up-label]
verdicts:
  internal: {public-release: block}
"""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    (tmp_path / "sources.yaml").write_text(SOURCES_YAML, encoding="utf-8")
    return tmp_path


def test_no_sources_file_is_fine(tmp_path: Path) -> None:
    assert load_sources(tmp_path) is None
    info = source_info("a.md", {}, None, None)
    assert info == SourceInfo() and info.to_meta()["labels"] == []


def test_globs_combine_labels_and_the_most_specific_date_wins(docs: Path) -> None:
    table = load_sources(docs)
    hr = source_info("handbook/hr/leave.md", {"updated": "2020-01-01"}, None, table)
    assert hr.labels == ("confidential", "internal")  # most specific entry first
    assert (hr.updated, hr.date_origin) == (date(2025, 3, 1), "sources.yaml")
    assert hr.review_by == date(2027, 1, 31)  # from the broader entry
    assert hr.matched == ("handbook/hr/*.md", "handbook/**")
    deeper = source_info("handbook/hr/sub/x.md", {}, None, table)
    assert deeper.labels == ("internal",)  # `*` does not cross folders, `**` does
    old = source_info("handbook/old-leave.md", {}, None, table)
    assert old.superseded_by == "handbook/leave.md"
    assert source_info("vendor/manual.pdf", {}, None, table).labels == ("third-party-copyright",)
    assert source_info("vendor/sub/manual.pdf", {}, None, table).labels == ()
    assert source_info("open/a/b.txt", {}, None, table).labels == ("CC-BY-4.0", "made-up-label")
    assert source_info("elsewhere.md", {}, None, table).matched == ()


MOD = "metadata:modified"
MTIME = datetime(2023, 6, 1, 12, tzinfo=UTC).timestamp()
DATES = [
    ({"updated": "2024-05-02", "date": "2020-01-01"}, date(2024, 5, 2), "metadata:updated"),
    ({"date": date(2022, 2, 3)}, date(2022, 2, 3), "metadata:date"),  # YAML front matter
    ({"modified": "2024-01-31T10:00:00+00:00", "created": "2020-01-01"}, date(2024, 1, 31), MOD),
    ({"created": "D:20210704120000Z"}, date(2021, 7, 4), "metadata:created"),  # raw PDF date
    ({"front_matter": {"lastmod": "2019-09-09"}}, date(2019, 9, 9), "front_matter:lastmod"),
    ({"modified": "not a date"}, date(2023, 6, 1), "file_mtime"),
    ({}, date(2023, 6, 1), "file_mtime"),
]


@pytest.mark.parametrize(("metadata", "expected", "origin"), DATES)
def test_document_dates_without_an_entry(metadata: dict, expected: date, origin: str) -> None:
    info = source_info("notes/a.md", metadata, MTIME, None)
    assert (info.updated, info.date_origin) == (expected, origin)


def test_file_time_as_datetime_and_no_date_at_all() -> None:
    when = datetime(2020, 2, 29, tzinfo=UTC)
    assert source_info("a.txt", {}, when).updated == date(2020, 2, 29)
    assert source_info("a.txt", {}, None).date_origin == "none"


def test_front_matter_review_dates_are_read() -> None:
    meta = {"review_by": "2026-12-01", "superseded_by": "new.md", "date": "2025-01-01"}
    info = source_info("old.md", meta, None)
    assert (info.review_by, info.superseded_by) == (date(2026, 12, 1), "new.md")


def test_source_info_round_trips_through_meta(docs: Path) -> None:
    info = source_info("handbook/hr/leave.md", {}, MTIME, load_sources(docs))
    data = info.to_meta()
    assert data["updated"] == "2025-03-01" and data["review_by"] == "2027-01-31"
    assert yaml.safe_load(yaml.safe_dump(data)) == data
    assert SourceInfo.from_meta(data) == info


# ---------------------------------------------------------------- verdicts


def test_shipped_label_rules_cover_every_use() -> None:
    rules = label_rules()
    for name in ("confidential", "CC-BY-4.0", "third-party-copyright", "internal", "public"):
        assert set(rules.labels[name].uses) == set(USES)
    ref = label_rules_ref()
    assert ref.id == "source-labels" and len(ref.sha256) == 64


LABEL_CELLS = [
    ("confidential", "public-release", "block"),
    ("confidential", "commercial", "review"),
    ("confidential", "evaluation", "allow"),
    ("third-party-copyright", "internal-fine-tune", "review"),
    ("CC-BY-4.0", "commercial", "allow"),
    ("CC-BY-NC-4.0", "commercial", "block"),
    ("public", "public-release", "allow"),
    ("never-heard-of-it", "evaluation", "review"),
]


@pytest.mark.parametrize(("label", "use", "expected"), LABEL_CELLS)
def test_label_verdicts(label: str, use: str, expected: str) -> None:
    v = label_verdict(label, use)
    assert v.verdict == expected and v.policy_id == f"source:{label}"


def test_label_matrix_matches_the_file() -> None:
    raw = yaml.safe_load((policies_dir() / "source_labels.yaml").read_text())["labels"]
    for label, rule in raw.items():
        for use in USES:
            assert label_verdict(label, use).verdict == rule["uses"][use]


def test_sources_yaml_overrides_a_label_and_the_strictest_wins(docs: Path) -> None:
    table = load_sources(docs)
    assert label_verdict("internal", "public-release").verdict == "review"
    override = label_verdict("internal", "public-release", table)
    assert override.verdict == "block" and "sources.yaml" in override.reason
    info = source_info("handbook/hr/leave.md", {}, None, table)
    assert source_verdict(info, "commercial", table).verdict == "review"  # confidential
    assert source_verdict(info, "public-release", table).verdict == "block"
    assert source_verdict(SourceInfo(), "commercial", table) is None
    open_doc = source_info("open/x.md", {}, None, table)
    assert source_verdict(open_doc, "commercial", table).verdict == "review"  # unknown label


BAD_SOURCES = [
    ("sources:\n  a.md: {labelz: [x]}\n", "field sources.a.md.labelz"),
    ("sources:\n  a.md: {updated: yesterday}\n", "field sources.a.md.updated"),
    ("verdicts:\n  internal: {publish: block}\n", "field verdicts.internal.publish"),
    ("verdicts:\n  internal: {evaluation: perhaps}\n", "field verdicts.internal.evaluation"),
    ("sources: [\n", "cannot read: line"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SOURCES)
def test_bad_sources_yaml_names_path_and_field(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "sources.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_sources(tmp_path)
    assert str(tmp_path / "sources.yaml") in str(err.value) and message in str(err.value)


def test_label_rules_follow_the_policy_folder(tmp_path: Path) -> None:
    (tmp_path / "source_labels.yaml").write_text(
        "version: t1\nurl: x\nlabels:\n  secret:\n    description: d\n    reason: r\n"
        "    uses: {evaluation: block, internal-fine-tune: block, commercial: block,"
        " competing-model: block, public-release: block}\n"
    )
    assert label_verdict("secret", "evaluation", directory=tmp_path).verdict == "block"
    assert label_verdict("confidential", "evaluation", directory=tmp_path).verdict == "review"
    before = label_rules_ref(tmp_path).sha256
    path = tmp_path / "source_labels.yaml"
    path.write_text(path.read_text().replace("version: t1", "version: t2"))
    os.utime(path, ns=(1, 10**18))  # a new mtime, so the cached rules are re-read
    assert label_rules_ref(tmp_path).sha256 != before
    (tmp_path / "source_labels.yaml").write_text("version: t3\nurl: x\nlabels:\n  s: {}\n")
    with pytest.raises(ConfigError, match=r"field labels\.s\.description"):
        label_rules(tmp_path)


def test_unknown_use_for_a_label_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown use"):
        label_verdict("public", "training")


# ---------------------------------------------------------------- globs in bounded time

PATHOLOGICAL = [
    "**/**/**/**/**/*b*/x.pdf",
    "**/**/**/**/**/*",
    "*a*a*a*a*a*a*a*b*",
    "*a*a*a*a*a*a*a*b",
    "**a**a**a**a**a**a**b**",
]


@pytest.mark.timeout(60)
def test_pathological_globs_cannot_stall_a_run(tmp_path: Path) -> None:
    # Seen: a backtracking regex took 17 s for "*a*a*a*a*a*a*a*b" against a 60-character
    # name, and grows exponentially with the length.
    entries = "\n".join(f'  "{p}": {{labels: [internal]}}' for p in PATHOLOGICAL)
    (tmp_path / "sources.yaml").write_text(f"sources:\n{entries}\n")
    sources = load_sources(tmp_path)
    paths = ["a" * 200 + ".md", "a/" * 100 + "a" * 150, "a/" * 30 + "b/x.pdf", "ab" * 120]
    started = time.monotonic()
    infos = [source_info(p * 1, {}, None, sources) for p in paths for _ in range(25)]
    assert time.monotonic() - started < 3
    assert set(infos[0].matched) == {"**/**/**/**/**/*"}
    assert set(infos[-1].matched) == {
        "**/**/**/**/**/*",
        "*a*a*a*a*a*a*a*b",
        "*a*a*a*a*a*a*a*b*",
        "**a**a**a**a**a**a**b**",
    }
    assert "**/**/**/**/**/*b*/x.pdf" in infos[50].matched


@pytest.mark.parametrize(
    "pattern",
    ["x" * 1025, "*/" * 33],
)
def test_overly_complex_globs_are_refused_at_load(tmp_path: Path, pattern: str) -> None:
    data = {"sources": {pattern: {"labels": ["internal"]}}}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(data, width=10_000))
    with pytest.raises(ConfigError, match=r"sources\.yaml: field sources: .*pattern"):
        load_sources(tmp_path)


_GLOB_PIECES = st.sampled_from(["a", "b", "/", ".", "*", "**", "**/", "?"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_GLOB_PIECES, max_size=7), st.text(alphabet="ab/.", max_size=9))
def test_glob_automaton_agrees_with_the_regex_reading(pieces: list[str], path: str) -> None:
    """The automaton must mean what the old regex meant: ``**/`` = ``(?:.*/)?``, ``**`` =
    ``.*``, ``*`` = ``[^/]*``, ``?`` = ``[^/]``, whole path, trailing ``/`` = folder."""
    pattern = "".join(pieces)
    pat = pattern.strip().removeprefix("./")
    pat = pat + "**" if pat.endswith("/") else pat
    table = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pat)
    regex = re.compile("".join(table.get(p, re.escape(p)) for p in parts) + r"\Z")
    expected = regex.match(path) is not None
    assert glob_match(pattern, path) == expected
    glob = compile_glob(pattern)
    assert _run(glob.tokens, path) == expected  # the automaton itself, not only the fast path
