"""``instructforge users`` and ``serve`` from the command line: tokens printed once on the last
line, bad flags as one line with exit 2 (never a password), the warning off loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.service import users
from generator.service.db import DB_FILE, database_url, open_database
from generator.service.migrate import current, head
from tests.conftest import cli_env
from tests.service.pg import free_port


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_users_add_list_passwd_revoke(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = _cli("users", "add", "alice", "--role", "reviewer", "--data", str(data))
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("ifk_") and "shown only once" in added.stderr
    db = open_database(database_url(data, None))
    try:
        assert (data / DB_FILE).exists()
        assert users.authenticate(db, token).name == "alice"  # type: ignore[union-attr]
        assert token not in (data / DB_FILE).read_bytes().decode("latin-1")  # stored hashed
        listed = _cli("users", "list", "--data", str(data))
        assert "alice" in listed.stdout and "reviewer" in listed.stdout
        assert "active" in listed.stdout and token not in listed.stdout
        new = _cli("users", "passwd", "alice", "--data", str(data)).stdout.strip().splitlines()[-1]
        assert new != token and users.authenticate(db, token) is None
        assert users.authenticate(db, new) is not None
        assert _cli("users", "revoke", "alice", "--data", str(data)).exit_code == 0
        assert users.authenticate(db, new) is None
        assert "revoked" in _cli("users", "list", "--data", str(data)).stdout
    finally:
        db.close()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["users", "add", "bob", "--role", "boss"], "invalid role 'boss'"),
        (["users", "add", "../bob", "--role", "admin"], "invalid user name"),
        (["users", "revoke", "nobody"], "no user named 'nobody'"),
        (["users", "passwd", "nobody"], "no user named 'nobody'"),
        (["users", "list", "--db", "mysql://x/y"], "expected sqlite:///PATH or postgresql://"),
    ],
)
def test_users_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    res = _cli(*args, "--data", str(tmp_path))
    assert res.exit_code == 2
    assert expected in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output


def test_users_add_twice_is_refused(tmp_path: Path) -> None:
    assert _cli("users", "add", "carol", "--role", "legal", "--data", str(tmp_path)).exit_code == 0
    again = _cli("users", "add", "carol", "--role", "legal", "--data", str(tmp_path))
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_unreachable_postgres_names_no_password(tmp_path: Path) -> None:
    url = f"postgresql://someone:s3cretpw@127.0.0.1:{free_port()}/db"
    res = _cli("users", "list", "--data", str(tmp_path), "--db", url)
    assert res.exit_code == 2
    assert "cannot open the database" in res.stderr and "s3cretpw" not in res.output


def test_migrations_are_at_head_and_reopen_is_idempotent(tmp_path: Path) -> None:
    url = database_url(tmp_path, None)
    for _ in range(2):
        db = open_database(url)
        try:
            assert current(db.engine) == head() == "0004"
        finally:
            db.close()


def test_migrations_ship_inside_the_package() -> None:
    from generator.service import migrate

    assert migrate.MIGRATIONS.is_relative_to(Path(migrate.__file__).parent)
    assert (migrate.MIGRATIONS / "versions" / "0001_initial.py").exists()


def test_users_add_as_a_real_subprocess_prints_the_token_last(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "generator.cli", "users", "add", "dave", "--role", "admin",
         "--data", str(tmp_path)],
        capture_output=True, text=True, env=cli_env(), timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("ifk_")
    assert out.stdout.count("ifk_") == 1 and "ifk_" not in out.stderr


def test_serve_warns_off_loopback(tmp_path: Path) -> None:
    """192.0.2.1 (TEST-NET-1) is no address of this machine: the warning is printed, then the
    bind fails; nothing is sent anywhere."""
    out = subprocess.run(
        [sys.executable, "-m", "generator.cli", "serve", "--host", "192.0.2.1", "--port",
         str(free_port()), "--data", str(tmp_path)],
        capture_output=True, text=True, env=cli_env(), timeout=120,
    )  # fmt: skip
    assert "warning: listening on 192.0.2.1" in out.stderr
    assert "TLS" in out.stderr
    assert out.returncode != 0


def test_serve_refuses_bad_flags(tmp_path: Path) -> None:
    bad_db = _cli("serve", "--data", str(tmp_path), "--db", "sqlite://")
    assert bad_db.exit_code == 2 and "--db" in bad_db.stderr
    bad_cap = _cli("serve", "--data", str(tmp_path), "--max-upload-mb", "0")
    assert bad_cap.exit_code == 2 and "--max-upload-mb" in bad_cap.stderr
