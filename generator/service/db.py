"""The service database: SQLAlchemy 2 Core tables, the engine, forward migrations.

``--db`` takes ``sqlite:///PATH`` (the embedded default, ``DATA/service.sqlite``) or
``postgresql://...`` (driven by psycopg 3; a password is best left out of the URL and
given as ``PGPASSWORD`` or in ``~/.pgpass``, which libpq reads). The schema is owned by the
Alembic migrations in ``generator/service/migrations`` (shipped inside the package); the
tables below mirror them for queries. :func:`open_database` migrates forward on every open,
under a PostgreSQL advisory lock so several servers starting together do not race.

Times are stored as fixed-width UTC text (``2026-12-04T21:01:23.123456Z``): the same on
both databases, and ordered as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from generator.errors import ConfigError
from generator.redact import scrub_url_credentials
from generator.service.errors import not_found

DB_FILE = "service.sqlite"
TIME_WIDTH = 27  # len("2026-12-04T21:01:23.123456Z")
ROLES = ("admin", "operator", "reviewer", "legal")

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", String(TIME_WIDTH), nullable=False),
    Column("revoked_at", String(TIME_WIDTH)),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("key_id", String(32), nullable=False, unique=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", String(TIME_WIDTH), nullable=False),
    Column("revoked_at", String(TIME_WIDTH)),
)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", String(TIME_WIDTH), nullable=False),
)

project_members = Table(
    "project_members",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True, index=True),
    Column("added_by", String(64), nullable=False),
    Column("added_at", String(TIME_WIDTH), nullable=False),
)

documents = Table(
    "documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("sha256", String(64)),
    Column("size", Integer, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    Column("uploaded_at", String(TIME_WIDTH), nullable=False),
    UniqueConstraint("project_id", "path", name="documents_project_path"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", String(TIME_WIDTH), nullable=False, index=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(1000), nullable=False),
    Column("remote", String(64), nullable=False),
    Column("detail", Text, nullable=False),  # JSON object
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False, index=True),
    Column("model", String(300), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", String(TIME_WIDTH), nullable=False),
)

JOB_KINDS = ("generate", "curate", "export")
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled", "stopped")

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False, index=True),
    Column("params", Text, nullable=False),  # JSON object, never a secret
    Column("status", String(16), nullable=False),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("counts", Text, nullable=False, default="{}"),  # JSON object
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("error", Text),
    Column("exit_code", Integer),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(200)),
    Column("heartbeat", String(TIME_WIDTH)),
    Column("created_by", String(64), nullable=False),
    Column("created_at", String(TIME_WIDTH), nullable=False),
    Column("started_at", String(TIME_WIDTH)),
    Column("ended_at", String(TIME_WIDTH)),
)


def now() -> str:
    """The current UTC time in the stored format."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def database_url(data: Path, db: str | None) -> str:
    """The SQLAlchemy URL for ``--db`` (default: SQLite in ``data``); ConfigError if unusable."""
    if not db:
        return f"sqlite:///{(data / DB_FILE).resolve()}"
    try:
        url = make_url(db)
    except ArgumentError as exc:
        raise ConfigError(f"--db: not a database URL: {scrub_url_credentials(db)}") from exc
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return db
    raise ConfigError(
        f"--db: expected sqlite:///PATH or postgresql://..., got {scrub_url_credentials(db)}"
    )


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@dataclass
class Database:
    """The engine and the URL it was opened with (shown without its password)."""

    engine: Engine
    url: str

    @property
    def shown_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Connect, check the database answers, and migrate the schema forward."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    database = Database(engine, url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        if migrate:
            from generator.service.migrate import upgrade

            upgrade(engine)
    except OperationalError as exc:
        engine.dispose()
        why = scrub_url_credentials(str(exc.orig).strip().splitlines()[0]) if exc.orig else ""
        raise ConfigError(f"cannot open the database {database.shown_url}: {why}") from exc
    return database


def row_or_404(conn: Connection, table: Table, key: int, what: str) -> dict[str, Any]:
    """The row of ``table`` whose id is ``key``, or a 404 naming ``what``."""
    row = conn.execute(sa.select(table).where(table.c.id == key)).mappings().first()
    if row is None:
        raise not_found(f"{what} {key}")
    return dict(row)
