"""Submissions and trainer review.

Flow: a learner submits (a new attempt each time; history stays) → ``submitted``; a job then
grades it automatically when the deliverable names a grader (``grading``), and puts it in the
review queue (``in_review``) → a trainer approves or requests changes. Drafts are kept but
not sent for review until submitted.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, selectinload

from ..capabilities import Answer, GradableItem, SandboxError
from ..db import utcnow
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..events import SubmissionCreated, SubmissionReviewed
from ..models import (
    AWAITING,
    Deliverable,
    DeliverableKind,
    Review,
    ReviewDecision,
    Role,
    Submission,
    SubmissionStatus,
    User,
)
from . import events, learning
from .permissions import Action, can, require

if TYPE_CHECKING:
    from ..platform import Platform

log = logging.getLogger(__name__)
PROCESS_JOB = "lmscore.process_submission"
MAX_TEXT = 200_000
#: Grader names that mean "a trainer reviews this", never an automatic grade.
MANUAL_GRADERS = {None, "", "manual"}


@dataclass(frozen=True)
class SubmissionInput:
    deliverable_id: int
    text: str | None = None
    url: str | None = None
    draft: bool = False


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": {field: [message]}})


def _check_url(url: str, *, repository: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        raise _invalid("url", "Enter a full http(s) address.")
    if repository and len([p for p in parts.path.split("/") if p]) < 2:
        raise _invalid("url", "Enter the address of a repository, e.g. https://github.com/you/project.")


def create(
    lms: Platform, session: Session, user: User, data: SubmissionInput,
    upload: tuple[BinaryIO, str] | None = None,
) -> Submission:
    """Validate and store a submission (nothing is saved when anything is wrong). Commits."""
    require(user, Action.SUBMIT_WORK)
    deliverable = session.get(Deliverable, data.deliverable_id)
    if deliverable is None or deliverable.archived_at is not None:
        raise _invalid("deliverable_id", f"No deliverable with id {data.deliverable_id}.")
    learning.require_open_project(session, user, deliverable.project)
    kind = deliverable.kind
    if kind == DeliverableKind.QUIZ:
        raise _invalid("deliverable_id", "This deliverable is completed by taking its quiz.")
    if kind in (DeliverableKind.URL, DeliverableKind.REPOSITORY) and not data.url:
        raise _invalid("url", "This deliverable needs a link.")
    # Reviewers get every link as one, whatever the deliverable: never javascript: or data:.
    if data.url:
        _check_url(data.url, repository=kind == DeliverableKind.REPOSITORY)
    if kind in (DeliverableKind.TEXT, DeliverableKind.CODE) and not (data.text or "").strip():
        raise _invalid("text", "Paste your code." if kind == DeliverableKind.CODE
                       else "This deliverable needs text.")
    if data.text and len(data.text) > MAX_TEXT:
        raise _invalid("text", f"Keep the text under {MAX_TEXT:,} characters.")
    if kind == DeliverableKind.FILE and upload is None:
        raise _invalid("file", "This deliverable needs a file.")
    if kind != DeliverableKind.FILE and upload is not None:
        raise _invalid("file", "This deliverable does not take a file.")

    latest = session.scalar(
        select(Submission).where(Submission.user_id == user.id,
                                 Submission.deliverable_id == deliverable.id)
        .order_by(Submission.attempt.desc()).limit(1)
    )
    if latest is not None and latest.status in AWAITING:
        raise Conflict("Your previous submission is still waiting for review.",
                       details={"submission_id": latest.id})
    if latest is not None and latest.status == SubmissionStatus.APPROVED:
        raise Conflict("This deliverable is already approved.",
                       details={"submission_id": latest.id})

    stored = lms.files.save(*upload) if upload else None
    replaced = None
    try:
        if latest is not None and latest.status == SubmissionStatus.DRAFT:
            submission = latest  # a draft is edited in place, not a new attempt
            replaced = submission.file_key if stored else None
        else:
            submission = Submission(user_id=user.id, deliverable_id=deliverable.id,
                                    attempt=(latest.attempt + 1) if latest else 1)
            session.add(submission)
        submission.text = data.text
        submission.url = data.url
        if stored:
            submission.file_key, submission.file_name = stored.key, stored.name
            submission.file_size = stored.size
            submission.file_type = (
                mimetypes.guess_type(stored.name)[0] or "application/octet-stream"
            )
        submission.status = (
            SubmissionStatus.DRAFT if data.draft else SubmissionStatus.SUBMITTED
        ).value
        if not data.draft:
            submission.submitted_at = utcnow()
            session.flush()
            events.emit(session, SubmissionCreated(
                submission_id=submission.id, user_id=user.id, deliverable_id=deliverable.id
            ))
            events.job_after_commit(session, PROCESS_JOB, submission_id=submission.id)
        session.commit()
    except BaseException:
        session.rollback()
        if stored:
            lms.files.delete(stored.key)
        raise
    if replaced:  # the draft's old file goes only once the new one is committed
        lms.files.delete(replaced)
    return submission


def process(lms: Platform, submission_id: int) -> None:
    """Job: grade automatically when the deliverable names a grader, then queue for review."""
    session = lms.db.session
    submission = session.get(Submission, submission_id)
    # GRADING too: a retried job (the worker died mid-grading) picks the submission up again.
    if submission is None or submission.status not in (SubmissionStatus.SUBMITTED,
                                                        SubmissionStatus.GRADING):
        return
    deliverable = submission.deliverable
    if deliverable.grader not in MANUAL_GRADERS:
        submission.status = SubmissionStatus.GRADING.value
        session.commit()
        grader = lms.graders.get(deliverable.grader)
        item = GradableItem(id=f"deliverable-{deliverable.id}", type=deliverable.kind,
                            prompt=deliverable.description,
                            answer_key=deliverable.settings.get("answer_key"),
                            settings=deliverable.settings)
        try:
            result = grader.grade(item, Answer(text=submission.text or submission.url))
        except ValueError as exc:
            submission.auto_grade = {"error": str(exc)}
        except SandboxError as exc:  # the site's problem: a trainer reviews by hand meanwhile
            log.error("submission %s: sandbox failed: %s", submission.id, exc)
            submission.auto_grade = {"error": "Automatic grading is not available right now; "
                                              "a trainer will review your work."}
        else:
            submission.auto_grade = {
                "grader": grader.name, "score": result.score, "max_score": result.max_score,
                "feedback": result.feedback, **({"details": result.details}
                                                if result.details else {}),
            }
            submission.score = result.score
    submission.status = SubmissionStatus.IN_REVIEW.value
    session.commit()


# -- reading -----------------------------------------------------------------------------------


def visible_query(user: User, *, status: str | None = None) -> Select:
    """Learners see their own; trainers their review queue (assigned learners first, oldest
    first); admins everything."""
    query = select(Submission).options(selectinload(Submission.deliverable))
    if status:
        query = query.where(Submission.status == status)
    if can(user, Action.VIEW_ANY_USER):
        return query.order_by(Submission.submitted_at.desc().nulls_last(), Submission.id.desc())
    if user.role == Role.TRAINER:
        mine = case((User.trainer_id == user.id, 0), else_=1)
        query = query.join(User, User.id == Submission.user_id)
        if not status:
            query = query.where(Submission.status.in_([s.value for s in AWAITING]))
        return query.order_by(mine, Submission.submitted_at, Submission.id)
    return query.where(Submission.user_id == user.id).order_by(Submission.id.desc())


def get_visible(session: Session, user: User, submission_id: int) -> Submission:
    submission = session.scalar(
        select(Submission).where(Submission.id == submission_id)
        .options(selectinload(Submission.reviews), selectinload(Submission.deliverable))
    )
    if submission is None or not (
        submission.user_id == user.id or can(user, Action.REVIEW_SUBMISSIONS)
    ):
        raise NotFound(f"No submission with id {submission_id}.")
    return submission


def with_file(lms: Platform, session: Session, user: User, submission_id: int) -> Submission:
    """A submission the user may see (owner or staff) whose uploaded file is on disk."""
    submission = get_visible(session, user, submission_id)
    if not submission.file_key or not lms.files.path(submission.file_key).is_file():
        raise NotFound("This submission has no file.")
    return submission


def history(session: Session, user_id: int, deliverable_id: int) -> list[Submission]:
    return list(session.scalars(
        select(Submission).where(Submission.user_id == user_id,
                                 Submission.deliverable_id == deliverable_id)
        .options(selectinload(Submission.reviews)).order_by(Submission.attempt.desc())
    ))


def queue_size(session: Session) -> int:
    return session.scalar(select(func.count()).where(
        Submission.status.in_([s.value for s in AWAITING])
    )) or 0


# -- review ------------------------------------------------------------------------------------


def review(
    session: Session, reviewer: User, submission_id: int, *, decision: str, feedback: str,
    score: float | None,
) -> Review:
    """Record a trainer's decision. Commits; emits ``submission_reviewed``."""
    require(reviewer, Action.REVIEW_SUBMISSIONS)
    submission = get_visible(session, reviewer, submission_id)
    if submission.user_id == reviewer.id:
        raise PermissionDenied("You cannot review your own submission.")
    if submission.status not in (SubmissionStatus.IN_REVIEW, SubmissionStatus.SUBMITTED):
        raise Conflict(f"This submission is {submission.status.replace('_', ' ')}, not waiting "
                       "for review.", details={"status": submission.status})
    decision = ReviewDecision(decision).value
    if score is not None and not 0 <= score <= 100:
        raise _invalid("score", "A score is between 0 and 100.")
    if len(feedback) > MAX_TEXT:
        raise _invalid("feedback", f"Keep feedback under {MAX_TEXT:,} characters.")
    if decision == ReviewDecision.CHANGES_REQUESTED and not feedback.strip():
        raise _invalid("feedback", "Say what needs to change.")
    return _decide(session, submission, reviewer.id, decision, feedback, score)


def _decide(session: Session, submission: Submission, reviewer_id: int | None, decision: str,
            feedback: str, score: float | None) -> Review:
    row = Review(submission_id=submission.id, reviewer_id=reviewer_id, decision=decision,
                 feedback_markdown=feedback, score=score)
    session.add(row)
    submission.status = decision
    submission.reviewed_at = utcnow()
    if score is not None:
        submission.score = score
    session.flush()
    events.emit(session, SubmissionReviewed(
        submission_id=submission.id, user_id=submission.user_id, reviewer_id=reviewer_id,
        decision=decision, score=score,
    ))
    if decision == ReviewDecision.APPROVED:
        learner = session.get(User, submission.user_id)
        learning.refresh_track_completion(session, learner, submission.deliverable.project.track)
    session.commit()
    return row


# -- changes reported by an integration ----------------------------------------------------------
# For callers that have verified where the change comes from (e.g. a signed webhook of a code
# host): there is no signed-in user, the integration's own configuration is the authority.


def decide_externally(session: Session, submission_id: int, *, decision: str,
                      feedback: str) -> Review:
    """Approve or request changes without a trainer (e.g. a merged pull request where the
    track says merging approves). Commits; emits ``submission_reviewed`` with no reviewer."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound(f"No submission with id {submission_id}.")
    if submission.status not in AWAITING:
        raise Conflict(f"This submission is {submission.status.replace('_', ' ')}, not waiting "
                       "for review.", details={"status": submission.status})
    return _decide(session, submission, None, ReviewDecision(decision).value, feedback, None)


def withdraw(session: Session, user: User, submission_id: int) -> Submission:
    """The learner takes a submission that waits for review back to draft (e.g. they closed
    its pull request unmerged). Commits."""
    require(user, Action.SUBMIT_WORK)
    submission = session.get(Submission, submission_id)
    if submission is None or submission.user_id != user.id:
        raise NotFound(f"No submission with id {submission_id}.")
    if submission.status not in AWAITING:
        raise Conflict(f"This submission is {submission.status.replace('_', ' ')}, not waiting "
                       "for review.", details={"status": submission.status})
    submission.status = SubmissionStatus.DRAFT.value
    submission.submitted_at = None
    session.commit()
    return submission


def record_auto_grade(session: Session, submission_id: int, result: dict[str, Any]) -> Submission:
    """Attach an automatic check's result computed elsewhere (e.g. CI): ``result`` is JSON with
    optional ``score`` ≤ ``max_score`` and ``feedback``. Replaces the previous result; the
    status does not change. Commits."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound(f"No submission with id {submission_id}.")
    score, max_score = result.get("score"), result.get("max_score")
    if score is not None and not (max_score and 0 <= score <= max_score):
        raise _invalid("score", "A score is between 0 and the maximum score.")
    submission.auto_grade = result
    session.commit()
    return submission
