"""Accounts on a real (SQLite) database: roles, password and token hashing, the user directory, the first run."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import directory
from accounts.api_tokens import new_token, token_digest
from accounts.directory import LAST_USED_GRANULARITY, AccountError, AccountExists, Identity
from accounts.first_run import FIRST_TOKEN_NAME, create_first_admin
from accounts.models import ApiToken, User
from accounts.passwords import hash_password, verify_password
from accounts.roles import Role
from jobs.db import Database, utcnow

PASSWORD = "correct horse battery staple"
EMAIL = "alice@example.test"


def add_user(db: Database, email: str = EMAIL, role: str = "operator", password: str = PASSWORD) -> None:
    with db.transaction() as session:
        directory.create_user(session, email, role, password)


def add_token(db: Database, email: str = EMAIL, name: str = "ci") -> tuple[int, str]:
    with db.transaction() as session:
        row, token = directory.create_token(session, email, name)
        return row.id, token


def user_row(db: Database, email: str = EMAIL) -> User:
    with db.read_session() as session:
        user = directory.find_user(session, email)
        assert user is not None
        return user


def token_row(db: Database, token_id: int) -> ApiToken:
    with db.read_session() as session:
        row = session.get(ApiToken, token_id)
        assert row is not None
        return row


def user_count(db: Database) -> int:
    with db.read_session() as session:
        return directory.count_users(session)


def login(db: Database, email: str = EMAIL, password: str = PASSWORD) -> User | None:
    with db.transaction() as session:
        return directory.authenticate_password(session, email, password)


def bearer(db: Database, token: str) -> Identity | None:
    with db.read_session() as session:
        return directory.authenticate_token(session, token)


@pytest.mark.parametrize(
    ("held", "required", "expected"),
    [
        (Role.VIEWER, Role.VIEWER, True), (Role.VIEWER, Role.OPERATOR, False), (Role.VIEWER, Role.ADMIN, False),
        (Role.OPERATOR, Role.VIEWER, True), (Role.OPERATOR, Role.OPERATOR, True), (Role.OPERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.VIEWER, True), (Role.ADMIN, Role.OPERATOR, True), (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_role_permits_itself_and_weaker_roles_only(held: Role, required: Role, expected: bool) -> None:
    assert held.permits(required) is expected


def test_password_hash_is_salted_argon2id_and_verifies_only_the_right_password() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$") and second.startswith("$argon2id$")
    assert PASSWORD not in first and first != PASSWORD
    assert first != second
    assert verify_password(first, PASSWORD) and verify_password(second, PASSWORD)
    assert verify_password(first, PASSWORD + "!") is False


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$m=65536,t=3,p=4$garbage", PASSWORD])
def test_malformed_stored_hash_never_matches_and_never_raises(stored: str) -> None:
    assert verify_password(stored, PASSWORD) is False


def test_new_tokens_are_prefixed_random_and_digested_to_64_hex() -> None:
    token, other = new_token(), new_token()
    assert token.startswith("jbt_") and other.startswith("jbt_")
    assert token != other
    digest = token_digest(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == token_digest(token) and digest != token_digest(other)
    assert token not in digest and token[len("jbt_"):] not in digest


def test_create_user_normalizes_email_and_stores_only_a_password_hash(db: Database) -> None:
    add_user(db, email="  Alice@Example.TEST ", role="viewer")
    user = user_row(db, EMAIL)
    assert user.email == EMAIL
    assert user.role == "viewer" and user.user_role is Role.VIEWER
    assert user.is_enabled and user.last_login_at is None
    assert user.password_hash.startswith("$argon2id$")
    assert all(PASSWORD not in str(getattr(user, column.key)) for column in User.__table__.columns)
    assert verify_password(user.password_hash, PASSWORD)


def test_create_user_with_a_taken_email_in_another_case_is_refused(db: Database) -> None:
    add_user(db)
    with pytest.raises(AccountExists) as caught:
        add_user(db, email="ALICE@example.test", password="another long password")
    assert caught.value.field == "email"
    assert user_count(db) == 1
    assert login(db) is not None


@pytest.mark.parametrize(
    ("email", "role", "password", "field"),
    [
        ("no-at-sign", "viewer", PASSWORD, "email"),
        ("a@b c", "viewer", PASSWORD, "email"),
        ("", "viewer", PASSWORD, "email"),
        (EMAIL, "superuser", PASSWORD, "role"),
        (EMAIL, "", PASSWORD, "role"),
        (EMAIL, "viewer", "elevenchars", "password"),
    ],
)
def test_create_user_refuses_bad_input_and_stores_nothing(
    db: Database, email: str, role: str, password: str, field: str
) -> None:
    with pytest.raises(AccountError) as caught:
        add_user(db, email=email, role=role, password=password)
    assert caught.value.field == field
    assert user_count(db) == 0


def test_password_of_exactly_twelve_characters_is_accepted(db: Database) -> None:
    add_user(db, password="twelve chars")
    assert login(db, password="twelve chars") is not None


def test_right_password_returns_the_user_and_records_the_login(db: Database) -> None:
    add_user(db)
    before = utcnow()
    user = login(db, email="  ALICE@example.test")
    assert user is not None and user.email == EMAIL
    stored = user_row(db).last_login_at
    assert stored is not None and before <= stored <= utcnow()


@pytest.mark.parametrize(("email", "password"), [(EMAIL, "wrong password!"), ("bob@example.test", PASSWORD), ("", "")])
def test_wrong_password_or_unknown_email_is_refused_without_recording_a_login(
    db: Database, email: str, password: str
) -> None:
    add_user(db)
    assert login(db, email=email, password=password) is None
    assert user_row(db).last_login_at is None


def test_disabled_user_cannot_log_in_even_with_the_right_password(db: Database) -> None:
    add_user(db)
    with db.transaction() as session:
        directory.disable_user(session, EMAIL)
    assert login(db) is None
    assert user_row(db).last_login_at is None


def test_token_authenticates_to_its_users_identity(db: Database) -> None:
    add_user(db, role="operator")
    token_id, token = add_token(db, name="  deploy bot ")
    identity = bearer(db, token)
    assert identity is not None
    assert (identity.email, identity.role, identity.user_id) == (EMAIL, Role.OPERATOR, user_row(db).id)
    assert (identity.token_id, identity.token_name, identity.via) == (token_id, "deploy bot", "token:deploy bot")


def test_only_the_tokens_digest_is_stored(db: Database) -> None:
    add_user(db)
    token_id, token = add_token(db)
    row = token_row(db, token_id)
    assert row.digest == token_digest(token)
    assert token.startswith(row.hint) and len(row.hint) < len(token)
    assert all(token not in str(getattr(row, column.key)) for column in ApiToken.__table__.columns)


def test_unknown_token_is_refused(db: Database) -> None:
    add_user(db)
    add_token(db)
    assert bearer(db, new_token()) is None
    assert bearer(db, "") is None


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_token_name_must_be_1_to_100_characters(db: Database, name: str) -> None:
    add_user(db)
    with pytest.raises(AccountError) as caught:
        add_token(db, name=name)
    assert caught.value.field == "name"
    with db.read_session() as session:
        assert directory.active_token_count(session, user_row(db)) == 0
    _token_id, token = add_token(db, name="x" * 100)
    assert bearer(db, token) is not None


def test_disabled_user_gets_no_new_token_and_unknown_user_none_either(db: Database) -> None:
    add_user(db)
    with db.transaction() as session:
        directory.disable_user(session, EMAIL)
    with pytest.raises(AccountError) as disabled:
        add_token(db)
    with pytest.raises(AccountError) as unknown:
        add_token(db, email="nobody@example.test")
    assert disabled.value.field == unknown.value.field == "email"
    with db.read_session() as session:
        assert session.scalars(select(ApiToken)).all() == []


def test_disable_revokes_tokens_and_enable_restores_password_login_but_not_tokens(db: Database) -> None:
    add_user(db)
    first_id, first = add_token(db, name="one")
    second_id, second = add_token(db, name="two")
    with db.transaction() as session:
        directory.disable_user(session, EMAIL)
    assert bearer(db, first) is None and bearer(db, second) is None
    assert token_row(db, first_id).revoked_at is not None and token_row(db, second_id).revoked_at is not None
    with db.read_session() as session:
        assert directory.active_token_count(session, user_row(db)) == 0
    assert user_row(db).disabled_at is not None

    with db.transaction() as session:
        directory.enable_user(session, EMAIL)
    assert user_row(db).is_enabled
    assert login(db) is not None
    assert bearer(db, first) is None and bearer(db, second) is None
    _new_id, fresh = add_token(db, name="three")
    assert bearer(db, fresh) is not None


def test_token_of_a_disabled_user_is_refused_even_if_not_revoked(db: Database) -> None:
    add_user(db)
    token_id, token = add_token(db)
    with db.transaction() as session:
        user = directory.get_user(session, EMAIL)
        user.disabled_at = utcnow()
    assert token_row(db, token_id).revoked_at is None
    assert bearer(db, token) is None


def test_disable_of_an_unknown_email_is_refused(db: Database) -> None:
    with pytest.raises(AccountError) as caught, db.transaction() as session:
        directory.disable_user(session, "nobody@example.test")
    assert caught.value.field == "email"


def test_touch_token_writes_last_use_at_most_once_per_granularity(db: Database) -> None:
    add_user(db)
    token_id, _token = add_token(db)
    assert token_row(db, token_id).last_used_at is None
    with db.transaction() as session:
        directory.touch_token(session, token_id)
    first = token_row(db, token_id).last_used_at
    assert first is not None
    with db.transaction() as session:
        directory.touch_token(session, token_id)
    assert token_row(db, token_id).last_used_at == first

    stale = utcnow() - LAST_USED_GRANULARITY - timedelta(seconds=1)
    with db.transaction() as session:
        row = session.get(ApiToken, token_id)
        assert row is not None
        row.last_used_at = stale
    with db.transaction() as session:
        directory.touch_token(session, token_id)
    refreshed = token_row(db, token_id).last_used_at
    assert refreshed is not None and refreshed > first


def test_authentication_says_when_a_tokens_use_is_due_to_be_recorded(db: Database) -> None:
    add_user(db)
    token_id, token = add_token(db)
    first = bearer(db, token)
    assert first is not None and first.token_use_unrecorded is True
    with db.transaction() as session:
        directory.touch_token(session, token_id)
    again = bearer(db, token)
    assert again is not None and again.token_use_unrecorded is False  # no write needed for a while


def test_first_admin_on_an_empty_database_gets_working_credentials(db: Database) -> None:
    with db.transaction() as session:
        credentials = create_first_admin(session, " Root@Example.TEST ")
    assert credentials is not None
    assert credentials.email == "root@example.test"
    with db.read_session() as session:
        users = directory.list_users(session)
        tokens = session.scalars(select(ApiToken)).all()
    assert [(user.email, user.user_role) for user in users] == [("root@example.test", Role.ADMIN)]
    assert [(token.user_id, token.name) for token in tokens] == [(users[0].id, FIRST_TOKEN_NAME)]
    assert login(db, credentials.email, credentials.password) is not None
    identity = bearer(db, credentials.token)
    assert identity is not None and identity.role is Role.ADMIN and identity.email == credentials.email

    with db.transaction() as session:
        assert create_first_admin(session, "other@example.test") is None
    assert user_count(db) == 1


def test_first_admin_is_not_created_when_any_user_exists(db: Database) -> None:
    add_user(db, role="viewer")
    with db.transaction() as session:
        assert create_first_admin(session, "root@example.test") is None
    with db.read_session() as session:
        assert [(user.email, user.role) for user in directory.list_users(session)] == [(EMAIL, "viewer")]
        assert session.scalars(select(ApiToken)).all() == []
