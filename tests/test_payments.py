"""The core payment service with a provider plugin written here (any provider): the status
is right whatever order or how often the facts arrive, access follows it, events are applied
once, admins refund, grant and revoke with an audit entry, receipts and the CSV export."""

import csv
import io
import itertools

import pytest
from sqlalchemy import func, select
from tracks_fixture import write_track

from lmscore import hookimpl
from lmscore.capabilities import (
    CheckoutResult,
    OutcomeKind,
    PaymentOutcome,
    PaymentProvider,
    PaymentStatus,
    ProviderEvent,
    RefundResult,
)
from lmscore.errors import Conflict, PermissionDenied, ValidationFailed
from lmscore.models import AuditEntry, Enrolment, OutboxEvent, Payment, ProcessedProviderEvent
from lmscore.services import content, payments

S, RA, F, C, R, RF, DO, DW, DL = (
    OutcomeKind.SUCCEEDED, OutcomeKind.REQUIRES_ACTION, OutcomeKind.FAILED,
    OutcomeKind.CANCELED, OutcomeKind.REFUNDED, OutcomeKind.REFUND_FAILED,
    OutcomeKind.DISPUTE_OPENED, OutcomeKind.DISPUTE_WON, OutcomeKind.DISPUTE_LOST,
)


class LaterPay(PaymentProvider):
    """Confirms later, by events; refunds are confirmed later too."""

    name = "laterpay"

    def __init__(self):
        self.refunds = []
        self.checkouts = []

    def start_checkout(self, request):
        self.checkouts.append(request)
        return CheckoutResult(PaymentStatus.CREATED,
                              provider_reference=f"lp-{request.idempotency_key}",
                              checkout_url=f"https://pay.example/{request.idempotency_key}")

    def refund(self, provider_reference, amount_minor):
        self.refunds.append((provider_reference, amount_minor))
        return RefundResult(PaymentStatus.CREATED, provider_reference)


class LaterPayPlugin:
    def __init__(self):
        self.provider = LaterPay()

    @hookimpl
    def lms_register_payment_providers(self):
        return [self.provider]


@pytest.fixture
def plugin():
    return LaterPayPlugin()


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    write_track(root, "PAID", price=2500, projects=1)
    write_track(root, "OTHER", price=900, projects=1)
    return {"plugins": {"enabled": ["content_folder"],
                        "content_folder": {"folders": [str(root)]}},
            "providers": {"payment_provider": "laterpay"}}


@pytest.fixture
def app(app_factory, plugin):
    app = app_factory(plugins={"laterpay": plugin})
    lms = app.extensions["lmscore"]
    with app.app_context():
        assert all(not r.error for r in content.sync(lms, lms.db.session))
    return app


@pytest.fixture
def session(lms, app):
    with app.app_context():
        yield lms.db.session


def checkout(lms, session, user, code="PAID"):
    return payments.checkout(lms, session, user, code).payment


def event(payment, n, kind, amount=None, at=None):
    return ProviderEvent(f"evt-{payment.id}-{n}", kind.value, (PaymentOutcome(
        kind, payment_id=payment.id, amount_minor=amount, occurred_at=at),))


def enrolment_status(session, payment):
    return session.scalar(select(Enrolment.status).where(
        Enrolment.user_id == payment.user_id, Enrolment.track_id == payment.track_id))


def named(session, name):
    return session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.name == name))


# Every order of these facts ends in the same state.
SCENARIOS = [
    ([S], "succeeded", "active"),
    ([RA, F, S], "succeeded", "active"),
    ([S, R], "refunded", {"revoked", "pending_payment"}),
    ([S, DO, DL], "charged_back", {"revoked", "pending_payment"}),
    ([S, DO, DW], "succeeded", "active"),
    ([F, C], None, "pending_payment"),  # the later one by the provider's clock wins
]


@pytest.mark.parametrize(("facts", "final", "access"), SCENARIOS, ids=str)
def test_final_state_does_not_depend_on_order_or_repeats(lms, session, make_user, facts,
                                                         final, access):
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for order in itertools.permutations(range(len(facts))):
        learner = make_user("student")
        payment = checkout(lms, session, learner)
        events = [event(payment, i, kind, at=t0 + timedelta(seconds=i))
                  for i, kind in enumerate(facts)]
        for i in order:
            assert payments.handle_event(session, "laterpay", events[i]) is True
        for e in events:  # every one re-delivered
            assert payments.handle_event(session, "laterpay", e) is False
        session.refresh(payment)
        expected = final or facts[-1].value
        assert payment.status == expected, order
        status = enrolment_status(session, payment)
        assert status in ({access} if isinstance(access, str) else access), (order, status)
        if final == "refunded":
            assert status != "active"


def test_success_once_emits_once_and_activates(lms, session, make_user):
    payment = checkout(lms, session, make_user("student"))
    assert payment.status == "created" and enrolment_status(session, payment) == (
        "pending_payment")
    assert payments.handle_event(session, "laterpay", event(payment, 1, S)) is True
    assert payments.handle_event(session, "laterpay", event(payment, 2, S)) is True  # new id
    assert named(session, "payment_succeeded") == 1
    assert enrolment_status(session, payment) == "active"
    assert session.scalar(select(func.count()).select_from(ProcessedProviderEvent)) == 2


def test_events_of_another_provider_or_unknown_payments_change_nothing(lms, session,
                                                                       make_user):
    payment = checkout(lms, session, make_user("student"))
    assert payments.handle_event(session, "other", event(payment, 1, S)) is True
    missing = ProviderEvent("evt-x", "x", (PaymentOutcome(S, payment_id=10**9),))
    assert payments.handle_event(session, "laterpay", missing) is True
    session.refresh(payment)
    assert payment.status == "created"


def test_a_wrong_amount_grants_nothing(lms, session, make_user):
    payment = checkout(lms, session, make_user("student"))
    payments.handle_event(session, "laterpay", event(payment, 1, S, amount=1))
    session.refresh(payment)
    assert payment.status == "created" and "does not match" in payment.failure_message
    assert enrolment_status(session, payment) == "pending_payment"


def test_partial_refund_keeps_access_and_the_largest_total_wins(lms, session, make_user):
    payment = checkout(lms, session, make_user("student"))
    payments.handle_event(session, "laterpay", event(payment, 1, S))
    payments.handle_event(session, "laterpay", event(payment, 2, R, amount=1000))
    payments.handle_event(session, "laterpay", event(payment, 3, R, amount=500))  # older total
    session.refresh(payment)
    assert (payment.status, payment.refunded_minor) == ("succeeded", 1000)
    payments.handle_event(session, "laterpay", event(payment, 4, R, amount=2500))
    session.refresh(payment)
    assert payment.status == "refunded" and enrolment_status(session, payment) == "revoked"
    assert named(session, "payment_refunded") == 1


def test_a_refund_keeps_access_another_payment_still_grants(lms, session, make_user):
    """Two succeeded payments for one track (e.g. paid twice by mistake): refunding one
    leaves access."""
    learner = make_user("student")
    first = checkout(lms, session, learner)
    payments.handle_event(session, "laterpay", event(first, 1, S))
    second = payments._new_payment(session, learner, first.track, LaterPay())
    session.commit()
    payments.handle_event(session, "laterpay", event(second, 1, S))
    payments.handle_event(session, "laterpay", event(second, 2, R))
    assert enrolment_status(session, first) == "active"


def named_refund(payment, n, kind, reference, amount=2500, at=None):
    return ProviderEvent(f"evt-{payment.id}-{n}", kind.value, (PaymentOutcome(
        kind, payment_id=payment.id, amount_minor=amount, occurred_at=at,
        refund_reference=reference, message="The card was closed." if kind is RF else ""),))


def refund_failures(session):
    return session.scalars(select(AuditEntry).where(
        AuditEntry.action == "payment.refund_failed")).all()


def test_a_refund_that_fails_in_any_order_gives_access_back_once(lms, session, make_user):
    for order in itertools.permutations(range(3)):
        payment = checkout(lms, session, make_user("student"))
        events = [event(payment, 1, S), named_refund(payment, 2, R, "re_1"),
                  named_refund(payment, 3, RF, "re_1")]
        for i in order:
            payments.handle_event(session, "laterpay", events[i])
        # Re-sent under new ids (a provider sends one failure as several events).
        for n, e in enumerate(events):
            payments.handle_event(session, "laterpay", ProviderEvent(
                f"{e.event_id}-again-{n}", e.type, e.outcomes))
        session.refresh(payment)
        assert (payment.status, payment.refunded_minor, payment.refunded_at) == (
            "succeeded", 0, None), order
        assert payment.failed_refunds[0]["message"] == "The card was closed."
        assert enrolment_status(session, payment) == "active", order
    assert named(session, "payment_succeeded") == 6  # once per payment
    entries = refund_failures(session)
    assert len(entries) == 6 and all(e.actor_id is None for e in entries)
    assert {(e.details["status"], e.details["enrolment_status"]) for e in entries} == {
        ("succeeded", "active"), ("created", "pending_payment")}  # failed before the success


def test_a_failed_refund_restores_a_completed_enrolment_but_not_an_admin_revocation(
        lms, session, make_user):
    admin = make_user("admin")
    finished, revoked = make_user("student"), make_user("student")
    for learner in (finished, revoked):
        payment = checkout(lms, session, learner)
        payments.handle_event(session, "laterpay", event(payment, 1, S))
        enrolment = session.scalar(select(Enrolment).where(Enrolment.user_id == learner.id))
        enrolment.status = "completed"
        session.commit()
        payments.handle_event(session, "laterpay", named_refund(payment, 2, R, "re_1"))
        assert enrolment_status(session, payment) == "revoked"
        if learner is revoked:  # the admin confirms the revocation by hand
            payments.set_enrolment(session, admin, learner.id, "PAID", grant=False,
                                   reason="Refunded at the learner's request")
        payments.handle_event(session, "laterpay", named_refund(payment, 3, RF, "re_1"))
        session.refresh(payment)
        assert payment.status == "succeeded"
        assert enrolment_status(session, payment) == (
            "completed" if learner is finished else "revoked")
    assert [e.details["enrolment_status"] for e in refund_failures(session)] == [
        "completed", "revoked"]


def test_a_refund_failure_clears_only_the_request_it_ended(lms, session, make_user, plugin):
    from datetime import timedelta

    admin = make_user("admin")
    payment = checkout(lms, session, make_user("student"))
    payments.handle_event(session, "laterpay", event(payment, 1, S))
    payments.refund(lms, session, admin, payment.id)
    requested = payment.refund_requested_at
    older = requested - timedelta(minutes=5)  # an earlier refund, reported late
    payments.handle_event(session, "laterpay", named_refund(payment, 2, RF, "re_0", at=older))
    session.refresh(payment)
    assert payment.refund_requested_at == requested
    # The provider's clock counts whole seconds: the failure of this request, in its second.
    failed_at = requested.replace(microsecond=0)
    payments.handle_event(session, "laterpay", named_refund(payment, 3, RF, "re_1",
                                                            at=failed_at))
    session.refresh(payment)
    assert payment.refund_requested_at is None and payment.status == "succeeded"
    assert [r["reference"] for r in payment.failed_refunds] == ["re_0", "re_1"]


def test_a_refund_failure_naming_no_refund_changes_nothing(lms, session, make_user):
    payment = checkout(lms, session, make_user("student"))
    payments.handle_event(session, "laterpay", event(payment, 1, S))
    payments.handle_event(session, "laterpay", event(payment, 2, R))
    payments.handle_event(session, "laterpay", event(payment, 3, RF))
    session.refresh(payment)
    assert payment.status == "refunded" and not refund_failures(session)


def test_double_click_reuses_the_open_payment(lms, session, make_user, plugin):
    learner = make_user("student")
    first = checkout(lms, session, learner)
    again = checkout(lms, session, learner)
    assert again.id == first.id
    keys = [r.idempotency_key for r in plugin.provider.checkouts]
    assert len(keys) == 2 and len(set(keys)) == 1 and keys[0].startswith("lms-")
    other = checkout(lms, session, learner, "OTHER")
    assert other.id != first.id and other.idempotency_key != first.idempotency_key


def test_checkout_when_enrolled_or_revoked(lms, session, make_user):
    learner = make_user("student")
    payment = checkout(lms, session, learner)
    payments.handle_event(session, "laterpay", event(payment, 1, S))
    assert payments.checkout(lms, session, learner, "PAID").payment is None  # enrolled
    admin = make_user("admin")
    payments.set_enrolment(session, admin, learner.id, "PAID", grant=False, reason="abuse")
    with pytest.raises(PermissionDenied, match="revoked"):
        payments.checkout(lms, session, learner, "PAID")


def test_admin_refund_waits_for_the_provider(lms, session, make_user, plugin):
    learner, admin = make_user("student"), make_user("admin")
    payment = checkout(lms, session, learner)
    with pytest.raises(Conflict, match="Only a succeeded payment"):
        payments.refund(lms, session, admin, payment.id)
    payments.handle_event(session, "laterpay", event(payment, 1, S))
    with pytest.raises(PermissionDenied):
        payments.refund(lms, session, learner, payment.id)
    refunded = payments.refund(lms, session, admin, payment.id)
    assert refunded.status == "succeeded" and refunded.refund_requested_at is not None
    assert plugin.provider.refunds == [(payment.provider_reference, 2500)]
    assert enrolment_status(session, payment) == "active"  # until the provider confirms
    payments.handle_event(session, "laterpay", event(payment, 2, R))
    assert enrolment_status(session, payment) == "revoked"
    [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.actor_id, entry.action, entry.target) == (
        admin.id, "payment.refund", f"payment:{payment.id}")


def test_manual_grant_and_revoke_are_audited(lms, session, make_user):
    learner, admin = make_user("student"), make_user("admin")
    with pytest.raises(ValidationFailed) as error:
        payments.set_enrolment(session, admin, learner.id, "PAID", grant=True, reason="  ")
    assert "reason" in error.value.details["fields"]
    with pytest.raises(PermissionDenied):
        payments.set_enrolment(session, make_user("trainer"), learner.id, "PAID", grant=True,
                               reason="x")
    enrolment = payments.set_enrolment(session, admin, learner.id, "PAID", grant=True,
                                       reason="Paid by bank transfer")
    assert enrolment.status == "active"
    payments.set_enrolment(session, admin, learner.id, "PAID", grant=False, reason="Chargeback")
    entries = payments.audit_entries(session, admin)
    assert [(e.action, e.details["reason"], e.details["status"]) for e in entries] == [
        ("enrolment.revoke", "Chargeback", "revoked"),
        ("enrolment.grant", "Paid by bank transfer", "active")]
    assert entries[1].details["previous_status"] is None


def test_listing_filters_and_csv(lms, session, make_user):
    ann, bob, admin = (make_user("student", name="=HYPERLINK(1)"), make_user("student"),
                       make_user("admin"))
    paid = checkout(lms, session, ann)
    payments.handle_event(session, "laterpay", event(paid, 1, S))
    checkout(lms, session, bob, "OTHER")
    own = session.scalars(payments.payments_query(bob)).all()
    assert [p.user_id for p in own] == [bob.id]
    # A learner's user filter is ignored: always their own.
    assert session.scalars(payments.payments_query(
        bob, payments.PaymentFilters(user_id=ann.id))).all() == own
    everyone = payments.payments_query(admin, payments.PaymentFilters(status="succeeded"))
    assert [p.id for p in session.scalars(everyone)] == [paid.id]
    by_track = payments.payments_query(admin, payments.PaymentFilters(track="other"))
    assert [p.user_id for p in session.scalars(by_track)] == [bob.id]
    rows = list(csv.DictReader(io.StringIO(
        payments.export_csv(session, admin, payments.PaymentFilters()))))
    assert len(rows) == 2 and {r["status"] for r in rows} == {"succeeded", "created"}
    assert rows[1]["user_name"] == "'=HYPERLINK(1)"  # no formula in a spreadsheet
    assert rows[1]["amount"] == "25.00"
    with pytest.raises(PermissionDenied):
        payments.export_csv(session, ann, payments.PaymentFilters())


def test_api_receipts_refund_and_overrides(app, lms, session, make_user, api_client):
    learner, admin = make_user("student"), make_user("admin")
    me, staff = api_client(learner), api_client(admin)
    started = me.post("/api/v1/payments/checkout", json={"track": "PAID"})
    assert started.status_code == 201
    assert started.json["checkout_url"].startswith("https://pay.example/lms-")
    assert me.post("/api/v1/payments/checkout", json={}).json["error"]["details"][
        "fields"] == {"track": ["Missing data for required field."]}
    assert me.post("/api/v1/payments/checkout", json={"track": "NOPE"}).status_code == 404
    payment_id = started.json["payment_id"]
    stranger = api_client(make_user("student"))
    assert stranger.get(f"/api/v1/payments/{payment_id}").status_code == 404
    assert me.get("/api/v1/payments").json["total"] == 1
    assert stranger.get("/api/v1/payments").json["total"] == 0
    assert staff.get("/api/v1/payments?status=bogus").status_code == 422
    assert staff.get("/api/v1/payments?since=2026-02-01T00:00:00&until=2026-01-01T00:00:00"
                     ).status_code == 422
    assert staff.post(f"/api/v1/payments/{payment_id}/refund").status_code == 409
    export = staff.get("/api/v1/payments/export.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"

    granted = staff.post("/api/v1/admin/enrolments/grant", json={
        "user_id": learner.id, "track": "PAID", "reason": "Scholarship"})
    assert granted.status_code == 200 and granted.json["status"] == "active"
    assert staff.post("/api/v1/admin/enrolments/revoke", json={
        "user_id": learner.id, "track": "PAID"}).status_code == 422
    audit = staff.get("/api/v1/admin/audit").json
    assert audit[0]["action"] == "enrolment.grant" and audit[0]["details"]["reason"] == (
        "Scholarship")


def test_admin_payments_page_filters_refunds_and_grants(app, lms, make_user, web):
    # No app context held across requests here: each request must get its own (CSRF, g).
    learner, admin = make_user("student", name="Ann <b>"), make_user("admin")
    with app.app_context():
        payment = checkout(lms, lms.db.session, learner)
        payments.handle_event(lms.db.session, "laterpay", event(payment, 1, S))
    web.sign_in(admin.email, "test-password-1")
    page = web.get("/admin/payments?status=succeeded&track=PAID")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f'id="payment-{payment.id}"' in html
    assert "Ann &lt;b&gt;" in html and "25.00 EUR" in html
    assert f'id="payment-{payment.id}"' not in web.get(
        "/admin/payments?status=refunded").get_data(as_text=True)
    assert web.get("/admin/payments?since=not-a-date").status_code == 200
    csv_page = web.get("/admin/payments/export.csv?track=PAID")
    assert csv_page.mimetype == "text/csv" and str(payment.id) in csv_page.get_data(as_text=True)
    # Forms without the CSRF token are refused.
    assert web.post(f"/admin/payments/{payment.id}/refund").status_code == 400
    done = web.submit("/admin/payments", {}, action=f"/admin/payments/{payment.id}/refund")
    assert done.status_code == 302, done.get_data(as_text=True)[-1500:]
    assert "requested" in web.get("/admin/payments").get_data(as_text=True)
    other = make_user("student")
    web.submit("/admin/payments", {"user_id": other.id, "track": "PAID",
                                   "reason": "Paid in cash", "action": "grant"},
               action="/admin/enrolments/override")
    with app.app_context():
        assert lms.db.session.scalar(select(Enrolment.status).where(
            Enrolment.user_id == other.id)) == "active"
    assert "Paid in cash" in web.get("/admin/payments").get_data(as_text=True)


def test_learners_cannot_open_the_admin_page(app, make_user, web):
    learner = make_user("student")
    web.sign_in(learner.email, "test-password-1")
    assert web.get("/admin/payments").status_code == 403
    assert web.get("/payments").status_code == 200


def test_a_paid_track_page_offers_buying(app, lms, make_user, web, plugin):
    learner = make_user("student")
    catalogue = web.get("/tracks").get_data(as_text=True)
    assert "25.00 EUR" in catalogue
    web.sign_in(learner.email, "test-password-1")
    assert "Buy PAID for 25.00 EUR" in web.get("/tracks/PAID").get_data(as_text=True)
    response = web.submit("/tracks/PAID", {}, action="/tracks/PAID/buy")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://pay.example/lms-")
    session = lms.db.session
    payment = session.scalars(select(Payment)).one()
    status = web.get(f"/payments/{payment.id}")
    assert "Waiting for the payment provider" in status.get_data(as_text=True)


def test_a_refunded_learner_may_buy_again_but_not_after_a_chargeback_or_an_admin(
        lms, session, make_user):
    """A refund ends access; the learner may pay again (and a refund that fails meanwhile
    pays after all). A chargeback, or an admin's revocation, stands until an admin lifts it."""
    refunded, charged_back, revoked = (make_user("student") for _ in range(3))
    for learner, ending in ((refunded, R), (charged_back, DL), (revoked, R)):
        payment = checkout(lms, session, learner)
        payments.handle_event(session, "laterpay", event(payment, 1, S))
        payments.handle_event(session, "laterpay", named_refund(payment, 2, ending, "re_1"))
        assert enrolment_status(session, payment) == "revoked"
    payments.set_enrolment(session, make_user("admin"), revoked.id, "PAID", grant=False,
                           reason="Refunded after abuse")

    first = session.scalar(select(Payment).where(Payment.user_id == refunded.id))
    again = checkout(lms, session, refunded)
    assert again.id != first.id and enrolment_status(session, again) == "pending_payment"
    for learner in (charged_back, revoked):
        with pytest.raises(PermissionDenied, match="revoked"):
            payments.checkout(lms, session, learner, "PAID")

    # The first refund fails after all: that payment pays, the new checkout is not needed.
    payments.handle_event(session, "laterpay", named_refund(first, 3, RF, "re_1"))
    assert enrolment_status(session, first) == "active"


def test_the_track_page_offers_a_refunded_learner_to_buy_again(app, lms, make_user, web):
    refunded, charged_back = make_user("student"), make_user("student")
    with app.app_context():
        for learner, ending in ((refunded, R), (charged_back, DL)):
            payment = checkout(lms, lms.db.session, learner)
            payments.handle_event(lms.db.session, "laterpay", event(payment, 1, S))
            payments.handle_event(lms.db.session, "laterpay", event(payment, 2, ending))
    web.sign_in(refunded.email, "test-password-1")
    html = web.get("/tracks/PAID").get_data(as_text=True)
    assert "You can buy the track again" in html and "Buy PAID" in html
    web.submit("/logout", {})
    web.sign_in(charged_back.email, "test-password-1")
    html = web.get("/tracks/PAID").get_data(as_text=True)
    assert "was withdrawn" in html and "Buy PAID" not in html
