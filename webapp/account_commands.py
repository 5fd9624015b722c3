"""`flask users …` and `flask tokens …`: account administration from the shell, no web server needed."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from accounts import directory
from accounts.first_run import create_first_admin
from accounts.models import User
from accounts.roles import Role
from webapp.runtime import runtime

users_cli = AppGroup("users", help="People who may sign in, and their roles.")
tokens_cli = AppGroup("tokens", help="API tokens of programs.")

ROLE_CHOICE = click.Choice([role.value for role in Role])


def _fail(error: directory.AccountError) -> None:
    raise click.ClickException(str(error))


@users_cli.command("create")
@click.option("--email", required=True, help="Sign-in email (stored lower-cased).")
@click.option("--role", required=True, type=ROLE_CHOICE, help="viewer, operator or admin.")
@click.option("--password", help="Prompted for (hidden, twice) when left out.")
def users_create(email: str, role: str, password: str | None) -> None:
    """Create a user."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with runtime().db.transaction() as session:
            user = directory.create_user(session, email, role, password)
            click.echo(f"created user {user.email} with role {user.role}")
    except directory.AccountError as error:
        _fail(error)


@users_cli.command("list")
def users_list() -> None:
    """List users with their role, state and active token count."""
    with runtime().db.read_session() as session:
        users = directory.list_users(session)
        click.echo(f"{'EMAIL':40} {'ROLE':9} {'STATE':9} {'TOKENS':>6}  LAST SIGN-IN")
        for user in users:
            state = "enabled" if user.is_enabled else "disabled"
            last = user.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if user.last_login_at else "never"
            tokens = directory.active_token_count(session, user)
            click.echo(f"{user.email:40} {user.role:9} {state:9} {tokens:>6}  {last}")


def _change_user(change: Callable[[Session, str], User], email: str, done: str) -> None:
    try:
        with runtime().db.transaction() as session:
            user = change(session, email)
            click.echo(done.format(email=user.email))
    except directory.AccountError as error:
        _fail(error)


@users_cli.command("disable")
@click.option("--email", required=True)
def users_disable(email: str) -> None:
    """Disable a user: sessions end at their next request, API tokens are revoked."""
    _change_user(directory.disable_user, email, "disabled user {email}; their sessions and API tokens no longer work")


@users_cli.command("enable")
@click.option("--email", required=True)
def users_enable(email: str) -> None:
    """Enable a disabled user again (revoked tokens stay revoked)."""
    _change_user(directory.enable_user, email, "enabled user {email}")


@users_cli.command("bootstrap")
def users_bootstrap() -> None:
    """On a fresh installation, create an admin and print its password and an API token once; else say nothing."""
    settings = runtime().settings
    with runtime().db.transaction() as session:
        credentials = create_first_admin(session, settings.bootstrap_admin_email)
    if credentials is None:
        return
    click.echo("First run: an admin account was created. This is the only time these are shown:")
    click.echo(f"  email     {credentials.email}")
    click.echo(f"  password  {credentials.password}")
    click.echo(f"  API token {credentials.token}")


@tokens_cli.command("create")
@click.option("--email", required=True, help="The user the token acts as (with their role).")
@click.option("--name", required=True, help="What the token is for, e.g. the program using it.")
@click.option("--expires-in-days", type=int, default=None, help="Refuse the token from this many days on.")
def tokens_create(email: str, name: str, expires_in_days: int | None) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    try:
        with runtime().db.transaction() as session:
            row, token = directory.create_token(session, email, name, expires_in_days)
            click.echo(f"created token {row.name!r} for {email.strip().lower()}; it is shown only now:")
    except directory.AccountError as error:
        _fail(error)
    click.echo(token)


@tokens_cli.command("list")
@click.option("--email", required=True)
def tokens_list(email: str) -> None:
    """A user's tokens: id, name, hint, last use, expiry and revocation (never the token)."""
    try:
        with runtime().db.read_session() as session:
            tokens = directory.list_tokens(session, directory.get_user(session, email))
    except directory.AccountError as error:
        _fail(error)
    click.echo(f"{'ID':>5}  {'NAME':30} {'HINT':16} {'LAST USED':20} {'EXPIRES':20} REVOKED")
    for token in tokens:
        click.echo(f"{token.id:>5}  {token.name[:30]:30} {token.hint:16} {_when(token.last_used_at):20} "
                   f"{_when(token.expires_at):20} {_when(token.revoked_at)}")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


@tokens_cli.command("revoke")
@click.option("--email", required=True, help="The token's user.")
@click.option("--name", default=None, help="The token's name (when the user has one active token of that name).")
@click.option("--id", "token_id", type=int, default=None, help="The token's id (from `flask tokens list`).")
def tokens_revoke(email: str, name: str | None, token_id: int | None) -> None:
    """Revoke one token; the user's other tokens and their sessions keep working."""
    if (name is None) == (token_id is None):
        raise click.UsageError("give --name or --id")
    try:
        with runtime().db.transaction() as session:
            user = directory.get_user(session, email)
            chosen = token_id if token_id is not None else directory.token_named(session, user, name or "").id
            token = directory.revoke_token(session, user, chosen)
            click.echo(f"revoked token {token.name!r} (id {token.id}) of {user.email}; its other tokens still work")
    except directory.AccountError as error:
        _fail(error)
