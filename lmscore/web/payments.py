"""Payment pages: buying a track, the status/receipt page the provider returns the learner
to, the learner's receipts, and the admin payments page (filters, refunds, CSV, manual
grants). The status page only shows what the provider's notifications recorded: coming
back to it never grants access by itself."""

from __future__ import annotations

from datetime import datetime, time

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from .. import current_platform
from ..capabilities import PaymentStatus
from ..db import known_id
from ..errors import LmsError
from ..models import Track
from ..services import payments
from ..services.permissions import Action
from .admin import paged
from .session_auth import login_required, web_user
from .trainer import requires

bp = Blueprint("payments_pages", __name__)

#: Statuses that may still change without anyone acting here: the page keeps polling.
WAITING = {PaymentStatus.CREATED.value, PaymentStatus.REQUIRES_ACTION.value}
POLL_SECONDS = 3


# -- learners -------------------------------------------------------------------------------


@bp.post("/tracks/<code>/buy")
@login_required
def buy(code: str):
    lms = current_platform()
    try:
        started = payments.checkout(lms, lms.db.session, web_user(), code)
    except LmsError as exc:
        lms.db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("learner.track", code=code.upper()))
    if started.payment is None or started.payment.status == PaymentStatus.SUCCEEDED:
        flash("You are enrolled. Start with the first project.", "success")
        return redirect(url_for("learner.track", code=code.upper()))
    if started.checkout_url:
        return redirect(started.checkout_url, code=303)
    return redirect(url_for("payments_pages.receipt", payment_id=started.payment.id))


@bp.get("/payments")
@login_required
def receipts():
    session = current_platform().db.session
    rows = list(session.scalars(payments.payments_query(web_user()).limit(200)))
    return render_template("payments/receipts.html", rows=rows)


@bp.get("/payments/<int:payment_id>")
@login_required
def receipt(payment_id: int):
    payment = payments.get_payment(current_platform().db.session, web_user(), payment_id)
    waiting = payment.status in WAITING
    return render_template("payments/receipt.html", payment=payment, waiting=waiting,
                           poll_seconds=POLL_SECONDS)


@bp.get("/payments/<int:payment_id>/status")
@login_required
def status(payment_id: int):
    """For the status page's script: the status as recorded from the provider."""
    payment = payments.get_payment(current_platform().db.session, web_user(), payment_id)
    return jsonify({"status": payment.status, "waiting": payment.status in WAITING})


# -- admins ---------------------------------------------------------------------------------


def _admin_filters() -> tuple[payments.PaymentFilters, dict[str, str]]:
    """The filters from the query string; invalid values are dropped (and the form shows the
    kept ones), so a hand-edited URL still lists something sensible."""
    args = request.args
    status = args.get("status", "")
    status = status if status in {s.value for s in PaymentStatus} else ""
    track = args.get("track", "").strip().upper()[:32]
    user_id = known_id(args.get("user_id", type=int)) or None
    since, until = _date(args.get("since", "")), _date(args.get("until", ""))
    shown = {"status": status, "track": track, "user_id": str(user_id or ""),
             "since": since.date().isoformat() if since else "",
             "until": until.date().isoformat() if until else ""}
    filters = payments.PaymentFilters(
        status=status or None, track=track or None, user_id=user_id,
        since=since, until=until.replace(hour=23, minute=59, second=59) if until else None)
    return filters, shown


def _date(text: str) -> datetime | None:
    try:
        return datetime.combine(datetime.strptime(text.strip(), "%Y-%m-%d").date(), time())
    except ValueError:
        return None


@bp.get("/admin/payments")
@requires(Action.MANAGE_PAYMENTS)
def admin_list():
    session = current_platform().db.session
    filters, shown = _admin_filters()
    tracks = list(session.scalars(select(Track.code).order_by(Track.code)))
    return render_template(
        "admin/payments.html", shown=shown, statuses=[s.value for s in PaymentStatus],
        tracks=tracks, audit=payments.audit_entries(session, web_user(), limit=20),
        **paged(payments.payments_query(web_user(), filters)),
    )


@bp.get("/admin/payments/export.csv")
@requires(Action.MANAGE_PAYMENTS)
def admin_export():
    filters, _shown = _admin_filters()
    text = payments.export_csv(current_platform().db.session, web_user(), filters)
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="payments.csv"'})


@bp.post("/admin/payments/<int:payment_id>/refund")
@requires(Action.MANAGE_PAYMENTS)
def admin_refund(payment_id: int):
    lms = current_platform()
    try:
        payment = payments.refund(lms, lms.db.session, web_user(), payment_id)
    except LmsError as exc:
        lms.db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(f"Payment {payment.id} refunded." if payment.status == PaymentStatus.REFUNDED
              else f"Refund of payment {payment.id} requested; it shows once the provider "
                   "confirms.", "success")
    return redirect(url_for("payments_pages.admin_list"))


@bp.post("/admin/enrolments/override")
@requires(Action.MANAGE_PAYMENTS)
def admin_override():
    lms = current_platform()
    grant = request.form.get("action") == "grant"
    try:
        enrolment = payments.set_enrolment(
            lms.db.session, web_user(), known_id(request.form.get("user_id", type=int)),
            request.form.get("track", ""), grant=grant, reason=request.form.get("reason", ""))
    except LmsError as exc:
        lms.db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(f"Enrolment {enrolment.id} is now {enrolment.status}.", "success")
    return redirect(url_for("payments_pages.admin_list"))
