"""Demo accounts and quizzes so a newcomer can sign in and try things right after
``make run``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import FeedbackTiming, QuestionBank, Quiz, Role, User
from . import auth, learning, payments, quizzes

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


#: Questions a warm-up quiz draws from its track's bank.
WARM_UP_QUESTIONS = 5
CODE_QUIZ_TITLE = "Try the code grader: a first Python function"
#: A code question graded by running pytest in the sandbox (docs/code-grading.md).
CODE_QUESTION = quizzes.QuestionInput(
    type="code",
    prompt=("Write `mean(values)` in `solution.py`: the arithmetic mean of a list of numbers, "
            "or `None` for an empty list."),
    answer={"tests": {"test_mean.py": (
        "from solution import mean\n\n"
        "def test_whole_numbers():\n    assert mean([1, 2, 3, 4]) == 2.5\n\n"
        "def test_one_value():\n    assert mean([7]) == 7\n\n"
        "def test_empty_list():\n    assert mean([]) is None\n")}},
    explanation="`sum(values) / len(values) if values else None`",
    points=3,
)


def load(lms: Platform, session: Session) -> tuple[DemoAccount, ...]:
    """Create the demo accounts that do not exist yet; the learner is assigned the trainer
    and enrolled in every track that needs no payment. The trainer publishes a warm-up quiz
    per track with a question bank and one code question open to everyone, each once."""
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
        # A paid track is the learner's to buy: a checkout started here would open a real
        # customer and session at the payment provider.
        if learning.enrolment_of(session, learner, track.id) is None \
                and not payments.needs_payment(lms, track):
            learning.enrol(lms, session, learner, track.code)
    _publish_demo_quizzes(session, trainer)
    return DEMO_ACCOUNTS


def _publish_demo_quizzes(session: Session, trainer: User) -> None:
    immediate = {"feedback_timing": FeedbackTiming.IMMEDIATE.value, "shuffle_options": True}
    wanted = []
    for track in learning.catalogue(session):
        bank = session.scalar(select(QuestionBank.code).where(QuestionBank.track_id == track.id)
                              .order_by(QuestionBank.code).limit(1))
        if bank is not None:
            wanted.append(({"title": f"{track.name}: warm-up", "track": track.code,
                            "description": f"{WARM_UP_QUESTIONS} questions drawn at random "
                                           f"from the {track.name} question bank.",
                            "draw": {"banks": [bank], "count": WARM_UP_QUESTIONS},
                            "time_limit_s": 600, **immediate}, []))
    wanted.append(({"title": CODE_QUIZ_TITLE, "description": "Your code runs against the "
                    "trainer's tests in a sandbox; each passing test scores.", **immediate},
                   [CODE_QUESTION]))
    existing = set(session.scalars(select(Quiz.title).where(Quiz.owner_id == trainer.id)))
    for settings, questions in wanted:
        if settings["title"] not in existing:
            quizzes.publish(session, trainer,
                            quizzes.create_quiz(session, trainer, settings, questions, []))
