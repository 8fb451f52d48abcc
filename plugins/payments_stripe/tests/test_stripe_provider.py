"""The provider on its own: the payment provider contract, settings, and the event mapping
for every shape Stripe sends (ids or expanded objects)."""

from __future__ import annotations

import uuid

import pytest
import requests
from lms_payments_stripe.events import failure_message, outcomes_of
from lms_payments_stripe.models import StripeCustomer
from lms_payments_stripe.plugin import StripeSettings
from marshmallow import ValidationError
from sqlalchemy import func, select

from lmscore.capabilities import CheckoutRequest, OutcomeKind
from lmscore.testing.contracts import PaymentProviderContract


class TestStripeCheckoutContract(PaymentProviderContract):
    mode = "checkout"

    @pytest.fixture
    def provider(self, app_factory, stripe_settings):
        app = app_factory({"plugins": {"payments_stripe": {"mode": self.mode}}})
        with app.app_context():
            yield app.extensions["lmscore"].payment_providers.get("stripe")

    @pytest.fixture
    def checkout_request(self, make_user) -> CheckoutRequest:
        learner = make_user("student")  # the provider keeps a Customer per real learner
        return CheckoutRequest(
            payment_id=41, user_id=learner.id, user_email=learner.email, track_code="DP",
            amount_minor=49_00, currency="EUR", idempotency_key=f"lms-{uuid.uuid4().hex}",
            success_url="http://127.0.0.1:5000/paid", cancel_url="http://127.0.0.1:5000/no",
        )

    def pay(self, provider, request, result):
        standin_url = provider.settings["api_base"]
        session_id = result.checkout_url.rsplit("/", 1)[-1]
        paid = requests.post(f"{standin_url}/_test/checkout/sessions/{session_id}/pay",
                             data={"card": "4242424242424242"}, timeout=10)
        return paid.json()["payment_intent"]["id"]


class TestStripePaymentIntentContract(TestStripeCheckoutContract):
    mode = "payment_intent"

    def pay(self, provider, request, result):
        client = provider.client  # what Stripe.js does in the learner's browser
        method = client.v1.payment_methods.create(params={"type": "card", "card": {
            "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
        client.v1.payment_intents.confirm(result.provider_reference,
                                          params={"payment_method": method.id})
        return result.provider_reference


def test_one_customer_per_learner_reused(app, lms, make_user, stripe_standin):
    provider = lms.payment_providers.get("stripe")
    learner = make_user("student")

    def request(payment_id):
        return CheckoutRequest(payment_id=payment_id, user_id=learner.id,
                               user_email=learner.email, track_code="PAID", amount_minor=100,
                               currency="EUR", idempotency_key=f"lms-{uuid.uuid4().hex}",
                               success_url="http://127.0.0.1/ok", cancel_url="http://127.0.0.1/no")

    with app.app_context():
        started = [provider.start_checkout(request(1)), provider.start_checkout(request(2))]
        assert lms.db.session.scalar(select(func.count()).select_from(StripeCustomer)) == 1
    assert len(stripe_standin.creates("/v1/customers")) == 1
    assert len(stripe_standin.creates("/v1/checkout/sessions")) == 2
    sessions = [provider.client.v1.checkout.sessions.retrieve(s.provider_reference)
                for s in started]
    assert sessions[0].customer == sessions[1].customer is not None


BASE = {"secret_key": "sk_test_x", "webhook_secret": "whsec_x"}


@pytest.mark.parametrize(("extra", "field"), [
    ({"secret_key": "pk_test_wrong"}, "secret_key"),
    ({"mode": "subscription"}, "mode"),
    ({"mode": "payment_intent"}, "publishable_key"),  # the embedded page needs it
    ({"currency": "euro"}, "currency"),
    ({"success_url": "javascript:alert(1)"}, "success_url"),
    ({"webhook_tolerance_s": 0}, "webhook_tolerance_s"),
    ({"reconcile_every_minutes": 0}, "reconcile_every_minutes"),
    ({"reconcile_lookback_days": 31}, "reconcile_lookback_days"),  # Stripe keeps 30 days
    ({"checkout_origin": "https://pay.example; script-src *"}, "checkout_origin"),
    ({"api_key": "sk_test_x"}, "api_key"),  # unknown keys are refused
])
def test_settings_are_validated(extra, field):
    with pytest.raises(ValidationError) as error:
        StripeSettings().load({**BASE, **extra})
    assert field in error.value.messages


def test_settings_defaults():
    loaded = StripeSettings().load(BASE)
    assert (loaded["mode"], loaded["api_base"], loaded["webhook_tolerance_s"]) == (
        "checkout", "https://api.stripe.com", 300)
    assert (loaded["reconcile_every_minutes"], loaded["reconcile_lookback_days"]) == (15, 3)
    assert loaded["checkout_origin"] == "https://checkout.stripe.com"


def intent_event(latest_charge, **fields) -> dict:
    return {"id": "evt_1", "type": "payment_intent.payment_failed", "created": 1_700_000_000,
            "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 4900,
                                "currency": "eur", "metadata": {"lms_payment_id": "12"},
                                "latest_charge": latest_charge, **fields}}}


@pytest.mark.parametrize("latest_charge", [
    "ch_1",  # current API versions: an id
    {"id": "ch_1", "object": "charge", "failure_message": "Your card was declined."},  # 2017
])
def test_intent_events_accept_both_latest_charge_shapes(latest_charge):
    [outcome] = outcomes_of(intent_event(latest_charge))
    assert (outcome.kind, outcome.payment_id, outcome.provider_reference) == (
        OutcomeKind.FAILED, 12, "pi_1")
    assert outcome.message in ("Your card was declined.", "The payment was declined.")
    with_error = intent_event(latest_charge,
                              last_payment_error={"message": "Insufficient funds."})
    assert failure_message(with_error["data"]["object"]) == "Insufficient funds."


def test_session_completed_unpaid_grants_nothing_yet():
    event = {"id": "evt_2", "type": "checkout.session.completed", "created": 1,
             "data": {"object": {"id": "cs_1", "payment_status": "unpaid",
                                 "client_reference_id": "5", "metadata": {}}}}
    assert list(outcomes_of(event)) == []
    event["data"]["object"]["payment_status"] = "paid"
    event["data"]["object"].update(amount_total=4900, currency="eur",
                                   payment_intent={"id": "pi_9"})
    [outcome] = outcomes_of(event)
    assert (outcome.kind, outcome.payment_id, outcome.provider_reference,
            outcome.amount_minor) == (OutcomeKind.SUCCEEDED, 5, "pi_9", 4900)


def test_unknown_event_types_are_acknowledged_without_outcomes():
    assert list(outcomes_of({"id": "evt_3", "type": "customer.created",
                             "data": {"object": {}}})) == []


def refund(id_, status, **fields) -> dict:
    return {"id": id_, "object": "refund", "amount": 900, "charge": "ch_1", "status": status,
            **fields}


def test_a_charge_refunded_names_each_refund_and_which_ended():
    event = {"id": "evt_4", "type": "charge.refunded", "created": 1_700_000_000, "data": {
        "object": {"id": "ch_1", "object": "charge", "payment_intent": "pi_1",
                   "amount_refunded": 900, "metadata": {}, "refunds": {"data": [
                       refund("re_1", "succeeded"), refund("re_2", "pending"),
                       refund("re_3", "failed", failure_reason="lost_or_stolen_card")]}}}}
    outcomes = list(outcomes_of(event))
    assert [(o.kind, o.refund_reference, o.provider_reference, o.amount_minor)
            for o in outcomes] == [
        (OutcomeKind.REFUNDED, "re_1", "pi_1", 900), (OutcomeKind.REFUNDED, "re_2", "pi_1", 900),
        (OutcomeKind.REFUND_FAILED, "re_3", "pi_1", 900)]
    assert outcomes[2].message == "The refund failed (lost or stolen card)."


@pytest.mark.parametrize(("fields", "reference"), [
    ({"payment_intent": "pi_1"}, "pi_1"),
    ({}, "ch_1"),  # 2017-era refunds, or a charge made without a PaymentIntent
])
def test_refund_updates_name_the_refund_and_what_it_belongs_to(fields, reference):
    event = {"id": "evt_5", "type": "charge.refund.updated", "created": 1,
             "data": {"object": refund("re_1", "canceled", **fields)}}
    [outcome] = outcomes_of(event)
    assert (outcome.kind, outcome.refund_reference, outcome.provider_reference,
            outcome.message) == (OutcomeKind.REFUND_FAILED, "re_1", reference,
                                 "The refund was canceled.")


def test_a_dispute_naming_only_its_charge_is_referenced_by_the_charge():
    event = {"id": "evt_6", "type": "charge.dispute.created", "created": 1, "data": {
        "object": {"id": "dp_1", "object": "dispute", "charge": "ch_1", "metadata": {}}}}
    [outcome] = outcomes_of(event)
    assert (outcome.kind, outcome.payment_id, outcome.provider_reference) == (
        OutcomeKind.DISPUTE_OPENED, None, "ch_1")
