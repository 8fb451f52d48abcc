"""The transactional outbox: events are written with the change and delivered after commit."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from lmscore import events
from lmscore.db import utcnow
from lmscore.hookspecs import hookimpl
from lmscore.models import OutboxEvent, User
from lmscore.services.events import SWEEP_JOB, emit


class Listener:
    """Implements every event hook and keeps what it receives."""

    def __init__(self):
        self.received: list[tuple[str, events.Event]] = []


def _listen_as(hook_name: str):
    def listen(self, lms, event):
        self.received.append((hook_name, event))

    listen.__name__ = hook_name
    return hookimpl(listen)


for _event_type in events.EVENT_TYPES.values():
    setattr(Listener, _event_type.hook_name(), _listen_as(_event_type.hook_name()))


class FailingListener:
    @hookimpl
    def lms_on_user_registered(self, lms, event):
        raise RuntimeError("listener down")


@pytest.fixture
def listener() -> Listener:
    return Listener()


@pytest.fixture
def app(app_factory, listener):
    return app_factory(plugins={"listener": listener})


def _add_user(session, email: str = "ann@example.org") -> User:
    user = User(email=email, name="Ann", password_hash="not-a-real-hash")
    session.add(user)
    session.flush()
    return user


def _registered(user: User) -> events.UserRegistered:
    return events.UserRegistered(user_id=user.id, email=user.email, display_name=user.name)


def test_event_is_delivered_after_commit(lms, jobs, listener):
    session = lms.db.session
    user = _add_user(session)
    row = emit(session, _registered(user))
    jobs.drain()
    assert listener.received == []  # not before the transaction commits

    session.commit()
    jobs.drain()
    [(hook, event)] = listener.received
    assert hook == "lms_on_user_registered"
    assert event == events.UserRegistered(
        event_id=row.id, occurred_at=event.occurred_at, user_id=user.id,
        email="ann@example.org", display_name="Ann",
    )
    assert event.occurred_at is not None
    session.expire_all()
    delivered = session.get(OutboxEvent, row.id)
    assert (delivered.status, delivered.attempts, delivered.error) == ("delivered", 1, None)


def test_nothing_is_delivered_when_the_transaction_rolls_back(lms, jobs, listener):
    session = lms.db.session
    emit(session, _registered(_add_user(session)))
    session.rollback()
    jobs.drain()
    assert listener.received == []
    assert session.scalars(select(OutboxEvent)).all() == []
    assert session.scalars(select(User)).all() == []


def test_failing_listener_is_recorded_while_others_run_and_the_change_stays(
    app_factory, listener
):
    app = app_factory(plugins={"listener": listener, "alpha": FailingListener()})
    lms = app.extensions["lmscore"]
    session = lms.db.session
    user = _add_user(session)
    row = emit(session, _registered(user))
    session.commit()
    lms.jobs.drain()

    assert [hook for hook, _event in listener.received] == ["lms_on_user_registered"]
    session.expire_all()
    failed = session.get(OutboxEvent, row.id)
    assert failed.status == "failed"
    assert failed.error == "alpha: RuntimeError: listener down"
    assert session.get(User, user.id) is not None


def test_sweep_requeues_old_pending_events(lms, jobs, listener):
    session = lms.db.session
    user = _add_user(session)
    # Written without an enqueue, as when the process died between commit and enqueue.
    old = OutboxEvent(name="user_registered", payload=_registered(user).payload(),
                      created_at=utcnow() - timedelta(minutes=5))
    recent = OutboxEvent(name="user_registered", payload=_registered(user).payload())
    session.add_all([old, recent])
    session.commit()

    jobs.enqueue(SWEEP_JOB)
    jobs.drain()
    assert [event.event_id for _hook, event in listener.received] == [old.id]
    session.expire_all()
    assert session.get(OutboxEvent, old.id).status == "delivered"
    assert session.get(OutboxEvent, recent.id).status == "pending"


def test_delivery_skips_an_event_already_delivered(lms, jobs, listener):
    session = lms.db.session
    row = emit(session, _registered(_add_user(session)))
    session.commit()
    jobs.drain()
    jobs.enqueue("lmscore.deliver_event", event_id=row.id)  # a duplicate delivery job
    jobs.drain()
    assert len(listener.received) == 1


# -- one test per event hook ----------------------------------------------------------------------


def _deliver(lms, jobs, listener: Listener, event: events.Event) -> events.Event:
    session = lms.db.session
    row = emit(session, event)
    session.commit()
    jobs.drain()
    [(hook, received)] = listener.received
    assert hook == f"lms_on_{event.name}"
    assert type(received) is type(event)
    assert received.event_id == row.id and received.occurred_at is not None
    assert received.payload() == event.payload()
    return received


def test_hook_lms_on_user_registered(lms, jobs, listener):
    _deliver(lms, jobs, listener,
             events.UserRegistered(user_id=1, email="a@example.org", display_name="A"))


def test_hook_lms_on_enrolment_changed(lms, jobs, listener):
    received = _deliver(lms, jobs, listener, events.EnrolmentChanged(
        enrolment_id=3, user_id=1, track_code="DP", status="active",
        previous_status="pending_payment",
    ))
    assert received.previous_status == "pending_payment"


def test_hook_lms_on_submission_created(lms, jobs, listener):
    _deliver(lms, jobs, listener,
             events.SubmissionCreated(submission_id=5, user_id=1, deliverable_id=2))


def test_hook_lms_on_submission_reviewed(lms, jobs, listener):
    received = _deliver(lms, jobs, listener, events.SubmissionReviewed(
        submission_id=5, user_id=1, reviewer_id=2, decision="accepted", score=0.75,
    ))
    assert received.score == 0.75


def test_hook_lms_on_quiz_submitted(lms, jobs, listener):
    received = _deliver(lms, jobs, listener, events.QuizSubmitted(
        attempt_id=9, quiz_id=4, user_id=1, score=7.5, max_score=10, passed=True,
    ))
    assert received.passed is True


def test_hook_lms_on_review_answered(lms, jobs, listener):
    _deliver(lms, jobs, listener, events.ReviewAnswered(
        user_id=1, item_id=8, rating="good", correct=True, due_at="2026-12-01T00:00:00+00:00",
    ))


def test_hook_lms_on_payment_succeeded(lms, jobs, listener):
    _deliver(lms, jobs, listener, events.PaymentSucceeded(
        payment_id=6, user_id=1, track_code="FS", amount_minor=49_00, currency="EUR",
    ))


def test_hook_lms_on_payment_refunded(lms, jobs, listener):
    _deliver(lms, jobs, listener, events.PaymentRefunded(
        payment_id=6, user_id=1, track_code="FS", amount_minor=49_00, currency="EUR",
    ))


def test_hook_lms_on_workspace_changed(lms, jobs, listener):
    _deliver(lms, jobs, listener, events.WorkspaceChanged(
        workspace_id=2, user_id=1, track_code="FS", status="running", message="ready",
    ))
