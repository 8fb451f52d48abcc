"""The embedded Payment Element page (``mode = "payment_intent"``). Only this page lets the
browser load Stripe.js: its Content-Security-Policy adds Stripe's origins, every other page
keeps the core's. The learner returns to the core's status page, which waits for the
webhook; nothing here grants access."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, render_template, url_for

from lmscore import current_platform
from lmscore.capabilities import PaymentStatus
from lmscore.services import payments
from lmscore.web.security import CSP
from lmscore.web.session_auth import login_required, web_user

from .provider import PAYMENT_INTENT_MODE, StripeProvider

PAYABLE = {PaymentStatus.CREATED.value, PaymentStatus.REQUIRES_ACTION.value,
           PaymentStatus.FAILED.value}


def page_csp(js_url: str, api_base: str) -> str:
    """The core policy plus Stripe.js (script, its iframes) and its API calls."""
    js = "{0.scheme}://{0.netloc}".format(urlsplit(js_url))
    api = "{0.scheme}://{0.netloc}".format(urlsplit(api_base))
    return (CSP.replace("script-src 'self'", f"script-src 'self' {js}")
            .replace("connect-src 'self'", f"connect-src 'self' {api}")
            + f"; frame-src {js}")


def make_blueprint() -> Blueprint:
    bp = Blueprint("lms_payments_stripe", __name__)

    @bp.get("/payments/stripe/<int:payment_id>/pay")
    @login_required
    def pay(payment_id: int):
        lms = current_platform()
        provider = lms.payment_providers.get(StripeProvider.name)
        if provider.mode != PAYMENT_INTENT_MODE:
            abort(404)
        payment = payments.get_payment(lms.db.session, web_user(), payment_id)
        if payment.user_id != web_user().id or payment.provider != provider.name:
            abort(404)
        status_url = url_for("payments_pages.receipt", payment_id=payment.id)
        if payment.status not in PAYABLE or not payment.provider_reference:
            return render_template("lms_payments_stripe/pay.html", payment=payment,
                                   client_secret=None, status_url=status_url)
        settings = provider.settings
        html = render_template(
            "lms_payments_stripe/pay.html", payment=payment, status_url=status_url,
            client_secret=provider.client_secret(payment.provider_reference),
            publishable_key=settings["publishable_key"], js_url=settings["js_url"],
            return_url=lms.settings.base_url.rstrip("/") + status_url,
        )
        return html, 200, {"Content-Security-Policy": page_csp(settings["js_url"],
                                                               settings["api_base"]),
                           "Cache-Control": "no-store"}

    return bp
