"""User management: profiles, roles, trainer assignment, deletion, sign-in rate limits."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound, PermissionDenied, TooManyRequests, ValidationFailed
from ..models import Role, User
from .auth import end_all_sessions, find_user_by_email, normalise_email
from .permissions import Action, can, require

if TYPE_CHECKING:
    from ..platform import Platform

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PROFILE_FIELDS = {"name", "timezone"}
ADMIN_FIELDS = PROFILE_FIELDS | {"role", "email", "locked"}


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", details={"fields": {field: [message]}})


def check_registration(email: str, name: str) -> None:
    if not EMAIL_RE.match(email.strip()) or len(email) > 320:
        raise _invalid("email", "Not a valid email address.")
    if not name.strip() or len(name) > 200:
        raise _invalid("name", "Enter a name of 1 to 200 characters.")


def _check_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid("timezone", f"Unknown time zone {value!r}.") from None


# -- sign-in rate limits ------------------------------------------------------------------------

_limiters: dict[str, MovingWindowRateLimiter] = {}


def _limiter(storage_uri: str) -> MovingWindowRateLimiter:
    if storage_uri not in _limiters:
        _limiters[storage_uri] = MovingWindowRateLimiter(storage_from_string(storage_uri))
    return _limiters[storage_uri]


def check_login_rate(lms: Platform, email: str, ip: str) -> None:
    """Count one sign-in attempt per IP and per account; 429 with Retry-After past either
    limit. Storage is shared (Redis) in production so every node sees the same counts."""
    settings = lms.settings.auth
    limiter = _limiter(settings.rate_limit_storage)
    checks = [(parse(settings.ip_rate_limit), "ip", ip)]
    if email:
        checks.append((parse(settings.account_rate_limit), "account", email.strip().lower()))
    for limit, scope, key in checks:
        if not limiter.hit(limit, "lmscore-login", scope, key):
            reset_at, _remaining = limiter.get_window_stats(limit, "lmscore-login", scope, key)
            raise TooManyRequests(
                "Too many sign-in attempts. Wait a moment and try again.",
                retry_after=int(reset_at - time.time()) + 1,
            )


def reset_rate_limits(lms: Platform) -> None:
    """Forget every counter (tests, and admins after an incident)."""
    _limiter(lms.settings.auth.rate_limit_storage).storage.reset()


# -- reading ------------------------------------------------------------------------------------


def get_user(session: Session, actor: User, user_id: int) -> User:
    if user_id != actor.id:
        require(actor, Action.VIEW_ANY_USER)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


def users_query(actor: User, *, role: str | None = None, search: str | None = None) -> Select:
    require(actor, Action.LIST_USERS)
    query = select(User).order_by(User.id)
    if role:
        query = query.where(User.role == role)
    if search:
        pattern = f"%{search.strip().lower()}%"
        query = query.where(func.lower(User.email).like(pattern) | func.lower(User.name).like(pattern))
    return query


# -- changing -------------------------------------------------------------------------------------


def update_user(
    lms: Platform, session: Session, *, actor: User, target: User, changes: dict[str, Any]
) -> User:
    """Apply profile changes. Users edit their own name and time zone; admins also change
    email and role (only a superadmin grants or removes superadmin). Commits."""
    own = actor.id == target.id
    if own:
        require(actor, Action.EDIT_OWN_PROFILE)
    else:
        require(actor, Action.EDIT_ANY_USER)
    allowed = ADMIN_FIELDS if can(actor, Action.EDIT_ANY_USER) else PROFILE_FIELDS
    forbidden = sorted(set(changes) - allowed)
    if forbidden:
        raise PermissionDenied(f"You cannot change: {', '.join(forbidden)}.")
    if "name" in changes:
        name = str(changes["name"]).strip()
        if not name or len(name) > 200:
            raise _invalid("name", "Enter a name of 1 to 200 characters.")
        target.name = name
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
        target.timezone = changes["timezone"]
    if "email" in changes and changes["email"] != target.email:
        email = normalise_email(changes["email"])
        check_registration(email, target.name)
        if find_user_by_email(session, email) is not None:
            raise Conflict("Another account uses this email.",
                           details={"fields": {"email": ["is already registered"]}})
        target.email = email
        target.email_verified_at = None
    if "role" in changes and changes["role"] != target.role:
        _change_role(session, actor, target, Role(changes["role"]))
    if "locked" in changes:
        _set_locked(session, actor, target, bool(changes["locked"]))
    session.commit()
    return target


def _change_role(session: Session, actor: User, target: User, role: Role) -> None:
    if Role.SUPERADMIN in (role, Role(target.role)) and actor.role != Role.SUPERADMIN:
        raise PermissionDenied("Only a superadmin can grant or remove the superadmin role.")
    if target.id == actor.id:
        raise PermissionDenied("You cannot change your own role.")
    if target.role == Role.TRAINER and role != Role.TRAINER:
        # Their learners keep no dangling trainer.
        for learner in session.scalars(select(User).where(User.trainer_id == target.id)):
            learner.trainer_id = None
    target.role = role.value
    # Tokens carry the role: end sessions so the new role applies at once.
    end_all_sessions(session, target)


def _set_locked(session: Session, actor: User, target: User, locked: bool) -> None:
    """Lock (indefinitely, ending every session) or unlock an account."""
    if target.id == actor.id:
        raise PermissionDenied("You cannot lock or unlock your own account.")
    if locked:
        target.locked_until = datetime.max.replace(tzinfo=UTC)
        end_all_sessions(session, target)
    else:
        target.locked_until = None
        target.failed_logins = 0


def delete_user(session: Session, actor: User, target: User) -> None:
    require(actor, Action.DELETE_USER)
    if target.id == actor.id:
        raise PermissionDenied("You cannot delete your own account.")
    session.delete(target)
    session.commit()


def assign_trainer(
    lms: Platform, session: Session, actor: User, learner: User, trainer_id: int | None
) -> User:
    """Assign (or with None, unassign) a learner's trainer, within the per-trainer cap."""
    require(actor, Action.ASSIGN_TRAINER)
    if learner.role != Role.STUDENT:
        raise ValidationFailed("Only learners (students) have a trainer.",
                               details={"fields": {"id": ["is not a student"]}})
    if trainer_id is None:
        learner.trainer_id = None
        session.commit()
        return learner
    trainer = session.get(User, trainer_id)
    if trainer is None or trainer.role != Role.TRAINER:
        raise ValidationFailed(f"User {trainer_id} is not a trainer.",
                               details={"fields": {"trainer_id": ["is not a trainer"]}})
    if learner.trainer_id == trainer.id:
        return learner
    limit = lms.settings.users.max_students_per_trainer
    # Lock the trainer row on PostgreSQL so two concurrent assignments cannot both pass the cap.
    if lms.db.dialect == "postgresql":
        session.execute(select(User.id).where(User.id == trainer.id).with_for_update())
    count = session.scalar(select(func.count()).where(User.trainer_id == trainer.id)) or 0
    if count >= limit:
        raise Conflict(
            f"{trainer.name} already has {count} learners, the maximum of {limit} per trainer.",
            details={"trainer_id": trainer.id, "limit": limit, "assigned": count},
        )
    learner.trainer_id = trainer.id
    session.commit()
    return learner
