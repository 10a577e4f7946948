"""After the data is written: the trainer config snippets (``--trainer-config``, staged with
the rest of the export) and the upload of the finished export (``--push-to-hub``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator.export import hub, trainers
from generator.export.writer import MANIFEST_FILE, Staging

if TYPE_CHECKING:
    from generator.export.job import ExportResult


def stage_trainer_configs(res: ExportResult, stage: Staging) -> None:
    """Write the requested snippets beside the staged data files (hashed in the manifest)."""
    from generator.export.job import FileInfo

    opts = res.options
    if not opts.trainer_config:
        return
    data = {f.split: f.name for f in res.files if f.kind == "data" and f.split}
    loader = "parquet" if opts.fmt == "parquet" else "json"  # parquet holds no tool calls
    files = trainers.DataFiles(
        name=trainers.dataset_name(opts.out),
        layout=trainers.layout_for(opts.fmt, res.target),
        loader=loader,
        files={split: (opts.out / name).resolve() for split, name in data.items()},
        has_tools=loader == "json"
        and any(trainers.rows_have_tools(stage.path(n)) for n in data.values()),
    )
    for name, text in trainers.snippets(opts.trainer_config, files).items():
        stage.write_text(name, text)
        res.files.append(FileInfo(name, "trainer"))


def push_export(res: ExportResult, token: str) -> None:
    """Upload the committed export: data and card (the legal files on request)."""
    opts = res.options
    assert opts.push_to_hub is not None
    names = hub.files_to_push([(f.name, f.kind) for f in res.files], opts.push_legal)
    if opts.push_legal:  # the manifest seals the others, so it is not in its own list
        names.append(MANIFEST_FILE)
    message = f"instructforge export: {res.n_exported} records, --use {opts.use}"
    res.pushed = hub.push(opts.out, opts.push_to_hub, token, names, message)
