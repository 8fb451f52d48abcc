"""Fixtures of the payments_stripe tests: a local Stripe (localstripe plus the routes it
lacks), an app whose paid track goes through it, and webhook delivery signed like Stripe."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from stripe_standin import StripeStandIn
from stripe_webhooks import PRICE, WEBHOOK_SECRET, Webhooks

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from tracks_fixture import write_track  # noqa: E402

from lmscore.services import content  # noqa: E402


@pytest.fixture(scope="session")
def stripe_server():
    server = StripeStandIn()
    yield server
    server.close()


@pytest.fixture
def stripe_standin(stripe_server) -> StripeStandIn:
    stripe_server.reset()
    return stripe_server


@pytest.fixture
def stripe_settings(stripe_standin) -> dict[str, Any]:
    """[plugins.payments_stripe] for the stand-in (checkout mode)."""
    return {"secret_key": "sk_test_lmscore", "publishable_key": "pk_test_lmscore",
            "webhook_secret": WEBHOOK_SECRET, "api_base": stripe_standin.url,
            "checkout_origin": stripe_standin.url,
            "max_network_retries": 0}


@pytest.fixture
def content_root(tmp_path) -> Path:
    root = tmp_path / "content"
    write_track(root, "PAID", price=PRICE, projects=1)
    write_track(root, "FREE", projects=1)
    return root


@pytest.fixture
def lms_config(content_root, stripe_settings):
    return {"providers": {"payment_provider": "stripe"},
            "plugins": {"enabled": ["content_folder", "payments_stripe"],
                        "content_folder": {"folders": [str(content_root)]},
                        "payments_stripe": stripe_settings}}


def synced(app):
    lms = app.extensions["lmscore"]
    with app.app_context():
        assert all(not r.error for r in content.sync(lms, lms.db.session))
    return app


@pytest.fixture
def app(app_factory):
    return synced(app_factory())


@pytest.fixture
def intent_app(app_factory):
    """The same site in PaymentIntent mode (embedded Payment Element)."""
    return synced(app_factory({"plugins": {"payments_stripe": {"mode": "payment_intent"}}}))


@pytest.fixture
def webhooks(app) -> Webhooks:
    return Webhooks(app)


@pytest.fixture
def learner(make_user):
    return make_user("student")


@pytest.fixture
def me(api_client, learner):
    return api_client(learner)
