"""Catching up on lost webhooks: the periodic job lists Stripe's events (``GET /v1/events``
through the SDK, page after page) since its last run and applies the ones no webhook brought,
each once, whoever saw it first."""

from __future__ import annotations

from datetime import timedelta

import requests
from lms_payments_stripe.events import HANDLERS
from lms_payments_stripe.models import StripeEventCursor
from lms_payments_stripe.reconcile import RECONCILE_JOB, reconcile
from stripe_flow import (
    content_visible,
    count,
    deliver_all,
    events_named,
    pay_on_hosted_page,
    sdk,
    session_id_of,
    start,
)
from stripe_webhooks import PRICE

from lmscore.db import utcnow
from lmscore.jobs import PeriodicJob
from lmscore.models import ProcessedProviderEvent


def catch_up(app) -> int:
    lms = app.extensions["lmscore"]
    with app.app_context():
        try:
            return reconcile(lms)
        finally:
            lms.db.remove()


def event_pages_asked(standin) -> int:
    return sum(path == "/v1/events" for _method, path, _key in standin.requests)


def test_the_periodic_job_applies_events_whose_webhooks_were_lost(app, lms, me, stripe_standin,
                                                                  webhooks):
    assert PeriodicJob(RECONCILE_JOB, every_s=15 * 60) in lms.jobs.periodic
    started = start(me)
    pay_on_hosted_page(stripe_standin, session_id_of(started["checkout_url"]))
    assert not content_visible(me)  # the endpoint was down: nothing delivered

    lms.jobs.enqueue(RECONCILE_JOB)
    lms.jobs.drain()
    assert me.get(f"/api/v1/payments/{started['payment_id']}").json["status"] == "succeeded"
    assert content_visible(me)
    # Only the types the plugin acts on are listed (not the customer.created before them).
    ours = [e for e in stripe_standin.events() if e["type"] in HANDLERS]
    applied = count(lms, ProcessedProviderEvent)
    assert applied == len(ours) == 2
    with app.app_context():
        assert lms.db.session.get(StripeEventCursor, False) is not None

    # Stripe's retries arrive once the endpoint is back, and the next run lists them again.
    assert all(r["duplicate"] for r in deliver_all(webhooks, ours))
    assert catch_up(app) == 0
    assert count(lms, ProcessedProviderEvent) == applied
    assert len(events_named(lms, "payment_succeeded")) == 1


def test_a_run_starts_where_the_last_one_did(app, lms, me, stripe_standin, webhooks):
    """The events before the last run's start (less an overlap) are not listed again; the
    ones the webhook applied are skipped by id."""
    started = start(me)
    pay_on_hosted_page(stripe_standin, session_id_of(started["checkout_url"]))
    with app.app_context():
        lms.db.session.add(StripeEventCursor(livemode=False,
                                             reconciled_until=utcnow() + timedelta(hours=1)))
        lms.db.session.commit()
    assert catch_up(app) == 0  # as far as it knows, these were reconciled already
    assert not content_visible(me)

    with app.app_context():
        cursor = lms.db.session.get(StripeEventCursor, False)
        cursor.reconciled_until = utcnow() - timedelta(minutes=5)
        lms.db.session.commit()
    assert catch_up(app) == 2  # payment_intent.succeeded, checkout.session.completed
    assert content_visible(me)
    with app.app_context():
        until = lms.db.session.get(StripeEventCursor, False).reconciled_until
        assert utcnow() - timedelta(minutes=1) < until <= utcnow()


def test_every_page_is_read_and_refunds_and_their_failure_are_caught_up(
        app, lms, me, stripe_standin, webhooks):
    """More events than one page holds (Stripe's ``limit`` is at most 100)."""
    started = start(me)
    pay_on_hosted_page(stripe_standin, session_id_of(started["checkout_url"]))
    client = sdk(stripe_standin)
    for _ in range(100):  # the learner's abandoned checkouts, expired by Stripe
        session = client.v1.checkout.sessions.create(params={
            "mode": "payment", "client_reference_id": str(started["payment_id"]),
            "success_url": "http://127.0.0.1:5000/paid", "line_items": [{
                "quantity": 1, "price_data": {"currency": "eur", "unit_amount": PRICE,
                                              "product_data": {"name": "Track PAID"}}}]})
        client.v1.checkout.sessions.expire(session.id)
    stripe_standin.requests.clear()
    assert catch_up(app) == 102
    assert event_pages_asked(stripe_standin) == 2
    assert me.get(f"/api/v1/payments/{started['payment_id']}").json["status"] == "succeeded"

    intent = stripe_standin.events("payment_intent.succeeded")[0]["data"]["object"]["id"]
    refund = client.v1.refunds.create(params={"payment_intent": intent})
    assert catch_up(app) == 1
    assert not content_visible(me)
    requests.post(f"{stripe_standin.url}/_test/refunds/{refund.id}/fail", timeout=10)
    assert catch_up(app) == 3  # charge.refund.updated, refund.updated, refund.failed
    payment = me.get(f"/api/v1/payments/{started['payment_id']}").json
    assert (payment["status"], payment["refunded_minor"]) == ("succeeded", 0)
    assert content_visible(me)
