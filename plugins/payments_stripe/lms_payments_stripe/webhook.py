"""``POST /api/v1/payments/webhooks/stripe``: Stripe's notifications, verified on the raw body
and applied once each (the core records the event id with its effects)."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from lmscore import current_platform
from lmscore.services import payments

from .provider import StripeProvider


class AcknowledgementSchema(Schema):
    received = fields.Boolean()
    #: True when this event was handled before (a re-delivery): nothing changed.
    duplicate = fields.Boolean()


def make_blueprint() -> Blueprint:
    """A fresh blueprint per app: several apps may live in one process (tests, workers)."""
    blp = Blueprint("payments_stripe", __name__, url_prefix="/api/v1/payments/webhooks",
                    description="Stripe webhooks (signed by Stripe, no bearer token)")

    @blp.post("/stripe")
    @blp.doc(security=[])
    @blp.response(200, AcknowledgementSchema)
    @blp.alt_response(400, description="Bad or stale Stripe-Signature, or not an event")
    def stripe_webhook():
        lms = current_platform()
        provider = lms.payment_providers.get(StripeProvider.name)
        event = provider.parse_event(request.get_data(), request.headers)
        applied = payments.handle_event(lms.db.session, provider.name, event)
        return {"received": True, "duplicate": not applied}

    return blp
