"""Per-learner parameter fitting with fsrs-rs-python (Rust, CPU only, milliseconds).

A periodic sweep enqueues one ``scheduler_fsrs.fit`` job per learner with at least
``optimise_min_reviews`` reviews and reviews newer than their last fit. The job fits the
parameters from the learner's whole review log (whichever scheduler served each review: ratings
and times are algorithm-independent), stores them as a new ``FsrsParameters`` row and points
the learner's FSRS cards at it, so their next reviews use it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date
from itertools import groupby
from zoneinfo import ZoneInfo

import fsrs
from fsrs_rs_python import DEFAULT_PARAMETERS, FSRS, FSRSItem, FSRSReview
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lmscore.capabilities import Rating
from lmscore.models import ReviewLog, User

from .models import FsrsParameters
from .scheduler import RATINGS

log = logging.getLogger(__name__)

FIT_JOB = "scheduler_fsrs.fit"
SWEEP_JOB = "scheduler_fsrs.fit_due"


def learners_to_fit(session: Session, min_reviews: int, user_id: int | None = None) -> list[int]:
    """Learners with ≥ ``min_reviews`` reviews, some of them newer than their last fit."""
    fitted = (select(FsrsParameters.user_id, func.max(FsrsParameters.last_review_id).label("seen"))
              .group_by(FsrsParameters.user_id).subquery())
    query = (
        select(ReviewLog.user_id)
        .outerjoin(fitted, fitted.c.user_id == ReviewLog.user_id)
        .group_by(ReviewLog.user_id, fitted.c.seen)
        .having(func.count() >= min_reviews,
                or_(fitted.c.seen.is_(None), func.max(ReviewLog.id) > fitted.c.seen))
        .order_by(ReviewLog.user_id)
    )
    if user_id is not None:
        query = query.where(ReviewLog.user_id == user_id)
    return list(session.scalars(query))


def training_items(histories: Iterable[Sequence[tuple[date, int]]]) -> list[FSRSItem]:
    """fsrs-rs training items from per-card histories of (local review date, FSRS rating 1–4).

    Each review on a later day than the one before is a label, predicted from the history up to
    it; same-day reviews only shape the history (FSRS counts time in whole days)."""
    items = []
    for history in histories:
        reviews: list[FSRSReview] = []
        previous = history[0][0]
        for day, rating in history:
            delta = (day - previous).days
            reviews.append(FSRSReview(rating, delta))
            if delta > 0:
                items.append(FSRSItem(list(reviews)))
            previous = day
    return [item for item in items if item.long_term_review_cnt() > 0]


def fit_parameters(histories: Iterable[Sequence[tuple[date, int]]]) -> list[float]:
    """Fitted parameters (the defaults when the histories hold too little to learn from),
    checked against py-fsrs's bounds."""
    parameters = FSRS(DEFAULT_PARAMETERS).compute_parameters(training_items(histories))
    fsrs.Scheduler(parameters=parameters)  # raises ValueError on out-of-bounds values
    return parameters


def fit_due(lms) -> None:
    """Periodic sweep: one fit job per learner who needs one."""
    settings = lms.plugin_config("scheduler_fsrs")
    for user_id in learners_to_fit(lms.db.session, settings["optimise_min_reviews"]):
        lms.jobs.enqueue(FIT_JOB, user_id=user_id)


def fit(lms, user_id: int) -> None:
    """Fit one learner's parameters into a new ``FsrsParameters`` row. Does nothing when the
    learner needs no fit (too few reviews, or none since the last fit): safe to run twice."""
    session = lms.db.session
    min_reviews = lms.plugin_config("scheduler_fsrs")["optimise_min_reviews"]
    if not learners_to_fit(session, min_reviews, user_id):
        return
    user = session.get(User, user_id)
    zone = ZoneInfo(user.timezone or "UTC")
    logs = session.execute(
        select(ReviewLog.id, ReviewLog.item_id, ReviewLog.rating, ReviewLog.reviewed_at)
        .where(ReviewLog.user_id == user_id)
        .order_by(ReviewLog.item_id, ReviewLog.reviewed_at, ReviewLog.id)
    ).all()
    histories = [
        [(row.reviewed_at.astimezone(zone).date(), RATINGS[Rating(row.rating)].value)
         for row in rows]
        for _item, rows in groupby(logs, key=lambda row: row.item_id)
    ]
    row = FsrsParameters(user_id=user_id, parameters=fit_parameters(histories),
                         review_count=len(logs), last_review_id=max(r.id for r in logs))
    session.add(row)
    session.commit()
    # Reviews pick the new row up through FsrsScheduler.for_learner from now on.
    log.info("fsrs: fitted parameters %s for user %s from %s reviews", row.id, user_id, len(logs))
