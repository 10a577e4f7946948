"""schemathesis fuzzes every operation of the real server from its own /openapi.json.

A server of its own (uvicorn in a subprocess, SQLite, ``--workers 0`` so no fuzzed run
starts a stage), so nothing it creates or revokes touches the other tests. Each operation
gets valid and invalid inputs (schemathesis' positive and negative modes) with the token of
a role that holds its right (from the role matrix), so calls get past the role check and
reach validation and the handlers. The server must never answer 5xx, every answer must be
one the document declares with the body it declares (errors: the one error shape), and
invalid input must be refused. Bounded: a few examples per operation and mode.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from generator.service import users
from generator.service.db import database_url, open_database
from tests.service.conftest import ROLES, start_server, stop_server
from tests.service.matrix import MATRIX

EXAMPLES = 12  # per operation and mode: ~700 calls, about 20 s here
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]  # fmt: skip
_RENAMES = {"{victim}": "{name}", "{other}": "{name}", "{fresh}": "{rid}", "{file}": "{name}",
            "{member}": "{name}"}  # fmt: skip


def _path(path: str) -> str:
    for old, new in _RENAMES.items():
        path = path.replace(old, new)
    return path


ROLE_OF = {(m, _path(p)): sorted(allowed, key=ROLES.index)[-1] for m, p, _, allowed, _ in MATRIX}


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[tuple[str, dict[str, str]]]:
    data = Path(tempfile.mkdtemp(prefix="instructforge-fuzz-"))
    url = database_url(data, None)
    db = open_database(url)
    try:
        tokens = {r: users.add(db, f"{r}-1", r, actor="tests", remote="tests") for r in ROLES}
    finally:
        db.close()
    proc, base = start_server(data, url, "--workers", "0", "--max-upload-mb", "1")
    try:
        yield base, tokens
    finally:
        stop_server(proc)
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.slow
def test_schemathesis_every_operation(fuzz_server: tuple[str, dict[str, str]]) -> None:
    base, tokens = fuzz_server
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(ROLE_OF) + 1  # every route of the matrix, and /healthz
    for op in operations:
        role = ROLE_OF.get((op.method.upper(), op.path))
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            _fuzz(op, mode, base, headers)


def _fuzz(op, mode, base: str, headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=op.as_strategy(generation_mode=mode))
    def one(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=30)

    try:
        one()
    except Unsatisfiable:  # no parameter or body to make invalid (GET /api/v1/me)
        if mode != schemathesis.GenerationMode.NEGATIVE:
            raise
    except Exception as exc:
        exc.add_note(f"operation: {op.method.upper()} {op.path} ({mode.value})")
        raise
