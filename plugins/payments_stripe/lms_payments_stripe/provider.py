"""The ``stripe`` payment provider, on the official SDK.

One ``StripeClient`` per app (never the SDK's global ``stripe.api_key``), so two apps in one
process can use different accounts or API addresses. Every create carries an idempotency
key derived from the payment's own key: a retried checkout returns the same Stripe object.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
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

from .events import HANDLERS, PAYMENT_ID_KEY, REFUND_ENDED, object_id, outcomes_of, payment_id_of
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
        """One refund per payment, whatever the retries; a new one only after the last one
        failed or was canceled (its key counts the ended ones)."""
        if not provider_reference:
            raise PaymentProviderError("The payment has no Stripe reference to refund.")
        try:
            paid_by = provider_reference
            if provider_reference.startswith("cs_"):  # paid before its PaymentIntent was noted
                paid_by = self.client.v1.checkout.sessions.retrieve(
                    provider_reference).payment_intent
                if not paid_by:
                    raise PaymentProviderError("The Checkout Session was never paid.")
            # A charge made without a PaymentIntent (the Charges API) is refunded by itself.
            target = {"charge" if paid_by.startswith("ch_") else "payment_intent": paid_by}
            ended = sum(refund.status in REFUND_ENDED for refund in self.client.v1.refunds.list(
                params={**target, "limit": 100}).auto_paging_iter())
            refund = self.client.v1.refunds.create(
                params={**target, "amount": amount_minor},
                options={"idempotency_key": f"lms-refund-{paid_by}"
                                            + (f"-{ended}" if ended else "")},
            )
        except stripe.StripeError as exc:
            raise PaymentProviderError(
                f"Stripe refused the refund: {exc.user_message or exc}") from exc
        return RefundResult(REFUND_STATUS.get(refund.status, PaymentStatus.CREATED), paid_by,
                            refund_reference=refund.id)

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
        return self.event_from(event.to_dict())

    def event_from(self, data: Mapping[str, Any]) -> ProviderEvent:
        """An event known to be Stripe's (a verified webhook, or listed with our key) as the
        outcomes the core applies."""
        if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
            raise InvalidProviderEvent("The body is not a Stripe event.")
        data = self._with_refunds(data)
        return ProviderEvent(event_id=data["id"], type=data["type"],
                             outcomes=self._identified(outcomes_of(data)))

    def _with_refunds(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        """``charge.refunded`` with every refund of the charge: API versions since 2022-11-15
        leave the list out of the charge (older ones send its first page)."""
        charge = (event.get("data") or {}).get("object") or {}
        listed = charge.get("refunds")
        if event["type"] != "charge.refunded" or not charge.get("id") or (
                isinstance(listed, Mapping) and listed.get("data") is not None
                and not listed.get("has_more")):
            return event
        try:
            refunds = [refund.to_dict() for refund in self.client.v1.refunds.list(
                params={"charge": charge["id"], "limit": 100}).auto_paging_iter()]
        except stripe.StripeError as exc:  # answered 502: Stripe delivers the event again
            raise PaymentProviderError(
                f"Stripe could not list the refunds of {charge['id']}: {exc}") from exc
        return {**event, "data": {**event["data"], "object": {
            **charge, "refunds": {"object": "list", "data": refunds, "has_more": False}}}}

    def _identified(self, outcomes: Iterable[PaymentOutcome]) -> tuple[PaymentOutcome, ...]:
        """Charges, refunds and disputes name only the PaymentIntent or the charge, whose
        metadata has our id: ask Stripe (once per reference: a charge.refunded names one per
        refund), so a refund that arrives before the success still finds its payment."""
        found: dict[str, tuple[int | None, str]] = {}
        identified = []
        for outcome in outcomes:
            reference = outcome.provider_reference
            if outcome.payment_id is None and reference:
                if reference not in found:
                    found[reference] = self._payment_of(reference)
                payment_id, reference = found[reference]
                outcome = dataclasses.replace(outcome, payment_id=payment_id,
                                              provider_reference=reference)
            identified.append(outcome)
        return tuple(identified)

    def _payment_of(self, reference: str) -> tuple[int | None, str]:
        """Our payment id from the metadata, and the reference the core stores: the charge's
        PaymentIntent, or a charge made without one (the Charges API) itself."""
        payment_id = None
        try:
            if reference.startswith("ch_"):  # 2017-era disputes and refunds name the charge
                charge = self.client.v1.charges.retrieve(reference).to_dict()
                payment_id = payment_id_of(charge)
                reference = object_id(charge.get("payment_intent")) or reference
            if payment_id is None and reference.startswith("pi_"):
                payment_id = payment_id_of(
                    self.client.v1.payment_intents.retrieve(reference).to_dict())
        except stripe.StripeError:
            log.warning("could not look up %s for its payment id", reference)
        return payment_id, reference

    # -- catching up -------------------------------------------------------------------------

    def events_since(self, since: datetime) -> Iterator[dict[str, Any]]:
        """Every event of the types we act on created since ``since`` (newest first, as
        Stripe lists them), page after page."""
        try:
            listed = self.client.v1.events.list(params={
                "created": {"gte": int(since.timestamp())}, "types": sorted(HANDLERS),
                "limit": 100,
            })
            for event in listed.auto_paging_iter():
                yield event.to_dict()
        except stripe.StripeError as exc:
            raise PaymentProviderError(f"Stripe could not list its events: {exc}") from exc
