"""The same Stripe event delivered many times at once, and conflicting events at once, on a
database of their own (the suite's shared, rolled-back connection serialises everything):
exactly one effect, and the right final state. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from stripe_webhooks import Webhooks

from lmscore import create_app
from lmscore.db import Base, make_engine
from lmscore.models import Enrolment, OutboxEvent, Payment, ProcessedProviderEvent, User
from lmscore.plugins import installed_entry_points
from lmscore.services import content, payments

THREADS = 8


@pytest.fixture
def database_url(lms_database_url, tmp_path):
    """A new, empty database on the suite's backend, dropped afterwards."""
    url = make_url(lms_database_url)
    if url.get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'concurrency.db'}"
        return
    name = f"lms_stripe_{uuid.uuid4().hex[:12]}"
    admin = make_engine(lms_database_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def live_app(database_url, lms_config, tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("LMS_"):
            monkeypatch.delenv(name)
    empty = tmp_path / "lms.toml"
    empty.write_text("# settings come as overrides\n")
    app = create_app({
        **lms_config, "secret_key": "concurrency-test-secret-key-long-enough",
        "instance_dir": str(tmp_path / "instance"), "database": {"url": database_url,
                                                                 "pool_size": THREADS + 2},
        "jobs": {"in_process_worker": False},
        "email": {"backend": "file", "file_dir": str(tmp_path / "mail")},
    }, config_path=str(empty))
    lms = app.extensions["lmscore"]
    for entry_point in installed_entry_points().values():
        entry_point.load()
    Base.metadata.create_all(lms.db.engine)
    with app.app_context():
        assert all(not r.error for r in content.sync(lms, lms.db.session))
    yield app
    lms.jobs.close()
    lms.db.remove()
    lms.db.engine.dispose()


def paid_checkout(app, standin) -> int:
    """A learner's checkout, paid on Stripe's page; no webhook delivered yet."""
    lms = app.extensions["lmscore"]
    with app.app_context():
        session = lms.db.session
        learner = User(email=f"{uuid.uuid4().hex[:8]}@example.org", name="L", role="student",
                       password_hash="x")
        session.add(learner)
        session.commit()
        started = payments.checkout(lms, session, learner, "PAID")
        payment_id = started.payment.id
        session_id = started.checkout_url.rsplit("/", 1)[-1]
        lms.db.remove()
    paid = requests.post(f"{standin.url}/_test/checkout/sessions/{session_id}/pay",
                         data={"card": "4242424242424242"}, timeout=10)
    assert paid.status_code == 200
    return payment_id


def deliver_at_once(app, events) -> list:
    start = threading.Barrier(len(events), timeout=60)

    def deliver(event):
        hooks = Webhooks(app)
        start.wait()
        return hooks.deliver(event)

    with ThreadPoolExecutor(len(events)) as pool:
        return list(pool.map(deliver, events))


def scalar(app, query):
    lms = app.extensions["lmscore"]
    with app.app_context():
        try:
            return lms.db.session.scalar(query)
        finally:
            lms.db.remove()


def test_one_event_delivered_many_times_at_once_has_one_effect(live_app, stripe_standin):
    payment_id = paid_checkout(live_app, stripe_standin)
    [success] = stripe_standin.events("payment_intent.succeeded")
    responses = deliver_at_once(live_app, [success] * THREADS)
    assert [r.status_code for r in responses] == [200] * THREADS, [r.json for r in responses]
    assert sorted(r.json["duplicate"] for r in responses) == [False] + [True] * (THREADS - 1)
    assert scalar(live_app, select(func.count()).select_from(ProcessedProviderEvent)) == 1
    assert scalar(live_app, select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.name == "payment_succeeded")) == 1
    assert scalar(live_app, select(Payment.status).where(Payment.id == payment_id)) == (
        "succeeded")
    assert scalar(live_app, select(Enrolment.status)) == "active"


def test_success_and_refund_racing_end_refunded(live_app, stripe_standin):
    payment_id = paid_checkout(live_app, stripe_standin)
    intent = stripe_standin.events("payment_intent.succeeded")[0]["data"]["object"]["id"]
    requests.post(f"{stripe_standin.url}/v1/refunds", data={"payment_intent": intent},
                  headers={"Authorization": "Bearer sk_test_dashboard"}, timeout=10)
    events = [stripe_standin.events(kind)[0] for kind in (
        "payment_intent.succeeded", "checkout.session.completed", "charge.refunded")]
    responses = deliver_at_once(live_app, events * 3)
    assert all(r.status_code == 200 for r in responses), [r.json for r in responses]
    assert sum(not r.json["duplicate"] for r in responses) == 3
    assert scalar(live_app, select(Payment.status).where(Payment.id == payment_id)) == (
        "refunded")
    assert scalar(live_app, select(Enrolment.status)) in ("pending_payment", "revoked")
    assert scalar(live_app, select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.name == "payment_refunded")) == 1


def test_a_double_click_from_two_tabs_at_once_makes_one_checkout(live_app, stripe_standin):
    lms = live_app.extensions["lmscore"]
    with live_app.app_context():
        learner = User(email="tabs@example.org", name="T", role="student", password_hash="x")
        lms.db.session.add(learner)
        lms.db.session.commit()
        learner_id = learner.id
        lms.db.remove()
    start = threading.Barrier(4, timeout=60)

    def click(_n):
        with live_app.app_context():
            try:
                user = lms.db.session.get(User, learner_id)
                lms.db.session.rollback()  # SQLite: even a read holds the write lock
                start.wait()
                started = payments.checkout(lms, lms.db.session, user, "PAID")
                return started.payment.id, started.checkout_url
            finally:
                lms.db.remove()

    with ThreadPoolExecutor(4) as pool:
        results = set(pool.map(click, range(4)))
    assert len(results) == 1
    assert scalar(live_app, select(func.count()).select_from(Payment)) == 1
    assert len(set(stripe_standin.creates("/v1/checkout/sessions"))) == 1
