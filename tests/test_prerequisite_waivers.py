"""Prerequisite waivers: a trainer (of the learner) or an admin opens a locked project; the
service, its audit entries, progress, the API and the trainer's and learner's pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from tracks_fixture import write_track

from lmscore.errors import Conflict, PermissionDenied, ValidationFailed
from lmscore.models import (
    AuditEntry,
    Deliverable,
    PrerequisiteWaiver,
    Project,
    StepCompletion,
    Submission,
    Track,
)
from lmscore.services import content, learning, users
from lmscore.testing.plugin import DEFAULT_PASSWORD
from lmscore.testing.statements import recording_statements


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    write_track(root, "TT", projects=3)  # project n needs project n - 1
    write_track(root, "UU", projects=2)
    return {"plugins": {"enabled": ["content_folder"], "content_folder": {"folders": [str(root)]}}}


@pytest.fixture
def people(app, lms, make_user):
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))
    trainer = make_user("trainer", name="Tom Trainer")
    learner = make_user("student", name="Lea Learner", trainer_id=trainer.id)
    learning.enrol(lms, lms.db.session, learner, "TT")
    return trainer, learner


def project(lms, number: int, code: str = "TT") -> Project:
    return lms.db.session.scalar(select(Project).join(Track).where(
        Track.code == code, Project.number == number))


def statuses(lms, learner, code: str = "TT") -> dict[int, str]:
    track = learning.get_track(lms.db.session, code)
    return {p.project.number: p.status
            for p in learning.track_progress(lms.db.session, learner, track).projects}


def audit_rows(lms) -> list[AuditEntry]:
    lms.db.session.expire_all()
    return list(lms.db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


# -- service ------------------------------------------------------------------------------------


def test_a_waiver_opens_the_project_and_completes_nothing(lms, people):
    trainer, learner = people
    session = lms.db.session
    assert statuses(lms, learner) == {1: "not_started", 2: "locked", 3: "locked"}
    second = project(lms, 2)
    with pytest.raises(Conflict):
        learning.require_open_project(session, learner, second)

    waiver = learning.waive_prerequisites(session, trainer, learner, second,
                                          "  Already builds these at work.  ")
    assert (waiver.reason, waiver.source, waiver.granted_by_id) == (
        "Already builds these at work.", "trainer", trainer.id)
    # Project 2 opens; project 1 is not completed by it, and project 3 still waits for 2.
    assert statuses(lms, learner) == {1: "not_started", 2: "not_started", 3: "locked"}
    progress = learning.project_progress(session, learner, second)
    assert progress.unlocked_by.reason == "Already builds these at work."
    assert learning.project_progress(session, learner, project(lms, 1)).unlocked_by is None
    learning.complete_step(session, learner, second.steps[0].id)
    assert statuses(lms, learner)[2] == "in_progress"
    assert learning.track_progress(session, learner, second.track).enrolment.status == "active"

    [entry] = audit_rows(lms)
    assert (entry.actor_id, entry.action) == (trainer.id, "prerequisites.waive")
    assert entry.target == f"waiver:user={learner.id},project={second.id}"
    assert entry.details["reason"] == "Already builds these at work."
    assert entry.details["project_number"] == 2 and entry.details["previous"] is None


def test_waiving_again_is_idempotent_and_a_new_reason_is_audited(lms, people):
    trainer, learner = people
    session, second = lms.db.session, project(lms, 2)
    first = learning.waive_prerequisites(session, trainer, learner, second, "Ready.")
    again = learning.waive_prerequisites(session, trainer, learner, second, "Ready.")
    assert again.id == first.id and len(audit_rows(lms)) == 1
    learning.waive_prerequisites(session, trainer, learner, second, "Ready, says the test.")
    assert session.scalar(select(PrerequisiteWaiver.reason)) == "Ready, says the test."
    assert len(session.scalars(select(PrerequisiteWaiver)).all()) == 1
    entries = audit_rows(lms)
    assert len(entries) == 2 and entries[1].details["previous"]["reason"] == "Ready."


def test_revoking_locks_again_and_keeps_the_work(lms, people):
    trainer, learner = people
    session, second = lms.db.session, project(lms, 2)
    learning.waive_prerequisites(session, trainer, learner, second, "Ready.")
    learning.complete_step(session, learner, second.steps[0].id)
    assert learning.revoke_waiver(session, trainer, learner, second) is True
    assert statuses(lms, learner)[2] == "locked"
    assert session.scalar(select(StepCompletion).where(
        StepCompletion.step_id == second.steps[0].id)) is not None
    assert learning.revoke_waiver(session, trainer, learner, second) is False
    entries = audit_rows(lms)
    assert [e.action for e in entries] == ["prerequisites.waive", "prerequisites.revoke"]
    assert entries[1].details["reason"] == "Ready." and entries[1].actor_id == trainer.id


def test_who_may_waive(lms, people, make_user):
    trainer, learner = people
    session, second = lms.db.session, project(lms, 2)
    for stranger in (make_user("student"), make_user("trainer")):
        with pytest.raises(PermissionDenied):
            learning.waive_prerequisites(session, stranger, learner, second, "No.")
        with pytest.raises(PermissionDenied):
            learning.revoke_waiver(session, stranger, learner, second)
    for admin in (make_user("admin"), make_user("superadmin")):
        learning.waive_prerequisites(session, admin, learner, second, f"By {admin.role}.")
        assert learning.revoke_waiver(session, admin, learner, second)
    assert not session.scalars(select(PrerequisiteWaiver)).all()
    assert [e.action for e in audit_rows(lms)] == ["prerequisites.waive",
                                                   "prerequisites.revoke"] * 2


def test_bad_waivers_are_refused(lms, people, make_user):
    trainer, learner = people
    session = lms.db.session
    with pytest.raises(ValidationFailed) as empty:
        learning.waive_prerequisites(session, trainer, learner, project(lms, 2), "   ")
    assert "reason" in empty.value.details["fields"]
    with pytest.raises(ValidationFailed):
        learning.waive_prerequisites(session, trainer, learner, project(lms, 2), "x" * 501)
    with pytest.raises(Conflict, match="no prerequisites"):
        learning.waive_prerequisites(session, trainer, learner, project(lms, 1), "Nothing.")
    colleague = make_user("trainer", trainer_id=trainer.id)
    with pytest.raises(Conflict, match="not a learner"):
        learning.waive_prerequisites(session, make_user("admin"), colleague, project(lms, 2),
                                     "Trainers do not take projects.")
    assert not session.scalars(select(PrerequisiteWaiver)).all() and not audit_rows(lms)


def test_a_system_waiver_has_no_actor_and_joins_the_callers_transaction(lms, people):
    _, learner = people
    session, second = lms.db.session, project(lms, 2)
    waiver = learning.waive_prerequisites_as_system(session, learner, second,
                                                    reason="Placement test.", source="placer")
    session.rollback()  # the caller did not commit: nothing stays
    assert session.scalar(select(PrerequisiteWaiver)) is None and not audit_rows(lms)
    waiver = learning.waive_prerequisites_as_system(session, learner, second,
                                                    reason="Placement test.", source="placer")
    session.commit()
    assert (waiver.granted_by_id, waiver.source) == (None, "placer")
    [entry] = audit_rows(lms)
    assert entry.actor_id is None and entry.details["source"] == "placer"
    assert statuses(lms, learner)[2] == "not_started"


def test_a_waiver_is_not_shown_once_the_prerequisites_are_completed(lms, people):
    trainer, learner = people
    session, second = lms.db.session, project(lms, 2)
    learning.waive_prerequisites(session, trainer, learner, second, "Ready.")
    report = session.scalar(select(Deliverable).where(
        Deliverable.project_id == project(lms, 1).id, Deliverable.key == "report"))
    session.add(Submission(user_id=learner.id, deliverable_id=report.id, status="approved"))
    session.commit()
    assert statuses(lms, learner) == {1: "completed", 2: "not_started", 3: "locked"}
    assert learning.project_progress(session, learner, second).unlocked_by is None


def test_progress_reads_waivers_in_one_query_for_all_tracks(lms, people):
    trainer, learner = people
    session = lms.db.session
    learning.enrol(lms, session, learner, "UU")

    def progress_statements() -> list[str]:
        session.expire_all()
        with recording_statements(lms.db.engine) as statements:
            learning.my_progress(session, learner)
        return statements

    before = len(progress_statements())
    for code, number in (("TT", 2), ("TT", 3), ("UU", 2)):
        learning.waive_prerequisites(session, trainer, learner, project(lms, number, code), "Ok")
    statements = progress_statements()
    assert len(statements) == before
    assert sum("prerequisite_waivers" in s for s in statements) == 1
    assert statuses(lms, learner, "UU") == {1: "not_started", 2: "not_started"}


# -- API ----------------------------------------------------------------------------------------


def test_api_waive_progress_and_revoke(lms, people, api_client):
    trainer, learner = people
    second = project(lms, 2)
    url = f"/api/v1/users/{learner.id}/waivers/{second.id}"
    api = api_client(trainer)
    response = api.put(url, json={"reason": "Knows Python well."})
    assert response.status_code == 200, response.json
    assert response.json["granted_by"] == {"id": trainer.id, "name": "Tom Trainer"}
    assert (response.json["source"], response.json["project_id"]) == ("trainer", second.id)

    mine = api_client(learner).get("/api/v1/progress/me").json[0]["projects"]
    by_number = {p["number"]: p for p in mine}
    assert by_number[2]["status"] == "not_started"
    assert by_number[2]["unlocked_by"]["reason"] == "Knows Python well."
    assert by_number[1]["unlocked_by"] is None and by_number[3]["status"] == "locked"

    assert api.delete(url).status_code == 204
    assert api.delete(url).status_code == 204  # already gone: nothing to do
    mine = api_client(learner).get("/api/v1/progress/me").json[0]["projects"]
    assert mine[1]["status"] == "locked" and mine[1]["unlocked_by"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "x" * 501}, "reason"),
    ({"reason": 12}, "reason"), ({"reason": "a\x00b"}, "reason"),
])
def test_api_bad_input_names_the_field(lms, people, api_client, body, field):
    trainer, learner = people
    response = api_client(trainer).put(
        f"/api/v1/users/{learner.id}/waivers/{project(lms, 2).id}", json=body)
    assert response.status_code == 422
    assert field in response.json["error"]["details"]["fields"]


def test_api_unknown_ids_and_refusals(lms, people, api_client, make_user):
    trainer, learner = people
    api = api_client(trainer)
    body = {"reason": "Ready."}
    assert api.put(f"/api/v1/users/{learner.id}/waivers/999999", json=body).status_code == 404
    assert api.put(f"/api/v1/users/999999/waivers/{project(lms, 2).id}",
                   json=body).status_code == 404
    assert api.put(f"/api/v1/users/{learner.id}/waivers/{project(lms, 1).id}",
                   json=body).json["error"]["code"] == "conflict"
    other = make_user("student")
    response = api.put(f"/api/v1/users/{other.id}/waivers/{project(lms, 2).id}", json=body)
    assert response.status_code == 403
    student = api_client(learner).put(f"/api/v1/users/{learner.id}/waivers/"
                                      f"{project(lms, 2).id}", json=body)
    assert student.status_code == 403  # learners do not unlock their own projects


# -- web ----------------------------------------------------------------------------------------


def test_trainer_unlocks_and_relocks_on_the_learners_page(app, lms, people, web):
    trainer, learner = people
    second = project(lms, 2)
    action = f"/trainer/learners/{learner.id}/waivers/{second.id}"
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    page = web.get("/trainer/learners").text
    assert f'action="{action}"' in page
    assert f'action="/trainer/learners/{learner.id}/waivers/{project(lms, 1).id}"' not in page

    refused = web.post(action, data={"reason": "No token."})
    assert refused.status_code == 400  # CSRF
    assert lms.db.session.scalar(select(PrerequisiteWaiver)) is None

    empty = web.submit("/trainer/learners", {"reason": " "}, action=action)
    assert empty.status_code == 422 and "required, 1 to 500 characters" in empty.text
    assert 'aria-describedby="reason-error"' in empty.text

    done = web.submit("/trainer/learners", {"reason": "Knows <b>Python</b>."}, action=action)
    assert done.status_code == 302
    page = web.get("/trainer/learners").text
    assert "Unlocked by Tom Trainer: Knows &lt;b&gt;Python&lt;/b&gt;." in page
    assert f'action="{action}/revoke"' in page

    learner_web = app.test_client()
    learner_web.sign_in(learner.email, DEFAULT_PASSWORD)
    note = "Unlocked by your trainer, Tom Trainer: Knows &lt;b&gt;Python&lt;/b&gt;."
    assert note in learner_web.get("/tracks/TT").text
    assert note in learner_web.get(f"/projects/{second.id}").text
    assert "This project is locked" not in learner_web.get(f"/projects/{second.id}").text

    assert web.post(f"{action}/revoke").status_code == 400  # CSRF
    assert web.submit("/trainer/learners", {}, action=f"{action}/revoke").status_code == 302
    assert "This project is locked" in learner_web.get(f"/projects/{second.id}").text
    assert "Unlocked by" not in learner_web.get("/tracks/TT").text


def test_only_staff_post_waivers_and_trainers_only_for_their_learners(app, lms, people, web,
                                                                      make_user):
    trainer, learner = people
    action = f"/trainer/learners/{learner.id}/waivers/{project(lms, 2).id}"
    student = make_user("student")
    web.sign_in(student.email, DEFAULT_PASSWORD)
    assert web.submit("/", {"reason": "Me."}, action=action).status_code == 403
    stranger = app.test_client()
    stranger.sign_in(make_user("trainer").email, DEFAULT_PASSWORD)
    response = stranger.submit("/trainer/learners", {"reason": "Not mine."}, action=action)
    assert response.status_code == 403
    assert "learners assigned to you" in response.text
    assert lms.db.session.scalar(select(PrerequisiteWaiver)) is None


def test_the_learners_page_marks_locked_projects_only(lms, people, web):
    trainer, learner = people
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    forms = re.findall(r'action="/trainer/learners/\d+/waivers/(\d+)"',
                       web.get("/trainer/learners").text)
    assert sorted(int(f) for f in forms) == sorted([project(lms, 2).id, project(lms, 3).id])


def test_the_note_outlives_the_trainers_account(app, lms, people, make_user):
    trainer, learner = people
    session = lms.db.session
    learning.waive_prerequisites(session, trainer, learner, project(lms, 2), "Ready.")
    users.delete_user(lms, session, make_user("superadmin"), trainer)
    client = app.test_client()
    client.sign_in(learner.email, DEFAULT_PASSWORD)
    assert "Unlocked by a trainer: Ready." in client.get("/tracks/TT").text
    assert statuses(lms, learner)[2] == "not_started"
