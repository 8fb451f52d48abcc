"""Accounts and credentials: argon2id hashes, password policy, lockout, JWT access tokens,
rotating refresh tokens, and signed single-use tokens for email verification and reset."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from limits import parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import utcnow
from ..errors import (
    AuthenticationFailed,
    Conflict,
    PermissionDenied,
    TooManyRequests,
    ValidationFailed,
)
from ..events import UserRegistered
from ..models import RefreshToken, Role, UsedToken, User
from . import events

if TYPE_CHECKING:
    from ..platform import Platform

# argon2id with the library's RFC 9106 low-memory profile defaults.
_hasher = PasswordHasher()
# Verified against when the email is unknown, so timing does not reveal which emails exist.
_DUMMY_HASH = ""
JWT_ALGORITHM = "HS256"
GENERIC_LOGIN_ERROR = "Wrong email or password."
LOCKED_MESSAGE = "Too many failed sign-ins. Try again later."
# An administrator's lock has no end; sign-in says so only once the password is right.
ADMIN_LOCK = datetime(9999, 12, 31, tzinfo=UTC)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RESET_REQUESTED = "If an account exists for this email, a reset link is on its way."
VERIFY_PURPOSE = "verify-email"
RESET_PURPOSE = "password-reset"


# -- passwords -------------------------------------------------------------------------------


def password_problems(password: str, email: str = "") -> list[str]:
    problems = []
    if len(password) < 8:
        problems.append("must be at least 8 characters long")
    if password.isdigit():
        problems.append("must not be only digits")
    if email and password.strip().lower() == email.strip().lower():
        problems.append("must not be your email address")
    if len(password) > 1024:
        problems.append("must be at most 1024 characters long")
    return problems


def check_password_policy(password: str, email: str = "") -> None:
    problems = password_problems(password, email)
    if problems:
        raise ValidationFailed(
            "The password " + "; ".join(problems) + ".", details={"fields": {"password": problems}}
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def invalid_field(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", details={"fields": {field: [message]}})


def check_email(email: str) -> None:
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise invalid_field("email", "Not a valid email address.")


def clean_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise invalid_field("name", "Enter a name of 1 to 200 characters.")
    return name


# -- rate limits and lockout state --------------------------------------------------------------
# Kept in the `limits` storage (Redis in production) so every node sees the same counts.

_storages: dict[str, Storage] = {}


def _storage(lms: Platform) -> Storage:
    uri = lms.settings.auth.rate_limit_storage
    if uri not in _storages:
        _storages[uri] = storage_from_string(uri)
    return _storages[uri]


def check_rate(lms: Platform, ip: str, account: str | None = None) -> None:
    """Count one request to an auth endpoint per IP and, when given, per account (email);
    429 with Retry-After past either limit."""
    settings = lms.settings.auth
    limiter = MovingWindowRateLimiter(_storage(lms))
    checks = [(parse(settings.ip_rate_limit), "ip", ip)]
    if account:
        checks.append((parse(settings.account_rate_limit), "account", normalise_email(account)))
    for limit, scope, key in checks:
        if not limiter.hit(limit, "lmscore-auth", scope, key):
            reset_at, _remaining = limiter.get_window_stats(limit, "lmscore-auth", scope, key)
            raise TooManyRequests(
                "Too many attempts. Wait a moment and try again.",
                retry_after=int(reset_at - time.time()) + 1,
            )


def reset_rate_limits(lms: Platform) -> None:
    """Forget every counter and lock kept in the storage (tests, and admins after an incident)."""
    _storage(lms).reset()


def _ghost_lock_retry_after(lms: Platform, email: str) -> int:
    """Seconds left on the lockout of an email with no account (0 when not locked)."""
    storage = _storage(lms)
    if storage.get(f"lmscore-ghost-lock/{email}") <= 0:
        return 0
    return int(storage.get_expiry(f"lmscore-ghost-lock/{email}") - time.time()) + 1


def _ghost_failure(lms: Platform, email: str) -> None:
    """Count a failed sign-in for an email with no account and lock it exactly as a real
    account would be locked, so lockouts never reveal which emails exist."""
    settings = lms.settings.auth
    storage = _storage(lms)
    fails = storage.incr(f"lmscore-ghost-fails/{email}", 86400)
    if fails >= settings.max_failed_logins:
        storage.clear(f"lmscore-ghost-fails/{email}")
        storage.incr(f"lmscore-ghost-lock/{email}", settings.lockout_minutes * 60)


def _dummy_hash() -> str:
    """Made on first use, not at import: hashing costs about a second of start-up."""
    global _DUMMY_HASH
    if not _DUMMY_HASH:
        _DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))
    return _DUMMY_HASH


# -- registration and login --------------------------------------------------------------------


def register(
    lms: Platform, session: Session, *, email: str, password: str, name: str,
    role: Role = Role.STUDENT,
) -> User:
    """Create an account and emit ``user_registered``. Commits."""
    email = normalise_email(email)
    check_email(email)
    name = clean_name(name)
    check_password_policy(password, email)
    if find_user_by_email(session, email) is not None:
        raise Conflict(
            "An account with this email already exists.",
            details={"fields": {"email": ["is already registered"]}},
        )
    user = User(email=email, name=name, role=role.value, password_hash=hash_password(password),
                timezone=lms.settings.timezone)
    session.add(user)
    session.flush()
    events.emit(session, UserRegistered(user_id=user.id, email=user.email, display_name=user.name))
    send_verification_email(lms, session, user)
    session.commit()
    return user


def check_credentials(lms: Platform, session: Session, email: str, password: str) -> User:
    """The user for these credentials, with lockout after repeated failures. Commits the
    failure counter either way. Unknown emails fail, and lock, exactly like real ones."""
    settings = lms.settings.auth
    email = normalise_email(email)
    user = find_user_by_email(session, email)
    now = utcnow()
    locked_until = user.locked_until if user is not None else None
    if locked_until is not None and now < locked_until < ADMIN_LOCK:
        raise TooManyRequests(LOCKED_MESSAGE,
                              retry_after=int((locked_until - now).total_seconds()) + 1)
    if user is None and (retry_after := _ghost_lock_retry_after(lms, email)):
        raise TooManyRequests(LOCKED_MESSAGE, retry_after=retry_after)
    if not verify_password(user, password):
        if user is None:
            _ghost_failure(lms, email)
        elif locked_until != ADMIN_LOCK:
            user.failed_logins += 1
            if user.failed_logins >= settings.max_failed_logins:
                user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
                user.failed_logins = 0
            session.commit()
        raise AuthenticationFailed(GENERIC_LOGIN_ERROR)
    assert user is not None
    if locked_until == ADMIN_LOCK:
        raise PermissionDenied("This account is locked. Contact an administrator.")
    if settings.require_email_verification and user.email_verified_at is None:
        raise AuthenticationFailed("Please verify your email address first.")
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.commit()
    return user


# -- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def make_access_token(lms: Platform, user: User) -> str:
    now = utcnow()
    claims = {
        "sub": str(user.id),
        "role": user.role,
        "sv": user.session_version,
        "iat": now,
        "exp": now + timedelta(minutes=lms.settings.auth.access_token_minutes),
        "jti": uuid.uuid4().hex,
        "typ": "access",
    }
    return jwt.encode(claims, lms.settings.secret_key, algorithm=JWT_ALGORITHM)


@dataclass(frozen=True)
class AccessClaims:
    """What a valid access token says: whose it is, and which of their sessions it belongs to."""

    user_id: int
    session_version: Any


def access_claims(lms: Platform, token: str) -> AccessClaims:
    """The claims of a well-signed, unexpired access token; the user is not loaded yet."""
    claims, expires = _verified_access_token(token, lms.settings.secret_key)
    if expires <= time.time():  # PyJWT's rule: expired at the second ``exp`` names
        raise AuthenticationFailed("The access token has expired; refresh it.")
    return claims


@functools.lru_cache(maxsize=4096)
def _verified_access_token(token: str, secret: str) -> tuple[AccessClaims, int]:
    """A token's claims and expiry, once its signature and claims are verified. A client sends
    the same token with every request for minutes, and verifying it again (base64, HMAC,
    JSON: ~50 µs) was a tenth of the hottest read's CPU time. Only the very token and key that
    verified hit the cache; a refused token is never kept, and expiry is the caller's check on
    every use."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "exp", "iat", "typ"], "verify_exp": False},
        )
        expires = int(claims["exp"])  # as PyJWT reads it
    except (jwt.InvalidTokenError, TypeError, ValueError, OverflowError):
        raise AuthenticationFailed("The access token is not valid.") from None
    if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
        raise AuthenticationFailed("The access token is not valid.")
    return AccessClaims(user_id=int(claims["sub"]), session_version=claims.get("sv")), expires


class _HasSession(Protocol):
    id: int
    session_version: int


#: A user with a session to check: an ORM ``User`` or a plain row of the same fields.
SignedIn = TypeVar("SignedIn", bound=_HasSession)


def token_user(claims: AccessClaims, user: SignedIn | None) -> SignedIn:
    """The user the claims name, loaded by the caller, if their session is still the token's
    (a password reset ends every session)."""
    if user is None or user.id != claims.user_id \
            or claims.session_version != user.session_version:
        raise AuthenticationFailed("The access token is no longer valid; sign in again.")
    return user


def user_from_access_token(lms: Platform, session: Session, token: str) -> User:
    claims = access_claims(lms, token)
    return token_user(claims, session.get(User, claims.user_id))


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_refresh(lms: Platform, session: Session, user: User, family_id: str) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=_hash_token(token),
            expires_at=utcnow() + timedelta(days=lms.settings.auth.refresh_token_days),
        )
    )
    return token


def issue_tokens(lms: Platform, session: Session, user: User) -> TokenPair:
    """A fresh token family (one login). Commits."""
    refresh = _new_refresh(lms, session, user, uuid.uuid4().hex)
    session.commit()
    return TokenPair(access=make_access_token(lms, user), refresh=refresh)


def _revoke_family(session: Session, family_id: str) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def rotate_refresh(lms: Platform, session: Session, token: str) -> TokenPair:
    """Exchange a refresh token for a new pair. Reusing a rotated token revokes its family."""
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _hash_token(token)))
    invalid = AuthenticationFailed("The refresh token is not valid; sign in again.")
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        raise invalid
    if row.rotated_at is not None:
        # Someone replays an old token: assume theft and end the whole login.
        _revoke_family(session, row.family_id)
        session.commit()
        raise invalid
    # Claim the row atomically so two concurrent refreshes cannot both succeed.
    claimed = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=utcnow())
    ).rowcount
    if claimed != 1:
        _revoke_family(session, row.family_id)
        session.commit()
        raise invalid
    user = session.get(User, row.user_id)
    assert user is not None
    refresh = _new_refresh(lms, session, user, row.family_id)
    session.commit()
    return TokenPair(access=make_access_token(lms, user), refresh=refresh)


def logout(session: Session, token: str) -> None:
    """Revoke the refresh token's family. Unknown tokens are ignored (logout is idempotent)."""
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _hash_token(token)))
    if row is not None:
        _revoke_family(session, row.family_id)
    session.commit()


def end_all_sessions(session: Session, user: User) -> None:
    """Invalidate every refresh token, access token and web session of ``user``."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    user.session_version += 1


# -- signed single-use tokens ------------------------------------------------------------------


def signed_serializer(lms: Platform, purpose: str) -> URLSafeTimedSerializer:
    """Signs and checks tokens of one purpose: a token of another purpose never passes."""
    return URLSafeTimedSerializer(lms.settings.secret_key, salt=f"lmscore.{purpose}")


def _password_fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def make_signed_token(lms: Platform, user: User, purpose: str) -> str:
    payload: dict[str, Any] = {"uid": user.id, "jti": uuid.uuid4().hex, "email": user.email}
    if purpose == RESET_PURPOSE:
        payload["pw"] = _password_fingerprint(user)
    return signed_serializer(lms, purpose).dumps(payload)


def _invalid_link() -> ValidationFailed:
    return ValidationFailed(
        "This link is invalid or has already been used.", details={"fields": {"token": ["invalid"]}}
    )


def _max_age_s(lms: Platform, purpose: str) -> int:
    if purpose == RESET_PURPOSE:
        return lms.settings.auth.password_reset_minutes * 60
    return lms.settings.auth.verify_email_hours * 3600


def _load_signed_token(
    lms: Platform, session: Session, token: str, purpose: str
) -> tuple[User, str]:
    try:
        payload = signed_serializer(lms, purpose).loads(token, max_age=_max_age_s(lms, purpose))
    except SignatureExpired:
        raise ValidationFailed(
            "This link has expired; ask for a new one.", details={"fields": {"token": ["expired"]}}
        ) from None
    except BadSignature:
        raise _invalid_link() from None
    if not isinstance(payload, dict) or not isinstance(payload.get("uid"), int):
        raise _invalid_link()
    user = session.get(User, payload["uid"])
    if user is None or user.email != payload.get("email"):
        raise _invalid_link()
    if purpose == RESET_PURPOSE and payload.get("pw") != _password_fingerprint(user):
        raise _invalid_link()
    if session.scalar(select(func.count()).where(UsedToken.jti == payload.get("jti"))):
        raise _invalid_link()
    return user, payload["jti"]


def check_signed_token(lms: Platform, session: Session, token: str, purpose: str) -> User:
    """The user of a valid, unexpired, unused token, without using it up (to show a form)."""
    return _load_signed_token(lms, session, token, purpose)[0]


def consume_signed_token(lms: Platform, session: Session, token: str, purpose: str) -> User:
    """Check a signed token, mark it used (in the caller's transaction) and return its user."""
    user, jti = _load_signed_token(lms, session, token, purpose)
    if not spend_token(session, jti, purpose):
        raise _invalid_link()
    return user


def spend_token(session: Session, jti: str, purpose: str) -> bool:
    """Record a single-use token's id as used, in the caller's transaction; False (and the
    transaction rolled back) when it already was, even by a request running at the same time:
    the unique ``jti`` decides, no lookup first. A token's signature must outlive its record
    no longer than ``USED_TOKENS_KEPT``."""
    session.add(UsedToken(jti=jti, purpose=purpose))
    try:
        session.flush()
    except IntegrityError:  # used before, or twice at once: the other request won
        session.rollback()
        return False
    return True


PURGE_JOB = "lmscore.purge_spent_credentials"
#: How long a used single-use token stays recorded: longer than any such token is accepted
#: (a password-reset link lives minutes, a verification link ``verify_email_hours`` (at most
#: 7 days), a workspace handover a minute), after which its signature refuses it anyway.
USED_TOKENS_KEPT = timedelta(days=8)


def purge_spent_credentials(lms: Platform) -> int:
    """Job: delete refresh tokens that expired (a day ago: refusing one says "expired", not
    "invalid", for a while) and used-token records past ``USED_TOKENS_KEPT``; return how many
    rows went. Every refresh adds a row (rotation), every single-use link one more: without
    this both tables grow for as long as the site runs."""
    session = lms.db.session
    now = utcnow()
    gone = session.execute(
        delete(RefreshToken).where(RefreshToken.expires_at < now - timedelta(days=1))).rowcount
    gone += session.execute(
        delete(UsedToken).where(UsedToken.used_at < now - USED_TOKENS_KEPT)).rowcount
    session.commit()
    return gone


def send_verification_email(lms: Platform, session: Session, user: User) -> None:
    from ..mail import SEND_JOB

    token = make_signed_token(lms, user, VERIFY_PURPOSE)
    link = f"{lms.settings.base_url}/verify-email?token={token}"
    events.job_after_commit(
        session, SEND_JOB, to=user.email,
        subject=f"Confirm your email for {lms.settings.site_name}",
        text=f"Hello {user.name},\n\nConfirm your email address by opening this link:\n{link}\n\n"
        f"The link is valid for {lms.settings.auth.verify_email_hours} hours.",
    )


def verify_email(lms: Platform, session: Session, token: str) -> User:
    user = consume_signed_token(lms, session, token, VERIFY_PURPOSE)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    session.commit()
    return user


def request_password_reset(lms: Platform, session: Session, email: str) -> None:
    """Mail a reset link if the account exists; callers answer ``RESET_REQUESTED`` either way."""
    from ..mail import SEND_JOB

    user = find_user_by_email(session, email)
    if user is None:
        return
    token = make_signed_token(lms, user, RESET_PURPOSE)
    link = f"{lms.settings.base_url}/password-reset/confirm?token={token}"
    events.job_after_commit(
        session, SEND_JOB, to=user.email,
        subject=f"Reset your {lms.settings.site_name} password",
        text=f"Hello {user.name},\n\nSomeone asked to reset your password. If it was you, open:\n"
        f"{link}\n\nThe link is valid for {lms.settings.auth.password_reset_minutes} minutes and "
        "works once. If it was not you, ignore this email.",
    )
    session.commit()


def reset_password(lms: Platform, session: Session, token: str, new_password: str) -> User:
    """Set a new password from a reset link and end every session of the account. Commits."""
    # A weak password must not use up the link: check it first.
    user = check_signed_token(lms, session, token, RESET_PURPOSE)
    check_password_policy(new_password, user.email)
    consume_signed_token(lms, session, token, RESET_PURPOSE)
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    if user.locked_until != ADMIN_LOCK:
        user.locked_until = None
    end_all_sessions(session, user)
    session.commit()
    return user


def change_password(session: Session, user: User, current: str, new_password: str) -> None:
    """Change a known password; every other session ends (the caller signs this one in again)."""
    if not verify_password(user, current):
        raise ValidationFailed(
            "The current password is wrong.",
            details={"fields": {"current_password": ["is wrong"]}},
        )
    check_password_policy(new_password, user.email)
    user.password_hash = hash_password(new_password)
    end_all_sessions(session, user)
    session.commit()
