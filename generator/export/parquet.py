"""Parquet (pyarrow): one column per field of the record format, plus ``meta`` as a JSON
string column unless ``--no-meta``. Loadable by pyarrow and Hugging Face ``datasets``.

The columns follow the records' own format when the export holds one format (alpaca:
instruction/input/output; chat: messages as list<struct<role, content>>; completion:
prompt/completion); a mix of formats is written as chat, into which every record converts
without loss.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from generator.export.base import Exporter, Row, register
from generator.export.convert import plain_messages

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
_FIELDS = {
    "alpaca": [("instruction", pa.string()), ("input", pa.string()), ("output", pa.string())],
    "chat": [("messages", pa.list_(_MESSAGE))],
    "completion": [("prompt", pa.string()), ("completion", pa.string())],
}
_BATCH = 2048  # rows per row group write: bounded memory on large exports


@register
class ParquetExporter(Exporter):
    name = "parquet"
    target = "auto"
    suffix = ".parquet"
    meta_inline = True
    description = "Parquet with the records' own columns (+ meta as a JSON string column)"

    def __init__(self, system_prompt: str | None = None, with_meta: bool = True) -> None:
        super().__init__(system_prompt, with_meta)
        self.chosen = "chat"

    def choose_target(self, record_formats: set[str]) -> str:
        self.chosen = next(iter(record_formats)) if len(record_formats) == 1 else "chat"
        return self.chosen

    def row(self, data: Row) -> Row:
        if self.chosen == "chat":  # the columns hold role and content only
            return {"messages": plain_messages(data, "parquet")}
        return {name: data[name] for name, _ in _FIELDS[self.chosen]}

    def schema(self) -> pa.Schema:
        fields = list(_FIELDS[self.chosen])
        if self.with_meta:
            fields.append(("meta", pa.string()))
        return pa.schema(fields)

    def write(self, rows: Iterable[tuple[Row, Row | None]], tmp: Path) -> int:
        schema = self.schema()
        n, batch = 0, []
        with pq.ParquetWriter(tmp, schema) as writer:
            for row, meta in rows:
                if self.with_meta:
                    row = {**row, "meta": json.dumps(meta, ensure_ascii=False)}
                batch.append(row)
                n += 1
                if len(batch) >= _BATCH:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    batch = []
            if batch or n == 0:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        return n
