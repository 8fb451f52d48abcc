"""Who may do what. Services call ``require`` so the API, web UI, CLI and jobs enforce one
matrix; views never decide permissions on their own."""

from __future__ import annotations

from enum import StrEnum

from ..errors import PermissionDenied
from ..models import Role, User

S, T, A, SA = Role.STUDENT, Role.TRAINER, Role.ADMIN, Role.SUPERADMIN
EVERYONE = frozenset({S, T, A, SA})
STAFF = frozenset({T, A, SA})
ADMINS = frozenset({A, SA})


class Action(StrEnum):
    OWN_PROFILE = "profile.own"  # view and edit one's own profile
    LIST_USERS = "users.list"
    VIEW_ANY_USER = "users.view_any"
    EDIT_ANY_USER = "users.edit_any"
    DELETE_USER = "users.delete"
    ASSIGN_TRAINER = "users.assign_trainer"
    CREATE_QUIZ = "quizzes.create"
    DELETE_OWN_QUIZ = "quizzes.delete_own"
    DELETE_ANY_QUIZ = "quizzes.delete_any"
    SUBMIT_WORK = "work.submit"
    REVIEW_SUBMISSIONS = "submissions.review"
    # Open a project despite unmet prerequisites: trainers only for learners assigned to them.
    WAIVE_PREREQUISITES = "learners.waive_prerequisites"
    EDIT_TRACKS = "tracks.edit"
    VIEW_BANKS = "banks.view"  # question banks and their item counts
    LAUNCH_OWN_WORKSPACE = "workspaces.launch_own"
    MANAGE_WORKSPACES = "workspaces.manage"
    VIEW_OPERATIONS = "operations.view"  # plugins, jobs, configuration
    MANAGE_PAYMENTS = "payments.manage"  # every payment, refunds, manual grants


MATRIX: dict[Action, frozenset[Role]] = {
    Action.OWN_PROFILE: EVERYONE,
    Action.LIST_USERS: ADMINS,
    Action.VIEW_ANY_USER: ADMINS,
    Action.EDIT_ANY_USER: ADMINS,
    Action.DELETE_USER: frozenset({SA}),
    Action.ASSIGN_TRAINER: ADMINS,
    Action.CREATE_QUIZ: STAFF,
    Action.DELETE_OWN_QUIZ: STAFF,
    Action.DELETE_ANY_QUIZ: ADMINS,
    Action.SUBMIT_WORK: frozenset({S, SA}),
    Action.REVIEW_SUBMISSIONS: STAFF,
    Action.WAIVE_PREREQUISITES: STAFF,
    Action.EDIT_TRACKS: ADMINS,
    Action.VIEW_BANKS: STAFF,
    Action.LAUNCH_OWN_WORKSPACE: EVERYONE,
    Action.MANAGE_WORKSPACES: ADMINS,
    Action.VIEW_OPERATIONS: ADMINS,
    Action.MANAGE_PAYMENTS: ADMINS,
}

MESSAGES = {
    Action.DELETE_USER: "Only a superadmin can delete users.",
    Action.SUBMIT_WORK: "Only learners submit work.",
}


def can(user: User | None, action: Action) -> bool:
    return user is not None and Role(user.role) in MATRIX[action]


def require(user: User | None, action: Action) -> None:
    if not can(user, action):
        raise PermissionDenied(MESSAGES.get(action, "You are not allowed to do this."))


def can_delete_quiz(user: User, owner_id: int | None) -> bool:
    return can(user, Action.DELETE_ANY_QUIZ) or (
        can(user, Action.DELETE_OWN_QUIZ) and owner_id == user.id
    )
