"""Plugins' own kinds of notification (``lms_register_notification_kinds``): a throwaway
plugin registers a kind with its templates, asks for notifications with ``notify`` and the
core routes them like its own kinds: preferences, digest, unsubscribe, site channels."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from lmscore.capabilities import NotificationChannel, NotificationKind
from lmscore.errors import StartupError
from lmscore.hookspecs import hookimpl
from lmscore.models import NotificationDelivery, NotificationDigestItem, OutboxEvent, Role, User
from lmscore.services import notifications as service
from lmscore.testing import ApiClient
from lmscore.testing.plugin import DEFAULT_PASSWORD

TEMPLATES = {
    "awarded.subject.txt": "{% if recipient %}You{% else %}{{ learner }}{% endif %} earned "
                           "“{{ badge }}”",
    "awarded.txt": "The “{{ badge }}” badge is {% if recipient %}yours{% else %}theirs{% endif %}.",
    "awarded.html": "<p>The <strong>{{ badge }}</strong> badge.</p>",
}


def badge_kind(**fields) -> NotificationKind:
    return NotificationKind(**{
        "name": "badges_awarded", "label": "You earned a badge",
        "templates": "lms_badges/notifications/awarded", **fields})


class BadgesPlugin:
    """A plugin with one notification kind and its templates in its own namespace."""

    def __init__(self, folder, *kinds: NotificationKind):
        self.folder = folder
        self.kinds = list(kinds) or [badge_kind()]
        self.requested = []
        templates = folder / "lms_badges" / "notifications"
        templates.mkdir(parents=True, exist_ok=True)
        for name, text in TEMPLATES.items():
            (templates / name).write_text(text, encoding="utf-8")

    @hookimpl
    def lms_register_notification_kinds(self, lms):
        return self.kinds

    @hookimpl
    def lms_register_template_folders(self):
        return [str(self.folder)]

    @hookimpl
    def lms_on_notification_requested(self, lms, event):
        self.requested.append(event)


class TeamRoom(NotificationChannel):
    """A site channel that posts badge news to a shared room."""

    name = "room"
    per_user = False

    def __init__(self):
        self.sent = []

    def destinations(self, kind):
        return ["wins"] if kind == "badges_awarded" else []

    def send(self, notification):
        self.sent.append(notification)


class RoomPlugin:
    def __init__(self, channel):
        self.channel = channel

    @hookimpl
    def lms_register_notification_channels(self):
        return [self.channel]


@pytest.fixture
def badges(tmp_path):
    return BadgesPlugin(tmp_path / "badge_templates")


@pytest.fixture
def badge_app(app_factory, badges):
    return app_factory(plugins={"badges": badges})


@pytest.fixture
def badge_lms(badge_app):
    return badge_app.extensions["lmscore"]


@pytest.fixture
def api(badge_app):
    """``api(user)``: a client of the app with the badges plugin (None: anonymous)."""
    return lambda user=None: ApiClient(badge_app, user)


def award(lms, user, badge="SQL wizard", **values):
    service.notify(lms, lms.db.session, "badges_awarded", user_id=user.id, badge=badge,
                   learner=user.name, **values)
    lms.db.session.commit()
    lms.jobs.drain()


def emails_to(mailbox, user):
    return [m for m in mailbox() if m["To"] == user.email]


def plain(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def modes(lms, user) -> dict[str, str]:
    return {p["kind"]: p["mode"] for p in service.preferences(lms, lms.db.session, user)}


def test_hook_lms_register_notification_kinds(badge_lms, badges, make_user, mailbox):
    lms = badge_lms
    learner = make_user(name="Ada <Lovelace>")
    award(lms, learner, badge="<b>Joins</b>", link_path="/badges/7")

    (message,) = emails_to(mailbox, learner)
    assert message["Subject"] == "You earned “<b>Joins</b>”"
    assert "The “<b>Joins</b>” badge is yours." in plain(message)
    assert f"{lms.settings.base_url}/badges/7" in plain(message)
    assert "&lt;b&gt;Joins&lt;/b&gt;" in message.get_body(("html",)).get_content()
    assert "unsubscribe" in message["List-Unsubscribe"]
    (row,) = lms.db.session.scalars(select(NotificationDelivery).where(
        NotificationDelivery.recipient_id == learner.id)).all()
    assert (row.kind, row.status, row.link) == (
        "badges_awarded", "sent", f"{lms.settings.base_url}/badges/7")
    assert "badges_awarded" in lms.notification_kinds.names()
    assert lms.notification_kinds.owner("badges_awarded") == "badges"


def test_hook_lms_on_notification_requested(badge_lms, badges, make_user):
    learner = make_user()
    award(badge_lms, learner, badge="Streak")
    (event,) = badges.requested
    assert (event.kind, event.user_id, event.values["badge"]) == (
        "badges_awarded", learner.id, "Streak")
    assert event.event_id > 0


def test_the_kind_is_offered_on_the_settings_page(badge_app, badge_lms, make_user):
    lms = badge_lms
    learner = make_user()
    assert modes(lms, learner)["badges_awarded"] == "immediate"
    web = badge_app.test_client()
    web.sign_in(learner.email, DEFAULT_PASSWORD)
    page = web.get("/profile/notifications").get_data(as_text=True)
    assert 'name="email:badges_awarded"' in page and "You earned a badge" in page
    assert web.submit("/profile/notifications",
                      {"email:badges_awarded": "digest"}).status_code == 302
    assert modes(lms, learner)["badges_awarded"] == "digest"


def test_opting_out_of_the_plugin_kind_stops_it(badge_lms, api, make_user, mailbox):
    learner, other = make_user(), make_user()
    response = api(learner).put("/api/v1/users/me/notifications", json={
        "preferences": [{"channel": "email", "kind": "badges_awarded", "mode": "off"}]})
    assert response.status_code == 200, response.json
    award(badge_lms, learner)
    award(badge_lms, other)
    assert emails_to(mailbox, learner) == []
    assert len(emails_to(mailbox, other)) == 1
    assert badge_lms.db.session.scalars(select(NotificationDelivery).where(
        NotificationDelivery.recipient_id == learner.id)).all() == []


def test_unsubscribing_from_the_email_turns_the_plugin_kind_off(
        badge_lms, api, make_user, mailbox):
    learner = make_user()
    award(badge_lms, learner)
    (message,) = emails_to(mailbox, learner)
    (url,) = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    url = urlsplit(url)
    response = api().open("POST", f"{url.path}?{url.query}",
                                 data="List-Unsubscribe=One-Click",
                                 content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.json
    assert response.json["kind"] == "badges_awarded"
    assert modes(badge_lms, learner)["badges_awarded"] == "off"
    assert modes(badge_lms, learner)["quiz_submitted"] == "immediate"
    award(badge_lms, learner, badge="Second")
    assert len(emails_to(mailbox, learner)) == 1


def test_the_plugin_kind_waits_for_the_daily_digest(badge_lms, api, make_user, mailbox):
    lms = badge_lms
    learner = make_user(timezone="UTC")
    assert api(learner).put("/api/v1/users/me/notifications", json={"preferences": [
        {"channel": "email", "kind": "badges_awarded", "mode": "digest"}]}).status_code == 200
    award(lms, learner, badge="Joins")
    award(lms, learner, badge="Window functions")
    assert emails_to(mailbox, learner) == []
    assert len(lms.db.session.scalars(select(NotificationDigestItem).where(
        NotificationDigestItem.user_id == learner.id)).all()) == 2

    assert service.send_digests(lms, now=dt.datetime(2026, 1, 15, 8, tzinfo=dt.UTC)) == 1
    lms.jobs.drain()
    (digest,) = emails_to(mailbox, learner)
    assert digest["Subject"] == "Your lmscore summary: 2 updates"
    assert "You earned “Joins”" in plain(digest)
    assert "You earned “Window functions”" in plain(digest)


def test_a_kind_with_its_own_recipients_context_and_default(app_factory, tmp_path, make_user,
                                                            mailbox):
    """Recipients resolved by the kind (only roles it offers), values loaded by its context,
    the default mode, and a site channel that names the kind."""

    def coaches(session, request):
        return list(session.scalars(select(User).where(
            User.role.in_([Role.TRAINER.value, Role.STUDENT.value])).order_by(User.id)))

    def context(session, request):
        learner = session.get(User, request.values["learner_id"])
        return learner and {"badge": request.values["badge"], "learner": learner.name}

    kind = badge_kind(recipients=coaches, context=context, roles=frozenset({"trainer"}),
                      default_mode="immediate")
    room = TeamRoom()
    app = app_factory(plugins={"badges": BadgesPlugin(tmp_path / "t", kind),
                               "room": RoomPlugin(room)})
    lms = app.extensions["lmscore"]
    trainer, learner = make_user("trainer"), make_user(name="Grace")
    service.notify(lms, lms.db.session, "badges_awarded", badge="Joins", learner_id=learner.id)
    lms.db.session.commit()
    lms.jobs.drain()

    (message,) = emails_to(mailbox, trainer)
    assert message["Subject"] == "You earned “Joins”"
    assert emails_to(mailbox, learner) == []  # a student cannot choose this kind: not sent
    assert "badges_awarded" not in modes(lms, learner)
    (posted,) = room.sent
    assert (posted.destination, posted.subject) == ("wins", "Grace earned “Joins”")
    assert posted.text == "The “Joins” badge is theirs."

    # What it is about is gone: nothing is sent.
    service.notify(lms, lms.db.session, "badges_awarded", badge="Joins", learner_id=987654)
    lms.db.session.commit()
    lms.jobs.drain()
    assert len(emails_to(mailbox, trainer)) == 1 and len(room.sent) == 1


def test_notify_names_unknown_kinds_and_sends_nothing_on_rollback(badge_lms, make_user, mailbox):
    lms = badge_lms
    learner = make_user()
    with pytest.raises(LookupError, match="badges_awarde'.*badges_awarded"):
        service.notify(lms, lms.db.session, "badges_awarde", user_id=learner.id)
    service.notify(lms, lms.db.session, "badges_awarded", user_id=learner.id, badge="x",
                   learner="y")
    lms.db.session.rollback()
    lms.jobs.drain()
    assert mailbox() == []
    assert lms.db.session.scalars(select(OutboxEvent).where(
        OutboxEvent.name == "notification_requested")).all() == []


@pytest.mark.parametrize(("kinds", "message"), [
    ([badge_kind(), badge_kind(label="Again")],
     "two plugins register a notification kind named 'badges_awarded'"),
    ([badge_kind(name="quiz_submitted")], "the core has a kind by that name"),
    ([badge_kind(name="digest")], "the core has a kind by that name"),
    ([badge_kind(name="Badges Awarded")], r"\[a-z\]\[a-z0-9_\]\*"),
    ([badge_kind(templates="notifications/awarded")], "must live under lms_badges/notifications/"),
    ([badge_kind(default_mode="weekly")], "choose one of immediate, digest, off"),
    ([badge_kind(roles=frozenset({"learner"}))], "roles \\['learner'\\]"),
])
def test_bad_kinds_stop_start_up(app_factory, tmp_path, kinds, message):
    with pytest.raises(StartupError, match=message):
        app_factory(plugins={"badges": BadgesPlugin(tmp_path / "t", *kinds)})


def test_two_plugins_cannot_register_the_same_kind(app_factory, tmp_path):
    with pytest.raises(StartupError, match="'badges' and 'more_badges'"):
        app_factory(plugins={"badges": BadgesPlugin(tmp_path / "a"),
                             "more_badges": BadgesPlugin(tmp_path / "b")})
