"""A learner buys a paid track through Stripe (the official SDK against the local stand-in):
checkout → Stripe's hosted page → signed webhooks → enrolment active → content unlocked;
refunds and lost disputes revoke it; forged, stale and replayed deliveries change nothing;
events in any order end in the same state."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import requests
import stripe
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
from stripe_standin import CARD_3DS, CARD_DECLINED, CARD_OK, sign
from stripe_webhooks import PRICE, WEBHOOK_SECRET, Webhooks

from lmscore.capabilities import OutcomeKind, PaymentOutcome
from lmscore.models import Enrolment, Payment, ProcessedProviderEvent
from lmscore.services import payments
from lmscore.testing.clients import ApiClient


def test_learner_buys_the_track_end_to_end(app, lms, me, web, learner, stripe_standin,
                                           webhooks, make_user, api_client):
    started = start(me)
    assert started["enrolment_status"] == "pending_payment"
    assert started["checkout_url"].startswith(f"{stripe_standin.url}/pay/cs_test_")
    assert not content_visible(me)

    again = start(me)  # a double click: the same payment and the same Stripe session
    assert (again["payment_id"], again["checkout_url"]) == (
        started["payment_id"], started["checkout_url"])
    assert len(stripe_standin.creates("/v1/checkout/sessions")) == 1
    assert len(stripe_standin.creates("/v1/customers")) == 1

    paid = pay_on_hosted_page(stripe_standin, session_id_of(started["checkout_url"]))
    assert paid.status_code == 200, paid.text
    payment_url = f"/api/v1/payments/{started['payment_id']}"
    # Back from Stripe but no webhook yet: nothing is granted, the status page waits.
    assert me.get(payment_url).json["status"] == "created"
    web.sign_in(learner.email, "test-password-1")
    page = web.get(f"/payments/{started['payment_id']}").get_data(as_text=True)
    assert "Waiting for the payment provider" in page and 'http-equiv="refresh"' in page
    assert "status-poll.js" in page
    assert not content_visible(me)

    events = stripe_standin.events()
    assert {"payment_intent.succeeded", "checkout.session.completed"} <= {
        e["type"] for e in events}
    assert not any(r["duplicate"] for r in deliver_all(webhooks, events))

    payment = me.get(payment_url).json
    assert payment["status"] == "succeeded" and payment["amount_minor"] == PRICE
    assert payment["provider_reference"].startswith("pi_")
    assert me.get("/api/v1/enrolments/me").json[0]["status"] == "active"
    assert content_visible(me)
    assert web.get(f"/payments/{started['payment_id']}/status").json == {
        "status": "succeeded", "waiting": False}
    receipt = web.get(f"/payments/{started['payment_id']}").get_data(as_text=True)
    assert "Receipt #" in receipt and "49.00 EUR" in receipt and "refresh" not in receipt
    assert f"#{started['payment_id']}" in web.get("/payments").get_data(as_text=True)

    # Stripe re-delivers everything: acknowledged, nothing happens twice.
    assert all(r["duplicate"] for r in deliver_all(webhooks, events))
    assert len(events_named(lms, "payment_succeeded")) == 1
    assert [e["status"] for e in events_named(lms, "enrolment_changed")] == [
        "pending_payment", "active"]

    # An admin refunds: Stripe confirms at once, access ends.
    admin = api_client(make_user("admin"))
    refunded = admin.post(f"{payment_url}/refund")
    assert refunded.status_code == 202 and refunded.json["status"] == "refunded"
    assert me.get("/api/v1/enrolments/me").json[0]["status"] == "revoked"
    assert not content_visible(me)
    # Its charge.refunded webhook arrives later: nothing more changes.
    deliver_all(webhooks, stripe_standin.events("charge.refunded"))
    assert len(events_named(lms, "payment_refunded")) == 1
    # The old success, delivered again or late, does not give access back.
    webhooks.deliver({**stripe_standin.events("payment_intent.succeeded")[0], "id": "evt_late"})
    assert me.get(payment_url).json["status"] == "refunded"
    assert not content_visible(me)


def test_a_refund_made_in_stripe_revokes_through_its_webhook(app, me, stripe_standin,
                                                             webhooks):
    started = start(me)
    pay_on_hosted_page(stripe_standin, session_id_of(started["checkout_url"]))
    deliver_all(webhooks, stripe_standin.events())
    assert content_visible(me)
    intent = stripe_standin.events("payment_intent.succeeded")[0]["data"]["object"]["id"]
    sdk(stripe_standin).v1.refunds.create(params={"payment_intent": intent})
    deliver_all(webhooks, stripe_standin.events("charge.refunded"))
    payment = me.get(f"/api/v1/payments/{started['payment_id']}").json
    assert (payment["status"], payment["refunded_minor"]) == ("refunded", PRICE)
    assert not content_visible(me)


def test_a_partial_refund_keeps_access(app, me, stripe_standin, webhooks):
    started = start(me)
    pay_on_hosted_page(stripe_standin, session_id_of(started["checkout_url"]))
    deliver_all(webhooks, stripe_standin.events())
    intent = stripe_standin.events("payment_intent.succeeded")[0]["data"]["object"]["id"]
    sdk(stripe_standin).v1.refunds.create(params={"payment_intent": intent, "amount": 900})
    deliver_all(webhooks, stripe_standin.events("charge.refunded"))
    payment = me.get(f"/api/v1/payments/{started['payment_id']}").json
    assert (payment["status"], payment["refunded_minor"]) == ("succeeded", 900)
    assert content_visible(me)


def naming_only_the_charge(event: dict) -> dict:
    """The event as API versions before PaymentIntents send it: the dispute names only its
    charge."""
    dispute = {k: v for k, v in event["data"]["object"].items() if k != "payment_intent"}
    return {**event, "data": {"object": dispute}}


@pytest.mark.parametrize("shape", ["current", "charge only"])
@pytest.mark.parametrize("result", ["lost", "won"])
def test_a_dispute_revokes_only_when_lost(app, me, stripe_standin, webhooks, result, shape):
    started = start(me)
    pay_on_hosted_page(stripe_standin, session_id_of(started["checkout_url"]))
    deliver_all(webhooks, stripe_standin.events())
    charge = stripe_standin.events("payment_intent.succeeded")[0]["data"]["object"][
        "latest_charge"]["id"]  # localstripe sends the 2017 shape: an expanded object

    def disputes(kind):
        found = stripe_standin.events(kind)
        return found if shape == "current" else [naming_only_the_charge(e) for e in found]

    dispute = requests.post(f"{stripe_standin.url}/_test/charges/{charge}/dispute",
                            timeout=10).json()
    deliver_all(webhooks, disputes("charge.dispute.created"))
    assert me.get(f"/api/v1/payments/{started['payment_id']}").json["dispute_status"] == "open"
    assert content_visible(me)
    requests.post(f"{stripe_standin.url}/_test/disputes/{dispute['id']}/close",
                  data={"status": result}, timeout=10)
    deliver_all(webhooks, disputes("charge.dispute.closed"))
    deliver_all(webhooks, [{**disputes("charge.dispute.created")[0],
                            "id": "evt_created_again"}])  # a late "created" reopens nothing
    payment = me.get(f"/api/v1/payments/{started['payment_id']}").json
    assert payment["dispute_status"] == result
    assert payment["status"] == ("charged_back" if result == "lost" else "succeeded")
    assert content_visible(me) is (result == "won")


def bare_charge(standin, metadata: dict) -> str:
    """A charge made through the Charges API, without a PaymentIntent (older integrations,
    or a charge made in the dashboard)."""
    client = sdk(standin)
    method = client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": CARD_OK, "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    charge = client.v1.charges.create(params={
        "amount": PRICE, "currency": "eur", "source": method.id, "metadata": metadata})
    assert charge.payment_intent is None
    return charge.id


@pytest.mark.parametrize("found_by", ["its metadata", "its stored reference"])
def test_a_dispute_on_a_charge_without_payment_intent_finds_its_payment(
        app, lms, me, stripe_standin, webhooks, found_by):
    payment_id = start(me)["payment_id"]
    if found_by == "its metadata":
        charge = bare_charge(stripe_standin, {"lms_payment_id": str(payment_id)})
        paid = PaymentOutcome(OutcomeKind.SUCCEEDED, payment_id=payment_id)
    else:  # a payment an older integration recorded by its charge, which names nothing of ours
        charge = bare_charge(stripe_standin, {})
        paid = PaymentOutcome(OutcomeKind.SUCCEEDED, payment_id=payment_id,
                              provider_reference=charge)
    with app.app_context():
        payments.record_outcome(lms.db.session, lms.db.session.get(Payment, payment_id), paid)
        lms.db.session.commit()
    assert content_visible(me)

    dispute = requests.post(f"{stripe_standin.url}/_test/charges/{charge}/dispute",
                            timeout=10).json()
    assert (dispute["charge"], dispute["payment_intent"]) == (charge, None)
    deliver_all(webhooks, stripe_standin.events("charge.dispute.created"))
    payment = me.get(f"/api/v1/payments/{payment_id}").json
    assert (payment["dispute_status"], payment["provider_reference"]) == ("open", charge)
    requests.post(f"{stripe_standin.url}/_test/disputes/{dispute['id']}/close",
                  data={"status": "lost"}, timeout=10)
    deliver_all(webhooks, stripe_standin.events("charge.dispute.closed"))
    payment = me.get(f"/api/v1/payments/{payment_id}").json
    assert (payment["status"], payment["dispute_status"]) == ("charged_back", "lost")
    assert not content_visible(me)


def test_a_payment_made_by_a_bare_charge_is_refunded_through_that_charge(
        app, lms, me, stripe_standin, make_user, api_client):
    payment_id = start(me)["payment_id"]
    charge = bare_charge(stripe_standin, {})
    with app.app_context():
        payments.record_outcome(
            lms.db.session, lms.db.session.get(Payment, payment_id), PaymentOutcome(
                OutcomeKind.SUCCEEDED, payment_id=payment_id, provider_reference=charge))
        lms.db.session.commit()
    refunded = api_client(make_user("admin")).post(f"/api/v1/payments/{payment_id}/refund")
    assert refunded.status_code == 202 and refunded.json["status"] == "refunded"
    [refund] = sdk(stripe_standin).v1.refunds.list(params={"charge": charge}).data
    assert (refund.amount, refund.status) == (PRICE, "succeeded")
    assert not content_visible(me)


def test_forged_stale_and_malformed_deliveries_change_nothing(app, lms, me, stripe_standin,
                                                              webhooks):
    started = start(me)
    pay_on_hosted_page(stripe_standin, session_id_of(started["checkout_url"]))
    success = stripe_standin.events("payment_intent.succeeded")[0]
    stale = int(time.time()) - 301  # the SDK's tolerance is 300 s
    rejected = [
        webhooks.deliver(success, secret="whsec_forged"),
        webhooks.deliver(success, timestamp=stale),
        webhooks.deliver(success, signature=""),
        webhooks.deliver(success, signature="t=1,v1=nothex"),
        webhooks.deliver(success, body=b"not json at all"),
        webhooks.deliver({"object": "event"}),  # signed, but no id or type
    ]
    for response in rejected:
        assert response.status_code == 400, response.json
        assert response.json["error"]["code"] == "invalid_provider_event"
    # A body altered after signing: the signature no longer matches.
    body = json.dumps(success).encode()
    header = sign(body, WEBHOOK_SECRET)
    tampered = body.replace(b'"amount": 4900', b'"amount": 1')
    assert webhooks.deliver(success, body=tampered, signature=header).status_code == 400

    assert count(lms, ProcessedProviderEvent) == 0
    assert me.get(f"/api/v1/payments/{started['payment_id']}").json["status"] == "created"
    assert not content_visible(me)


SUCCESS_THEN_REFUND = ["payment_intent.succeeded", "checkout.session.completed",
                       "charge.refunded"]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
def test_a_refund_in_any_order_never_leaves_access(app, me, stripe_standin, webhooks, order):
    started = start(me)
    pay_on_hosted_page(stripe_standin, session_id_of(started["checkout_url"]))
    intent = stripe_standin.events("payment_intent.succeeded")[0]["data"]["object"]["id"]
    sdk(stripe_standin).v1.refunds.create(params={"payment_intent": intent})
    events = [stripe_standin.events(kind)[0] for kind in SUCCESS_THEN_REFUND]
    deliver_all(webhooks, [events[i] for i in order])
    deliver_all(webhooks, events)  # and every one again
    assert me.get(f"/api/v1/payments/{started['payment_id']}").json["status"] == "refunded"
    assert not content_visible(me)
    assert me.get("/api/v1/enrolments/me").json[0]["status"] in ("pending_payment", "revoked")


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
def test_a_decline_then_a_successful_retry_in_any_order(app, me, stripe_standin, webhooks,
                                                        order):
    started = start(me)
    session_id = session_id_of(started["checkout_url"])
    declined = pay_on_hosted_page(stripe_standin, session_id, CARD_DECLINED)
    assert declined.status_code == 402
    time.sleep(1.1)  # Stripe's event times have one-second resolution
    assert pay_on_hosted_page(stripe_standin, session_id).status_code == 200
    events = [stripe_standin.events(kind)[0] for kind in (
        "payment_intent.payment_failed", "payment_intent.succeeded",
        "checkout.session.completed")]
    deliver_all(webhooks, [events[i] for i in order])
    payment = me.get(f"/api/v1/payments/{started['payment_id']}").json
    assert payment["status"] == "succeeded"
    assert content_visible(me)


def test_a_decline_shows_on_the_status_page_and_the_learner_can_retry(app, me, web, learner,
                                                                      stripe_standin, webhooks):
    started = start(me)
    assert pay_on_hosted_page(stripe_standin, session_id_of(started["checkout_url"]),
                              CARD_DECLINED).status_code == 402
    deliver_all(webhooks, stripe_standin.events("payment_intent.payment_failed"))
    payment = me.get(f"/api/v1/payments/{started['payment_id']}").json
    assert payment["status"] == "failed" and "declined" in payment["failure_message"]
    web.sign_in(learner.email, "test-password-1")
    page = web.get(f"/payments/{started['payment_id']}").get_data(as_text=True)
    assert "declined" in page and "Continue to the checkout" in page
    retry = start(me)  # the open (failed) payment and its session are offered again
    assert retry["payment_id"] == started["payment_id"]
    assert retry["checkout_url"] == started["checkout_url"]


# -- PaymentIntent mode (embedded Payment Element) -----------------------------------------------


def confirm_in_browser(standin, client_secret: str, card: str):
    """What Stripe.js does with the card typed into the Payment Element."""
    client = sdk(standin)
    intent_id = client_secret.split("_secret_")[0]
    method = client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    return client.v1.payment_intents.confirm(intent_id, params={"payment_method": method.id})


def test_payment_intent_mode_with_3d_secure(intent_app, make_user, stripe_standin):
    learner = make_user("student")
    me, webhooks = ApiClient(intent_app, learner), Webhooks(intent_app)
    started = start(me)
    assert started["client_secret"].startswith("pi_")
    assert started["checkout_url"].endswith(f"/payments/stripe/{started['payment_id']}/pay")

    intent = confirm_in_browser(stripe_standin, started["client_secret"], CARD_3DS)
    assert intent.status == "requires_action"
    assert not content_visible(me)
    requests.post(f"{stripe_standin.url}/v1/payment_intents/{intent.id}/_authenticate",
                  data={"client_secret": started["client_secret"], "success": "true",
                        "key": "pk_test_lmscore"}, timeout=10)
    deliver_all(webhooks, stripe_standin.events())
    assert me.get(f"/api/v1/payments/{started['payment_id']}").json["status"] == "succeeded"
    assert content_visible(me)


def test_payment_intent_mode_decline_then_retry(intent_app, make_user, stripe_standin):
    learner = make_user("student")
    me, webhooks = ApiClient(intent_app, learner), Webhooks(intent_app)
    started = start(me)
    with pytest.raises(stripe.CardError):
        confirm_in_browser(stripe_standin, started["client_secret"], CARD_DECLINED)
    deliver_all(webhooks, stripe_standin.events())
    payment = me.get(f"/api/v1/payments/{started['payment_id']}").json
    assert payment["status"] == "failed" and payment["failure_message"]
    # The same PaymentIntent takes another card (a retry of checkout returns it again).
    assert start(me)["client_secret"] == started["client_secret"]
    time.sleep(1.1)
    confirm_in_browser(stripe_standin, started["client_secret"], CARD_OK)
    deliver_all(webhooks, stripe_standin.events())
    assert me.get(f"/api/v1/payments/{started['payment_id']}").json["status"] == "succeeded"


def test_embedded_page_loads_stripe_js_only_there(intent_app, make_user):
    learner = make_user("student")
    started = start(ApiClient(intent_app, learner))
    web = intent_app.test_client()
    web.sign_in(learner.email, "test-password-1")
    page = web.get(started["checkout_url"].split("127.0.0.1:5000")[-1])
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    assert 'src="https://js.stripe.com/v3/"' in html and "payment-element.js" in html
    assert 'data-publishable-key="pk_test_lmscore"' in html
    assert "https://js.stripe.com" in page.headers["Content-Security-Policy"]
    assert "<script>" not in html  # no inline scripts
    other = web.get("/payments")
    assert "js.stripe.com" not in other.headers["Content-Security-Policy"]
    stranger = intent_app.test_client()
    stranger.sign_in(make_user("student").email, "test-password-1")
    assert stranger.get(started["checkout_url"].split("127.0.0.1:5000")[-1]).status_code == 404


def test_embedded_page_is_absent_in_checkout_mode(app, me, learner, web):
    started = start(me)
    web.sign_in(learner.email, "test-password-1")
    assert web.get(f"/payments/stripe/{started['payment_id']}/pay").status_code == 404


def test_web_buy_button_redirects_to_stripe(app, web, learner, stripe_standin, lms):
    web.sign_in(learner.email, "test-password-1")
    page = web.get("/tracks/PAID")
    assert "Buy PAID for 49.00 EUR" in page.get_data(as_text=True)
    # Browsers follow the form's redirect only to an origin its page's form-action allows.
    assert (f"form-action 'self' {stripe_standin.url};"
            in page.headers["Content-Security-Policy"])
    response = web.submit("/tracks/PAID", {}, action="/tracks/PAID/buy")
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{stripe_standin.url}/pay/cs_test_")
    assert count(lms, Payment) == 1
    assert count(lms, Enrolment, Enrolment.status == "pending_payment") == 1
