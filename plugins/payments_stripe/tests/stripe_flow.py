"""A learner's way through a Stripe checkout, shared by the test modules (a module of its own,
like stripe_webhooks.py: the core's tests/conftest.py shadows this folder's conftest)."""

from __future__ import annotations

import requests
import stripe
from sqlalchemy import func, select
from stripe_standin import CARD_OK

from lmscore.models import OutboxEvent


def pay_on_hosted_page(standin, session_id: str, card: str = CARD_OK, **extra) -> requests.Response:
    return requests.post(f"{standin.url}/_test/checkout/sessions/{session_id}/pay",
                         data={"card": card, **extra}, timeout=10)


def session_id_of(checkout_url: str) -> str:
    return checkout_url.rsplit("/", 1)[-1]


def sdk(standin) -> stripe.StripeClient:
    """What the Stripe dashboard (or Stripe.js) does, straight through the SDK."""
    return stripe.StripeClient("sk_test_dashboard", base_addresses={"api": standin.url},
                               max_network_retries=0)


def count(lms, model, *where) -> int:
    return lms.db.session.scalar(select(func.count()).select_from(model).where(*where))


def events_named(lms, name: str) -> list[dict]:
    return [e.payload for e in lms.db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.name == name).order_by(OutboxEvent.id))]


def start(me) -> dict:
    response = me.post("/api/v1/payments/checkout", json={"track": "PAID"})
    assert response.status_code == 201, response.json
    return response.json


def content_visible(me) -> bool:
    project_id = me.get("/api/v1/tracks/PAID").json["projects"][0]["id"]
    return me.get(f"/api/v1/projects/{project_id}").json["content_visible"]


def deliver_all(webhooks, events) -> list[dict]:
    responses = [webhooks.deliver(event) for event in events]
    assert all(r.status_code == 200 for r in responses), [r.json for r in responses]
    return [r.json for r in responses]


def paid(me, standin, webhooks) -> int:
    """A learner's checkout paid on Stripe's page, its webhooks delivered: the payment id."""
    started = start(me)
    assert pay_on_hosted_page(standin, session_id_of(started["checkout_url"])).status_code == 200
    deliver_all(webhooks, standin.events())
    assert content_visible(me)
    return started["payment_id"]
