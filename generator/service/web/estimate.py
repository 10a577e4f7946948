"""The dry-run estimate a run form shows before it can start the run: the generate stage
itself with ``dry_run`` on, over the project's documents, in a scratch run folder that is
removed afterwards (the estimate pays nothing and leaves nothing)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from rich.console import Console

from generator.errors import ConfigError
from generator.generate.budget import Estimate


def dry_run(project_dir: Path, params: dict[str, object]) -> Estimate:
    """What ``instructforge generate DOCS --dry-run`` with ``params`` prints, as numbers."""
    from generator.generate.runner import run_generate
    from generator.generate.settings import GenerateSettings

    docs = project_dir / "documents"
    if not docs.is_dir():
        raise ConfigError("the project has no documents yet: upload some first")
    project_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="estimate-", dir=project_dir) as tmp:
        settings = GenerateSettings(
            docs=str(docs), run_dir=str(Path(tmp) / "run"), dry_run=True, **params
        )  # type: ignore[arg-type]
        quiet = Console(file=io.StringIO())
        result = run_generate(settings, quiet, quiet)
    assert result.estimate is not None
    return result.estimate
