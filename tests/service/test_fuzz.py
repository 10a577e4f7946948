"""A bounded fuzz of every operation in the server's own /openapi.json (hypothesis), beside
the schemathesis run (test_schemathesis.py): this one sends what a schema-driven fuzzer does
not (any role's token or a garbage one on every operation, raw bytes as JSON or multipart
bodies, arbitrary path ids) and runs on both databases. The server must never answer 5xx,
and every error must be the one JSON shape.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.conftest import ROLES, Server

EXAMPLES = 10  # per operation and database (about 10 s per database here)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
_ident = st.one_of(
    st.integers(min_value=-5, max_value=2**40).map(str),
    st.text(min_size=1, max_size=15),
)
_body = st.one_of(
    st.none(),
    _json.map(lambda v: ("json", json.dumps(v).encode())),
    st.binary(max_size=200).map(lambda b: ("json", b)),
    st.dictionaries(st.sampled_from(["name", "role"]), st.text(max_size=70), max_size=2).map(
        lambda d: ("json", json.dumps(d).encode())
    ),
    st.binary(max_size=200).map(lambda b: ("multipart", b)),
)


def _operations(server: Server) -> list[tuple[str, str, list[str]]]:
    spec = httpx.get(server.url + "/openapi.json").json()
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            out.append((method.upper(), path, query))
    return out


def _check(res: httpx.Response) -> None:
    assert res.status_code < 500, res.text
    if res.status_code >= 400:
        body = res.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    elif res.status_code != 204:
        res.json()


@pytest.mark.slow
def test_fuzz_every_operation(server: Server) -> None:
    operations = _operations(server)
    assert len(operations) >= 10
    tokens = [None, "garbage", *[server.tokens[r] for r in ROLES]]

    @settings(max_examples=EXAMPLES * len(operations), deadline=None, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(
        op=st.sampled_from(operations),
        ids=st.lists(_ident, min_size=5, max_size=5),
        query=st.lists(st.text(max_size=30), min_size=3, max_size=3),
        body=_body,
        token=st.sampled_from(tokens),
    )
    def one(op, ids, query, body, token) -> None:  # type: ignore[no-untyped-def]
        method, path, names = op
        for i, name in enumerate(("{pid}", "{did}", "{name}", "{rid}", "{jid}")):
            path = path.replace(name, quote(ids[i], safe=""))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = None
        if body is not None:
            kind, content = body
            headers["Content-Type"] = (
                "application/json" if kind == "json" else "multipart/form-data; boundary=zz"
            )
        params = dict(zip(names, query, strict=False))
        res = client.request(method, path, params=params, content=content, headers=headers)
        _check(res)

    with httpx.Client(base_url=server.url, timeout=30) as client:
        one()
