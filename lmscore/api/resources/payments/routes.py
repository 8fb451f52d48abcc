"""Checkout, receipts, refunds and manual enrolment changes. Provider webhooks are registered
by the provider's plugin (e.g. ``/api/v1/payments/webhooks/stripe``)."""

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from .... import current_platform
from ....services import payments
from ...auth import auth_required, current_user
from ...pagination import PageArgs, page_of, paginate
from .schemas import (
    AuditEntrySchema,
    CheckoutResultSchema,
    CheckoutSchema,
    EnrolmentOverrideResultSchema,
    EnrolmentOverrideSchema,
    PaymentListArgs,
    PaymentSchema,
)

blp = Blueprint("payments", __name__, url_prefix="/api/v1", description="Payments and receipts")


@blp.post("/payments/checkout")
@blp.arguments(CheckoutSchema)
@blp.response(201, CheckoutResultSchema)
@auth_required
def checkout(data):
    lms = current_platform()
    started = payments.checkout(lms, lms.db.session, current_user(), data["track"])
    payment = started.payment
    return {
        "payment_id": payment.id if payment else None,
        "status": payment.status if payment else None,
        "checkout_url": started.checkout_url, "client_secret": started.client_secret,
        "enrolment_status": started.enrolment.status,
    }


def _filters(args) -> payments.PaymentFilters:
    return payments.PaymentFilters(**args)


@blp.route("/payments")
class PaymentList(MethodView):
    decorators = [auth_required]

    @blp.arguments(PaymentListArgs, location="query")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, page_of(PaymentSchema))
    def get(self, filters, page, page_size):
        """Learners: their own payments (receipts). Admins: everyone's, filtered."""
        query = payments.payments_query(current_user(), _filters(filters))
        return paginate(current_platform().db.session, query, page, page_size)


@blp.get("/payments/export.csv")
@blp.arguments(PaymentListArgs, location="query")
@blp.response(200, description="CSV, one row per payment (admins)")
@auth_required
def export(filters):
    csv_text = payments.export_csv(current_platform().db.session, current_user(),
                                   _filters(filters))
    return Response(csv_text, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="payments.csv"'})


@blp.get("/payments/<int:payment_id>")
@blp.response(200, PaymentSchema)
@auth_required
def get_payment(payment_id):
    return payments.get_payment(current_platform().db.session, current_user(), payment_id)


@blp.post("/payments/<int:payment_id>/refund")
@blp.response(202, PaymentSchema)
@auth_required
def refund(payment_id):
    """Ask the provider for a full refund; ``status`` turns ``refunded`` once it confirms."""
    lms = current_platform()
    return payments.refund(lms, lms.db.session, current_user(), payment_id)


def _override(data, *, grant: bool):
    return payments.set_enrolment(current_platform().db.session, current_user(),
                                  data["user_id"], data["track"], grant=grant,
                                  reason=data["reason"])


@blp.post("/admin/enrolments/grant")
@blp.arguments(EnrolmentOverrideSchema)
@blp.response(200, EnrolmentOverrideResultSchema)
@auth_required
def grant(data):
    """Give a learner access without payment (audited)."""
    return _override(data, grant=True)


@blp.post("/admin/enrolments/revoke")
@blp.arguments(EnrolmentOverrideSchema)
@blp.response(200, EnrolmentOverrideResultSchema)
@auth_required
def revoke(data):
    """Withdraw a learner's access (audited)."""
    return _override(data, grant=False)


@blp.get("/admin/audit")
@blp.response(200, AuditEntrySchema(many=True))
@auth_required
def audit_log():
    """The latest 100 audited actions (grants, revocations, refunds)."""
    return payments.audit_entries(current_platform().db.session, current_user())
