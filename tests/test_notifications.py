"""Notifications: routing outbox events to recipients, templates, preferences and digests,
unsubscribe links, delivery with retries, and SMTP (STARTTLS + AUTH) against aiosmtpd."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import os
import re
import smtplib
import socket
import ssl
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from lmscore.app import create_app
from lmscore.capabilities import NotificationChannel
from lmscore.capabilities.quizgen import GeneratedQuestion, QuizGenerator
from lmscore.db import Base
from lmscore.defaults import notifications as default_notifications
from lmscore.errors import PermissionDenied
from lmscore.events import (
    PaymentRefunded,
    PaymentSucceeded,
    QuizGenerated,
    SubmissionReviewed,
    WorkspaceChanged,
)
from lmscore.hookspecs import hookimpl
from lmscore.models import (
    Deliverable,
    JobFailure,
    NotificationDelivery,
    NotificationDigestItem,
    OutboxEvent,
    Project,
    Step,
    Submission,
    Track,
)
from lmscore.services import events, learning, quizzes, submissions
from lmscore.services import notifications as service
from lmscore.testing.plugin import DEFAULT_PASSWORD, TEST_SECRET

HOSTILE = "<script>alert(1)</script> & Co"


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def course(lms):
    session = lms.db.session
    track = Track(code="NT", name="Notify track")
    project = Project(track=track, number=1, slug="p", title="First project")
    session.add_all([track, project,
                     Step(project=project, number=1, slug="s", title="S", body_markdown="x"),
                     Deliverable(project=project, key="d", title="Report", kind="text")])
    session.commit()
    return track


def enrolled(lms, make_user, course, **fields):
    learner = make_user("student", **fields)
    learning.enrol(lms, lms.db.session, learner, course.code)
    return learner


def submit(lms, learner, course) -> Submission:
    deliverable = course.projects[0].deliverables[0]
    return submissions.create(lms, lms.db.session, learner, submissions.SubmissionInput(
        deliverable_id=deliverable.id, text="my work"), None)


def messages_to(mailbox, address):
    return [m for m in mailbox() if m["To"] == address]


def plain(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def deliveries(lms, **where):
    query = select(NotificationDelivery).order_by(NotificationDelivery.id)
    for name, value in where.items():
        query = query.where(getattr(NotificationDelivery, name) == value)
    return list(lms.db.session.scalars(query))


class FailingChannel(NotificationChannel):
    """A site channel whose service is down."""

    name = "pager"
    per_user = False

    def __init__(self):
        self.calls = 0

    def destinations(self, kind):
        return ["ops"] if kind == "submission_submitted" else []

    def send(self, notification):
        self.calls += 1
        raise ConnectionError("pager service unreachable")


class ChannelPlugin:
    def __init__(self, channel):
        self.channel = channel

    @hookimpl
    def lms_register_notification_channels(self, lms):
        return [self.channel]


# -- routing and rendering ---------------------------------------------------------------------


def test_submission_goes_to_the_assigned_trainer_and_the_review_to_the_learner(
        lms, jobs, make_user, mailbox, course):
    trainer, other_trainer = make_user("trainer"), make_user("trainer")
    learner = enrolled(lms, make_user, course, trainer_id=trainer.id)
    submission = submit(lms, learner, course)
    jobs.drain()
    (to_trainer,) = messages_to(mailbox, trainer.email)
    assert messages_to(mailbox, other_trainer.email) == []
    assert to_trainer["Subject"] == f"{learner.name} submitted “Report”"
    assert f"{lms.settings.base_url}/trainer/submissions/{submission.id}" in plain(to_trainer)

    submissions.review(lms.db.session, trainer, submission.id, decision="approved",
                       feedback="Well done", score=90)
    jobs.drain()
    (reviewed,) = [m for m in messages_to(mailbox, learner.email)
                   if "Report" in m["Subject"]]
    assert reviewed["Subject"] == "Your submission “Report”: approved"
    assert "Well done" in plain(reviewed) and "(score 90)" in plain(reviewed)
    assert f"{lms.settings.base_url}/projects/{course.projects[0].id}" in plain(reviewed)


def test_without_an_assigned_trainer_every_trainer_hears_of_a_submission(
        lms, jobs, make_user, mailbox, course):
    trainers = [make_user("trainer"), make_user("trainer")]
    submit(lms, enrolled(lms, make_user, course), course)
    jobs.drain()
    for trainer in trainers:
        assert len(messages_to(mailbox, trainer.email)) == 1


def test_enrolment_sends_its_notice_once_active(lms, jobs, make_user, mailbox, course):
    learner = enrolled(lms, make_user, course)
    jobs.drain()
    (message,) = messages_to(mailbox, learner.email)
    assert message["Subject"] == "You are enrolled in Notify track"
    assert f"{lms.settings.base_url}/tracks/NT" in plain(message)


def test_learner_content_is_escaped_in_html_and_kept_in_text(
        lms, jobs, make_user, mailbox, course):
    trainer = make_user("trainer", name=f"Trainer {HOSTILE}")
    learner = enrolled(lms, make_user, course, name=f"Eve {HOSTILE}", trainer_id=trainer.id)
    submission = submit(lms, learner, course)
    jobs.drain()
    submissions.review(lms.db.session, trainer, submission.id, decision="changes_requested",
                       feedback=f"Fix {HOSTILE}", score=None)
    jobs.drain()
    (to_trainer,) = messages_to(mailbox, trainer.email)
    (reviewed,) = [m for m in messages_to(mailbox, learner.email) if "Report" in m["Subject"]]
    for message in (to_trainer, reviewed):
        assert "<script>" not in html(message)
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html(message)
    assert f"Fix {HOSTILE}" in plain(reviewed)  # plain text needs no escaping
    assert f"Hello Eve {HOSTILE}," in plain(reviewed)


def test_payment_workspace_and_generation_events_notify(lms, jobs, make_user, mailbox, course):
    learner, trainer = make_user(), make_user("trainer")
    quiz = quizzes.create_quiz(lms.db.session, trainer, {"title": "Draft"}, [], [])
    session = lms.db.session
    for event in (
        PaymentSucceeded(payment_id=1, user_id=learner.id, track_code="NT", amount_minor=4900,
                         currency="eur"),
        PaymentRefunded(payment_id=1, user_id=learner.id, track_code="NT", amount_minor=4900,
                        currency="EUR"),
        WorkspaceChanged(workspace_id=1, user_id=learner.id, track_code="NT", status="running"),
        WorkspaceChanged(workspace_id=1, user_id=learner.id, track_code="NT", status="failed",
                         message="Out of memory"),
        QuizGenerated(quiz_id=quiz.id, owner_id=trainer.id, generator="echo", status="failed",
                      error="The model is offline."),
    ):
        events.emit(session, event)
    session.commit()
    jobs.drain()
    subjects = sorted(m["Subject"] for m in messages_to(mailbox, learner.email))
    assert subjects == ["Payment received for Notify track",
                        "Your payment for Notify track was refunded",
                        "Your workspace for Notify track failed"]
    texts = " ".join(plain(m) for m in messages_to(mailbox, learner.email))
    assert "49.00 EUR" in texts and "Out of memory" in texts
    (generated,) = messages_to(mailbox, trainer.email)
    assert generated["Subject"] == "Quiz generation failed: Draft"
    assert "The model is offline." in plain(generated)


def test_a_review_decided_by_an_integration_names_no_reviewer(
        lms, jobs, make_user, mailbox, course):
    learner = enrolled(lms, make_user, course)
    submission = submit(lms, learner, course)
    events.emit(lms.db.session, SubmissionReviewed(
        submission_id=submission.id, user_id=learner.id, reviewer_id=None, decision="approved"))
    lms.db.session.commit()
    jobs.drain()
    (reviewed,) = [m for m in messages_to(mailbox, learner.email) if "Report" in m["Subject"]]
    assert "for First project was reviewed: approved." in plain(reviewed)


def test_events_about_rows_that_are_gone_send_nothing(lms, jobs, mailbox):
    events.emit(lms.db.session, PaymentSucceeded(payment_id=1, user_id=987654, track_code="NT",
                                                 amount_minor=1, currency="EUR"))
    lms.db.session.commit()
    jobs.drain()
    assert mailbox() == [] and deliveries(lms) == []


def test_routing_the_same_event_twice_delivers_once(lms, jobs, make_user, mailbox, course):
    learner = enrolled(lms, make_user, course)
    jobs.drain()
    event_id = lms.db.session.scalar(select(OutboxEvent.id).where(
        OutboxEvent.name == "enrolment_changed").order_by(OutboxEvent.id.desc()))
    jobs.enqueue(service.ROUTE_JOB, event_id=event_id)
    jobs.drain()
    assert len(messages_to(mailbox, learner.email)) == 1
    assert len(deliveries(lms, recipient_id=learner.id)) == 1


def test_a_theme_or_instance_template_overrides_a_notification(
        app_factory, mail_dir, make_user, course):
    folder = mail_dir.parent / "instance" / "templates" / "notifications"
    folder.mkdir(parents=True)
    (folder / "enrolment_activated.subject.txt").write_text("Welcome aboard {{ track_name }}!")
    app = app_factory()
    lms = app.extensions["lmscore"]
    learner = make_user()
    learning.enrol(lms, lms.db.session, learner, "NT")
    lms.jobs.drain()
    (row,) = deliveries(lms, recipient_id=learner.id)
    assert row.subject == "Welcome aboard Notify track!"


def test_every_notifying_event_has_a_listener_and_every_kind_its_templates(lms):
    for event_name in service.NOTIFYING_EVENTS:
        assert hasattr(default_notifications, f"lms_on_{event_name}"), event_name
    core = Path(service.__file__).resolve().parent.parent / "templates" / "notifications"
    for kind in service.KINDS:
        for suffix in ("subject.txt", "txt", "html"):
            assert (core / f"{kind.name}.{suffix}").is_file()


# -- failures ----------------------------------------------------------------------------------


def test_a_failing_channel_retries_records_the_failure_and_spares_the_action(
        app_factory, make_user, mailbox, course):
    channel = FailingChannel()
    app = app_factory(plugins={"pager": ChannelPlugin(channel)})
    lms = app.extensions["lmscore"]
    trainer = make_user("trainer")
    learner = enrolled(lms, make_user, course, trainer_id=trainer.id)
    submission = submit(lms, learner, course)
    lms.jobs.drain(raise_failures=False)

    assert lms.db.session.get(Submission, submission.id).status in ("submitted", "in_review")
    (failed,) = deliveries(lms, channel="pager")
    assert failed.status == "failed" and failed.destination == "ops"
    assert failed.attempts == service.DELIVERY_RETRIES + 1 == channel.calls
    assert "pager service unreachable" in failed.error
    assert lms.db.session.scalar(select(JobFailure).where(
        JobFailure.actor == service.DELIVER_JOB, JobFailure.kwargs["delivery_id"].as_integer()
        == failed.id)) is not None
    # The email channel is not held back by the broken one.
    assert len(messages_to(mailbox, trainer.email)) == 1
    event = lms.db.session.scalar(select(OutboxEvent).where(
        OutboxEvent.name == "submission_created"))
    assert event.status == "delivered"


def test_admins_see_failed_deliveries(app_factory, api_client, make_user, course):
    app = app_factory(plugins={"pager": ChannelPlugin(FailingChannel())})
    lms = app.extensions["lmscore"]
    make_user("trainer")
    submit(lms, enrolled(lms, make_user, course), course)
    lms.jobs.drain(raise_failures=False)
    admin = api_client(make_user("admin"))
    url = "/api/v1/admin/notifications/deliveries"
    page = admin.get(f"{url}?status=failed").json
    assert [(d["channel"], d["status"]) for d in page["items"]] == [("pager", "failed")]
    assert "pager service unreachable" in page["items"][0]["error"]
    # Filters combine: the learner's enrolment email and the trainer's submission email.
    sent = admin.get(f"{url}?status=sent&channel=email").json["items"]
    assert {d["kind"] for d in sent} == {"enrolment_activated", "submission_submitted"}
    page = admin.get(f"{url}?channel=email&kind=enrolment_activated&page_size=1").json
    assert (page["total"], [d["kind"] for d in page["items"]]) == (1, ["enrolment_activated"])
    assert admin.get(f"{url}?kind=quiz_submitted").json["items"] == []
    bad = admin.get(f"{url}?status=lost")
    assert bad.status_code == 422 and "status" in bad.json["error"]["details"]["fields"]
    assert api_client(make_user()).get(url).status_code == 403
    assert api_client(make_user("trainer")).get(url).status_code == 403


def test_delivery_log_query_filters_and_is_for_admins(lms, make_user):
    learner, admin = make_user(), make_user("admin")
    session = lms.db.session
    for n, (kind, channel, status) in enumerate([("quiz_submitted", "email", "sent"),
                                                  ("quiz_submitted", "pager", "failed"),
                                                  ("digest", "email", "pending")]):
        session.add(NotificationDelivery(
            dedup_key=f"log-{n}", kind=kind, channel=channel, status=status,
            recipient_id=learner.id, subject="S", text="T"))
    session.commit()

    def log(**filters):
        query = service.deliveries_query(admin, **filters)
        return [(d.kind, d.channel, d.status) for d in session.scalars(query)]

    assert log() == [("digest", "email", "pending"), ("quiz_submitted", "pager", "failed"),
                     ("quiz_submitted", "email", "sent")]
    assert log(status="failed") == [("quiz_submitted", "pager", "failed")]
    assert log(channel="email", kind="quiz_submitted") == [("quiz_submitted", "email", "sent")]
    assert log(kind="digest", status="sent") == []
    assert session.scalars(service.deliveries_query(admin)).first().recipient.id == learner.id
    assert "digest" in service.delivery_kinds(lms)
    assert "quiz_submitted" in service.delivery_kinds(lms)
    for role in ("student", "trainer"):
        with pytest.raises(PermissionDenied):
            service.deliveries_query(make_user(role))


class RecordingChannel(NotificationChannel):
    """A site channel that keeps what it is given (routing sends it nothing)."""

    name = "recorder"
    per_user = False

    def __init__(self):
        self.sent = []

    def send(self, notification):
        self.sent.append(notification.delivery_id)


def pending_delivery(lms) -> NotificationDelivery:
    row = NotificationDelivery(dedup_key="recorder-1", kind="quiz_submitted", channel="recorder",
                               destination="ops", subject="S", text="T")
    lms.db.session.add(row)
    lms.db.session.commit()
    return row


def test_a_delivery_job_run_again_sends_nothing_twice(app_factory):
    channel = RecordingChannel()
    lms = app_factory(plugins={"rec": ChannelPlugin(channel)}).extensions["lmscore"]
    row = pending_delivery(lms)
    for _ in range(2):  # the message redelivered after the first run
        service.deliver(lms, row.id)
    assert channel.sent == [row.id]
    lms.db.session.refresh(row)
    assert (row.status, row.attempts) == ("sent", 1)


def test_a_delivery_another_worker_is_sending_is_skipped(scratch_database, tmp_path,
                                                         monkeypatch):
    """At-least-once jobs: the same delivery's job may run twice at once (a message requeued
    while its first run still sends). The second run must not send it again. A database of
    its own: the harness's shared connection would hide the row from a second connection."""
    url = scratch_database("postgresql")  # SQLite serialises the two runs (BEGIN IMMEDIATE)
    for name in [name for name in os.environ if name.startswith("LMS_")]:
        monkeypatch.delenv(name)
    (tmp_path / "lms.toml").write_text("")
    channel = RecordingChannel()
    lms = create_app({"secret_key": TEST_SECRET, "database": {"url": url},
                      "instance_dir": str(tmp_path / "instance"),
                      "jobs": {"in_process_worker": False}},
                     config_path=str(tmp_path / "lms.toml"),
                     extra_plugins={"rec": ChannelPlugin(channel)}).extensions["lmscore"]
    try:
        Base.metadata.create_all(lms.db.engine)
        row = pending_delivery(lms)
        with lms.db.engine.connect() as first_run:  # holds the row as a sending worker does
            first_run.execute(select(NotificationDelivery.id).where(
                NotificationDelivery.id == row.id).with_for_update())
            service.deliver(lms, row.id)
            assert channel.sent == []
            first_run.rollback()
        service.deliver(lms, row.id)
        assert channel.sent == [row.id]
    finally:
        lms.close()


# -- preferences -------------------------------------------------------------------------------


def test_preferences_api_lists_what_the_role_can_receive(api_client, make_user):
    learner = api_client(make_user())
    kinds = {p["kind"]: p for p in learner.get("/api/v1/users/me/notifications").json[
        "preferences"]}
    assert "submission_reviewed" in kinds and "submission_submitted" not in kinds
    assert "user_registered" not in kinds
    assert kinds["quiz_submitted"]["mode"] == "immediate"
    admin = api_client(make_user("admin"))
    admin_kinds = {p["kind"]: p for p in admin.get("/api/v1/users/me/notifications").json[
        "preferences"]}
    assert admin_kinds["user_registered"]["mode"] == "digest"


def test_preferences_api_names_the_bad_field_and_saves_nothing(api_client, make_user):
    me = make_user()
    api = api_client(me)
    response = api.put("/api/v1/users/me/notifications", json={"preferences": [
        {"channel": "email", "kind": "quiz_submitted", "mode": "off"},
        {"channel": "email", "kind": "submission_submitted", "mode": "off"},
    ]})
    assert response.status_code == 422
    assert "preferences.1.kind" in response.json["error"]["details"]["fields"]
    bad_mode = api.put("/api/v1/users/me/notifications", json={"preferences": [
        {"channel": "email", "kind": "quiz_submitted", "mode": "weekly"}]})
    assert bad_mode.status_code == 422
    assert "weekly" not in str(api.get("/api/v1/users/me/notifications").json)
    modes = {p["kind"]: p["mode"] for p in api.get("/api/v1/users/me/notifications").json[
        "preferences"]}
    assert modes["quiz_submitted"] == "immediate"


def test_opting_out_stops_the_email(lms, jobs, api_client, make_user, mailbox, course):
    trainer = make_user("trainer")
    learner = enrolled(lms, make_user, course, trainer_id=trainer.id)
    response = api_client(learner).put("/api/v1/users/me/notifications", json={"preferences": [
        {"channel": "email", "kind": "submission_reviewed", "mode": "off"}]})
    assert response.status_code == 200
    submission = submit(lms, learner, course)
    jobs.drain()
    submissions.review(lms.db.session, trainer, submission.id, decision="approved",
                       feedback="", score=None)
    jobs.drain()
    assert not [m for m in messages_to(mailbox, learner.email) if "Report" in m["Subject"]]
    assert deliveries(lms, recipient_id=learner.id, kind="submission_reviewed") == []


def test_digest_batches_a_day_of_notifications_into_one_email(
        lms, jobs, api_client, make_user, mailbox, course):
    learner = make_user(timezone="Europe/Brussels")
    api_client(learner).put("/api/v1/users/me/notifications", json={"preferences": [
        {"channel": "email", "kind": kind, "mode": "digest"}
        for kind in ("enrolment_activated", "payment_succeeded")]})
    learning.enrol(lms, lms.db.session, learner, course.code)
    events.emit(lms.db.session, PaymentSucceeded(payment_id=1, user_id=learner.id,
                                                 track_code="NT", amount_minor=1000,
                                                 currency="EUR"))
    lms.db.session.commit()
    jobs.drain()
    assert messages_to(mailbox, learner.email) == []

    # 05:30 UTC is 06:30 in Brussels (winter): before the 07:00 digest hour.
    early = dt.datetime(2026, 1, 15, 5, 30, tzinfo=dt.UTC)
    assert service.send_digests(lms, now=early) == 0
    later = early + dt.timedelta(hours=1)
    assert service.send_digests(lms, now=later) == 1
    jobs.drain()
    (digest,) = messages_to(mailbox, learner.email)
    assert digest["Subject"] == "Your lmscore summary: 2 updates"
    assert "You are enrolled in Notify track" in plain(digest)
    assert "Payment received for Notify track" in plain(digest)
    assert "10.00 EUR" in html(digest)
    assert "unsubscribe" in digest["List-Unsubscribe"]
    # Safe to run again the same day: nothing more is sent, nothing is waiting.
    assert service.send_digests(lms, now=later + dt.timedelta(hours=2)) == 0
    waiting = lms.db.session.scalars(select(NotificationDigestItem).where(
        NotificationDigestItem.delivery_id.is_(None))).all()
    assert waiting == []


# -- unsubscribe -------------------------------------------------------------------------------


def _list_unsubscribe(message) -> str:
    (url,) = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    return url


def test_one_click_unsubscribe_from_the_header_works_without_sign_in(
        lms, jobs, api_client, make_user, mailbox, course):
    learner = enrolled(lms, make_user, course)
    jobs.drain()
    (message,) = messages_to(mailbox, learner.email)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = urlsplit(_list_unsubscribe(message))
    assert f"{url.scheme}://{url.netloc}" == lms.settings.base_url
    anonymous = api_client()
    response = anonymous.open("POST", f"{url.path}?{url.query}",
                              data="List-Unsubscribe=One-Click",
                              content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.json
    assert response.json == {"email": learner.email, "channel": "email",
                             "kind": "enrolment_activated"}
    modes = {p["kind"]: p["mode"] for p in api_client(learner).get(
        "/api/v1/users/me/notifications").json["preferences"]}
    assert modes["enrolment_activated"] == "off" and modes["quiz_submitted"] == "immediate"
    forged = url.query.replace("token=", "token=x")
    assert anonymous.post(f"{url.path}?{forged}").status_code == 422


def test_unsubscribe_page_asks_first_then_turns_the_kind_off(
        lms, jobs, web, make_user, mailbox, course):
    learner = enrolled(lms, make_user, course)
    jobs.drain()
    (message,) = messages_to(mailbox, learner.email)
    link = next(u for u in re.findall(r"https?://\S+", plain(message))
                if "/notifications/unsubscribe" in u)
    page = f"{urlsplit(link).path}?{urlsplit(link).query}"
    shown = web.get(page)
    assert shown.status_code == 200 and "Stop sending" in shown.get_data(as_text=True)
    assert service.preferences(lms, lms.db.session, learner)[0]["mode"] != "off"
    token = parse_qs(urlsplit(link).query)["token"][0]
    done = web.submit(page, {"token": token}, action="/notifications/unsubscribe")
    assert done.status_code == 200 and "no longer gets" in done.get_data(as_text=True)
    modes = {p["kind"]: p["mode"] for p in service.preferences(lms, lms.db.session, learner)}
    assert modes["enrolment_activated"] == "off"
    assert web.get("/notifications/unsubscribe?token=nonsense").status_code == 422


def test_an_unsubscribe_link_dies_with_a_changed_email(lms, make_user):
    learner = make_user()
    token = service.unsubscribe_token(lms, learner, "email", "quiz_submitted")
    learner.email = "new-address@example.org"
    lms.db.session.commit()
    with pytest.raises(Exception, match="not valid"):
        service.unsubscribe(lms, lms.db.session, token)


# -- settings page -----------------------------------------------------------------------------


def test_settings_page_saves_modes_with_csrf(lms, web, make_user):
    learner = make_user()
    web.sign_in(learner.email, DEFAULT_PASSWORD)
    page = web.get("/profile/notifications").get_data(as_text=True)
    assert 'name="email:submission_reviewed"' in page
    assert web.post("/profile/notifications",
                    data={"email:submission_reviewed": "off"}).status_code == 400
    saved = web.submit("/profile/notifications", {"email:submission_reviewed": "digest",
                                                  "email:quiz_submitted": "off"})
    assert saved.status_code == 302
    modes = {p["kind"]: p["mode"] for p in service.preferences(lms, lms.db.session, learner)}
    assert modes["submission_reviewed"] == "digest" and modes["quiz_submitted"] == "off"
    bad = web.submit("/profile/notifications", {"email:quiz_submitted": "hourly"})
    assert bad.status_code == 422 and "Choose one of" in bad.get_data(as_text=True)
    assert 'href="/profile/notifications"' in web.get("/profile").get_data(as_text=True)


def test_settings_page_needs_sign_in(web):
    response = web.get("/profile/notifications")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- the quiz_generated event ------------------------------------------------------------------


class EchoGenerator(QuizGenerator):
    name = "echo"

    def generate(self, request):
        return [GeneratedQuestion(type="mcq_single", prompt=f"Q{n}", options={"A": "a", "B": "b"},
                                  correct=("A",)) for n in range(request.num_questions)]


class GenerationListener:
    def __init__(self):
        self.received = []

    @hookimpl
    def lms_register_quiz_generators(self, lms):
        return [EchoGenerator()]

    @hookimpl
    def lms_on_quiz_generated(self, lms, event):
        self.received.append(event)


def test_hook_lms_on_quiz_generated(app_factory, make_user, mailbox):
    listener = GenerationListener()
    app = app_factory(plugins={"gen": listener})
    lms = app.extensions["lmscore"]
    trainer = make_user("trainer")
    quiz = quizzes.request_generation(lms, lms.db.session, trainer, title="Generated",
                                      prompt="SQL", num_questions=2, generator="echo",
                                      types=["mcq_single"], difficulty=3, track=None)
    lms.jobs.drain()
    (event,) = listener.received
    assert (event.quiz_id, event.owner_id, event.status, event.generator) == (
        quiz.id, trainer.id, "ready", "echo")
    assert event.event_id > 0
    (message,) = messages_to(mailbox, trainer.email)
    assert message["Subject"] == "Generated quiz ready: Generated"


# -- SMTP --------------------------------------------------------------------------------------


def free_port() -> int:
    # aiosmtpd cannot listen on port 0: ask the OS for a free port, then hand it over.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, as (cert file, key file)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lmscore test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Inbox:
    """aiosmtpd handler: keeps (was TLS on, who logged in, message) per mail."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        login = session.auth_data.login if session.authenticated else None
        self.received.append((session.ssl is not None, login, message))
        return "250 Message accepted"


def check_login(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"lms", b"s3cret password")
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture
def smtp_server(certificate):
    """A STARTTLS-only SMTP server with AUTH on 127.0.0.1, as (port, inbox)."""
    cert_file, key_file = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, authenticator=check_login,
                            auth_require_tls=True)
    controller.start()
    yield controller.port, inbox
    controller.stop()


def smtp_config(port: int, ca_file, **extra):
    return {"email": {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port,
                      "smtp_username": "lms", "smtp_password": "s3cret password",
                      "smtp_starttls": True, "smtp_ca_file": str(ca_file),
                      "sender": "LMS <lms@example.org>", **extra}}


def test_notification_email_over_smtp_with_starttls_and_auth(
        app_factory, smtp_server, certificate, make_user, course):
    port, inbox = smtp_server
    app = app_factory(smtp_config(port, certificate[0]))
    lms = app.extensions["lmscore"]
    learner = make_user(name=f"Eve {HOSTILE}")
    learning.enrol(lms, lms.db.session, learner, course.code)
    lms.jobs.drain()
    ((over_tls, login, message),) = inbox.received
    assert over_tls and login == b"lms"
    assert message["To"] == learner.email and message["From"] == "LMS <lms@example.org>"
    assert message["Subject"] == "You are enrolled in Notify track"
    assert "List-Unsubscribe=One-Click" == message["List-Unsubscribe-Post"]
    assert "&lt;script&gt;" in html(message) and "<script>" not in html(message)
    (row,) = deliveries(lms, recipient_id=learner.id)
    assert row.status == "sent" and row.attempts == 1


def test_smtp_refuses_a_certificate_it_cannot_verify(app_factory, smtp_server):
    port, inbox = smtp_server
    lms = app_factory(smtp_config(port, "")).extensions["lmscore"]  # system CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        lms.mailer.send("ann@example.org", "Hi", "Text")
    assert inbox.received == []


def test_smtp_wrong_password_is_an_error(app_factory, smtp_server, certificate):
    port, inbox = smtp_server
    config = smtp_config(port, certificate[0])
    config["email"]["smtp_password"] = "wrong"
    lms = app_factory(config).extensions["lmscore"]
    with pytest.raises(smtplib.SMTPAuthenticationError):
        lms.mailer.send("ann@example.org", "Hi", "Text")
    assert inbox.received == []


def test_smtp_never_falls_back_to_plain_text(app_factory):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())  # no TLS offered
    controller.start()
    try:
        lms = app_factory({"email": {"backend": "smtp", "smtp_host": "127.0.0.1",
                                     "smtp_port": controller.port}}).extensions["lmscore"]
        with pytest.raises(smtplib.SMTPNotSupportedError):
            lms.mailer.send("ann@example.org", "Hi", "Text")
    finally:
        controller.stop()
    assert inbox.received == []
