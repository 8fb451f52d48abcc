"""Trainer pages: the review queue, a submission with its feedback form, assigned learners
(with prerequisite waivers: unlock a locked project for one learner)."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import current_platform
from ..db import utcnow
from ..errors import LmsError
from ..models import Quiz, SubmissionStatus, User
from ..services import learning, quizzes, reviews, submissions
from ..services.permissions import Action, require
from .accounts import _form_errors, _page
from .learner import names_of
from .session_auth import login_required, web_user

bp = Blueprint("trainer", __name__, url_prefix="/trainer")

QUEUE_LIMIT = 100


def requires(action: Action):
    """Signed in, and allowed ``action`` by the permission matrix (else the 403 page)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            require(web_user(), action)
            return view(*args, **kwargs)

        return wrapper

    return decorator


@bp.get("/queue")
@requires(Action.REVIEW_SUBMISSIONS)
def queue():
    session = current_platform().db.session
    user = web_user()
    status = request.args.get("status", "")
    if status not in {s.value for s in SubmissionStatus}:
        status = ""
    rows = list(session.scalars(
        submissions.visible_query(user, status=status or None).limit(QUEUE_LIMIT)
    ))
    # Free-text quiz answers waiting for a trainer share this queue.
    attempts = list(session.scalars(quizzes.pending_grading_query(user).limit(QUEUE_LIMIT)))
    learners = {u.id: u for u in session.scalars(
        select(User).where(User.id.in_({r.user_id for r in [*rows, *attempts]}))
    )} if rows or attempts else {}
    quiz_titles = dict(session.execute(
        select(Quiz.id, Quiz.title).where(Quiz.id.in_({a.quiz_id for a in attempts}))
    ).all()) if attempts else {}
    return render_template("trainer/queue.html", rows=rows, learners=learners, status=status,
                           statuses=[s.value for s in SubmissionStatus], me=user,
                           limit=QUEUE_LIMIT, attempts=attempts, quiz_titles=quiz_titles)


def _submission_page(submission_id: int, errors=None, form=None, status: int = 200):
    session = current_platform().db.session
    submission = submissions.get_visible(session, web_user(), submission_id)
    learner = session.get(User, submission.user_id)
    history = submissions.history(session, submission.user_id, submission.deliverable_id)
    reviewer_ids = [r.reviewer_id for s in history for r in s.reviews]
    return _page(
        "trainer/submission.html", errors, status, submission=submission, learner=learner,
        project=submission.deliverable.project, history=history,
        reviewers=names_of(session, reviewer_ids), form=form or {},
        open_for_review=submission.status in (SubmissionStatus.SUBMITTED,
                                              SubmissionStatus.IN_REVIEW),
    )


@bp.get("/submissions/<int:submission_id>")
@requires(Action.REVIEW_SUBMISSIONS)
def submission(submission_id: int):
    return _submission_page(submission_id)


@bp.post("/submissions/<int:submission_id>")
@requires(Action.REVIEW_SUBMISSIONS)
def review(submission_id: int):
    session = current_platform().db.session
    form = {k: request.form.get(k, "") for k in ("decision", "feedback", "score")}
    try:
        score = float(form["score"]) if form["score"].strip() else None
    except ValueError:
        return _submission_page(submission_id, {"score": ["Enter a number from 0 to 100."]},
                                form, 422)
    if form["decision"] not in ("approved", "changes_requested"):
        return _submission_page(submission_id, {"decision": ["Choose a decision."]}, form, 422)
    try:
        submissions.review(session, web_user(), submission_id, decision=form["decision"],
                           feedback=form["feedback"], score=score)
    except LmsError as exc:
        session.rollback()
        return _submission_page(submission_id, _form_errors(exc), form, exc.status)
    flash("Feedback sent.", "success")
    return redirect(url_for("trainer.queue"))


def _learners_page(errors=None, error_for: tuple[int, int] | None = None, form=None,
                   status: int = 200):
    """``error_for`` (learner id, project id) names the unlock form ``errors`` belong to."""
    session = current_platform().db.session
    assigned = list(session.scalars(
        select(User).where(User.trainer_id == web_user().id).order_by(User.name, User.id)
    ))
    lms, now = current_platform(), utcnow()
    return _page(
        "trainer/learners.html", errors, status,
        learners=[(learner, learning.my_progress(session, learner),
                   reviews.struggling_facets(lms, session, learner, now))
                  for learner in assigned],
        error_for=error_for, form=form or {},
    )


@bp.get("/learners")
@requires(Action.REVIEW_SUBMISSIONS)
def learners():
    return _learners_page()


@bp.post("/learners/<int:user_id>/waivers/<int:project_id>")
@requires(Action.WAIVE_PREREQUISITES)
def waive(user_id: int, project_id: int):
    session = current_platform().db.session
    actor = web_user()
    form = {"reason": request.form.get("reason", "")}
    try:
        learner, project = learning.waiver_subjects(session, actor, user_id, project_id)
        learning.waive_prerequisites(session, actor, learner, project, form["reason"])
    except LmsError as exc:
        session.rollback()
        return _learners_page(_form_errors(exc), (user_id, project_id), form, exc.status)
    flash(f"Project {project.number} is open to {learner.name}.", "success")
    return redirect(url_for("trainer.learners", _anchor=f"learner-{learner.id}"))


@bp.post("/learners/<int:user_id>/waivers/<int:project_id>/revoke")
@requires(Action.WAIVE_PREREQUISITES)
def revoke_waiver(user_id: int, project_id: int):
    session = current_platform().db.session
    actor = web_user()
    try:
        learner, project = learning.waiver_subjects(session, actor, user_id, project_id)
        learning.revoke_waiver(session, actor, learner, project)
    except LmsError as exc:
        session.rollback()
        return _learners_page(_form_errors(exc), (user_id, project_id), status=exc.status)
    flash(f"Project {project.number} is locked again for {learner.name} until its "
          "prerequisites are completed.", "success")
    return redirect(url_for("trainer.learners", _anchor=f"learner-{learner.id}"))
