"""A throwaway PostgreSQL 15 cluster for the service tests (no outside service needed).

``initdb`` refuses to run as root, so as root the cluster belongs to ``nobody`` (run through
``runuser``); its folder is a fresh temporary one, it listens on a free loopback port only,
with ``trust`` authentication (nothing else can reach it), and is stopped at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir() -> Path | None:
    """Where initdb/pg_ctl live: PATH, then pg_config, then Debian's PostgreSQL 15 folder."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").exists():
            return Path(out.stdout.strip())
    debian = Path("/usr/lib/postgresql/15/bin")
    return debian if (debian / "initdb").exists() else None


def _watchdog(prefix: list[str], bindir: Path, data: Path, root: Path, env: dict[str, str]) -> None:
    """A detached shell that stops the cluster and removes its folder if this test process
    dies without cleaning up (killed, timed out): no server is left running."""
    stop = subprocess.list2cmdline(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    )
    script = (
        f"while kill -0 {os.getpid()} 2>/dev/null && [ -d {root} ]; do sleep 1; done; "
        f"if [ -d {root} ]; then {stop}; rm -rf {root}; fi"
    )
    subprocess.Popen(
        ["sh", "-c", script], env=env, start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a cluster; yield the URL of an empty database ``instructforge`` in it."""
    bindir = pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server programs (initdb, pg_ctl) not found")
    root = Path(tempfile.mkdtemp(prefix="instructforge-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        prefix = ["runuser", "-u", "nobody", "--"]
    data = root / "data"
    port = free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, env=env, cwd=root)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
        "-E", "UTF8", "--no-sync")  # fmt: skip
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
    )
    try:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options,
            "-w", "-t", "60", "start")  # fmt: skip
        _watchdog(prefix, bindir, data, root, env)
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE instructforge")
        yield f"postgresql://postgres@127.0.0.1:{port}/instructforge"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True, env=env, cwd=root,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
