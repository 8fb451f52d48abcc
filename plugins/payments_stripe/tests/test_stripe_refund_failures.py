"""A refund that fails (or is canceled) after it was asked for: the payment is succeeded again,
the access the refund ended comes back, the admins see the failure (payment, audit log), and
re-sent or late events change nothing more."""

from __future__ import annotations

import itertools

import pytest
import requests
from sqlalchemy import select
from stripe_flow import content_visible, deliver_all, events_named, paid, sdk
from stripe_webhooks import PRICE

from lmscore.models import AuditEntry


def fail_refund(standin, refund_id: str, status: str = "failed") -> dict:
    """What Stripe does when the card's bank returns the money (or the refund is canceled)."""
    response = requests.post(f"{standin.url}/_test/refunds/{refund_id}/fail",
                             data={"status": status}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def refund_failures(lms) -> list[AuditEntry]:
    return list(lms.db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "payment.refund_failed")))


FAILURE_EVENTS = ["charge.refund.updated", "refund.updated", "refund.failed"]


def test_an_admin_refund_that_fails_gives_access_back(app, lms, me, web, stripe_standin,
                                                      webhooks, make_user, api_client):
    payment_id = paid(me, stripe_standin, webhooks)
    admin_user = make_user("admin")
    admin = api_client(admin_user)
    refunded = admin.post(f"/api/v1/payments/{payment_id}/refund").json
    assert refunded["status"] == "refunded" and not content_visible(me)
    [refund] = refunded["refunds"]

    fail_refund(stripe_standin, refund["reference"])
    failure_events = [e for e in stripe_standin.events() if e["type"] in FAILURE_EVENTS]
    assert [e["type"] for e in failure_events] == FAILURE_EVENTS
    deliver_all(webhooks, failure_events)

    payment = me.get(f"/api/v1/payments/{payment_id}").json
    assert (payment["status"], payment["refunded_minor"], payment["refunded_at"],
            payment["refund_requested_at"]) == ("succeeded", 0, None, None)
    assert payment["refunds"] == [{
        "reference": refund["reference"], "amount_minor": PRICE, "status": "failed",
        "at": payment["refunds"][0]["at"],
        "message": "The refund failed (expired or canceled card)."}]
    assert me.get("/api/v1/enrolments/me").json[0]["status"] == "active"
    assert content_visible(me)
    [entry] = refund_failures(lms)
    assert (entry.actor_id, entry.target) == (None, f"payment:{payment_id}")
    assert entry.details["enrolment_status"] == "active"
    assert entry.details["refund"] == refund["reference"]

    # The admin page tells the failure; the audit list names it.
    web.sign_in(admin_user.email, "test-password-1")
    page = web.get("/admin/payments").get_data(as_text=True)
    assert "refund of 49.00 EUR failed" in page and "payment.refund_failed" in page
    assert "expired or canceled card" in page and "refund requested" not in page

    # Stripe sends everything again, and the charge.refunded of the failed refund late.
    deliver_all(webhooks, [{**e, "id": e["id"] + "_again"} for e in failure_events])
    deliver_all(webhooks, stripe_standin.events("charge.refunded"))
    assert me.get(f"/api/v1/payments/{payment_id}").json["status"] == "succeeded"
    assert content_visible(me)
    assert len(refund_failures(lms)) == 1
    assert len(events_named(lms, "payment_succeeded")) == 1

    # Asked again, Stripe makes a new refund (the failed one's key is not reused).
    again = admin.post(f"/api/v1/payments/{payment_id}/refund").json
    assert again["status"] == "refunded" and not content_visible(me)
    refunds = sdk(stripe_standin).v1.refunds.list(params={"payment_intent": again[
        "provider_reference"]}).data
    assert sorted(r.status for r in refunds) == ["failed", "succeeded"]
    assert len(events_named(lms, "payment_refunded")) == 2


@pytest.mark.parametrize("status", ["failed", "canceled"])
@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
def test_a_refund_made_in_stripe_that_fails_in_any_order(app, lms, me, stripe_standin,
                                                         webhooks, order, status):
    payment_id = paid(me, stripe_standin, webhooks)
    intent = stripe_standin.events("payment_intent.succeeded")[0]["data"]["object"]["id"]
    refund = sdk(stripe_standin).v1.refunds.create(params={"payment_intent": intent})
    fail_refund(stripe_standin, refund.id, status)
    events = [stripe_standin.events(kind)[0] for kind in (
        "charge.refunded", "charge.refund.updated", "refund.updated")]
    deliver_all(webhooks, [events[i] for i in order] + stripe_standin.events("refund.failed"))
    deliver_all(webhooks, events)  # re-sent: nothing changes
    payment = me.get(f"/api/v1/payments/{payment_id}").json
    assert (payment["status"], payment["refunded_minor"]) == ("succeeded", 0)
    assert content_visible(me)
    [entry] = refund_failures(lms)
    assert entry.details["reason"] == ("The refund was canceled." if status == "canceled"
                                       else "The refund failed (expired or canceled card).")


def test_a_failed_partial_refund_leaves_the_others(app, lms, me, stripe_standin, webhooks):
    payment_id = paid(me, stripe_standin, webhooks)
    intent = stripe_standin.events("payment_intent.succeeded")[0]["data"]["object"]["id"]
    client = sdk(stripe_standin)
    first = client.v1.refunds.create(params={"payment_intent": intent, "amount": 900})
    client.v1.refunds.create(params={"payment_intent": intent, "amount": 1000})
    fail_refund(stripe_standin, first.id)
    deliver_all(webhooks, stripe_standin.events("refund.failed")
                + stripe_standin.events("charge.refunded"))
    payment = me.get(f"/api/v1/payments/{payment_id}").json
    assert (payment["status"], payment["refunded_minor"]) == ("succeeded", 1000)
    assert content_visible(me)
    [entry] = refund_failures(lms)
    assert (entry.details["amount_minor"], entry.details["enrolment_status"]) == (900, "active")


def test_refunds_left_out_of_the_charge_are_listed_from_stripe(app, me, stripe_standin,
                                                               webhooks):
    """API versions since 2022-11-15 send ``charge.refunded`` without the charge's refunds."""
    payment_id = paid(me, stripe_standin, webhooks)
    intent = stripe_standin.events("payment_intent.succeeded")[0]["data"]["object"]["id"]
    refund = sdk(stripe_standin).v1.refunds.create(params={"payment_intent": intent})
    [event] = stripe_standin.events("charge.refunded")
    del event["data"]["object"]["refunds"]
    deliver_all(webhooks, [event])
    assert ("GET", "/v1/refunds", None) in stripe_standin.requests
    assert me.get(f"/api/v1/payments/{payment_id}").json["status"] == "refunded"
    assert not content_visible(me)
    fail_refund(stripe_standin, refund.id)
    deliver_all(webhooks, stripe_standin.events("refund.failed"))
    assert me.get(f"/api/v1/payments/{payment_id}").json["status"] == "succeeded"
    assert content_visible(me)
