"""Payments: checkout, the provider's outcomes, refunds, receipts and manual enrolment changes.

A payment's status is derived from the facts its provider reported (models/payments.py), by
precedence, never by the order they arrived in:

    refunded (in full) > charged_back (dispute lost) > succeeded
        > the latest attempt (requires_action | failed | canceled, by the provider's clock)
        > created

So a ``payment_intent.succeeded`` delivered after ``charge.refunded`` finds the refund and
changes nothing, and a decline from before a successful retry cannot undo the success. A
charged-back payment never grants access again; a refunded one only if its refund fails.

Refunds the provider names are kept one by one: a failed (or canceled) refund is failed for
good, whatever report of it arrives later, and no longer counts towards the total refunded.

Access: a learner's enrolment turns active when one of their payments for the track becomes
succeeded, and is revoked when the last such payment stops being so (full refund, dispute
lost). A refund that fails gives back what it revoked, with an audit entry for the admins.
Admins can grant or revoke by hand; each such change is written to the audit log.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..capabilities import (
    CheckoutRequest,
    OutcomeKind,
    PaymentOutcome,
    PaymentProvider,
    PaymentStatus,
    ProviderEvent,
)
from ..db import utcnow
from ..errors import Conflict, NotFound, PermissionDenied
from ..events import PaymentRefunded, PaymentSucceeded
from ..models import AuditEntry, Enrolment, EnrolmentStatus, Payment, ProcessedProviderEvent, User
from . import events, learning
from .audit import audit, required_reason
from .permissions import Action, can, require

if TYPE_CHECKING:
    from ..models import Track
    from ..platform import Platform

log = logging.getLogger(__name__)

#: A learner's unfinished checkout is offered again (double click, back button) instead of a
#: new one: still payable, and within the provider's idempotency window (Stripe: 24 h).
OPEN_STATUSES = (PaymentStatus.CREATED, PaymentStatus.REQUIRES_ACTION, PaymentStatus.FAILED)
REUSE_WINDOW = timedelta(hours=23)
ATTEMPTS = {OutcomeKind.REQUIRES_ACTION, OutcomeKind.FAILED, OutcomeKind.CANCELED}
REASON_MAX = 500


@dataclass(frozen=True)
class Checkout:
    """Where the learner goes next. ``payment`` is None when no money is involved (free
    track, a non-charging provider, or already enrolled)."""

    enrolment: Enrolment
    payment: Payment | None = None
    checkout_url: str | None = None
    client_secret: str | None = None


# -- checkout ---------------------------------------------------------------------------------


def needs_payment(lms: Platform, track: Track) -> bool:
    """Whether enrolling in ``track`` goes through a checkout: it has a price and its payment
    provider takes payments (``free`` does not)."""
    return track.is_paid and lms.payment_provider_for(track.code).takes_payment


def checkout(lms: Platform, session: Session, user: User, track_code: str) -> Checkout:
    """Start (or resume) paying for a track. Commits.

    One open payment per learner and track: a second click finds the first payment and asks
    the provider again with the same idempotency key, so it is charged at most once."""
    track = learning.get_track(session, track_code)
    enrolment = _locked_enrolment(session, user, track)
    if enrolment.status in learning.OPEN_ENROLMENT:
        session.commit()
        return Checkout(enrolment)
    if enrolment.status == EnrolmentStatus.REVOKED and not may_buy_again(session, enrolment):
        raise PermissionDenied(f"Your enrolment in {track.name} was revoked; ask an "
                               "administrator to restore it.")
    if not needs_payment(lms, track):
        learning.set_enrolment_status(session, enrolment, EnrolmentStatus.ACTIVE)
        session.commit()
        return Checkout(enrolment)
    provider = lms.payment_provider_for(track.code)

    learning.set_enrolment_status(session, enrolment, EnrolmentStatus.PENDING_PAYMENT)
    payment = _open_payment(session, user, track, provider) or _new_payment(
        session, user, track, provider)
    session.commit()  # the payment exists before the provider hears of it: retries find it

    base = lms.settings.base_url.rstrip("/")
    result = provider.start_checkout(CheckoutRequest(
        payment_id=payment.id, user_id=user.id, user_email=user.email, track_code=track.code,
        amount_minor=payment.amount_minor, currency=payment.currency,
        idempotency_key=payment.idempotency_key or "",
        success_url=f"{base}/payments/{payment.id}", cancel_url=f"{base}/tracks/{track.code}",
    ))
    payment = _locked_payment(session, payment.id)
    payment.provider_reference = result.provider_reference or payment.provider_reference
    payment.checkout_url = result.checkout_url
    if result.status is PaymentStatus.SUCCEEDED:
        _apply(session, payment, PaymentOutcome(OutcomeKind.SUCCEEDED, payment_id=payment.id))
    elif result.status in (PaymentStatus.REQUIRES_ACTION, PaymentStatus.FAILED):
        _apply(session, payment, PaymentOutcome(OutcomeKind(result.status.value),
                                                payment_id=payment.id))
    session.commit()
    return Checkout(enrolment, payment, result.checkout_url, result.client_secret)


def _locked_enrolment(session: Session, user: User, track: Track) -> Enrolment:
    """The learner's enrolment row, created if missing, locked (PostgreSQL) until commit: two
    checkouts of one learner for one track run one after the other."""
    query = select(Enrolment).where(Enrolment.user_id == user.id,
                                    Enrolment.track_id == track.id).with_for_update()
    enrolment = session.scalar(query)
    if enrolment is not None:
        return enrolment
    try:
        with session.begin_nested():
            session.add(Enrolment(user_id=user.id, track_id=track.id, status=""))
    except IntegrityError:  # a concurrent request created it first
        pass
    return session.scalars(query.execution_options(populate_existing=True)).one()


def _open_payment(session: Session, user: User, track: Track,
                  provider: PaymentProvider) -> Payment | None:
    return session.scalar(
        select(Payment).where(
            Payment.user_id == user.id, Payment.track_id == track.id,
            Payment.provider == provider.name, Payment.amount_minor == track.price_minor,
            Payment.currency == track.currency, Payment.status.in_(OPEN_STATUSES),
            Payment.created_at > utcnow() - REUSE_WINDOW,
        ).order_by(Payment.id.desc()).limit(1)
    )


def _new_payment(session: Session, user: User, track: Track,
                 provider: PaymentProvider) -> Payment:
    payment = Payment(
        user_id=user.id, track_id=track.id, provider=provider.name,
        amount_minor=track.price_minor, currency=track.currency,
        status=PaymentStatus.CREATED.value, idempotency_key=f"lms-{uuid.uuid4().hex}",
        details={},
    )
    session.add(payment)
    session.flush()
    return payment


def _locked_payment(session: Session, payment_id: int) -> Payment:
    return session.scalars(
        select(Payment).where(Payment.id == payment_id).with_for_update()
        .execution_options(populate_existing=True)
    ).one()


# -- provider outcomes ------------------------------------------------------------------------


def handle_event(session: Session, provider: str, event: ProviderEvent) -> bool:
    """Apply a verified provider event exactly once. Commits.

    The event id is recorded in the same transaction as its effects: a re-delivery (even a
    concurrent one, which waits on the unique key) finds it and changes nothing. Returns
    False for such a replay."""
    try:
        with session.begin_nested():
            session.add(ProcessedProviderEvent(provider=provider, event_id=event.event_id))
    except IntegrityError:
        session.rollback()
        return False
    for outcome in event.outcomes:
        payment = _payment_for(session, provider, outcome)
        if payment is None:
            log.warning("%s event %s (%s) names no payment of ours", provider, event.event_id,
                        event.type)
            continue
        _apply(session, payment, outcome)
    session.commit()
    return True


def event_handled(session: Session, provider: str, event_id: str) -> bool:
    """Whether ``handle_event`` applied this event before (a catch-up skips it unread)."""
    return session.scalar(select(ProcessedProviderEvent.id).where(
        ProcessedProviderEvent.provider == provider,
        ProcessedProviderEvent.event_id == event_id)) is not None


def record_outcome(session: Session, payment: Payment, outcome: PaymentOutcome) -> Payment:
    """Apply one outcome the caller learned directly from the provider (not via an event).
    Does not commit."""
    payment = _locked_payment(session, payment.id)
    _apply(session, payment, outcome)
    return payment


def _payment_for(session: Session, provider: str, outcome: PaymentOutcome) -> Payment | None:
    if outcome.payment_id is not None:
        query = select(Payment).where(Payment.id == outcome.payment_id)
    elif outcome.provider_reference:
        query = select(Payment).where(Payment.provider_reference == outcome.provider_reference)
    else:
        return None
    payment = session.scalar(query.where(Payment.provider == provider).with_for_update()
                             .execution_options(populate_existing=True))
    return payment


def _apply(session: Session, payment: Payment, outcome: PaymentOutcome) -> None:
    """Merge one fact into the payment, re-derive its status, and follow with the
    enrolment and the domain events when that changed whether it grants access."""
    before = payment.status
    refund_failed = (outcome.kind is OutcomeKind.REFUND_FAILED
                     and outcome.refund_reference is not None
                     and _refund_status(payment, outcome.refund_reference) != "failed")
    _merge(payment, outcome)
    payment.status = derive_status(payment).value
    if payment.status != before:
        track = payment.track
        if payment.status == PaymentStatus.SUCCEEDED and (
                payment.revoked_enrolment_status is not None):
            _give_access_back(session, payment)
        elif payment.status == PaymentStatus.SUCCEEDED:
            _grant_for_payment(session, payment)
            events.emit(session, PaymentSucceeded(
                payment_id=payment.id, user_id=payment.user_id, track_code=track.code,
                amount_minor=payment.amount_minor, currency=payment.currency,
            ))
        elif before == PaymentStatus.SUCCEEDED:
            _withdraw_for_payment(session, payment)
        if payment.status == PaymentStatus.REFUNDED:
            events.emit(session, PaymentRefunded(
                payment_id=payment.id, user_id=payment.user_id, track_code=track.code,
                amount_minor=payment.refunded_minor, currency=payment.currency,
            ))
    if refund_failed:
        enrolment = _enrolment_of(session, payment)
        audit(session, None, "payment.refund_failed", f"payment:{payment.id}", {
            "refund": outcome.refund_reference, "amount_minor": outcome.amount_minor,
            "currency": payment.currency, "reason": outcome.message or "The refund failed.",
            "status": payment.status, "enrolment_status": enrolment and enrolment.status,
        })


def _merge(payment: Payment, outcome: PaymentOutcome) -> None:
    at = outcome.occurred_at or utcnow()
    kind = outcome.kind
    if outcome.payment_id is not None and outcome.provider_reference:
        payment.provider_reference = outcome.provider_reference
    if kind is OutcomeKind.SUCCEEDED:
        paid = (outcome.amount_minor if outcome.amount_minor is not None
                else payment.amount_minor, (outcome.currency or payment.currency).upper())
        if paid != (payment.amount_minor, payment.currency.upper()):
            # Never grant a track for less than its price, whatever the provider says.
            log.error("payment %s: provider reports %s %s paid, expected %s %s", payment.id,
                      *paid, payment.amount_minor, payment.currency)
            payment.failure_message = "The amount paid does not match the price."
            return
        payment.succeeded_at = payment.succeeded_at or at
    elif kind in ATTEMPTS:
        if payment.attempt_at is None or at >= payment.attempt_at:
            payment.attempt_status = kind.value
            payment.attempt_at = at
            if kind is OutcomeKind.FAILED:
                payment.failure_message = (outcome.message or "The payment failed.")[:REASON_MAX]
    elif kind in (OutcomeKind.REFUNDED, OutcomeKind.REFUND_FAILED) and outcome.refund_reference:
        _merge_named_refund(payment, outcome, at)
    elif kind is OutcomeKind.REFUNDED:
        amount = payment.amount_minor if outcome.amount_minor is None else outcome.amount_minor
        if amount > payment.refunded_minor:
            payment.refunded_minor = amount
            if amount >= payment.amount_minor:
                payment.refunded_at = at
    elif kind is OutcomeKind.REFUND_FAILED:
        log.warning("payment %s: a refund failed, but the provider did not say which one",
                    payment.id)
    elif kind is OutcomeKind.DISPUTE_OPENED:
        payment.dispute_status = payment.dispute_status or "open"
    elif kind in (OutcomeKind.DISPUTE_WON, OutcomeKind.DISPUTE_LOST):
        if payment.dispute_status not in ("won", "lost"):  # a closed dispute stays closed
            payment.dispute_status = "won" if kind is OutcomeKind.DISPUTE_WON else "lost"


def _refund_status(payment: Payment, reference: str) -> str | None:
    return (payment.refunds or {}).get(reference, {}).get("status")


def _merge_named_refund(payment: Payment, outcome: PaymentOutcome, at: datetime) -> None:
    """One refund the provider named. Failed is final: a report of it pending or done that
    arrives later (a re-sent or older event) changes nothing."""
    reference = outcome.refund_reference
    known = (payment.refunds or {}).get(reference)
    failed = outcome.kind is OutcomeKind.REFUND_FAILED
    if known is not None and (known["status"] == "failed" or not failed):
        return
    amount = outcome.amount_minor if outcome.amount_minor is not None else (
        known["amount_minor"] if known else payment.amount_minor)
    payment.refunds = {**(payment.refunds or {}), reference: {
        "amount_minor": amount, "status": "failed" if failed else "refunded",
        "at": at.isoformat(), "message": outcome.message[:REASON_MAX],
    }}
    payment.refunded_minor = sum(refund["amount_minor"] for refund in payment.refunds.values()
                                 if refund["status"] == "refunded")
    if payment.refunded_minor < payment.amount_minor:
        payment.refunded_at = None
    elif payment.refunded_at is None:
        payment.refunded_at = at
    # The admin's request ended in this failure (not an older one: providers' clocks may
    # count whole seconds), so the payment no longer shows a refund on its way.
    requested = payment.refund_requested_at
    if failed and requested is not None and at >= requested.replace(microsecond=0):
        payment.refund_requested_at = None


def derive_status(payment: Payment) -> PaymentStatus:
    if payment.refunded_minor >= payment.amount_minor and payment.refunded_minor > 0:
        return PaymentStatus.REFUNDED
    if payment.dispute_status == "lost":
        return PaymentStatus.CHARGED_BACK
    if payment.succeeded_at is not None:
        return PaymentStatus.SUCCEEDED
    if payment.attempt_status:
        return PaymentStatus(payment.attempt_status)
    return PaymentStatus.CREATED


def _grant_for_payment(session: Session, payment: Payment) -> None:
    """A learner waiting for this payment gets access. An enrolment an admin revoked stays
    revoked: the payment shows as succeeded for the admin to refund or grant."""
    enrolment = _enrolment_of(session, payment)
    if enrolment is None:
        enrolment = Enrolment(user_id=payment.user_id, track_id=payment.track_id, status="")
        session.add(enrolment)
    if enrolment.status in ("", EnrolmentStatus.PENDING_PAYMENT.value):
        learning.set_enrolment_status(session, enrolment, EnrolmentStatus.ACTIVE)


def _withdraw_for_payment(session: Session, payment: Payment) -> None:
    """Access ends with the last payment that granted it (refund, chargeback)."""
    still_paid = session.scalar(select(Payment.id).where(
        Payment.user_id == payment.user_id, Payment.track_id == payment.track_id,
        Payment.id != payment.id, Payment.status == PaymentStatus.SUCCEEDED.value,
    ).limit(1))
    enrolment = _enrolment_of(session, payment)
    payment.revoked_enrolment_status = ""
    if still_paid is None and enrolment is not None and (
            enrolment.status in learning.OPEN_ENROLMENT):
        payment.revoked_enrolment_status = enrolment.status
        learning.set_enrolment_status(session, enrolment, EnrolmentStatus.REVOKED)


def may_buy_again(session: Session, enrolment: Enrolment) -> bool:
    """Whether a refund ended this enrolment's access and nothing since: a learner who was
    refunded may buy the track again. A chargeback or an admin's revocation (which clears the
    payments' ``revoked_enrolment_status``) stands until an admin lifts it."""
    if enrolment.status != EnrolmentStatus.REVOKED:
        return False
    return session.scalar(select(Payment.id).where(
        Payment.user_id == enrolment.user_id, Payment.track_id == enrolment.track_id,
        Payment.status == PaymentStatus.REFUNDED.value,
        Payment.revoked_enrolment_status.is_not(None), Payment.revoked_enrolment_status != "",
    ).limit(1)) is not None


def _enrolment_of(session: Session, payment: Payment) -> Enrolment | None:
    """The enrolment a payment pays for (one query; the learner's row is not needed)."""
    return session.scalar(select(Enrolment).where(Enrolment.user_id == payment.user_id,
                                                  Enrolment.track_id == payment.track_id))


def _give_access_back(session: Session, payment: Payment) -> None:
    """The refund of a payment that had succeeded failed: the enrolment status that refund
    revoked comes back. No second "payment succeeded": the learner was told when they paid."""
    revoked_from = payment.revoked_enrolment_status
    payment.revoked_enrolment_status = None
    enrolment = _enrolment_of(session, payment)
    if revoked_from and enrolment is not None and enrolment.status == EnrolmentStatus.REVOKED:
        learning.set_enrolment_status(session, enrolment, EnrolmentStatus(revoked_from))
    elif enrolment is not None and enrolment.status == EnrolmentStatus.PENDING_PAYMENT:
        # Refunded, the learner started buying again meanwhile: this payment pays after all.
        learning.set_enrolment_status(session, enrolment, EnrolmentStatus.ACTIVE)


# -- refunds ----------------------------------------------------------------------------------


def refund(lms: Platform, session: Session, actor: User, payment_id: int) -> Payment:
    """An admin asks the provider for a full refund. The payment shows as refunded (and
    access ends) when the provider confirms: at once if it answers so, else by its event.
    Asking again is safe: providers refund a payment once (again only after that refund
    failed, when the payment is succeeded once more). Commits."""
    require(actor, Action.MANAGE_PAYMENTS)
    payment = get_payment(session, actor, payment_id)
    if payment.status != PaymentStatus.SUCCEEDED:
        raise Conflict(f"Only a succeeded payment can be refunded; payment {payment.id} is "
                       f"{payment.status}.", details={"status": payment.status})
    if payment.provider not in lms.payment_providers:
        raise Conflict(f"The payment provider {payment.provider!r} is not enabled any more.")
    provider = lms.payment_providers.get(payment.provider)
    payment.refund_requested_at = utcnow()
    audit(session, actor, "payment.refund", f"payment:{payment.id}",
          {"amount_minor": payment.amount_minor, "currency": payment.currency})
    session.commit()  # the request is on record before the provider acts on it
    result = provider.refund(payment.provider_reference, payment.amount_minor)
    if result.status is PaymentStatus.REFUNDED:
        payment = record_outcome(session, payment, PaymentOutcome(
            OutcomeKind.REFUNDED, payment_id=payment.id, amount_minor=payment.amount_minor,
            refund_reference=result.refund_reference))
        session.commit()
    return payment


# -- manual enrolment changes -----------------------------------------------------------------


def set_enrolment(session: Session, actor: User, user_id: int, track_code: str, *,
                  grant: bool, reason: str) -> Enrolment:
    """An admin grants access without payment, or revokes it; the reason goes to the audit
    log with the previous status. Commits."""
    require(actor, Action.MANAGE_PAYMENTS)
    reason = required_reason(reason)
    learner = session.get(User, user_id)
    if learner is None:
        raise NotFound(f"No user with id {user_id}.")
    track = learning.get_track(session, track_code)
    enrolment = _locked_enrolment(session, learner, track)
    previous = enrolment.status or None
    status = EnrolmentStatus.ACTIVE if grant else EnrolmentStatus.REVOKED
    if grant and enrolment.status == EnrolmentStatus.COMPLETED:
        status = EnrolmentStatus.COMPLETED
    learning.set_enrolment_status(session, enrolment, status)
    # The admin's decision stands: a refund that fails later gives back nothing.
    session.execute(update(Payment).where(
        Payment.user_id == learner.id, Payment.track_id == track.id,
        Payment.revoked_enrolment_status.is_not(None),
    ).values(revoked_enrolment_status=""))
    audit(session, actor, "enrolment.grant" if grant else "enrolment.revoke",
          f"enrolment:{enrolment.id}",
          {"user_id": learner.id, "track": track.code, "reason": reason,
           "previous_status": previous, "status": enrolment.status})
    session.commit()
    return enrolment


def audit_entries(session: Session, actor: User, target_prefix: str | None = None,
                  limit: int = 100) -> list[AuditEntry]:
    require(actor, Action.MANAGE_PAYMENTS)
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if target_prefix:
        query = query.where(AuditEntry.target.startswith(target_prefix))
    return list(session.scalars(query))


# -- receipts and the admin list ------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFilters:
    status: str | None = None
    track: str | None = None
    user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def payments_query(actor: User, filters: PaymentFilters = PaymentFilters()) -> Select:
    """Newest first. Learners see their own payments only (any user filter is theirs);
    admins see everyone's."""
    query = select(Payment).options(selectinload(Payment.track), selectinload(Payment.user))
    if can(actor, Action.MANAGE_PAYMENTS):
        if filters.user_id is not None:
            query = query.where(Payment.user_id == filters.user_id)
    else:
        query = query.where(Payment.user_id == actor.id)
    if filters.status:
        query = query.where(Payment.status == filters.status)
    if filters.track:
        from ..models import Track

        query = query.join(Track, Track.id == Payment.track_id).where(
            Track.code == filters.track.upper())
    if filters.since is not None:
        query = query.where(Payment.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(Payment.created_at < filters.until)
    return query.order_by(Payment.id.desc())


def get_payment(session: Session, actor: User, payment_id: int) -> Payment:
    """The payment, for its learner or an admin (others are told it does not exist)."""
    payment = session.get(Payment, payment_id)
    if payment is None or (payment.user_id != actor.id
                           and not can(actor, Action.MANAGE_PAYMENTS)):
        raise NotFound(f"No payment with id {payment_id}.")
    return payment


CSV_COLUMNS = ("id", "created_at", "user_id", "user_email", "user_name", "track", "provider",
               "provider_reference", "amount", "currency", "status", "refunded", "dispute")


def export_csv(session: Session, actor: User, filters: PaymentFilters) -> str:
    require(actor, Action.MANAGE_PAYMENTS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for payment in session.scalars(payments_query(actor, filters)):
        writer.writerow(_csv_safe([
            payment.id, payment.created_at.isoformat(), payment.user_id, payment.user.email,
            payment.user.name, payment.track.code, payment.provider,
            payment.provider_reference or "", format_amount(payment.amount_minor),
            payment.currency, payment.status, format_amount(payment.refunded_minor),
            payment.dispute_status or "",
        ]))
    return out.getvalue()


def _csv_safe(values: Iterable[Any]) -> list[Any]:
    """Spreadsheets run cells that start with = + - @ as formulas: names are user input."""
    return [f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v
            for v in values]


def format_amount(amount_minor: int) -> str:
    return f"{amount_minor / 100:.2f}"
