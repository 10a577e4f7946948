"""``instructforge verify EXPORT_DIR``: prove an export was not edited after it was written.

Exit codes: 0 every hash, count and gate decision checks out; 3 a difference (the first one
is named); 2 a usage error (not a folder, a bad option).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def verify_cmd(
    export_dir: Path = typer.Argument(..., help="The folder `instructforge export` wrote."),
    policies: Path = typer.Option(
        None,
        "--policies",
        help="Policies folder the export used (default: the one the manifest names if it "
        "exists, else the installed one). Its files must hash as they did at export.",
    ),
    sources: Path = typer.Option(
        None, "--sources", help="The sources.yaml applied at export, if it moved."
    ),
    digest: str = typer.Option(
        None,
        "--digest",
        help="sha256 of manifest.json as the exporter handed it over: proves the manifest "
        "itself is the one they sent.",
    ),
) -> None:
    """Re-check every file hash, the policy files, and the licence gate's decision for every
    exported record; exit 0, or 3 naming the first difference."""
    from generator.export.verify import verify_pack

    report = verify_pack(export_dir, policies=policies, sources=sources, digest=digest)
    Console(highlight=False).print(
        f"verified {export_dir}: {report.files} files match their sha256, "
        f"{report.records} records re-judged by the gate with the same decisions, "
        f"{report.excluded} exclusions counted, policy files in {report.policies_dir} "
        f"unchanged.\nmanifest.json sha256 {report.digest} (compare it with the one the "
        "exporter sent, or pass it as --digest)"
    )


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_cmd)
