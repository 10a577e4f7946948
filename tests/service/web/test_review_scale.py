"""The review page, the list and the decisions read what they show, not the queue: counted
as records parsed from the queue (``generator.review.store._item``) while a queue of 400
records is open in the app (in process)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from generator.review import store as review_store
from generator.review.store import ReviewStore
from generator.service import jobs, users
from generator.service.app import create_app
from generator.service.db import (
    database_url,
    now,
    open_database,
    project_members,
    projects,
    runs,
)
from generator.service.db import users as users_table
from generator.service.settings import ServiceSettings
from generator.store import Journal
from tests.review.test_review import _records

N = 400
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def app_run(tmp_path: Path, monkeypatch) -> Iterator[tuple[TestClient, int, str, list[int]]]:
    db_url = database_url(tmp_path, None)
    db = open_database(db_url)
    token = users.add(db, "rev-1", "reviewer", actor="t", remote="t")
    with db.engine.begin() as conn:
        pid = conn.execute(projects.insert().values(
            name="scale", created_by="t", created_at=now())).inserted_primary_key[0]  # fmt: skip
        uid = conn.execute(sa.select(users_table.c.id).where(users_table.c.name == "rev-1"))
        conn.execute(project_members.insert().values(  # a member of the run's project
            project_id=pid, user_id=uid.scalar_one(), added_by="t", added_at=now()))  # fmt: skip
        rid = conn.execute(runs.insert().values(
            project_id=pid, model="mock/echo", created_by="t", created_at=now())
        ).inserted_primary_key[0]  # fmt: skip
        jobs.enqueue(conn, kind="generate", project_id=pid, run_id=rid,
                     params={"model": "mock/echo"}, actor="t", remote="t")  # fmt: skip
    job = jobs.claim(db, "t")
    jobs.finish(db, job["id"], "t", "done", counts={}, cost=0.0)  # type: ignore[index]
    with Journal(tmp_path / "projects" / str(pid) / "runs" / str(rid)) as journal:
        recs = _records(N)
        for i, r in enumerate(recs):
            r.meta.id = f"s{i:04d}"
        ReviewStore(journal).save_sample([(r, "sample", "s", None) for r in recs], {})
    client = TestClient(create_app(ServiceSettings(tmp_path, db_url, workers=0), db),
                        base_url="http://127.0.0.1")  # fmt: skip
    csrf = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"csrf": csrf, "token": token}, follow_redirects=False)
    csrf = CSRF.search(client.get(f"/runs/{rid}/review").text).group(1)  # type: ignore[union-attr]
    parsed: list[int] = []
    real = review_store._item
    monkeypatch.setattr(review_store, "_item", lambda r: parsed.append(1) or real(r))
    try:
        yield client, rid, csrf, parsed
    finally:
        db.close()


def test_each_review_action_reads_a_bounded_number_of_records(app_run) -> None:  # type: ignore[no-untyped-def]
    client, rid, csrf, parsed = app_run

    def reads(method: str, url: str, **kw: object) -> int:
        parsed.clear()
        res = client.request(method, url, follow_redirects=False, **kw)  # type: ignore[arg-type]
        assert res.status_code in (200, 303), res.text[:300]
        return len(parsed)

    assert reads("GET", f"/runs/{rid}/review") == 1
    assert reads("GET", f"/runs/{rid}/review?pos=300") == 1
    page = client.get(f"/runs/{rid}/review?pos=300").text
    assert "Record 301 of 400" in page and ">400</strong> remaining" in page
    accept = {"csrf": csrf, "decision": "accept"}
    assert reads("POST", f"/runs/{rid}/review/s0300", data=accept) == 1
    assert client.get(f"/runs/{rid}/review?pos=300").text.count(">399</strong> remaining") == 1
    assert reads("GET", f"/runs/{rid}/review-list") <= 51
    listing = client.get(f"/runs/{rid}/review-list", params={"status": "pending"}).text
    shown = re.findall(r'name="ids" value="([^"]+)"', listing)
    assert len(shown) == 50 and "s0300" not in listing and 'id="list-next"' in listing
    nxt = re.search(r'id="list-next" href="([^"]+)"', listing).group(1)  # type: ignore[union-attr]
    second = client.get(nxt.replace("&amp;", "&")).text
    assert re.findall(r'name="ids" value="([^"]+)"', second)[0] == "s0050"
    bulk = {"csrf": csrf, "decision": "reject", "reason": "dup", "ids": shown[:10]}
    assert reads("POST", f"/runs/{rid}/review-bulk", data=bulk) == 10
    assert reads("GET", f"/runs/{rid}/review-list?q=answer+number+377,") <= N  # text: a scan
    found = client.get(f"/runs/{rid}/review-list", params={"q": "answer number 377,"}).text
    assert re.findall(r'name="ids" value="([^"]+)"', found) == ["s0377"]
    with Journal(client.app.state.settings.data / "projects" / "1" / "runs" / str(rid)) as j:  # type: ignore[attr-defined]
        assert ReviewStore(j).remaining() == N - 11
