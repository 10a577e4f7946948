"""Where a job's files live under ``--data``, the stage command it runs, and its progress.

```
DATA/projects/PID/documents/       uploaded documents (the generate stage's DOCS)
DATA/projects/PID/runs/RID/        the run folder (PRODUCT.md "Run folder")
DATA/projects/PID/jobs/JID/        log.txt (the stage's output), curate.yaml
DATA/projects/PID/exports/JID/     an export job's dataset and legal pack
```
Progress is read from what the stage wrote (the run journal, ``curation/stats.json``, the
export's ``manifest.json``), never from what a job says about itself.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from generator.redact import scrub_url_credentials
from generator.review import signoffs

LOG_TAIL = 64_000


class JobPaths:
    """The folders of one job."""

    def __init__(self, data: Path, job: dict[str, Any]) -> None:
        project = data / "projects" / str(job["project_id"])
        self.docs = project / "documents"
        self.run_dir = project / "runs" / str(job["run_id"])
        self.folder = project / "jobs" / str(job["id"])
        self.log = self.folder / "log.txt"
        self.export_dir = project / "exports" / str(job["id"])


def command(job: dict[str, Any], paths: JobPaths, cluster: str | None = None) -> list[str]:
    """The ``instructforge`` arguments that run ``job`` (generate and curate on the Dask
    cluster named by the server's ``--cluster``, when it has one)."""
    p = job["params"]
    kind = job["kind"]
    on = ["--cluster", cluster] if cluster else []
    if kind == "generate":
        argv = ["generate", str(paths.docs), "--out", str(paths.run_dir), "--model", p["model"]]
        flags = {"template": "--template", "records": "--records", "per_chunk": "--per-chunk",
                 "concurrency": "--concurrency", "max_cost": "--max-cost",
                 "api_base": "--api-base"}  # fmt: skip
        for key, flag in flags.items():
            if p.get(key) is not None:
                argv += [flag, str(p[key])]
        if p.get("batch"):  # a batch has no calls for the cluster to run
            return [*argv, "--batch"]
        return argv + on
    if kind == "curate":
        argv = ["curate", str(paths.run_dir)]
        if p.get("config") is not None:
            config = paths.folder / "curate.yaml"
            config.write_text(json.dumps(p["config"]), encoding="utf-8")  # JSON is YAML
            argv += ["--config", str(config)]
        return argv + on
    if kind == "export":
        argv = ["export", str(paths.run_dir), "--format", p["format"], "--use", p["use"],
                "--out", str(paths.export_dir), "--force"]  # fmt: skip
        if p.get("strict"):  # refuses every 'review' verdict, signed off or not
            return [*argv, "--strict"]
        for policy in sorted({s["policy"] for s in signoffs.for_use(paths.run_dir, p["use"])}):
            argv += ["--accept-review", policy]
        return argv
    raise ValueError(f"unknown job kind {kind!r}")


def child_env(job: dict[str, Any]) -> dict[str, str]:
    """Environment the job's stage gets beyond the server's: an export names the API user
    who asked for it as its exporter (the legal pack lists legal's sign-offs beside)."""
    return {"INSTRUCTFORGE_REVIEWER": job["created_by"]} if job["kind"] == "export" else {}


def progress(job: dict[str, Any], paths: JobPaths) -> tuple[dict[str, Any], float]:
    """(counts, cost in USD) of the job so far, read from the stage's own files."""
    try:
        if job["kind"] == "generate":
            return _journal_counts(paths.run_dir / "run.sqlite")
        if job["kind"] == "curate":
            stats = paths.run_dir / "curation" / "stats.json"
            if stats.exists():
                return dict(json.loads(stats.read_text(encoding="utf-8"))["counts"]), 0.0
        if job["kind"] == "export":
            manifest = paths.export_dir / "manifest.json"
            if manifest.exists():
                c = json.loads(manifest.read_text(encoding="utf-8"))["counts"]
                keep = ("records_read", "exported", "excluded", "exported_per_split")
                return {k: c[k] for k in keep if k in c}, 0.0
    except (OSError, ValueError, KeyError, sqlite3.Error):
        pass  # not written yet, or being replaced: the last beat's figures stand
    return dict(job.get("counts") or {}), float(job.get("cost_usd") or 0.0)


def _journal_counts(journal: Path) -> tuple[dict[str, Any], float]:
    if not journal.exists():
        return {}, 0.0
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        counts = {
            "records": q("SELECT COUNT(*) FROM gen_records"),
            "rejected": q("SELECT COUNT(*) FROM gen_rejections"),
            "calls": q("SELECT COUNT(*) FROM gen_calls"),
            "units_done": q("SELECT COUNT(*) FROM gen_units"),
        }
        cost = float(q("SELECT COALESCE(SUM(cost_usd), 0) FROM gen_calls"))
    except sqlite3.OperationalError:  # ingest only so far: no generation tables yet
        return {}, 0.0
    finally:
        conn.close()
    return counts, cost


def last_error(log: Path, code: int | None) -> str:
    """The stage's one-line error (the CLI prints it as ``instructforge: error: ...``)."""
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - LOG_TAIL))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        if line.startswith("instructforge: "):
            text = line.removeprefix("instructforge: ").removeprefix("error: ")
            return scrub_url_credentials(text.strip())[:500]
    return f"the stage ended with exit code {code} (see the job log on the server)"
