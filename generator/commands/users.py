"""``instructforge users add | list | revoke | passwd``: accounts of the HTTP service.

``passwd --password`` sets a web sign-in password instead (never echoed, only its scrypt
hash stored).

``add`` and ``passwd`` print the new token alone on the last line (for scripts); it is shown
once and only its hash is stored. Each change is written to the audit trail as done by
``cli:<login name>``.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from generator.commands.serve import DATA_HELP, DB_HELP, open_db
from generator.service.settings import DEFAULT_DATA

users_app = typer.Typer(help="Users, roles and API tokens of the service.", no_args_is_help=True)

DATA = typer.Option(Path(DEFAULT_DATA), "--data", help=DATA_HELP)
DB = typer.Option(None, "--db", help=DB_HELP)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


@users_app.command("add")
def add(
    name: str = typer.Argument(..., help="User name (letters, digits, . _ @ -)."),
    role: str = typer.Option(..., "--role", help="admin, operator, reviewer or legal."),
    data: Path = DATA,
    db: str = DB,
) -> None:
    """Add a user; print their API token once (last line)."""
    from generator.service import users
    from generator.service.audit import CLI_REMOTE

    users.check_name(name)
    users.check_role(role)
    database = open_db(data, db)
    try:
        token = users.add(database, name, role, actor=_actor(), remote=CLI_REMOTE)
    finally:
        database.close()
    typer.echo(f"user {name} added with role {role}; the token below is shown only once:", err=True)
    typer.echo(token)


@users_app.command("list")
def list_(data: Path = DATA, db: str = DB) -> None:
    """Users with role, creation time, state and live tokens."""
    from generator.service import users

    database = open_db(data, db)
    try:
        rows = users.listing(database)
    finally:
        database.close()
    if not rows:
        typer.echo("no users (add one with: instructforge users add NAME --role admin)")
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        typer.echo(
            f"{r['name']:<24} {r['role']:<9} created {r['created_at']}  {state}  "
            f"tokens {r['tokens']}"
        )


@users_app.command("revoke")
def revoke(name: str = typer.Argument(...), data: Path = DATA, db: str = DB) -> None:
    """Disable a user and every token they hold."""
    from generator.service import users
    from generator.service.audit import CLI_REMOTE

    database = open_db(data, db)
    try:
        users.revoke(database, name, actor=_actor(), remote=CLI_REMOTE)
    finally:
        database.close()
    typer.echo(f"user {name} revoked: their tokens no longer work")


@users_app.command("passwd")
def passwd(
    name: str = typer.Argument(...),
    password: bool = typer.Option(
        False,
        "--password",
        help="Set a password for web sign-in instead (read from stdin, or asked twice on a "
        "terminal); the user's tokens are kept.",
    ),
    data: Path = DATA,
    db: str = DB,
) -> None:
    """Give a user a new token (last line) and revoke the old ones; or, with --password,
    set their web sign-in password."""
    from generator.service import users
    from generator.service.audit import CLI_REMOTE

    secret = _read_password() if password else None
    database = open_db(data, db)
    try:
        if secret is not None:
            from generator.service.passwords import set_password

            set_password(database, name, secret, actor=_actor(), remote=CLI_REMOTE)
        else:
            token = users.passwd(database, name, actor=_actor(), remote=CLI_REMOTE)
    finally:
        database.close()
    if secret is not None:
        typer.echo(f"password set for {name} (web sign-in); their tokens still work")
        return
    typer.echo(f"new token for {name}; the old ones no longer work; shown only once:", err=True)
    typer.echo(token)


def _read_password() -> str:
    """One line from stdin (scripts), or typed twice without echo (a terminal)."""
    import sys

    from generator.service.passwords import check_password

    if sys.stdin.isatty():
        value = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    return check_password(value)


def register(app: typer.Typer) -> None:
    """Add the ``users`` command group to the root app."""
    app.add_typer(users_app, name="users")
