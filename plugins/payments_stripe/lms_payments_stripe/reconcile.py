"""Catching up with Stripe: events whose webhook never arrived (the endpoint was down, or
Stripe gave up retrying) are listed from its API and applied exactly like a delivery. An
event the webhook or an earlier run applied is skipped by its id, so runs may overlap and
several workers may run the job at once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lmscore.db import utcnow
from lmscore.services import payments

from .models import StripeEventCursor
from .provider import StripeProvider

if TYPE_CHECKING:
    from lmscore.platform import Platform

log = logging.getLogger(__name__)

RECONCILE_JOB = "payments_stripe.reconcile"
#: Each run lists again from this long before the previous one started: Stripe may list an
#: event a little after its creation time, and its clock is not ours.
OVERLAP = timedelta(minutes=10)


def reconcile(lms: Platform) -> int:
    """Apply the events of the types we act on that no webhook brought, since the last
    complete run (the first looks back ``reconcile_lookback_days``). Returns how many were
    applied. Commits after each event; a run that fails part-way leaves the starting point
    where it was, so the next run lists those events again."""
    provider = lms.payment_providers.get(StripeProvider.name)
    session = lms.db.session
    started = utcnow()
    cursor = session.get(StripeEventCursor, provider.livemode)
    since = (cursor.reconciled_until - OVERLAP if cursor is not None else
             started - timedelta(days=provider.settings["reconcile_lookback_days"]))
    session.rollback()  # no transaction stays open while Stripe is asked
    applied = 0
    for data in provider.events_since(since):
        handled = payments.event_handled(session, provider.name, data["id"])
        session.rollback()
        if not handled:
            applied += payments.handle_event(session, provider.name, provider.event_from(data))
    _advance(session, provider.livemode, started)
    log.info("Stripe catch-up since %s: %d missed events applied", since.isoformat(), applied)
    return applied


def _advance(session: Session, livemode: bool, until: datetime) -> None:
    """Only forward: a slower run that started earlier never moves the point back."""
    cursor = session.get(StripeEventCursor, livemode, with_for_update=True)
    if cursor is None:
        try:
            with session.begin_nested():
                session.add(StripeEventCursor(livemode=livemode, reconciled_until=until))
            session.commit()
            return
        except IntegrityError:  # a concurrent run saved its point first
            session.rollback()
            cursor = session.get(StripeEventCursor, livemode, with_for_update=True,
                                 populate_existing=True)
    cursor.reconciled_until = max(cursor.reconciled_until, until)
    session.commit()
