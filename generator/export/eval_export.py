"""Evaluation-set formats (records made by ``instructforge evalset``), split ``test``:

* ``eval-jsonl``: one item a line, ``{"id", "question", "answer", "citations": [{"path",
  "doc_sha256", "chunk_id", "start", "end", "text"}], "difficulty", "hops"}``;
* ``lm-eval``: the same ``test.jsonl`` plus ``task.yaml``, a task for EleutherAI's
  lm-evaluation-harness (0.4.x task-config conventions: ``dataset_path: json`` with
  ``dataset_kwargs.data_files``, ``test_split``, Jinja2 ``doc_to_text`` /
  ``doc_to_target``, ``output_type: generate_until``, built-in ``exact_match`` and ``bleu``
  metrics). Run it from the export folder, where the data file path resolves:
  ``lm_eval --model ... --tasks instructforge_heldout --include_path .``.

Held out, checked here again: the documents the run's training records (and those of every
training run ``evalset`` was told about, ``eval/report.json``) were made from are read from
the journals; an item citing one of them is excluded, and so is an item whose citation is
not exactly the journaled document's text at its offsets. Training documents that cannot be
read refuse the export (exit 2): an unchecked set is not a held-out set.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from generator.derive.citations import span_problem
from generator.derive.heldout import HeldOutUnchecked, training_documents
from generator.export.base import Exporter, Row, register
from generator.record_kinds import EvalRecord
from generator.records import Document

TASK_FILE = "task.yaml"  # no split word in the name: `datasets` never loads it as data
TASK_NAME = "instructforge_heldout"


class _EvalExporter(Exporter):
    target = "eval"
    reads = "eval"
    uses = ("evaluation",)  # a held-out set trained on is no longer held out

    def __init__(self, system_prompt: str | None = None, with_meta: bool = True) -> None:
        super().__init__(system_prompt, with_meta)
        self.used: dict[str, str] = {}
        self.docs: dict[str, Document | None] = {}
        self.db: Path | None = None

    def open(self, run: Path) -> None:
        report = run / "eval" / "report.json"
        try:
            runs = json.loads(report.read_text(encoding="utf-8"))["train_runs"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HeldOutUnchecked(f"held-out check: {report}: {exc}") from exc
        self.used = training_documents([Path(p) for p in {str(run), *runs}])
        self.db = run / "run.sqlite"

    def _document(self, path: str) -> Document | None:
        if path not in self.docs:
            try:
                conn = sqlite3.connect(f"{self.db.resolve().as_uri()}?mode=ro", uri=True)  # type: ignore[union-attr]
                try:
                    row = conn.execute(
                        "SELECT data FROM documents WHERE path=?", (path,)
                    ).fetchone()
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                raise HeldOutUnchecked(f"citation check: {self.db}: {exc}") from exc
            self.docs[path] = Document.model_validate_json(row[0]) if row else None
        return self.docs[path]

    def admit(self, record: Any) -> str | None:
        if not isinstance(record, EvalRecord):
            return f"{record.FORMAT} record: {self.name} exports evaluation items only"
        for doc in sorted(record.documents()):
            if doc in self.used:
                return (
                    f"held_out: the item draws on document {doc[:12]}, which training records "
                    f"of {self.used[doc]} were made from"
                )
        for cit in record.citations:
            why = span_problem(cit.model_dump(), self._document(cit.path))
            if why:
                return f"citation: {why}"
        return None

    def row(self, data: Row) -> Row:
        return {k: data[k] for k in ("question", "answer", "citations", "difficulty", "hops")}


@register
class EvalJsonlExporter(_EvalExporter):
    name = "eval-jsonl"
    description = 'Evaluation set JSONL: {"question", "answer", "citations", "difficulty", "hops"}'


@register
class LmEvalExporter(_EvalExporter):
    name = "lm-eval"
    description = "lm-evaluation-harness task: test.jsonl + task.yaml (generate_until)"

    def extra_files(self, data_files: list[str]) -> dict[str, str]:
        return {TASK_FILE: task_yaml(data_files[0] if data_files else "test.jsonl")}


def task_yaml(data_file: str) -> str:
    """The lm-evaluation-harness task config over ``data_file`` (YAML text)."""
    return f"""\
# lm-evaluation-harness task (0.4.x conventions), written by instructforge export.
# Run from this folder: lm_eval --model ... --tasks {TASK_NAME} --include_path .
task: {TASK_NAME}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data_file}
test_split: test
output_type: generate_until
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{answer}}}}"
target_delimiter: " "
generation_kwargs:
  until:
    - "\\n\\n"
    - "Question:"
  do_sample: false
  temperature: 0.0
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: true
  - metric: bleu
    aggregation: bleu
    higher_is_better: true
metadata:
  version: 1.0
"""
