"""The auth API: registration, sign-in, tokens, lockout, rate limits, reset and verification."""

import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from itsdangerous.timed import TimestampSigner
from sqlalchemy import func, select

from lmscore.db import utcnow
from lmscore.models import RefreshToken, User
from lmscore.services import auth
from lmscore.testing.plugin import DEFAULT_PASSWORD

LINK_RE = re.compile(r"https?://\S+")


def login(api, email, password=DEFAULT_PASSWORD, **kwargs):
    return api.post("/api/v1/auth/login", json={"email": email, "password": password}, **kwargs)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def link_token(message, path):
    """The ``token`` of the first link to ``path`` in an email."""
    for link in LINK_RE.findall(message.get_content()):
        parts = urlsplit(link)
        if parts.path == path:
            return parse_qs(parts.query)["token"][0]
    raise AssertionError(f"no link to {path} in {message.get_content()!r}")


# -- registration and the password policy -------------------------------------------------------


def test_register_returns_user_without_secrets_and_hashes_with_argon2id(api_client, lms):
    r = api_client().post("/api/v1/auth/register",
                          json={"email": "Ann@Example.org", "password": "long enough 1",
                                "name": " Ann "})
    assert r.status_code == 201, r.json
    assert set(r.json) == {"user"}
    assert set(r.json["user"]) == {"id", "email", "name", "role", "created_at"}
    assert r.json["user"]["email"] == "ann@example.org"
    assert r.json["user"]["name"] == "Ann"
    assert r.json["user"]["role"] == "student"
    stored = lms.db.session.get(User, r.json["user"]["id"])
    assert stored.password_hash.startswith("$argon2id$")
    assert "long enough 1" not in stored.password_hash


def test_new_accounts_start_in_the_configured_time_zone(app_factory):
    lms = app_factory(config={"timezone": "Europe/Brussels"}).extensions["lmscore"]
    user = auth.register(lms, lms.db.session, email="tz@example.org", password="long enough 1",
                         name="Tz")
    assert user.timezone == "Europe/Brussels"


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1", "must be at least 8 characters long"),
        ("1234567890", "must not be only digits"),
        ("bob@example.org", "must not be your email address"),
        ("BOB@example.org ", "must not be your email address"),
    ],
)
def test_password_policy_gives_field_level_details(api_client, password, problem):
    r = api_client().post("/api/v1/auth/register",
                          json={"email": "bob@example.org", "password": password, "name": "Bob"})
    assert r.status_code == 422
    assert r.json["error"]["code"] == "validation_failed"
    assert problem in r.json["error"]["details"]["fields"]["password"]


def test_register_twice_is_a_conflict_on_the_email_field(api_client, make_user):
    user = make_user()
    r = api_client().post("/api/v1/auth/register",
                          json={"email": user.email.upper(), "password": "long enough 1",
                                "name": "Again"})
    assert r.status_code == 409
    assert "email" in r.json["error"]["details"]["fields"]


def test_register_rejects_a_blank_name(api_client):
    r = api_client().post("/api/v1/auth/register",
                          json={"email": "c@example.org", "password": "long enough 1",
                                "name": "   "})
    assert r.status_code == 422
    assert "name" in r.json["error"]["details"]["fields"]


# -- sign-in and tokens ---------------------------------------------------------------------------


def test_login_returns_tokens_and_a_user(api_client, make_user, lms):
    user = make_user()
    r = login(api_client(), user.email.upper())
    assert r.status_code == 200
    assert set(r.json) == {"access", "refresh", "user"}
    assert r.json["user"]["email"] == user.email
    claims = jwt.decode(r.json["access"], lms.settings.secret_key, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_login_failure_is_the_same_for_unknown_and_existing_emails(api_client, make_user):
    user = make_user()
    api = api_client()
    wrong_password = login(api, user.email, "not the password")
    unknown_email = login(api, "nobody@example.org", "not the password")
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json == unknown_email.json


def test_access_token_works_then_expires(api_client, make_user, lms):
    user = make_user()
    api = api_client()
    access = login(api, user.email).json["access"]
    assert api.get("/api/v1/users/me", headers=bearer(access)).status_code == 200

    past = utcnow() - timedelta(minutes=16)
    expired = jwt.encode(
        {"sub": str(user.id), "sv": 1, "typ": "access", "iat": past,
         "exp": past + timedelta(minutes=15)},
        lms.settings.secret_key, algorithm="HS256",
    )
    r = api.get("/api/v1/users/me", headers=bearer(expired))
    assert r.status_code == 401
    assert "expired" in r.json["error"]["message"]


def test_a_token_used_while_valid_is_refused_once_it_expires(api_client, make_user, lms):
    """Verified tokens are remembered (a client sends the same one for minutes): its expiry
    still counts on every request."""
    user = make_user()
    soon = jwt.encode({"sub": str(user.id), "sv": 1, "typ": "access", "iat": utcnow(),
                       "exp": utcnow() + timedelta(seconds=1)},
                      lms.settings.secret_key, algorithm="HS256")
    api = api_client()
    assert api.get("/api/v1/users/me", headers=bearer(soon)).status_code == 200
    time.sleep(1.1)
    r = api.get("/api/v1/users/me", headers=bearer(soon))
    assert r.status_code == 401 and "expired" in r.json["error"]["message"]


@pytest.mark.parametrize("exp", ["soon", None, [1], float("nan"), float("inf")])
def test_a_signed_token_with_a_malformed_expiry_is_refused(api_client, make_user, lms, exp):
    user = make_user()
    odd = jwt.encode({"sub": str(user.id), "sv": 1, "typ": "access", "iat": utcnow(),
                      "exp": exp}, lms.settings.secret_key, algorithm="HS256")
    r = api_client().get("/api/v1/users/me", headers=bearer(odd))
    assert r.status_code == 401 and r.json["error"]["message"] == "The access token is not valid."


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer nonsense", "Basic abc", "Bearer a.b.c"])
def test_missing_or_invalid_access_tokens_are_401(api_client, header):
    r = api_client().get("/api/v1/users/me", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.json["error"]["code"] == "unauthorized"


def test_a_token_signed_with_another_key_is_refused(api_client, make_user):
    user = make_user()
    forged = jwt.encode({"sub": str(user.id), "sv": 1, "typ": "access", "iat": utcnow(),
                         "exp": utcnow() + timedelta(minutes=5)}, "x" * 40, algorithm="HS256")
    assert api_client().get("/api/v1/users/me", headers=bearer(forged)).status_code == 401


def test_refresh_rotates_and_reusing_a_rotated_token_revokes_the_family(api_client, make_user):
    user = make_user()
    api = api_client()
    first = login(api, user.email).json["refresh"]

    r = api.post("/api/v1/auth/refresh", json={"refresh": first})
    assert r.status_code == 200
    assert set(r.json) == {"access", "refresh"}
    second = r.json["refresh"]
    assert second != first
    assert api.get("/api/v1/users/me", headers=bearer(r.json["access"])).status_code == 200
    third = api.post("/api/v1/auth/refresh", json={"refresh": second}).json["refresh"]

    # A replay of a rotated token: the whole login ends, including the newest token.
    assert api.post("/api/v1/auth/refresh", json={"refresh": first}).status_code == 401
    assert api.post("/api/v1/auth/refresh", json={"refresh": third}).status_code == 401


def test_second_use_of_a_refresh_token_fails_and_other_logins_survive(api_client, make_user):
    user = make_user()
    api = api_client()
    token = login(api, user.email).json["refresh"]
    other_login = login(api, user.email).json["refresh"]
    assert api.post("/api/v1/auth/refresh", json={"refresh": token}).status_code == 200
    assert api.post("/api/v1/auth/refresh", json={"refresh": token}).status_code == 401
    assert api.post("/api/v1/auth/refresh", json={"refresh": other_login}).status_code == 200


def test_expired_refresh_token_is_refused(api_client, make_user, lms):
    user = make_user()
    api = api_client()
    token = login(api, user.email).json["refresh"]
    session = lms.db.session
    for row in session.query(RefreshToken).filter_by(user_id=user.id):
        row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert api.post("/api/v1/auth/refresh", json={"refresh": token}).status_code == 401


def test_spent_credentials_are_purged_hourly_and_live_ones_kept(api_client, make_user, lms,
                                                                jobs):
    """Every refresh adds a row and every single-use link one more: the purge job keeps both
    tables to what can still matter (a rotated token until it expires, for reuse detection)."""
    from lmscore.jobs import PeriodicJob
    from lmscore.models import UsedToken

    assert PeriodicJob(auth.PURGE_JOB, every_s=3600) in jobs.periodic
    user = make_user()
    api = api_client()
    first = login(api, user.email).json["refresh"]
    live = api.post("/api/v1/auth/refresh", json={"refresh": first}).json["refresh"]
    old = login(api, user.email).json["refresh"]
    session = lms.db.session
    expired = session.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id)
                              .order_by(RefreshToken.id.desc())).first()
    expired.expires_at = utcnow() - timedelta(days=1, minutes=1)
    session.add_all([UsedToken(jti="spent", purpose="reset",
                               used_at=utcnow() - auth.USED_TOKENS_KEPT - timedelta(minutes=1)),
                     UsedToken(jti="recent", purpose="reset", used_at=utcnow())])
    session.commit()

    jobs.enqueue(auth.PURGE_JOB)
    jobs.drain()
    assert session.scalars(select(UsedToken.jti)).all() == ["recent"]
    assert session.scalar(select(func.count()).select_from(RefreshToken)
                          .where(RefreshToken.user_id == user.id)) == 2
    # The expired login is gone; the live token refreshes, and the rotated one is still
    # recognised as a replay.
    assert api.post("/api/v1/auth/refresh", json={"refresh": old}).status_code == 401
    assert api.post("/api/v1/auth/refresh", json={"refresh": live}).status_code == 200
    assert api.post("/api/v1/auth/refresh", json={"refresh": first}).status_code == 401


def test_logout_revokes_the_refresh_token_and_is_idempotent(api_client, make_user):
    user = make_user()
    api = api_client()
    token = login(api, user.email).json["refresh"]
    assert api.post("/api/v1/auth/logout", json={"refresh": token}).status_code == 204
    assert api.post("/api/v1/auth/refresh", json={"refresh": token}).status_code == 401
    assert api.post("/api/v1/auth/logout", json={"refresh": token}).status_code == 204
    assert api.post("/api/v1/auth/logout", json={"refresh": "unknown"}).status_code == 204


# -- lockout and rate limits -----------------------------------------------------------------------


def test_five_failures_lock_the_account_for_15_minutes_then_the_lock_lifts(
    api_client, make_user, lms
):
    user = make_user()
    api = api_client()
    for _ in range(5):
        assert login(api, user.email, "wrong password").status_code == 401
    r = login(api, user.email)  # even the right password
    assert r.status_code == 429
    assert r.json["error"]["code"] == "too_many_requests"
    assert 14 * 60 < int(r.headers["Retry-After"]) <= 15 * 60 + 1

    session = lms.db.session
    locked = session.get(User, user.id)
    locked.locked_until = utcnow() - timedelta(seconds=1)  # fifteen minutes later
    session.commit()
    assert login(api, user.email).status_code == 200


def test_a_success_resets_the_failure_count(api_client, make_user):
    user = make_user()
    api = api_client()
    for _ in range(4):
        login(api, user.email, "wrong password")
    assert login(api, user.email).status_code == 200
    for _ in range(4):
        assert login(api, user.email, "wrong password").status_code == 401
    assert login(api, user.email).status_code == 200


def test_unknown_emails_lock_like_real_ones(api_client, make_user):
    user = make_user()
    api = api_client()
    answers = {}
    for email in (user.email, "ghost@example.org"):
        for _ in range(5):
            login(api, email, "wrong password")
        answers[email] = login(api, email, "wrong password")
    real, ghost = answers.values()
    assert real.status_code == ghost.status_code == 429
    assert real.json == ghost.json
    assert abs(int(real.headers["Retry-After"]) - int(ghost.headers["Retry-After"])) <= 1


def test_an_account_locked_by_an_admin_says_so_only_to_the_right_password(
    api_as, api_client, make_user
):
    user = make_user()
    admin = api_as("admin")
    assert admin.patch(f"/api/v1/users/{user.id}", json={"locked": True}).status_code == 200
    api = api_client()
    assert login(api, user.email, "wrong password").status_code == 401
    r = login(api, user.email)
    assert r.status_code == 403
    assert "locked" in r.json["error"]["message"]
    assert admin.patch(f"/api/v1/users/{user.id}", json={"locked": False}).status_code == 200
    assert login(api, user.email).status_code == 200


@pytest.mark.lms_config({"auth": {"ip_rate_limit": "3 per minute"}})
def test_auth_endpoints_are_rate_limited_per_ip(api_client):
    api = api_client()
    for n in range(3):
        assert login(api, f"user{n}@example.org", "whatever pw").status_code == 401
    r = login(api, "another@example.org", "whatever pw")
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= 61
    r = api.post("/api/v1/auth/password-reset", json={"email": "x@example.org"})
    assert r.status_code == 429
    # Another address is counted on its own.
    other_ip = login(api, "user0@example.org", "whatever pw",
                     environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other_ip.status_code == 401


@pytest.mark.lms_config({"auth": {"account_rate_limit": "2 per minute"}})
def test_auth_endpoints_are_rate_limited_per_account(api_client, make_user):
    user = make_user()
    api = api_client()
    for n in range(2):
        r = login(api, user.email, environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
        assert r.status_code == 200
    r = login(api, user.email.upper(), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert login(api, "someone-else@example.org", "whatever pw").status_code == 401


# -- email verification ------------------------------------------------------------------------


def register(api, email="dana@example.org", password="long enough 1"):
    r = api.post("/api/v1/auth/register", json={"email": email, "password": password,
                                                "name": "Dana"})
    assert r.status_code == 201, r.json
    return r.json["user"]


def test_verification_email_arrives_and_its_token_works_once(api_client, jobs, mailbox, lms):
    api = api_client()
    user = register(api)
    assert mailbox() == []  # sent by a job, after the commit
    jobs.drain()
    (message,) = mailbox()
    assert message["To"] == "dana@example.org"
    assert message.get_content().count(lms.settings.base_url + "/verify-email?token=") == 1
    token = link_token(message, "/verify-email")

    r = api.post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 200
    assert lms.db.session.get(User, user["id"]).email_verified_at is not None
    again = api.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 422
    assert again.json["error"]["details"]["fields"]["token"] == ["invalid"]


def test_a_tampered_verification_token_is_refused(api_client, jobs, mailbox):
    api = api_client()
    register(api)
    jobs.drain()
    token = link_token(mailbox()[0], "/verify-email")
    r = api.post("/api/v1/auth/verify-email", json={"token": token[:-2] + "xx"})
    assert r.status_code == 422


def test_a_reset_token_is_not_a_verification_token(api_client, make_user, lms):
    user = make_user()
    token = auth.make_signed_token(lms, user, auth.RESET_PURPOSE)
    r = api_client().post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 422


def test_verification_tokens_expire(api_client, make_user, lms, monkeypatch):
    user = make_user()
    two_days_ago = int(time.time()) - 48 * 3600 - 1
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: two_days_ago)
        token = auth.make_signed_token(lms, user, auth.VERIFY_PURPOSE)
    r = api_client().post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 422
    assert r.json["error"]["details"]["fields"]["token"] == ["expired"]


@pytest.mark.lms_config({"auth": {"require_email_verification": True}})
def test_sign_in_can_require_a_verified_email(api_client, jobs, mailbox):
    api = api_client()
    register(api)
    assert login(api, "dana@example.org", "long enough 1").status_code == 401
    jobs.drain()
    token = link_token(mailbox()[0], "/verify-email")
    api.post("/api/v1/auth/verify-email", json={"token": token})
    assert login(api, "dana@example.org", "long enough 1").status_code == 200


# -- password reset -------------------------------------------------------------------------------


def request_reset(api, email):
    return api.post("/api/v1/auth/password-reset", json={"email": email})


def test_reset_answer_is_the_same_for_unknown_and_existing_emails(
    api_client, make_user, jobs, mailbox
):
    user = make_user()
    api = api_client()
    known, unknown = request_reset(api, user.email), request_reset(api, "nobody@example.org")
    assert known.status_code == unknown.status_code == 202
    assert known.json == unknown.json
    jobs.drain()
    assert [m["To"] for m in mailbox()] == [user.email]


def test_reset_link_sets_a_new_password_once_and_ends_sessions(
    api_client, make_user, jobs, mailbox
):
    user = make_user()
    api = api_client()
    tokens = login(api, user.email).json
    request_reset(api, user.email.upper())
    jobs.drain()
    token = link_token(mailbox()[0], "/password-reset/confirm")

    weak = api.post("/api/v1/auth/password-reset/confirm", json={"token": token,
                                                                 "password": "12345678"})
    assert weak.status_code == 422
    assert "password" in weak.json["error"]["details"]["fields"]
    r = api.post("/api/v1/auth/password-reset/confirm", json={"token": token,
                                                              "password": "a new passphrase"})
    assert r.status_code == 200, r.json

    assert login(api, user.email).status_code == 401
    assert login(api, user.email, "a new passphrase").status_code == 200
    # Every earlier session ended: access and refresh tokens alike.
    assert api.get("/api/v1/users/me", headers=bearer(tokens["access"])).status_code == 401
    assert api.post("/api/v1/auth/refresh", json={"refresh": tokens["refresh"]}).status_code == 401
    again = api.post("/api/v1/auth/password-reset/confirm", json={"token": token,
                                                                  "password": "yet another one"})
    assert again.status_code == 422


def test_a_reset_token_dies_when_the_password_changes(api_client, make_user, jobs, mailbox):
    user = make_user()
    api = api_client()
    request_reset(api, user.email)
    request_reset(api, user.email)
    jobs.drain()
    first, second = (link_token(m, "/password-reset/confirm") for m in mailbox())
    assert api.post("/api/v1/auth/password-reset/confirm",
                    json={"token": first, "password": "a new passphrase"}).status_code == 200
    r = api.post("/api/v1/auth/password-reset/confirm",
                 json={"token": second, "password": "another passphrase"})
    assert r.status_code == 422
    assert r.json["error"]["details"]["fields"]["token"] == ["invalid"]


def test_reset_tokens_expire(api_client, make_user, lms, monkeypatch):
    user = make_user()
    an_hour_ago = int(time.time()) - 3601
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: an_hour_ago)
        token = auth.make_signed_token(lms, user, auth.RESET_PURPOSE)
    r = api_client().post("/api/v1/auth/password-reset/confirm",
                          json={"token": token, "password": "a new passphrase"})
    assert r.status_code == 422
    assert r.json["error"]["details"]["fields"]["token"] == ["expired"]


def test_a_reset_lifts_a_lockout(api_client, make_user, lms):
    user = make_user()
    api = api_client()
    for _ in range(5):
        login(api, user.email, "wrong password")
    token = auth.make_signed_token(lms, user, auth.RESET_PURPOSE)
    assert api.post("/api/v1/auth/password-reset/confirm",
                    json={"token": token, "password": "a new passphrase"}).status_code == 200
    assert login(api, user.email, "a new passphrase").status_code == 200
