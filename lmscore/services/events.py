"""The transactional outbox: ``emit`` in the same transaction as the change, delivery by a
job after commit, so a failing listener never loses or undoes the change."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..events import EVENT_TYPES, Event
from ..models import OutboxEvent

if TYPE_CHECKING:
    from ..platform import Platform

log = logging.getLogger(__name__)
AFTER_COMMIT_KEY = "lms_jobs_after_commit"
DELIVER_JOB = "lmscore.deliver_event"
SWEEP_JOB = "lmscore.sweep_outbox"
#: A pending event older than this is re-enqueued by the sweep (its first enqueue was lost).
SWEEP_AFTER = timedelta(seconds=60)


def emit(session: Session, event: Event) -> OutboxEvent:
    row = OutboxEvent(name=event.name, payload=event.payload())
    session.add(row)
    session.flush()
    job_after_commit(session, DELIVER_JOB, event_id=row.id)
    return row


def job_after_commit(session: Session, job: str, **kwargs: Any) -> None:
    """Enqueue ``job`` once the session's transaction commits; dropped if it rolls back."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append((job, kwargs))


def enqueue_after_commit(lms: Platform, session: Session) -> None:
    """Session ``after_commit`` listener. An enqueue that fails is logged; for events the
    periodic sweep enqueues their delivery again."""
    for job, kwargs in session.info.pop(AFTER_COMMIT_KEY, []):
        try:
            lms.jobs.enqueue(job, **kwargs)
        except Exception:
            log.exception("could not enqueue job %s after commit", job)


def forget_after_rollback(session: Session) -> None:
    session.info.pop(AFTER_COMMIT_KEY, None)


def deliver(lms: Platform, event_id: int) -> None:
    """Job: call every ``lms_on_<name>`` listener once for a pending event."""
    session = lms.db.session
    query = select(OutboxEvent).where(
        OutboxEvent.id == event_id, OutboxEvent.status == "pending"
    )
    if lms.db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = session.scalars(query).one_or_none()
    if row is None:  # already delivered, or another worker holds it
        session.rollback()
        return
    event_cls = EVENT_TYPES[row.name]
    event = event_cls(event_id=row.id, occurred_at=row.created_at, **row.payload)
    failures: list[str] = []
    lms.plugins.call_each(
        event_cls.hook_name(),
        on_error=lambda plugin, exc: failures.append(f"{plugin}: {type(exc).__name__}: {exc}"),
        lms=lms,
        event=event,
    )
    row.attempts += 1
    row.delivered_at = utcnow()
    row.status = "failed" if failures else "delivered"
    row.error = "\n".join(failures) or None
    session.commit()


def sweep(lms: Platform) -> int:
    """Job: re-enqueue events still pending well after they were written."""
    session = lms.db.session
    cutoff = utcnow() - SWEEP_AFTER
    ids = session.scalars(
        select(OutboxEvent.id)
        .where(OutboxEvent.status == "pending", OutboxEvent.created_at < cutoff)
        .order_by(OutboxEvent.id)
        .limit(1000)
    ).all()
    session.rollback()
    for event_id in ids:
        lms.jobs.enqueue(DELIVER_JOB, event_id=event_id)
    return len(ids)
