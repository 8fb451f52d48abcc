"""Learner pages: catalogue, tracks, projects (steps, submissions), dashboard, review sessions."""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import select
from sqlalchemy.engine import Row

from .. import current_platform, markdown
from ..db import known_id, utcnow
from ..errors import LmsError, NotFound, PaymentRequired
from ..models import (
    Deliverable,
    DeliverableKind,
    Item,
    QuestionBank,
    Review,
    Submission,
    User,
)
from ..services import learning, payments, recommendations, reviews, submissions
from ..services.auth import invalid_field
from ..services.permissions import Action, can
from .accounts import _form_errors, _page
from .session_auth import login_required, web_user

bp = Blueprint("learner", __name__)

#: How far back the dashboard charts look, and ahead for the forecast.
CHART_DAYS = 30
RATINGS = ("again", "hard", "good", "easy")


# -- shared helpers --------------------------------------------------------------------


def shown_at() -> int:
    """A timestamp put in a hidden field when a form is rendered: the server measures how long
    the page was open without any script (a forged value only changes the learner's own stats)."""
    return int(time.time() * 1000)


def elapsed_ms(limit_ms: int) -> int:
    try:
        started = int(request.form.get("shown_at", ""))
    except ValueError:
        return 0
    return max(0, min(limit_ms, shown_at() - started))


def names_of(session, user_ids) -> dict[int, str]:
    """User names by id in one query (reviewers, learners in a queue)."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def is_learner(user: User | None) -> bool:
    return can(user, Action.SUBMIT_WORK)


# -- catalogue and tracks --------------------------------------------------------------------


@bp.get("/tracks")
def catalogue():
    session = current_platform().db.session
    user = web_user()
    tracks = learning.catalogue(session)
    enrolled = {}
    if user is not None:
        enrolled = {e.track_id: e.status for e in learning.my_enrolments(session, user)}
    return render_template("tracks/catalogue.html", tracks=tracks, enrolled=enrolled)


def _track_page(code: str, *, error: str = "", checkout_url: str | None = None,
                status: int = 200):
    session = current_platform().db.session
    user = web_user()
    track = learning.get_track(session, code)
    enrolment = learning.enrolment_of(session, user, track.id)
    progress = None
    if is_learner(user) and enrolment is not None:
        progress = {p.project.id: p for p in learning.track_progress(session, user, track).projects}
    html = render_template(
        "tracks/track.html", track=track, projects=learning.live_projects(session, track),
        enrolment=enrolment, progress=progress, error=error, checkout_url=checkout_url,
        can_enrol=user is None or is_learner(user),
        may_buy_again=enrolment is not None and payments.may_buy_again(session, enrolment),
    )
    return html, status


@bp.get("/tracks/<code>")
def track(code: str):
    return _track_page(code)


@bp.post("/tracks/<code>/enrol")
@login_required
def enrol(code: str):
    lms = current_platform()
    try:
        learning.enrol(lms, lms.db.session, web_user(), code)
    except PaymentRequired as exc:
        return _track_page(code, error=exc.message, checkout_url=exc.details.get("checkout_url"),
                           status=exc.status)
    except LmsError as exc:
        lms.db.session.rollback()
        return _track_page(code, error=exc.message, status=exc.status)
    flash("You are enrolled. Start with the first project.", "success")
    return redirect(url_for("learner.track", code=code.upper()))


# -- projects, steps and submissions ------------------------------------------------------------


def _project_page(project_id: int, *, errors=None, error_for: int | None = None,
                  form=None, status: int = 200):
    session = current_platform().db.session
    user = web_user()
    project = learning.get_project(session, project_id)
    visible = learning.can_see_content(session, user, project.track)
    enrolment = learning.enrolment_of(session, user, project.track_id)
    learning_here = (is_learner(user) and enrolment is not None
                     and enrolment.status in learning.OPEN_ENROLMENT)
    progress, prerequisites, histories = None, [], {}
    if learning_here:
        by_number = {p.project.number: p
                     for p in learning.track_progress(session, user, project.track).projects}
        progress = by_number.get(project.number)
        prerequisites = [by_number[n] for n in project.prerequisites if n in by_number]
    deliverables = [d for d in project.deliverables if d.archived_at is None] if visible else []
    if learning_here:
        histories = {d.id: submissions.history(session, user.id, d.id) for d in deliverables}
    reviewer_ids = [r.reviewer_id for h in histories.values() for s in h for r in s.reviews]
    html = render_template(
        "tracks/project.html", project=project, visible=visible, progress=progress,
        prerequisites=prerequisites, learning_here=learning_here,
        steps=[s for s in project.steps if s.archived_at is None] if visible else [],
        deliverables=deliverables, histories=histories,
        reviewers=names_of(session, reviewer_ids), errors=errors or {}, error_for=error_for,
        form=form or {}, shown_at=shown_at(), kinds=DeliverableKind,
    )
    return html, status


@bp.get("/projects/<int:project_id>")
def project(project_id: int):
    return _project_page(project_id)


@bp.post("/steps/<int:step_id>/complete")
@login_required
def complete_step(step_id: int):
    session = current_platform().db.session
    step = None
    try:
        step = learning.complete_step(session, web_user(), step_id,
                                      elapsed_ms(7 * 24 * 3600 * 1000) // 1000)
    except LmsError as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(request.referrer or url_for("learner.dashboard"))
    flash(f"“{step.title}” marked complete.", "success")
    return redirect(url_for("learner.project", project_id=step.project_id,
                            _anchor=f"step-{step.id}"))


@bp.post("/deliverables/<int:deliverable_id>/submit")
@login_required
def submit(deliverable_id: int):
    lms = current_platform()
    session = lms.db.session
    deliverable = session.get(Deliverable, deliverable_id)
    if deliverable is None:
        raise NotFound(f"No deliverable with id {deliverable_id}.")
    upload = request.files.get("file")
    file = (upload.stream, upload.filename) if upload is not None and upload.filename else None
    form = {"text": request.form.get("text", ""), "url": request.form.get("url", "").strip()}
    data = submissions.SubmissionInput(
        deliverable_id=deliverable_id, text=form["text"] or None, url=form["url"] or None,
        draft=request.form.get("action") == "draft",
    )
    try:
        submission = submissions.create(lms, session, web_user(), data, file)
    except LmsError as exc:
        session.rollback()
        return _project_page(deliverable.project_id, errors=_form_errors(exc),
                             error_for=deliverable_id, form=form,
                             status=422 if exc.status == 400 else exc.status)
    flash("Draft saved." if data.draft else
          f"Attempt {submission.attempt} submitted for review.", "success")
    return redirect(url_for("learner.project", project_id=deliverable.project_id,
                            _anchor=f"deliverable-{deliverable_id}"))


@bp.get("/submissions/<int:submission_id>/file")
@login_required
def submission_file(submission_id: int):
    """The owner or staff download the file; it is never served from a guessable path."""
    lms = current_platform()
    submission = submissions.with_file(lms, lms.db.session, web_user(), submission_id)
    return send_file(lms.files.path(submission.file_key), as_attachment=True,
                     download_name=submission.file_name)


# -- dashboard --------------------------------------------------------------------


@bp.get("/dashboard")
@login_required
def dashboard():
    lms = current_platform()
    session = lms.db.session
    user = web_user()
    now = utcnow()
    progress = learning.my_progress(session, user)
    open_ids = [p.track.id for p in progress
                if p.enrolment is not None and p.enrolment.status in learning.OPEN_ENROLMENT]
    banks = list(session.scalars(
        select(QuestionBank).where(QuestionBank.track_id.in_(open_ids)).order_by(QuestionBank.code)
    )) if open_ids else []
    stats = reviews.stats_for_banks(lms, session, user, banks, now)
    bank_stats = [(bank, stats[bank.id]) for bank in banks]
    feedback = session.execute(
        select(Review, Submission, Deliverable)
        .join(Submission, Submission.id == Review.submission_id)
        .join(Deliverable, Deliverable.id == Submission.deliverable_id)
        .where(Submission.user_id == user.id).order_by(Review.id.desc()).limit(5)
    ).all()
    return render_template(
        "dashboard.html", progress=progress, bank_stats=bank_stats, feedback=feedback,
        # Per active track: the project to work on and its next step (None: hand it in).
        next_steps=[(p.track, up.project, up.next_step)
                    for p in progress if (up := p.next_up) is not None],
        # Per bank, the service counts a streak; across banks the longest one is shown.
        streak=max((s["streak_days"] for _b, s in bank_stats), default=0),
        charts=_charts(session, user, bank_stats, now),
        recommendations=recommendations.for_learner(lms, session, user, now,
                                                    progress=progress),
        show_provenance=learning.is_staff(user),
    )


def _charts(session, user: User, bank_stats, now) -> dict[str, list[tuple[str, float | None]]]:
    """Series of (day label, value) for the dashboard's SVG bar charts, in the learner's days."""
    zone = ZoneInfo(user.timezone or "UTC")
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    activity = reviews.daily_activity(session, user, days)
    quiet = reviews.DayActivity()
    per_day = {d: activity.get(d, quiet) for d in days}
    forecast = Counter()
    for _bank, stats in bank_stats:
        for n, entry in enumerate(stats["forecast"]):
            forecast[n] += entry["due"]
    return {
        "reviews": [(d.isoformat(), per_day[d].reviews) for d in days],
        # Retention counts reviews of cards seen before, as the service does.
        "retention": [(d.isoformat(), round(100 * a.recalled / a.recalls) if a.recalls else None)
                      for d, a in per_day.items()],
        "forecast": [((today + timedelta(days=n)).isoformat(), forecast[n])
                     for n in range(CHART_DAYS)],
    }


# -- review sessions --------------------------------------------------------------------


def _card_context(lms, session, user, bank, item: Item | Row, *, revealed: bool):
    """What a card page needs (an item, or a card row of ``reviews.next_items``); the rating
    buttons show each rating's next interval."""
    ratings = None
    if revealed:
        preview = reviews.preview(lms, session, user, item.id, utcnow())["ratings"]
        ratings = [(name, preview[name]["interval_days"]) for name in RATINGS]
    return {
        "bank": bank, "item": item, "revealed": revealed, "ratings": ratings,
        "self_rated": item.type in reviews.SELF_RATED,
        "attempt_id": uuid.uuid4().hex, "shown_at": shown_at(),
        "answer_text": answer_text(item, item.answer) if revealed else "",
        "stats": reviews.stats(lms, session, user, bank, utcnow()),
    }


@bp.get("/review/<bank_code>")
@login_required
def review(bank_code: str):
    lms = current_platform()
    session = lms.db.session
    user = web_user()
    bank = reviews.get_bank(session, user, bank_code)
    items = reviews.next_items(lms, session, user, bank, 1, utcnow(), revealed=True)
    if not items:
        return render_template("reviews/done.html", bank=bank,
                               stats=reviews.stats(lms, session, user, bank, utcnow()))
    item = items[0]
    # "Show answer" on a self-rated card reloads the same card (the next due one) revealed.
    revealed = item.type in reviews.SELF_RATED and request.args.get("reveal") == str(item.id)
    return render_template("reviews/card.html",
                           **_card_context(lms, session, user, bank, item, revealed=revealed))


@bp.post("/review/<bank_code>")
@login_required
def answer(bank_code: str):
    lms = current_platform()
    session = lms.db.session
    user = web_user()
    bank = reviews.get_bank(session, user, bank_code)
    form = request.form
    value = None
    if form.get("value", "").strip():
        try:
            value = float(form["value"])
        except ValueError:
            value = float("nan")  # refused below, as are inf and 1e400
    data = reviews.ReviewInput(
        item_id=known_id(form.get("item_id", type=int)),
        client_attempt_id=form.get("client_attempt_id", "")[:64],
        rating=form.get("rating") or None, selected=tuple(form.getlist("selected")),
        text=form.get("text") if "text" in form else None, value=value,
        elapsed_ms=elapsed_ms(86_400_000),
    )
    item = session.get(Item, data.item_id)
    try:
        if len(data.client_attempt_id) < 8:
            raise invalid_field("client_attempt_id", "Reload the card and answer again.")
        if value is not None and not math.isfinite(value):
            raise invalid_field("value", "Enter a number.")
        result = reviews.answer(lms, session, user, data, utcnow())
    except LmsError as exc:
        session.rollback()
        if item is None or item.bank_id != bank.id:
            raise
        context = _card_context(lms, session, user, bank, item, revealed=data.rating is not None)
        return _page("reviews/card.html", _form_errors(exc), exc.status, typed=form, **context)
    if data.rating is not None:
        flash(f"Next review {interval_text(result['interval_days'])}.", "success")
        return redirect(url_for("learner.review", bank_code=bank.code))
    return render_template("reviews/result.html", bank=bank, item=item, result=result,
                           answer_text=answer_text(item, result["answer"]))


def answer_text(item: Item | Row, answer) -> str:
    """An item's answer key as the learner reads it: option texts, not keys."""
    if isinstance(answer, dict) and "value" in answer:  # numeric: value and tolerance
        return str(answer["value"])
    if isinstance(answer, dict) and item.options:  # multiple choice with partial credit
        answer = [k for k, fraction in answer.items() if float(fraction) > 0]
    keys = [answer] if isinstance(answer, str) else list(answer or [])
    if item.options:
        return "; ".join(item.options.get(k, k) for k in keys)
    return keys[0] if keys and all(isinstance(k, str) for k in keys) else str(answer)


def interval_text(days: float) -> str:
    """A next interval as people say it: "in 10 minutes", "in 3 days", "in 2 months"."""
    minutes = days * 24 * 60
    if minutes < 1:
        return "now"
    if minutes < 60:
        return f"in {round(minutes)} min"
    if days < 1:
        return f"in {round(minutes / 60)} h"
    if days < 31:
        return f"in {round(days)} d"
    if days < 365:
        return f"in {round(days / 30)} mo"
    return f"in {days / 365:.1f} y"


bp.add_app_template_filter(interval_text, "interval")
bp.add_app_template_filter(markdown.render, "markdown")
