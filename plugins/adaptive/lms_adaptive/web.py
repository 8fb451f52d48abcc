"""Pages: the placement diagnostic, the learner's path history, and the trainer's reports."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import select

from lmscore import current_platform
from lmscore.capabilities import Answer
from lmscore.db import utcnow
from lmscore.errors import LmsError
from lmscore.models import Project, Track, User
from lmscore.services import learning
from lmscore.services.permissions import Action, can, require
from lmscore.web.session_auth import login_required, web_user

from . import diagnostic, evidence, paths, reports
from .models import Diagnostic, Unlock

bp = Blueprint("adaptive_pages", __name__, url_prefix="/adaptive")


def _form_answer() -> Answer:
    value = request.form.get("value", "").strip()
    try:
        number = float(value) if value else None
    except ValueError:
        number = None
    return Answer(selected=tuple(request.form.getlist("selected")),
                  text=request.form.get("text") or None, value=number)


@bp.get("/diagnostic/<code>")
@login_required
def diagnostic_page(code: str):
    session = current_platform().db.session
    user = web_user()
    track = learning.get_track(session, code)
    learning.require_content_access(session, user, track)
    current = diagnostic.latest(session, user, track.id)
    if current is not None and current.status == "in_progress":
        return _question(current)
    return render_template("lms_adaptive/diagnostic_start.html", track=track, last=current)


def _question(d: Diagnostic, error: str = "", status: int = 200):
    session = current_platform().db.session
    item = diagnostic.current_item(session, d)
    track = session.get(Track, d.track_id)
    return render_template("lms_adaptive/diagnostic_question.html", diagnostic=d, item=item,
                           track=track, error=error), status


@bp.post("/diagnostic/<code>/start")
@login_required
def diagnostic_start(code: str):
    lms = current_platform()
    try:
        diagnostic.start(lms, lms.db.session, web_user(), code)
    except LmsError as exc:
        lms.db.session.rollback()
        track = learning.get_track(lms.db.session, code)
        return render_template("lms_adaptive/diagnostic_start.html", track=track, last=None,
                               error=exc.message), exc.status
    return redirect(url_for("adaptive_pages.diagnostic_page", code=code.upper()))


@bp.post("/diagnostics/<int:diagnostic_id>/answer")
@login_required
def diagnostic_answer(diagnostic_id: int):
    lms = current_platform()
    session = lms.db.session
    try:
        d = diagnostic.answer(lms, session, web_user(), diagnostic_id, _form_answer(), utcnow())
    except LmsError as exc:
        session.rollback()
        return _question(diagnostic.get(session, web_user(), diagnostic_id), exc.message,
                         exc.status)
    if d.status == "finished":
        return redirect(url_for("adaptive_pages.diagnostic_results", diagnostic_id=d.id))
    return redirect(url_for("adaptive_pages.diagnostic_page",
                            code=session.get(Track, d.track_id).code))


@bp.get("/diagnostics/<int:diagnostic_id>")
@login_required
def diagnostic_results(diagnostic_id: int):
    session = current_platform().db.session
    d = diagnostic.get(session, web_user(), diagnostic_id)
    unlocks = session.execute(select(Unlock, Project).join(Project).where(
        Unlock.diagnostic_id == d.id).order_by(Project.number)).all()
    return render_template("lms_adaptive/diagnostic_results.html", diagnostic=d,
                           track=session.get(Track, d.track_id), unlocks=unlocks)


@bp.get("/path")
@login_required
def path():
    session = current_platform().db.session
    user = web_user()
    return render_template("lms_adaptive/path.html", snapshots=paths.history(session, user.id),
                           mastery=evidence.facet_mastery(session, user.id))


@bp.get("/trainer/struggling")
@login_required
def struggling():
    lms = current_platform()
    rows = reports.struggling(lms.db.session, web_user(), lms.plugin_config("adaptive"),
                              utcnow())
    return render_template("lms_adaptive/struggling.html", rows=rows,
                           sees_all=can(web_user(), Action.VIEW_ANY_USER))


@bp.get("/trainer/items")
@login_required
def items():
    lms = current_platform()
    show_all = request.args.get("all") == "1"
    rows = reports.item_calibration(lms.db.session, web_user(), lms.plugin_config("adaptive"),
                                    flagged_only=not show_all)
    return render_template("lms_adaptive/items.html", rows=rows, show_all=show_all,
                           settings=lms.plugin_config("adaptive"))


@bp.get("/trainer/unlocks")
@login_required
def unlocks():
    session = current_platform().db.session
    pending = diagnostic.unlocks_to_decide(session, web_user())
    learners = {u.id: u for u in session.scalars(
        select(User).where(User.id.in_({u.user_id for u in pending})))} if pending else {}
    projects = {p.id: p for p in session.scalars(
        select(Project).where(Project.id.in_({u.project_id for u in pending})))} if pending else {}
    return render_template("lms_adaptive/unlocks.html", pending=pending, learners=learners,
                           projects=projects)


@bp.post("/trainer/unlocks/<int:unlock_id>")
@login_required
def decide(unlock_id: int):
    session = current_platform().db.session
    require(web_user(), Action.REVIEW_SUBMISSIONS)
    diagnostic.decide(session, web_user(), unlock_id, request.form.get("decision") == "approve",
                      utcnow())
    return redirect(url_for("adaptive_pages.unlocks"))


def dashboard_section(lms, user) -> Markup | None:
    """The dashboard's mastery panel and diagnostic links (a template slot)."""
    if not can(user, Action.SUBMIT_WORK):
        return None
    session = lms.db.session
    tracks = [e.track for e in learning.my_enrolments(session, user)
              if e.status in learning.OPEN_ENROLMENT]
    placed = {t.id: diagnostic.latest(session, user, t.id) for t in tracks}
    return Markup(render_template("lms_adaptive/dashboard_section.html", tracks=tracks,
                                  placed=placed,
                                  mastery=evidence.facet_mastery(session, user.id)))
