"""Weekly learning-path adjustment.

Once a week per learner with an active enrolment, the last 7 days are measured (quiz average,
steps completed against the plan, review retention, mean mastery) and a new snapshot written:
the plan (steps per week, review sessions per week, facets to focus on, whether to go
further) and each change with the numbers that caused it. Earlier snapshots stay (history);
one snapshot per learner and week (Monday 00:00 UTC), so running the job twice changes
nothing. The learner is told through the core's notifications (kind ``adaptive_weekly_path``,
so their preferences — at once, daily digest, off — and unsubscribe links apply).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lmscore.capabilities import NotificationKind
from lmscore.db import utcnow
from lmscore.events import NotificationRequested
from lmscore.models import Enrolment, EnrolmentStatus, User
from lmscore.services import notifications

from . import evidence
from .models import PathSnapshot

log = logging.getLogger(__name__)
WEEKLY_JOB = "adaptive.weekly_paths"
QUIZ_LOW, QUIZ_HIGH, RETENTION_LOW, COMPLETION_LOW = 60.0, 85.0, 0.8, 0.5


def week_start(now: datetime) -> datetime:
    monday = now - timedelta(days=now.weekday())
    return monday.replace(hour=0, minute=0, second=0, microsecond=0)


def _notice_context(session: Session, request: NotificationRequested) -> dict[str, Any] | None:
    snapshot = session.get(PathSnapshot, request.values["snapshot_id"])
    learner = session.get(User, request.user_id)
    if snapshot is None or learner is None:
        return None
    return {"learner": learner, "week_start": f"{snapshot.week_start:%d %B %Y}",
            "adjustments": snapshot.adjustments, "plan": snapshot.plan,
            "link_path": "/adaptive/path"}


WEEKLY_NOTICE = NotificationKind(
    name="adaptive_weekly_path", label="Your weekly learning path",
    templates="lms_adaptive/notifications/weekly_path",
    roles=frozenset({"student", "superadmin"}), context=_notice_context)


def history(session: Session, user_id: int) -> list[PathSnapshot]:
    return list(session.scalars(select(PathSnapshot).where(PathSnapshot.user_id == user_id)
                                .order_by(PathSnapshot.week_start.desc())))


def adjust(settings: dict[str, Any], week: evidence.Week, previous: dict[str, Any] | None,
           weakest: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The new plan and the adjustments, each citing its numbers. Pure: easy to test."""
    plan = dict(previous or {"steps_per_week": settings["weekly_step_target"],
                             "review_sessions_per_week": 3, "focus_facets": [],
                             "go_further": False})
    plan["focus_facets"], plan["go_further"] = [], False
    planned = plan["steps_per_week"]
    completion = week.steps_completed / planned if planned else None
    changes: list[dict[str, Any]] = []

    def change(what: str, reason: str, **numbers: Any) -> None:
        changes.append({"change": what, "reason": reason, "evidence": numbers})

    if week.quizzes == 0 and week.steps_completed == 0 and week.reviews == 0:
        change("keep", "No quiz, step or review in the last 7 days: the plan stays as it was.",
               quizzes=0, steps_completed=0, reviews=0)
        return plan, changes
    if week.quiz_average is not None and week.quiz_average < QUIZ_LOW:
        new = max(1, planned - 1)
        plan["steps_per_week"], plan["focus_facets"] = new, weakest
        change("slow_down", f"Your quiz average over the last 7 days was "
               f"{week.quiz_average:.0f} % over {week.quizzes} quiz(zes), below "
               f"{QUIZ_LOW:.0f} %: {planned} → {new} new steps a week, and time to revise "
               f"{', '.join(weakest) or 'your weakest facets'}.",
               quiz_average=round(week.quiz_average, 1), quizzes=week.quizzes,
               steps_per_week_before=planned, steps_per_week=new)
    elif completion is not None and completion < COMPLETION_LOW:
        new = max(1, planned - 1)
        plan["steps_per_week"] = new
        change("lighter", f"You completed {week.steps_completed} of {planned} planned steps "
               f"({completion * 100:.0f} %): the plan now asks for {new} a week so it fits "
               "your time.", steps_completed=week.steps_completed, planned=planned,
               completion_rate=round(completion, 3), steps_per_week=new)
    elif (week.quiz_average is not None and week.quiz_average >= QUIZ_HIGH
          and completion is not None and completion >= 1):
        plan["steps_per_week"], plan["go_further"] = planned + 1, True
        change("speed_up", f"Your quiz average was {week.quiz_average:.0f} % and you completed "
               f"{week.steps_completed} of {planned} planned steps: {planned} → {planned + 1} "
               "steps a week, and an advanced project is suggested.",
               quiz_average=round(week.quiz_average, 1), steps_completed=week.steps_completed,
               planned=planned, steps_per_week=planned + 1)
    if week.retention is not None and week.retention < RETENTION_LOW:
        before = plan["review_sessions_per_week"]
        plan["review_sessions_per_week"] = 7
        change("review_daily", f"You recalled {week.retention * 100:.0f} % of {week.reviews} "
               f"reviews, below {RETENTION_LOW * 100:.0f} %: review every day ({before} → 7 "
               "sessions a week) so intervals stay short.",
               retention=round(week.retention, 3), reviews=week.reviews,
               review_sessions_before=before, review_sessions_per_week=7)
    if not changes:
        change("keep", "Your week was on track"
               + (f" (quiz average {week.quiz_average:.0f} %" if week.quiz_average is not None
                  else " (")
               + f", {week.steps_completed} of {planned} planned steps): the plan stays.",
               quiz_average=week.quiz_average, steps_completed=week.steps_completed,
               planned=planned)
    return plan, changes


def adjust_learner(lms, session: Session, user_id: int, now: datetime) -> PathSnapshot | None:
    """Write this week's snapshot for one learner unless it exists. Does not commit."""
    start = week_start(now)
    if session.scalar(select(PathSnapshot.id).where(PathSnapshot.user_id == user_id,
                                                    PathSnapshot.week_start == start)):
        return None
    settings = lms.plugin_config("adaptive")
    previous = session.scalar(select(PathSnapshot).where(PathSnapshot.user_id == user_id)
                              .order_by(PathSnapshot.week_start.desc()).limit(1))
    measured = evidence.week(session, user_id, now)
    weakest = [m.facet for m in sorted(evidence.facet_mastery(session, user_id),
                                       key=lambda m: m.p_mastery)
               if m.p_mastery < settings["revise_mastery_below"]][:3]
    plan, changes = adjust(settings, measured, previous.plan if previous else None, weakest)
    # The notice is committed with the snapshot (outbox): neither exists without the other.
    snapshot = PathSnapshot(user_id=user_id, week_start=start,
                            metrics={**measured.as_dict(), "measured_at": now.isoformat()},
                            plan=plan, adjustments=changes, notified_at=utcnow())
    session.add(snapshot)
    session.flush()
    notifications.notify(lms, session, WEEKLY_NOTICE.name, user_id=user_id,
                         snapshot_id=snapshot.id)
    return snapshot


def adjust_all(lms, now: datetime | None = None) -> int:
    """Job: this week's snapshot for every learner with an active enrolment. Commits per
    learner; safe to run twice (existing snapshots are kept)."""
    session = lms.db.session
    now = now or utcnow()
    learners = session.scalars(select(Enrolment.user_id).where(
        Enrolment.status == EnrolmentStatus.ACTIVE.value).distinct().order_by(Enrolment.user_id)
    ).all()
    written = 0
    for user_id in learners:
        if adjust_learner(lms, session, user_id, now) is not None:
            written += 1
        session.commit()
    return written

