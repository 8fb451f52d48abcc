"""Enrolment statuses, paid tracks through a payment provider plugin, track completion and
the events learning emits (checked in the outbox)."""

import pytest
from sqlalchemy import select
from tracks_fixture import write_track

from lmscore import hookimpl
from lmscore.capabilities import (
    CheckoutResult,
    OutcomeKind,
    PaymentOutcome,
    PaymentProvider,
    PaymentStatus,
    RefundResult,
)
from lmscore.errors import PermissionDenied
from lmscore.models import Enrolment, OutboxEvent, Payment
from lmscore.services import content, payments


class FakePay(PaymentProvider):
    name = "fakepay"
    takes_payment = True

    def __init__(self):
        self.requests = []

    def start_checkout(self, request):
        self.requests.append(request)
        return CheckoutResult(status=PaymentStatus.REQUIRES_ACTION,
                              provider_reference=f"fp-{request.payment_id}",
                              checkout_url=f"https://pay.example/{request.payment_id}")

    def refund(self, provider_reference, amount_minor):
        return RefundResult(status=PaymentStatus.REFUNDED)


class FakePayPlugin:
    def __init__(self):
        self.provider = FakePay()

    @hookimpl
    def lms_register_payment_providers(self):
        return [self.provider]


@pytest.fixture
def content_root(tmp_path):
    root = tmp_path / "content"
    write_track(root, "TT", price=4900)
    write_track(root, "FREE")
    return root


@pytest.fixture
def lms_config(content_root):
    return {"plugins": {"enabled": ["content_folder"],
                        "content_folder": {"folders": [str(content_root)]}}}


@pytest.fixture
def fakepay():
    return FakePayPlugin()


@pytest.fixture
def app(app_factory, fakepay):
    app = app_factory({"tracks": {"TT": {"payment_provider": "fakepay"}}},
                      plugins={"fakepay": fakepay})
    lms = app.extensions["lmscore"]
    with app.app_context():
        assert all(not r.error for r in content.sync(lms, lms.db.session))
    return app


def events_named(lms, name):
    return [e.payload for e in lms.db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.name == name).order_by(OutboxEvent.id))]


def test_free_track_enrols_at_once(lms, api_client, make_user):
    learner = make_user("student")
    me = api_client(learner)
    r = me.post("/api/v1/tracks/FREE/enrol")
    assert r.status_code == 201 and r.json["status"] == "active" and r.json["activated_at"]
    assert me.post("/api/v1/tracks/free/enrol").json["id"] == r.json["id"]  # idempotent
    assert lms.db.session.scalars(select(Payment)).all() == []  # the free provider: no payment
    [event] = events_named(lms, "enrolment_changed")
    assert (event["user_id"], event["track_code"], event["status"]) == (learner.id, "FREE",
                                                                        "active")


def test_paid_track_answers_402_with_the_checkout_and_hides_content(
    lms, api_client, make_user, fakepay
):
    learner = make_user("student")
    me = api_client(learner)
    r = me.post("/api/v1/tracks/TT/enrol")
    assert r.status_code == 402
    error = r.json["error"]
    assert error["code"] == "payment_required"
    payment = lms.db.session.get(Payment, error["details"]["payment_id"])
    assert error["details"]["checkout_url"] == f"https://pay.example/{payment.id}"
    assert (payment.provider, payment.status, payment.amount_minor) == (
        "fakepay", "requires_action", 4900)
    assert fakepay.provider.requests[0].track_code == "TT"

    [enrolment] = me.get("/api/v1/enrolments/me").json
    assert (enrolment["track_code"], enrolment["status"]) == ("TT", "pending_payment")
    project_id = me.get("/api/v1/tracks/TT").json["projects"][0]["id"]
    project = me.get(f"/api/v1/projects/{project_id}").json
    assert (project["content_visible"], project["steps"], project["deliverables"]) == (
        False, [], [])
    payment_id = error["details"]["payment_id"]
    step_id = lms.db.session.get(Payment, payment_id).track.projects[0].steps[0].id
    assert me.post(f"/api/v1/steps/{step_id}/complete", json={}).status_code == 403

    # The provider's confirmation activates the enrolment.
    payments.record_outcome(lms.db.session, lms.db.session.get(Payment, payment_id),
                            PaymentOutcome(OutcomeKind.SUCCEEDED, payment_id=payment_id))
    lms.db.session.commit()
    assert me.get("/api/v1/enrolments/me").json[0]["status"] == "active"
    assert me.get(f"/api/v1/projects/{project_id}").json["content_visible"] is True
    assert [e["status"] for e in events_named(lms, "enrolment_changed")] == [
        "pending_payment", "active"]
    assert events_named(lms, "payment_succeeded")[0]["amount_minor"] == 4900


def test_revoked_enrolment_hides_content_and_cannot_re_enrol(lms, api_client, make_user):
    learner, admin = make_user("student"), make_user("admin")
    me = api_client(learner)
    assert me.post("/api/v1/tracks/FREE/enrol").status_code == 201
    with pytest.raises(PermissionDenied):
        payments.set_enrolment(lms.db.session, learner, learner.id, "FREE", grant=False,
                               reason="not mine to take")
    payments.set_enrolment(lms.db.session, admin, learner.id, "FREE", grant=False,
                           reason="Access withdrawn")
    assert me.get("/api/v1/enrolments/me").json[0]["status"] == "revoked"
    project_id = me.get("/api/v1/tracks/FREE").json["projects"][0]["id"]
    assert me.get(f"/api/v1/projects/{project_id}").json["content_visible"] is False
    r = me.post("/api/v1/tracks/FREE/enrol")
    assert r.status_code == 403 and "revoked" in r.json["error"]["message"]


def test_approving_the_last_required_deliverable_completes_the_track(
    lms, api_client, make_user, jobs
):
    learner, trainer = make_user("student"), make_user("trainer")
    me, staff = api_client(learner), api_client(trainer)
    me.post("/api/v1/tracks/FREE/enrol")
    projects = me.get("/api/v1/tracks/FREE").json["projects"]
    submitted = []
    for outline in projects:
        project = me.get(f"/api/v1/projects/{outline['id']}").json
        report = next(d for d in project["deliverables"] if d["key"] == "report")
        sub = me.post("/api/v1/submissions", json={"deliverable_id": report["id"],
                                                     "text": "My report"})
        assert sub.status_code == 201, sub.json
        submitted.append(sub.json["id"])
        jobs.drain()
        enrolment = lms.db.session.scalar(select(Enrolment).where(
            Enrolment.user_id == learner.id))
        lms.db.session.refresh(enrolment)
        assert enrolment.status == "active"  # not before the last approval
        r = staff.post(f"/api/v1/submissions/{sub.json['id']}/review",
                       json={"decision": "approved", "feedback": "Good", "score": 90})
        assert r.status_code == 201

    [enrolment] = me.get("/api/v1/enrolments/me").json
    assert enrolment["status"] == "completed" and enrolment["completed_at"]
    progress = me.get("/api/v1/progress/me").json[0]
    assert progress["completed"] is True and progress["percent"] > 0
    assert [e["status"] for e in events_named(lms, "enrolment_changed")] == [
        "active", "completed"]
    assert [e["submission_id"] for e in events_named(lms, "submission_created")] == submitted
    reviewed = events_named(lms, "submission_reviewed")
    assert [(e["submission_id"], e["decision"], e["reviewer_id"]) for e in reviewed] == [
        (s, "approved", trainer.id) for s in submitted]
