"""The weekly learning-path notice is the core notification kind ``adaptive_weekly_path``:
it follows each learner's preference (at once, daily digest, off) and unsubscribe links."""

from __future__ import annotations

import datetime as dt

import pytest
from lms_adaptive import paths
from sqlalchemy import select

from lmscore.db import utcnow
from lmscore.models import NotificationDelivery, NotificationDigestItem, Project, Step, Track
from lmscore.services import learning
from lmscore.services import notifications as service
from lmscore.testing.plugin import DEFAULT_PASSWORD

KIND = "adaptive_weekly_path"


@pytest.fixture
def lms_config():
    return {"plugins": {"enabled": ["adaptive"]}}


@pytest.fixture
def enrol(lms, make_user):
    session = lms.db.session
    track = Track(code="AW", name="Adaptive weekly")
    project = Project(track=track, number=1, slug="p", title="First project")
    session.add_all([track, project, Step(project=project, number=1, slug="s", title="S",
                                          body_markdown="x")])
    session.commit()

    def enrolled(**fields):
        learner = make_user("student", **fields)
        learning.enrol(lms, session, learner, "AW")
        return learner

    return enrolled


def choose(lms, learner, mode):
    service.set_preferences(lms, lms.db.session, learner,
                            [{"channel": "email", "kind": KIND, "mode": mode}])


def path_emails(mailbox, learner):
    return [m for m in mailbox() if m["To"] == learner.email and "learning path" in m["Subject"]]


def test_the_weekly_notice_respects_a_learners_off(lms, enrol, mailbox):
    quiet, keen = enrol(), enrol()
    choose(lms, quiet, "off")
    assert paths.adjust_all(lms, utcnow()) == 2
    lms.jobs.drain()

    assert path_emails(mailbox, quiet) == []
    assert lms.db.session.scalars(select(NotificationDelivery).where(
        NotificationDelivery.recipient_id == quiet.id, NotificationDelivery.kind == KIND)
    ).all() == []
    assert len(paths.history(lms.db.session, quiet.id)) == 1  # the path still adjusts
    (notice,) = path_emails(mailbox, keen)
    text = notice.get_body(("plain",)).get_content()
    assert "No quiz, step or review in the last 7 days" in text
    assert f"{lms.settings.base_url}/adaptive/path" in text
    assert "unsubscribe" in notice["List-Unsubscribe"]


def test_the_weekly_notice_can_wait_for_the_digest(lms, enrol, mailbox):
    learner = enrol(timezone="UTC")
    choose(lms, learner, "digest")
    paths.adjust_all(lms, utcnow())
    lms.jobs.drain()
    assert path_emails(mailbox, learner) == []
    (item,) = lms.db.session.scalars(select(NotificationDigestItem).where(
        NotificationDigestItem.user_id == learner.id)).all()
    assert item.kind == KIND and item.subject.startswith("Your learning path for the week of")

    later = utcnow().replace(hour=8) + dt.timedelta(days=1)
    assert service.send_digests(lms, now=later) == 1
    lms.jobs.drain()
    (digest,) = [m for m in mailbox() if m["To"] == learner.email and "summary" in m["Subject"]]
    assert "Your learning path for the week of" in digest.get_body(("plain",)).get_content()


def test_the_weekly_notice_is_a_setting_for_learners_only(app, lms, enrol, make_user):
    learner = enrol()
    kinds = {row["kind"]: row for row in service.preferences(lms, lms.db.session, learner)}
    assert kinds[KIND]["label"] == "Your weekly learning path"
    assert kinds[KIND]["mode"] == "immediate"
    trainer = make_user("trainer")
    assert KIND not in {row["kind"] for row in service.preferences(lms, lms.db.session, trainer)}
    web = app.test_client()
    web.sign_in(learner.email, DEFAULT_PASSWORD)
    page = web.get("/profile/notifications").get_data(as_text=True)
    assert f'name="email:{KIND}"' in page and "Your weekly learning path" in page
