"""User management: profiles, roles, trainer assignment, deletion."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import known_id
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..models import Role, User
from . import workspaces
from .auth import (
    ADMIN_LOCK,
    check_email,
    clean_name,
    end_all_sessions,
    find_user_by_email,
    invalid_field,
    normalise_email,
    reset_rate_limits,
)
from .permissions import Action, can, require

if TYPE_CHECKING:
    from ..platform import Platform

__all__ = [
    "assign_trainer", "delete_user", "get_user", "reset_rate_limits", "update_user", "users_query",
]

PROFILE_FIELDS = {"name", "timezone"}
ADMIN_FIELDS = PROFILE_FIELDS | {"role", "email", "locked"}
# Larger ids cannot exist, and databases reject them with an error rather than "no row".


def _check_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid_field("timezone", f"Unknown time zone {value!r}.") from None


# -- reading ------------------------------------------------------------------------------------


def get_user(session: Session, actor: User, user_id: int) -> User:
    """One user: anyone may see themselves, admins see everyone."""
    require(actor, Action.OWN_PROFILE if user_id == actor.id else Action.VIEW_ANY_USER)
    user = session.get(User, user_id) if known_id(user_id) else None
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


def users_query(actor: User, *, role: str | None = None, search: str | None = None) -> Select:
    """Users ordered by id, optionally of one role and matching ``search`` in email or name."""
    require(actor, Action.LIST_USERS)
    query = select(User).order_by(User.id)
    if role:
        query = query.where(User.role == role)
    if search:
        # The search is literal text: escape LIKE's wildcards.
        escaped = re.sub(r"([\\%_])", r"\\\1", search.strip().lower())
        pattern = f"%{escaped}%"
        query = query.where(
            func.lower(User.email).like(pattern, escape="\\")
            | func.lower(User.name).like(pattern, escape="\\")
        )
    return query


# -- changing -------------------------------------------------------------------------------------


def update_user(session: Session, *, actor: User, target: User, changes: dict[str, Any]) -> User:
    """Apply profile changes. Users edit their own name and time zone; admins also change
    email, role and lock of others (only a superadmin touches a superadmin). Commits."""
    own = actor.id == target.id
    require(actor, Action.OWN_PROFILE if own else Action.EDIT_ANY_USER)
    if not own and target.role == Role.SUPERADMIN and actor.role != Role.SUPERADMIN:
        raise PermissionDenied("Only a superadmin can change a superadmin's account.")
    allowed = ADMIN_FIELDS if can(actor, Action.EDIT_ANY_USER) else PROFILE_FIELDS
    forbidden = sorted(set(changes) - allowed)
    if forbidden:
        raise PermissionDenied(f"You cannot change: {', '.join(forbidden)}.")
    if "name" in changes:
        target.name = clean_name(changes["name"])
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
        target.timezone = changes["timezone"]
    if "email" in changes:
        _change_email(session, target, normalise_email(changes["email"]))
    if "role" in changes and changes["role"] != target.role:
        _change_role(session, actor, target, Role(changes["role"]))
    if "locked" in changes:
        _set_locked(session, actor, target, bool(changes["locked"]))
    session.commit()
    return target


def _change_email(session: Session, target: User, email: str) -> None:
    if email == target.email:
        return
    check_email(email)
    if find_user_by_email(session, email) is not None:
        raise Conflict("Another account uses this email.",
                       details={"fields": {"email": ["is already registered"]}})
    target.email = email
    # Unconfirmed again; pending verify and reset links name the old address and stop working.
    target.email_verified_at = None


def _change_role(session: Session, actor: User, target: User, role: Role) -> None:
    if Role.SUPERADMIN in (role, Role(target.role)) and actor.role != Role.SUPERADMIN:
        raise PermissionDenied("Only a superadmin can grant or remove the superadmin role.")
    if target.id == actor.id:
        raise PermissionDenied("You cannot change your own role.")
    if target.role == Role.TRAINER:
        # Their learners keep no dangling trainer.
        for learner in session.scalars(select(User).where(User.trainer_id == target.id)):
            learner.trainer_id = None
    if role != Role.STUDENT:
        target.trainer_id = None
    target.role = role.value
    # Tokens carry the role: end sessions so the new role applies at once.
    end_all_sessions(session, target)


def _set_locked(session: Session, actor: User, target: User, locked: bool) -> None:
    """Lock (indefinitely, ending every session) or unlock an account."""
    if target.id == actor.id:
        raise PermissionDenied("You cannot lock or unlock your own account.")
    if locked:
        target.locked_until = ADMIN_LOCK
        end_all_sessions(session, target)
    else:
        target.locked_until = None
        target.failed_logins = 0


def delete_user(lms: Platform, session: Session, actor: User, target: User) -> None:
    """Delete ``target``, their workspaces' containers and stored work included. Plugins let
    go of what they hold for them first (``lms_user_deleting``), in the same transaction. The
    engines are asked only once the database has accepted the deletion, and an engine that
    fails keeps the user. Commits."""
    require(actor, Action.DELETE_USER)
    if target.id == actor.id:
        raise PermissionDenied("You cannot delete your own account.")
    lms.plugins.call_each_unchecked("lms_user_deleting", lms=lms, session=session, user=target)
    removals = workspaces.removals_for_user(lms, session, target)
    session.delete(target)
    try:
        session.flush()
        for removal in removals:
            removal.run()
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            "This user still owns records that must be kept; lock the account instead."
        ) from None
    except workspaces.WorkspaceEngineUnavailable:
        session.rollback()
        raise


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
    trainer = session.get(User, trainer_id) if known_id(trainer_id) else None
    if trainer is None or trainer.role != Role.TRAINER:
        raise invalid_field("trainer_id", f"User {trainer_id} is not a trainer.")
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
