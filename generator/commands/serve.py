"""``instructforge serve``: the HTTP service (FastAPI on uvicorn) over a data folder.

Opens (and migrates forward) the database, builds the app and serves it; loopback only
unless ``--host`` says otherwise, and then a warning: tokens travel in clear text without a
TLS proxy in front.
"""

from __future__ import annotations

from pathlib import Path

import typer

from generator.service.settings import (
    DEFAULT_DATA,
    DEFAULT_HEARTBEAT_S,
    DEFAULT_HOST,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_PORT,
    DEFAULT_WORKERS,
    ServiceSettings,
    is_loopback,
)

DATA_HELP = "Folder for the service's documents, runs, exports (and its SQLite database)."
DB_HELP = (
    "Database URL: sqlite:///PATH (default: DATA/service.sqlite) or postgresql://USER@HOST/DB "
    "(give the password as PGPASSWORD or in ~/.pgpass, not in the URL)."
)


def open_db(data: Path, db: str | None):  # type: ignore[no-untyped-def]
    """The migrated database for ``--data``/``--db`` (shared by ``serve`` and ``users``)."""
    from generator.service.db import database_url, open_database

    data.mkdir(parents=True, exist_ok=True)
    return open_database(database_url(data, db))


def serve(
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to listen on (loopback)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535, help="Port."),
    data: Path = typer.Option(Path(DEFAULT_DATA), "--data", help=DATA_HELP),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    max_upload_mb: float = typer.Option(
        DEFAULT_MAX_UPLOAD_MB, "--max-upload-mb", help="Largest upload body, in MB (413 above)."
    ),
    workers: int = typer.Option(
        DEFAULT_WORKERS,
        "--workers",
        min=0,
        max=64,
        help="Jobs (generate, curate, export) this server runs at once, each in its own "
        "process; 0 = API only (other servers sharing the database run the jobs).",
    ),
    heartbeat: float = typer.Option(
        DEFAULT_HEARTBEAT_S,
        "--heartbeat",
        min=0.1,
        max=600,
        help="Seconds between a running job's heartbeats; a job that misses three (its "
        "server died) is queued again and resumes from its run journal.",
    ),
    cluster: str = typer.Option(
        None,
        "--cluster",
        help="Run generate and curate jobs on Dask: tcp://HOST:PORT (a scheduler the jobs "
        "share) or local:N (each job starts its own N workers on this machine).",
    ),
) -> None:
    """Serve the JSON API (and its docs at /docs, schema at /openapi.json)."""
    import uvicorn

    from generator.service.app import create_app

    database = open_db(data, db)
    settings = ServiceSettings(
        data.resolve(),
        database.url,
        max_upload_mb,
        workers=workers,
        heartbeat_s=heartbeat,
        cluster=cluster,
    )
    app = create_app(settings, database)
    if not is_loopback(host):
        typer.echo(
            f"warning: listening on {host}, beyond this machine: bearer tokens and documents "
            "travel in clear text unless a TLS-terminating proxy is in front (README "
            "'Service')",
            err=True,
        )
    typer.echo(
        f"instructforge serve: http://{host}:{port}  database {database.shown_url}", err=True
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
    finally:
        database.close()


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the root app."""
    app.command("serve", help=HELP)(serve)


HELP = (
    "Serve the instructforge HTTP API (JSON under /api/v1, OpenAPI at /openapi.json, docs at "
    "/docs) on 127.0.0.1:8321. Every call but GET /healthz needs `Authorization: Bearer "
    "TOKEN`; make users and tokens with `instructforge users add`. The database schema "
    "migrates forward on start. Generate, curate and export run as jobs: --workers N of them "
    "at a time in this server, claimed from the shared database (several servers may share "
    "one PostgreSQL database). --host other than loopback prints a warning: put a TLS proxy "
    "in front."
)
