"""Demo accounts so a newcomer can sign in right after ``make run``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ..db import utcnow
from ..errors import PaymentRequired
from ..models import Role
from . import auth, learning

if TYPE_CHECKING:
    from ..platform import Platform


@dataclass(frozen=True)
class DemoAccount:
    role: str
    email: str
    name: str
    password: str


DEMO_ACCOUNTS = (
    DemoAccount(Role.STUDENT.value, "learner@example.org", "Lea Learner", "learner-demo-1"),
    DemoAccount(Role.TRAINER.value, "trainer@example.org", "Tom Trainer", "trainer-demo-1"),
    DemoAccount(Role.ADMIN.value, "admin@example.org", "Ada Admin", "admin-demo-1"),
)


def load(lms: Platform, session: Session) -> tuple[DemoAccount, ...]:
    """Create the demo accounts that do not exist yet; the learner is assigned the trainer
    and enrolled in every track that needs no payment."""
    users = {}
    for account in DEMO_ACCOUNTS:
        user = auth.find_user_by_email(session, account.email)
        if user is None:
            user = auth.register(lms, session, email=account.email, password=account.password,
                                 name=account.name, role=Role(account.role))
            user.email_verified_at = utcnow()
        users[account.role] = user
    learner, trainer = users[Role.STUDENT.value], users[Role.TRAINER.value]
    if learner.trainer_id is None:
        learner.trainer_id = trainer.id
    session.commit()
    for track in learning.catalogue(session):
        if learning.enrolment_of(session, learner, track.id) is None:
            try:
                learning.enrol(lms, session, learner, track.code)
            except PaymentRequired:
                session.rollback()  # a paying provider is configured: the learner buys it
    return DEMO_ACCOUNTS
