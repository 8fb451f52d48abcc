"""Admins create and edit tracks through the API; sync and the API never edit each other's."""

import pytest
from sqlalchemy import func, select
from tracks_fixture import write_track

from lmscore.models import Deliverable, Project, Step, Track
from lmscore.services import content


@pytest.fixture
def track_root(tmp_path):
    root = tmp_path / "content"
    write_track(root, "TT")
    return root


@pytest.fixture
def lms_config(track_root):
    return {"plugins": {"enabled": ["content_folder"],
                        "content_folder": {"folders": [str(track_root)]}}}


def counts(lms):
    session = lms.db.session
    return tuple(session.scalar(select(func.count()).select_from(m))
                 for m in (Track, Project, Step, Deliverable))


def build_track(admin):
    """An API-made track with two projects, a step and a deliverable; returns their ids."""
    r = admin.post("/api/v1/tracks", json={"code": "api1", "name": "API Track",
                                           "description": "Made by hand.", "price_minor": 0})
    assert r.status_code == 201, r.json
    assert (r.json["code"], r.json["source"], r.json["archived"]) == ("API1", "", False)
    p1 = admin.post("/api/v1/tracks/API1/projects",
                    json={"number": 1, "title": "First Project!", "tech_stack": ["SQL"]})
    assert p1.status_code == 201 and p1.json["slug"] == "first-project"
    p2 = admin.post("/api/v1/tracks/API1/projects",
                    json={"number": 2, "title": "Second", "prerequisites": [1]})
    assert p2.status_code == 201 and p2.json["prerequisites"] == [1]
    step = admin.post(f"/api/v1/projects/{p1.json['id']}/steps",
                      json={"number": 1, "title": "Intro", "body_markdown": "Hello **you**"})
    assert step.status_code == 201 and "<strong>you</strong>" in step.json["body_html"]
    deliverable = admin.post(f"/api/v1/projects/{p1.json['id']}/deliverables",
                             json={"key": "report", "title": "Report", "kind": "text"})
    assert deliverable.status_code == 201 and deliverable.json["required"] is True
    return p1.json["id"], p2.json["id"], step.json["id"], deliverable.json["id"]


def test_admin_builds_and_edits_a_track(app, lms, api_as, api_client, make_user):
    admin = api_as("admin")
    p1, p2, step, deliverable = build_track(admin)

    r = admin.patch("/api/v1/tracks/api1", json={"name": "Renamed", "price_minor": 1500})
    assert (r.status_code, r.json["name"], r.json["price_minor"]) == (200, "Renamed", 1500)
    r = admin.patch(f"/api/v1/projects/{p1}", json={"title": "Better title", "type": "CAPSTONE"})
    assert (r.json["title"], r.json["type"], r.json["slug"]) == (
        "Better title", "CAPSTONE", "first-project")
    r = admin.patch(f"/api/v1/steps/{step}", json={"body_markdown": "New text"})
    assert r.status_code == 200 and r.json["body_markdown"] == "New text"
    r = admin.patch(f"/api/v1/deliverables/{deliverable}", json={"required": False})
    assert r.status_code == 200 and r.json["required"] is False

    # Archiving hides a project from the catalogue; restoring brings it back.
    assert admin.patch(f"/api/v1/projects/{p2}", json={"archived": True}).json["archived"]
    outline = api_client().get("/api/v1/tracks/API1").json
    assert [p["number"] for p in outline["projects"]] == [1]
    admin.patch(f"/api/v1/projects/{p2}", json={"archived": False})
    assert len(api_client().get("/api/v1/tracks/API1").json["projects"]) == 2

    # Learners see the result like any synced track.
    learner = api_client(make_user("student"))
    assert learner.post("/api/v1/tracks/API1/enrol").status_code == 201
    project = learner.get(f"/api/v1/projects/{p1}").json
    assert project["steps"][0]["body_html"] == "<p>New text</p>\n"


@pytest.mark.parametrize("role", ["student", "trainer"])
def test_only_admins_author(app, lms, api_as, role):
    admin, other = api_as("admin"), api_as(role)
    p1, _p2, step, deliverable = build_track(admin)
    before = counts(lms)
    attempts = [
        other.post("/api/v1/tracks", json={"code": "NOPE", "name": "x"}),
        other.patch("/api/v1/tracks/API1", json={"name": "x"}),
        other.post("/api/v1/tracks/API1/projects", json={"number": 3, "title": "x"}),
        other.patch(f"/api/v1/projects/{p1}", json={"title": "x"}),
        other.post(f"/api/v1/projects/{p1}/steps",
                   json={"number": 2, "title": "x", "body_markdown": "x"}),
        other.patch(f"/api/v1/steps/{step}", json={"title": "x"}),
        other.post(f"/api/v1/projects/{p1}/deliverables",
                   json={"key": "k", "title": "x", "kind": "url"}),
        other.patch(f"/api/v1/deliverables/{deliverable}", json={"title": "x"}),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert counts(lms) == before
    assert api_as("admin").get("/api/v1/tracks/API1").json["name"] == "API Track"


def test_bad_input_names_the_field_and_saves_nothing(app, lms, api_as):
    admin = api_as("admin")
    p1, p2, step, deliverable = build_track(admin)
    before = counts(lms)
    cases = [
        (admin.post("/api/v1/tracks", json={"code": "X", "name": "x"}), 422, "code"),
        (admin.post("/api/v1/tracks", json={"code": "api1", "name": "Again"}), 409, "code"),
        (admin.post("/api/v1/tracks", json={"code": "OK1", "name": "", "price_minor": -1}),
         422, "price_minor"),
        (admin.patch("/api/v1/tracks/API1", json={"code": "NEW"}), 422, "code"),
        (admin.patch("/api/v1/tracks/API1", json={"currency": "euro"}), 422, "currency"),
        (admin.post("/api/v1/tracks/API1/projects", json={"number": 1, "title": "Dup"}),
         409, "number"),
        (admin.post("/api/v1/tracks/API1/projects",
                    json={"number": 3, "title": "x", "prerequisites": [9]}), 422, "prerequisites"),
        (admin.post("/api/v1/tracks/API1/projects",
                    json={"number": 3, "title": "x", "type": "SIDE"}), 422, "type"),
        (admin.patch(f"/api/v1/projects/{p1}", json={"prerequisites": [2]}),
         422, "prerequisites"),
        (admin.patch(f"/api/v1/projects/{p1}", json={"number": 5}), 409, "number"),
        (admin.post(f"/api/v1/projects/{p1}/steps",
                    json={"number": 1, "title": "Dup", "body_markdown": "x"}), 409, "number"),
        (admin.post(f"/api/v1/projects/{p1}/steps", json={"number": 2, "title": "No body"}),
         422, "body_markdown"),
        (admin.post(f"/api/v1/projects/{p1}/deliverables",
                    json={"key": "report", "title": "Dup", "kind": "text"}), 409, "key"),
        (admin.post(f"/api/v1/projects/{p1}/deliverables",
                    json={"key": "x", "title": "x", "kind": "essay"}), 422, "kind"),
        (admin.post(f"/api/v1/projects/{p1}/deliverables",
                    json={"key": "x", "title": "x", "kind": "text", "grader": "psychic"}),
         422, "grader"),
        (admin.patch(f"/api/v1/steps/{step}", json={"estimated_minutes": 0}),
         422, "estimated_minutes"),
        (admin.patch(f"/api/v1/deliverables/{deliverable}", json={"key": "Bad Key"}), 422, "key"),
    ]
    for response, status, field in cases:
        assert response.status_code == status, (field, response.json)
        assert field in response.json["error"]["details"]["fields"], response.json
    assert admin.patch("/api/v1/projects/99999", json={"title": "x"}).status_code == 404
    assert admin.patch("/api/v1/tracks/NOPE", json={"name": "x"}).status_code == 404
    assert counts(lms) == before
    assert admin.get(f"/api/v1/projects/{p1}").json["prerequisites"] == []


def test_sync_and_api_keep_to_their_own_tracks(app, lms, api_as, track_root):
    admin = api_as("admin")
    build_track(admin)
    with app.app_context():
        results = content.sync(lms, lms.db.session)
        assert [(r.code, r.error) for r in results] == [("TT", "")]
    # Sync never archives an API-made track …
    assert admin.get("/api/v1/tracks/API1").status_code == 200
    # … and the API refuses to edit a synced one (the next sync would undo the edit).
    r = admin.patch("/api/v1/tracks/TT", json={"name": "Hand edit"})
    assert r.status_code == 409 and r.json["error"]["details"]["source"] == "content_folder"
    tt_project = admin.get("/api/v1/tracks/TT").json["projects"][0]["id"]
    assert admin.patch(f"/api/v1/projects/{tt_project}", json={"title": "x"}).status_code == 409
    assert admin.post("/api/v1/tracks/TT/projects",
                      json={"number": 9, "title": "x"}).status_code == 409

    # A content folder claiming the API track's code is refused, and the track kept.
    write_track(track_root, "API1")
    with app.app_context():
        results = {r.code: r.error for r in content.sync(lms, lms.db.session)}
    assert "created by the API" in results["API1"] and results["TT"] == ""
    assert admin.get("/api/v1/tracks/API1").json["name"] == "API Track"
