"""The database layer: URLs, and several servers migrating one PostgreSQL database at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from generator.errors import ConfigError
from generator.service.db import DB_FILE, database_url, open_database
from generator.service.migrate import current, head


def test_database_urls(tmp_path: Path) -> None:
    assert database_url(tmp_path, None) == f"sqlite:///{(tmp_path / DB_FILE).resolve()}"
    pg = database_url(tmp_path, "postgresql://u@127.0.0.1:5/db")
    assert pg == "postgresql+psycopg://u@127.0.0.1:5/db"
    for bad in ("mysql://u@h/db", "sqlite://", "sqlite:///:memory:", "not a url"):
        with pytest.raises(ConfigError) as info:
            database_url(tmp_path, bad)
        assert "--db" in str(info.value)
    with pytest.raises(ConfigError) as info:
        database_url(tmp_path, "mysql://u:hunter2@h/db")
    assert "hunter2" not in str(info.value)


@pytest.mark.timeout(90)  # without the lock the migrations wait on each other for ever
def test_servers_starting_together_migrate_once(pg_url: str) -> None:
    """Four processes' worth of opens on a fresh database: the advisory lock serialises them."""
    url = make_url(pg_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname="postgres",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute("CREATE DATABASE together")
    fresh = url.set(database="together").render_as_string(hide_password=False)

    def start(_: int) -> str | None:
        db = open_database(database_url(Path("."), fresh))
        try:
            return current(db.engine)
        finally:
            db.close()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(start, range(4))) == [head()] * 4


def test_0004_makes_each_projects_creator_a_member(fresh_db_url: str) -> None:
    import sqlalchemy as sa

    from generator.service.db import project_members, projects, users
    from generator.service.migrate import upgrade

    engine = sa.create_engine(fresh_db_url.replace("postgresql://", "postgresql+psycopg://"))
    upgrade(engine, "0003")  # projects made before members existed
    at = "2026-12-04T21:01:23.123456Z"
    with engine.begin() as conn:
        uid = conn.execute(users.insert().values(name="ann", role="operator", created_at=at))
        uid = uid.inserted_primary_key[0]
        for name, by in (("mine", "ann"), ("orphan", "someone-deleted")):
            conn.execute(projects.insert().values(name=name, created_by=by, created_at=at))
    engine.dispose()
    database = open_database(fresh_db_url)
    try:
        assert current(database.engine) == head() == "0004"
        with database.engine.connect() as conn:
            rows = conn.execute(sa.select(project_members.c.user_id, projects.c.name).join(
                projects, projects.c.id == project_members.c.project_id)).all()  # fmt: skip
        assert [tuple(r) for r in rows] == [(uid, "mine")]
    finally:
        database.close()
