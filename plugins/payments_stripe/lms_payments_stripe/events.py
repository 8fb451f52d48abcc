"""Stripe events → payment outcomes. Pure functions over the event's JSON, so every shape
Stripe has sent over the API versions (e.g. ``latest_charge`` as an id or, in 2017-era
payloads, as an object) is handled in one place."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from lmscore.capabilities import OutcomeKind, PaymentOutcome

#: The metadata key that carries our payment id on sessions, PaymentIntents and charges.
PAYMENT_ID_KEY = "lms_payment_id"

#: Dispute statuses that end a dispute in the merchant's favour.
DISPUTE_WON = {"won", "warning_closed"}
#: Refund statuses after which the money stays with us (the refund no longer counts).
REFUND_ENDED = {"failed", "canceled"}


def outcomes_of(event: Mapping[str, Any]) -> Iterator[PaymentOutcome]:
    """The outcomes one event reports (none for types we do not act on)."""
    kind = event.get("type", "")
    obj = (event.get("data") or {}).get("object") or {}
    at = datetime.fromtimestamp(int(event.get("created") or 0), UTC) if event.get(
        "created") else None
    handler = HANDLERS.get(kind)
    if handler is not None:
        yield from handler(obj, at)


def payment_id_of(obj: Mapping[str, Any]) -> int | None:
    """Our payment id from the object's metadata (or a session's client_reference_id)."""
    raw = (obj.get("metadata") or {}).get(PAYMENT_ID_KEY) or obj.get("client_reference_id")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def object_id(value: Any) -> str | None:
    """An expandable field: an id string, or the expanded object (older API versions)."""
    if isinstance(value, Mapping):
        return value.get("id")
    return value or None


def failure_message(intent: Mapping[str, Any]) -> str:
    error = intent.get("last_payment_error") or {}
    if error.get("message"):
        return str(error["message"])
    charge = intent.get("latest_charge")
    if isinstance(charge, Mapping) and charge.get("failure_message"):
        return str(charge["failure_message"])
    return "The payment was declined."


def _intent_succeeded(intent, at):
    yield PaymentOutcome(
        OutcomeKind.SUCCEEDED, payment_id=payment_id_of(intent), provider_reference=intent["id"],
        amount_minor=intent.get("amount_received") or intent.get("amount"),
        currency=intent.get("currency"), occurred_at=at,
    )


def _intent_attempt(kind: OutcomeKind):
    def handler(intent, at):
        yield PaymentOutcome(
            kind, payment_id=payment_id_of(intent), provider_reference=intent["id"],
            occurred_at=at,
            message=failure_message(intent) if kind is OutcomeKind.FAILED else "",
        )

    return handler


def _session_completed(session, at):
    # Card payments are paid when the session completes; delayed methods (bank debits)
    # report later through async_payment_succeeded.
    if session.get("payment_status") == "paid":
        yield from _session_paid(session, at)


def _session_paid(session, at):
    yield PaymentOutcome(
        OutcomeKind.SUCCEEDED, payment_id=payment_id_of(session),
        provider_reference=object_id(session.get("payment_intent")),
        amount_minor=session.get("amount_total"), currency=session.get("currency"),
        occurred_at=at,
    )


def _session_ended(kind: OutcomeKind):
    def handler(session, at):
        yield PaymentOutcome(kind, payment_id=payment_id_of(session), occurred_at=at,
                             message="The payment failed." if kind is OutcomeKind.FAILED else "")

    return handler


def charge_reference(obj: Mapping[str, Any]) -> str | None:
    """What a charge, refund or dispute belongs to: its PaymentIntent, or for a charge made
    without one (the Charges API) the charge itself."""
    return object_id(obj.get("payment_intent")) or object_id(
        obj.get("id") if obj.get("object") == "charge" else obj.get("charge"))


def refund_outcome(refund: Mapping[str, Any], at, payment_id: int | None = None,
                   reference: str | None = None) -> PaymentOutcome:
    """One refund, by its id: pending or done counts, failed or canceled is final."""
    ended = refund.get("status") in REFUND_ENDED
    message = ""
    if refund.get("status") == "canceled":
        message = "The refund was canceled."
    elif ended:
        reason = str(refund.get("failure_reason") or "unknown").replace("_", " ")
        message = f"The refund failed ({reason})."
    return PaymentOutcome(
        OutcomeKind.REFUND_FAILED if ended else OutcomeKind.REFUNDED,
        payment_id=payment_id if payment_id is not None else payment_id_of(refund),
        provider_reference=reference or charge_reference(refund),
        amount_minor=int(refund.get("amount") or 0), occurred_at=at, message=message,
        refund_reference=refund["id"],
    )


def _charge_refunded(charge, at):
    # Each of the charge's refunds by its id (the provider lists them when the event leaves
    # them out), so one that fails later is told apart from the others.
    for refund in (charge.get("refunds") or {}).get("data") or ():
        yield refund_outcome(refund, at, payment_id_of(charge), charge_reference(charge))


def _refund_changed(refund, at):
    yield refund_outcome(refund, at)


def _dispute(closed: bool):
    def handler(dispute, at):
        if not closed:
            kind = OutcomeKind.DISPUTE_OPENED
        elif dispute.get("status") == "lost":
            kind = OutcomeKind.DISPUTE_LOST
        elif dispute.get("status") in DISPUTE_WON:
            kind = OutcomeKind.DISPUTE_WON
        else:
            return
        # Disputes name the charge, and its PaymentIntent only in newer API versions.
        yield PaymentOutcome(kind, payment_id=payment_id_of(dispute),
                             provider_reference=charge_reference(dispute), occurred_at=at)

    return handler


HANDLERS = {
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_attempt(OutcomeKind.FAILED),
    "payment_intent.requires_action": _intent_attempt(OutcomeKind.REQUIRES_ACTION),
    "payment_intent.canceled": _intent_attempt(OutcomeKind.CANCELED),
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _session_paid,
    "checkout.session.async_payment_failed": _session_ended(OutcomeKind.FAILED),
    "checkout.session.expired": _session_ended(OutcomeKind.CANCELED),
    "charge.refunded": _charge_refunded,
    "charge.refund.updated": _refund_changed,
    "refund.updated": _refund_changed,
    "refund.failed": _refund_changed,
    "charge.dispute.created": _dispute(closed=False),
    "charge.dispute.closed": _dispute(closed=True),
}
