"""The ``stripe`` payment provider, on the official SDK.

One ``StripeClient`` per app (never the SDK's global ``stripe.api_key``), so two apps in one
process can use different accounts or API addresses. Every create carries an idempotency
key derived from the payment's own key: a retried checkout returns the same Stripe object.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lmscore.capabilities import (
    CheckoutRequest,
    CheckoutResult,
    InvalidProviderEvent,
    PaymentOutcome,
    PaymentProvider,
    PaymentProviderError,
    PaymentStatus,
    ProviderEvent,
    RefundResult,
)

from .events import PAYMENT_ID_KEY, outcomes_of, payment_id_of
from .models import StripeCustomer

if TYPE_CHECKING:
    from lmscore.platform import Platform

log = logging.getLogger(__name__)

CHECKOUT_MODE = "checkout"
PAYMENT_INTENT_MODE = "payment_intent"
#: Where the embedded Payment Element page lives (served by this plugin's web blueprint).
EMBEDDED_PAGE = "/payments/stripe/{payment_id}/pay"
REFUND_STATUS = {
    "succeeded": PaymentStatus.REFUNDED,
    "pending": PaymentStatus.CREATED,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
}


class StripeProvider(PaymentProvider):
    name = "stripe"
    label = "Stripe"

    def __init__(self, lms: Platform, settings: Mapping[str, Any]):
        self.lms = lms
        self.settings = settings
        self.client = stripe.StripeClient(
            settings["secret_key"], base_addresses={"api": settings["api_base"]},
            max_network_retries=settings["max_network_retries"],
        )
        self.livemode = settings["secret_key"].startswith(("sk_live_", "rk_live_"))

    @property
    def mode(self) -> str:
        return self.settings["mode"]

    # -- checkout ------------------------------------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        currency = (request.currency or self.settings["currency"]).lower()
        metadata = {PAYMENT_ID_KEY: str(request.payment_id), "lms_track": request.track_code,
                    "lms_user_id": str(request.user_id)}
        options = {"idempotency_key": request.idempotency_key}
        try:
            customer = self._customer_for(request)
            if self.mode == CHECKOUT_MODE:
                session = self.client.v1.checkout.sessions.create(params={
                    "mode": "payment", "customer": customer,
                    "client_reference_id": str(request.payment_id),
                    "line_items": [{"quantity": 1, "price_data": {
                        "currency": currency, "unit_amount": request.amount_minor,
                        "product_data": {"name": f"Track {request.track_code}"},
                    }}],
                    "metadata": metadata, "payment_intent_data": {"metadata": metadata},
                    "success_url": self._url("success_url", request, request.success_url),
                    "cancel_url": self._url("cancel_url", request, request.cancel_url),
                }, options=options)
                return CheckoutResult(PaymentStatus.CREATED, provider_reference=session.id,
                                      checkout_url=session.url)
            intent = self.client.v1.payment_intents.create(params={
                "amount": request.amount_minor, "currency": currency, "customer": customer,
                "metadata": metadata, "payment_method_types": ["card"],
            }, options=options)
        except stripe.StripeError as exc:
            raise PaymentProviderError(
                f"Stripe refused the checkout: {exc.user_message or exc}") from exc
        base = self.lms.settings.base_url.rstrip("/")
        return CheckoutResult(
            PaymentStatus.REQUIRES_ACTION if intent.status == "requires_action"
            else PaymentStatus.CREATED,
            provider_reference=intent.id, client_secret=intent.client_secret,
            checkout_url=base + EMBEDDED_PAGE.format(payment_id=request.payment_id),
        )

    def _url(self, key: str, request: CheckoutRequest, default: str) -> str:
        """A configured return URL (``{payment_id}`` and ``{track}`` filled in), else ours."""
        template = self.settings[key]
        if not template:
            return default
        return template.replace("{payment_id}", str(request.payment_id)).replace(
            "{track}", request.track_code)

    def _customer_for(self, request: CheckoutRequest) -> str:
        """The learner's Customer, created once and reused (saved cards, one history)."""
        session = self.lms.db.session
        query = select(StripeCustomer.customer_id).where(
            StripeCustomer.user_id == request.user_id, StripeCustomer.livemode == self.livemode)
        found = session.scalar(query)
        if found:
            session.commit()
            return found
        customer = self.client.v1.customers.create(
            params={"email": request.user_email,
                    "metadata": {"lms_user_id": str(request.user_id)}},
            options={"idempotency_key": f"{request.idempotency_key}-customer"},
        )
        try:
            with session.begin_nested():
                session.add(StripeCustomer(user_id=request.user_id, livemode=self.livemode,
                                           customer_id=customer.id))
            session.commit()
        except IntegrityError:  # a concurrent checkout of the same learner saved theirs first
            session.rollback()
            return session.scalars(query).one()
        return customer.id

    def client_secret(self, provider_reference: str) -> str:
        """The PaymentIntent's secret for the embedded Payment Element page."""
        try:
            return self.client.v1.payment_intents.retrieve(provider_reference).client_secret
        except stripe.StripeError as exc:
            raise PaymentProviderError(f"Stripe could not find the payment: {exc}") from exc

    # -- refunds -------------------------------------------------------------------------------

    def refund(self, provider_reference: str | None, amount_minor: int) -> RefundResult:
        if not provider_reference:
            raise PaymentProviderError("The payment has no Stripe reference to refund.")
        try:
            intent = provider_reference
            if provider_reference.startswith("cs_"):  # paid before its PaymentIntent was noted
                intent = self.client.v1.checkout.sessions.retrieve(
                    provider_reference).payment_intent
            refund = self.client.v1.refunds.create(
                params={"payment_intent": intent, "amount": amount_minor},
                options={"idempotency_key": f"lms-refund-{intent}"},
            )
        except stripe.StripeError as exc:
            raise PaymentProviderError(
                f"Stripe refused the refund: {exc.user_message or exc}") from exc
        return RefundResult(REFUND_STATUS.get(refund.status, PaymentStatus.CREATED), intent)

    # -- webhooks ------------------------------------------------------------------------------

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify ``Stripe-Signature`` on the raw body (HMAC and timestamp tolerance)."""
        try:
            event = self.client.construct_event(
                payload, headers.get("Stripe-Signature"), self.settings["webhook_secret"],
                tolerance=self.settings["webhook_tolerance_s"],
            )
        except stripe.SignatureVerificationError:
            raise InvalidProviderEvent(
                "The Stripe-Signature header does not match this body, or is too old.") from None
        except ValueError:
            raise InvalidProviderEvent("The body is not a Stripe event.") from None
        data = event.to_dict()
        if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
            raise InvalidProviderEvent("The body is not a Stripe event.")
        return ProviderEvent(event_id=data["id"], type=data["type"],
                             outcomes=tuple(self._identified(o) for o in outcomes_of(data)))

    def _identified(self, outcome: PaymentOutcome) -> PaymentOutcome:
        """Charges and disputes name only the PaymentIntent, whose metadata has our id: ask
        Stripe, so a refund that arrives before the success still finds its payment."""
        if outcome.payment_id is not None or not outcome.provider_reference:
            return outcome
        try:
            intent = self.client.v1.payment_intents.retrieve(outcome.provider_reference)
        except stripe.StripeError:
            log.warning("could not look up %s for its payment id", outcome.provider_reference)
            return outcome
        return dataclasses.replace(outcome, payment_id=payment_id_of(intent.to_dict()))
