"""The whole job on documents full of personal data and secrets: generate (mock) ->
curate (PII on by default) -> export. No planted value survives into the dataset."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app

PLANTED = {
    "email": "dana.whitfield@larkspur-example.com",
    "phone": "+1 415 555 0132",
    "card": "4111 1111 1111 1111",
    "iban": "DE89370400440532013000",
    "openai": "sk-proj-4fR9xQ2mT7vB1nK8sL3pZ6wY0aE5cH2j",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ",
}

DOC = """# {title}

The {team} team handles access requests for the {system} within two working days.
Escalations go to {email} or to the duty phone {phone} outside office hours.
Corporate card {card} is used only for approved conference travel and hotel bookings.
Vendor payments for the {system} are made to IBAN {iban} after finance approval.
The deployment job authenticates with {openai} and must be rotated every 90 days.
The backup bucket is reached with the access key {aws} from the build agents only.
Release automation pushes tags with the token {github} from the CI service account.
Every change to the {system} is recorded in the change log and reviewed each quarter.
"""


def test_no_planted_value_reaches_curated_or_exported_files(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, (title, team, system) in enumerate(
        [
            ("Access to the build system", "platform", "build system"),
            ("Finance tooling", "finance operations", "payment portal"),
            ("Support escalations", "customer support", "ticket desk"),
        ]
    ):
        (docs / f"doc{i}.md").write_text(
            DOC.format(title=title, team=team, system=system, **PLANTED), encoding="utf-8"
        )
    run, out = tmp_path / "run", tmp_path / "export"
    runner = CliRunner()
    res = runner.invoke(
        app, ["generate", str(docs), "--out", str(run), "--model", "mock/echo", "--per-chunk", "10"]
    )
    assert res.exit_code == 0, res.output
    raw = (run / "records.jsonl").read_text()
    assert any(v in raw for v in PLANTED.values()), "the mock should copy planted values"
    res = runner.invoke(app, ["curate", str(run)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "export",
            str(run),
            "--format",
            "openai-chat",
            "--use",
            "evaluation",
            "--out",
            str(out),
            "--accept-review",
            "mock",
        ],
    )
    assert res.exit_code == 0, res.output
    files = [*out.iterdir(), *(run / "curation").glob("*.jsonl")]
    assert any(f.name.endswith(".jsonl") and f.stat().st_size for f in out.iterdir())
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        for name, value in PLANTED.items():  # PII runs first: exclusion files are clean too
            assert value not in text, f"{name} found in {f}"
    assert "<EMAIL>" in (run / "curation" / "curated.jsonl").read_text()
