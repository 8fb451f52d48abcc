"""Webhook delivery for the tests, signed exactly as Stripe signs (a module of its own: the
core's tests/conftest.py shadows this folder's conftest when both are collected)."""

from __future__ import annotations

import json
from typing import Any

from stripe_standin import sign

WEBHOOK_SECRET = "whsec_lmscore_tests"
WEBHOOK = "/api/v1/payments/webhooks/stripe"
PRICE = 4900


class Webhooks:
    """Delivers events to the app's endpoint the way Stripe does."""

    def __init__(self, app):
        self.client = app.test_client()

    def deliver(self, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET,
                timestamp: int | None = None, body: bytes | None = None,
                signature: str | None = None):
        payload = body if body is not None else json.dumps(event).encode()
        header = signature if signature is not None else sign(payload, secret, timestamp)
        return self.client.post(WEBHOOK, data=payload, headers={
            "Stripe-Signature": header, "Content-Type": "application/json"})
