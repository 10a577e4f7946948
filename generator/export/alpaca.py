"""Alpaca format: ``{"instruction", "input", "output"}`` as JSONL or as one JSON array
(the layout of Stanford Alpaca's ``alpaca_data.json``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from generator.export.base import Exporter, Row, register


@register
class AlpacaJsonlExporter(Exporter):
    name = "alpaca"
    target = "alpaca"
    description = "Alpaca instruction/input/output, one JSON object a line"

    def row(self, data: Row) -> Row:
        return {
            "instruction": data["instruction"],
            "input": data["input"],
            "output": data["output"],
        }


@register
class AlpacaJsonExporter(AlpacaJsonlExporter):
    name = "alpaca-json"
    suffix = ".json"
    description = "Alpaca instruction/input/output as one JSON array"

    def write(self, rows: Iterable[tuple[Row, Row | None]], tmp: Path) -> int:
        # Streamed element by element so a large export never builds the whole list in memory.
        n = 0
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write("[")
            for row, _meta in rows:
                fh.write(("\n" if n == 0 else ",\n") + json.dumps(row, ensure_ascii=False))
                n += 1
            fh.write("\n]\n" if n else "]\n")
        return n
