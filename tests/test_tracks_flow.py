"""Content sync and the learning flow end to end through the API."""

import pytest
from tracks_fixture import write_track

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


@pytest.fixture
def synced(app, lms):
    with app.app_context():
        results = content.sync(lms, lms.db.session)
    assert [(r.code, r.error) for r in results] == [("TT", "")]
    return app


def test_sync_is_idempotent_and_archives_removed_content(app, lms, track_root):
    with app.app_context():
        first = content.sync(lms, lms.db.session)
        assert first[0].created == 1 + 2 + 4 + 4  # track, projects, steps, deliverables
        again = content.sync(lms, lms.db.session)
        assert not again[0].changed
        step = track_root / "tt/projects/02-project-2/steps/02-step-2.md"
        step.unlink()
        (track_root / "tt/projects/01-project-1/project.toml").write_text(
            (track_root / "tt/projects/01-project-1/project.toml").read_text()
            .replace('title = "Project 1"', 'title = "Project One"')
        )
        changed = content.sync(lms, lms.db.session)[0]
        assert (changed.updated, changed.archived) == (1, 1)


def test_invalid_content_names_file_line_field_and_changes_nothing(app, lms, track_root):
    with app.app_context():
        content.sync(lms, lms.db.session)
        path = track_root / "tt/projects/02-project-2/project.toml"
        path.write_text(path.read_text().replace('kind = "repository"', 'kind = "essay"'))
        (track_root / "tt/track.toml").write_text(
            (track_root / "tt/track.toml").read_text().replace("Test Track TT", "Renamed"))
        result = content.sync(lms, lms.db.session)[0]
        assert "project.toml" in result.error and "deliverables.1.kind" in result.error
        assert "project.toml:17:" in result.error  # the line of the second deliverable's kind
        client = app.test_client()
        assert client.get("/api/v1/tracks/TT").json["name"] == "Test Track TT"


def test_two_folders_with_one_track_code_fail_the_later_one(app, lms, track_root, tmp_path):
    copy = write_track(tmp_path / "elsewhere", "TT").rename(track_root / "tt-copy")
    edit = copy / "track.toml"
    edit.write_text(edit.read_text().replace("Test Track TT", "The copy"))
    with app.app_context():
        results = content.sync(lms, lms.db.session)
        assert [r.code for r in results] == ["TT", "TT"]
        assert results[0].error == ""
        assert results[1].error == (f"{edit}: code: track code TT is also used by "
                                    f"{track_root / 'tt' / 'track.toml'}")
        assert app.test_client().get("/api/v1/tracks/TT").json["name"] == "Test Track TT"


def test_learning_flow(synced, api_client, make_user, jobs):
    learner, trainer = make_user("student"), make_user("trainer")
    me, staff, anon = api_client(learner), api_client(trainer), api_client()

    assert [t["code"] for t in anon.get("/api/v1/tracks").json] == ["TT"]
    outline = anon.get("/api/v1/tracks/TT").json
    p1, p2 = outline["projects"]
    assert anon.get(f"/api/v1/projects/{p1['id']}").json["steps"] == []

    assert me.post("/api/v1/tracks/TT/enrol").status_code == 201
    project = me.get(f"/api/v1/projects/{p1['id']}").json
    assert project["content_visible"] and len(project["steps"]) == 2
    assert "<strong>teaching</strong>" in project["steps"][0]["body_html"]
    report = next(d for d in project["deliverables"] if d["key"] == "report")

    # Project 2 is locked until project 1 is completed.
    locked = me.get(f"/api/v1/projects/{p2['id']}").json
    assert locked["my_status"]["status"] == "locked"
    r = me.post(f"/api/v1/steps/{locked['steps'][0]['id']}/complete", json={})
    assert r.status_code == 409

    r = me.post(f"/api/v1/steps/{project['steps'][0]['id']}/complete", json={"time_spent_s": 60})
    assert r.status_code == 200 and r.json["projects"][0]["status"] == "in_progress"

    # Bad input saves nothing.
    assert me.post("/api/v1/submissions", json={"deliverable_id": report["id"]}).status_code == 422
    unknown = me.post("/api/v1/submissions", json={"deliverable_id": 99999, "text": "x"})
    assert unknown.status_code == 422
    assert staff.post("/api/v1/submissions",
                      json={"deliverable_id": report["id"], "text": "x"}).status_code == 403

    sub = me.post("/api/v1/submissions",
                  json={"deliverable_id": report["id"], "text": "Done <b>it</b>"})
    assert sub.status_code == 201 and sub.json["status"] == "submitted"
    jobs.drain()
    queue = staff.get("/api/v1/submissions").json
    assert [s["id"] for s in queue["items"]] == [sub.json["id"]]
    assert queue["items"][0]["status"] == "in_review"

    assert me.post(f"/api/v1/submissions/{sub.json['id']}/review",
                   json={"decision": "approved"}).status_code == 403
    r = staff.post(f"/api/v1/submissions/{sub.json['id']}/review",
                   json={"decision": "changes_requested", "feedback": "Add **tests**", "score": 40})
    assert r.status_code == 201 and "<strong>tests</strong>" in r.json["feedback_html"]

    resub = me.post("/api/v1/submissions",
                    json={"deliverable_id": report["id"], "text": "Now with tests"})
    assert resub.json["attempt"] == 2
    jobs.drain()
    staff.post(f"/api/v1/submissions/{resub.json['id']}/review", json={"decision": "approved"})
    progress = me.get("/api/v1/progress/me").json[0]
    assert [p["status"] for p in progress["projects"]] == ["completed", "not_started"]
    detail = me.get(f"/api/v1/submissions/{sub.json['id']}").json
    assert detail["reviews"][0]["decision"] == "changes_requested"
    other = api_client(make_user("student"))
    assert other.get(f"/api/v1/submissions/{sub.json['id']}").status_code == 404
