"""``GET /api/v1/runs/{rid}/records``: every filter, text search, the cursor walk, an index
that follows the run folder's files as they grow and are rewritten, 404 and 422."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import Server
from tests.service.helpers import error


def _rec(i: int, text: str, *, policy: str = "openai", doc: str = "hr/leave.md",
         removed: tuple[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"id": f"rec{i:04d}", "format": "alpaca",
                            "policy": {"id": policy, "version": "1", "sha256": "0" * 64},
                            "source": {"path": doc, "chunk_id": "c1", "span": [0, 10]}}  # fmt: skip
    if removed:
        meta["curation"] = {"excluded": {"step": removed[0], "reason": removed[1],
                                         "destination": "excluded"}}  # fmt: skip
    return {"instruction": f"Question {i}: {text}?", "input": "", "output": f"Answer {i}.",
            "meta": meta}  # fmt: skip


def _write(path: Path, rows: list[dict[str, Any]], mode: str = "w") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


GENERATED = [
    _rec(1, "how many days of paid leave"),
    _rec(2, "who approves parental leave", policy="anthropic"),
    _rec(3, "what is the sensor battery life", doc="product/sensor.md"),
    _rec(4, "how to reset the logger firmware", doc="product/sensor.md", policy="anthropic"),
    _rec(5, "where do expense claims go"),
    _rec(6, "can überstunden be paid out"),
]
REJECTED = [{"id": "x1", "reason": "not_novel", "detail": "ROUGE-L 0.8", "raw": "{}",
             "source": {"path": "hr/leave.md"}},
            {"id": "x2", "reason": "invalid_json", "detail": "no JSON", "raw": "leave it",
             "source": {"path": "product/sensor.md"}}]  # fmt: skip


@pytest.fixture(scope="module")
def run(server: Server) -> tuple[int, Path]:
    """A run whose folder holds generated, rejected and curated records (written here)."""
    pid = server.project()
    with server.client("operator") as c:
        res = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo", "records": 1})
        rid = res.json()["id"]
        c.post(f"/api/v1/runs/{rid}/cancel")
    folder = server.data / "projects" / str(pid) / "runs" / str(rid)
    _write(folder / "records.jsonl", GENERATED)
    _write(folder / "rejected.jsonl", REJECTED)
    cur = folder / "curation"
    _write(cur / "curated.jsonl", GENERATED[:3])
    _write(cur / "excluded.jsonl", [
        {**GENERATED[3], "meta": _rec(4, "", policy="anthropic", doc="product/sensor.md",
                                      removed=("heuristics", "too_short"))["meta"]},
        {**GENERATED[4], "meta": _rec(5, "", removed=("pii", "pii_found"))["meta"]},
    ])  # fmt: skip
    _write(
        cur / "review.jsonl",
        [{**GENERATED[5], "meta": _rec(6, "", removed=("judge", "check_failed:judge"))["meta"]}],
    )
    return rid, folder


def _get(server: Server, rid: int, role: str = "reviewer", **params: Any):  # type: ignore[no-untyped-def]
    with server.client(role) as c:
        return c.get(f"/api/v1/runs/{rid}/records", params=params)


def _ids(res) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    assert res.status_code == 200, res.text
    return [(i["stage"], i["record"].get("meta", {}).get("id") or i["record"]["id"])
            for i in res.json()["items"]]  # fmt: skip


def test_every_stage_and_the_records_as_written(server: Server, run: tuple[int, Path]) -> None:
    rid, _ = run
    res = _get(server, rid)
    items = res.json()["items"]
    assert [i["stage"] for i in items] == (["generated"] * 6 + ["rejected"] * 2 + ["curated"] * 3
                                           + ["excluded"] * 2 + ["review"])  # fmt: skip
    assert items[0]["record"] == GENERATED[0]  # the line as the file holds it
    assert res.json()["next"] is None
    assert _ids(_get(server, rid, stage="rejected")) == [("rejected", "x1"), ("rejected", "x2")]
    assert _ids(_get(server, rid, stage="curated")) == [
        ("curated", f"rec000{i}") for i in (1, 2, 3)
    ]
    assert _get(server, rid, stage="train").json() == {"items": [], "next": None}


def test_each_filter(server: Server, run: tuple[int, Path]) -> None:
    rid, _ = run
    assert _ids(_get(server, rid, step="pii")) == [("excluded", "rec0005")]
    assert _ids(_get(server, rid, reason="not_novel")) == [("rejected", "x1")]
    assert _ids(_get(server, rid, reason="check_failed:judge")) == [("review", "rec0006")]
    assert _ids(_get(server, rid, stage="generated", policy="anthropic")) == [
        ("generated", "rec0002"), ("generated", "rec0004")]  # fmt: skip
    assert _ids(_get(server, rid, document="product/sensor.md", stage="rejected")) == [
        ("rejected", "x2")]  # fmt: skip
    both = _get(server, rid, document="product/sensor.md", policy="anthropic")
    assert _ids(both) == [("generated", "rec0004"), ("excluded", "rec0004")]
    item = both.json()["items"][1]
    assert (item["step"], item["reason"], item["policy"], item["document"]) == (
        "heuristics", "too_short", "anthropic", "product/sensor.md")  # fmt: skip
    assert _get(server, rid, step="no-such-step").json()["items"] == []


def test_text_search(server: Server, run: tuple[int, Path]) -> None:
    rid, _ = run
    assert _ids(_get(server, rid, stage="generated", q="LEAVE")) == [
        ("generated", "rec0001"), ("generated", "rec0002")]  # fmt: skip
    assert _ids(_get(server, rid, q="paid leave", stage="curated")) == [("curated", "rec0001")]
    assert _ids(_get(server, rid, q="leave", stage="rejected")) == [("rejected", "x2")]  # raw text
    assert _ids(_get(server, rid, q="überstunden", policy="openai")) == [
        ("generated", "rec0006"), ("review", "rec0006")]  # fmt: skip
    assert _ids(_get(server, rid, q='firmware")*')) == [  # words, never FTS5 syntax
        ("generated", "rec0004"), ("excluded", "rec0004")]  # fmt: skip
    assert _ids(_get(server, rid, q="paid_leave", stage="generated")) == [
        ("generated", "rec0001")]  # the tokenizer's words, never a phrase  # fmt: skip
    res = _get(server, rid, q="?!")
    assert res.status_code == 422 and "q" in error(res)["message"]


def test_cursor_round_trip(server: Server, run: tuple[int, Path]) -> None:
    rid, _ = run
    whole = _ids(_get(server, rid))
    seen, cursor, pages = [], None, 0
    while True:
        res = _get(server, rid, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += _ids(res)
        pages += 1
        cursor = res.json()["next"]
        if cursor is None:
            break
    assert seen == whole and pages == 5
    filtered = _get(server, rid, policy="anthropic", limit=1)
    second = _get(server, rid, policy="anthropic", limit=1, cursor=filtered.json()["next"])
    assert _ids(filtered) + _ids(second) == _ids(_get(server, rid, policy="anthropic"))[:2]
    for bad in ("-1", "abc", "1" * 19, ""):
        res = _get(server, rid, cursor=bad)
        assert res.status_code == 422, (bad, res.text)
    assert (
        error(_get(server, rid, cursor="x"))["message"] == "cursor: not a cursor from this endpoint"
    )


def test_404_and_422(server: Server, run: tuple[int, Path]) -> None:
    rid, _ = run
    res = _get(server, 987654)
    assert res.status_code == 404 and error(res)["code"] == "not_found"
    for params in ({"stage": "nope"}, {"limit": 0}, {"limit": 1001}, {"step": ""}):
        assert _get(server, rid, **params).status_code == 422, params


def test_the_index_follows_the_files(server: Server, run: tuple[int, Path]) -> None:
    """Appended lines are listed (only once complete); a rewritten file is re-read; a file
    changed between the index and the read is caught by its CRC, never served wrong."""
    pid = server.project()
    with server.client("operator") as c:
        rid = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo"}).json()["id"]
        c.post(f"/api/v1/runs/{rid}/cancel")
    folder = server.data / "projects" / str(pid) / "runs" / str(rid)
    assert _get(server, rid).json() == {"items": [], "next": None}  # nothing generated yet
    _write(folder / "records.jsonl", GENERATED[:2])
    assert len(_ids(_get(server, rid))) == 2
    with (folder / "records.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(GENERATED[2]) + "\n" + json.dumps(GENERATED[3])[:20])  # half a line
    assert [i for _, i in _ids(_get(server, rid))] == ["rec0001", "rec0002", "rec0003"]
    with (folder / "records.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(GENERATED[3])[20:] + "\nnot json\n")
    assert [i for _, i in _ids(_get(server, rid))] == ["rec0001", "rec0002", "rec0003", "rec0004"]
    _write(folder / "records.jsonl", [GENERATED[5], GENERATED[4]])  # healed: rewritten
    assert [i for _, i in _ids(_get(server, rid))] == ["rec0006", "rec0005"]
    # the same size and times, other bytes: the index cannot tell, the CRC check does
    path = folder / "records.jsonl"
    st = path.stat()
    text = path.read_text(encoding="utf-8").replace("rec0006", "rec0009")
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert [i for _, i in _ids(_get(server, rid))] == ["rec0009", "rec0005"]
