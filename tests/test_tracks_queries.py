"""No N+1: the SQL statements per request stay the same when a track grows (projects, steps)
and when more learners have progress rows."""

import shutil

import pytest
from sqlalchemy import select
from tracks_fixture import STEP, write_track

from lmscore.models import Enrolment, Step, StepCompletion, Track
from lmscore.services import content
from lmscore.testing.statements import recording_statements

PAGES = ("/api/v1/tracks/TT", "/api/v1/projects/{project}", "/api/v1/progress/me")


@pytest.fixture
def content_root(tmp_path):
    root = tmp_path / "content"
    write_track(root, "TT", projects=2)
    write_track(root, "UU", projects=1)
    return root


@pytest.fixture
def lms_config(content_root):
    return {"plugins": {"enabled": ["content_folder"],
                        "content_folder": {"folders": [str(content_root)]}}}




def grow(root, projects: int, steps: int) -> None:
    """Rewrite track TT with more projects, each with more steps."""
    shutil.rmtree(root / "tt")
    folder = write_track(root, "TT", projects=projects)
    for project in (folder / "projects").iterdir():
        for n in range(3, steps + 1):
            (project / "steps" / f"{n:02d}-step-{n}.md").write_text(STEP.format(title=f"S{n}"))


def sync(app, lms):
    with app.app_context():
        assert all(not r.error for r in content.sync(lms, lms.db.session))


def add_learners(lms, make_user, count: int) -> None:
    """Other learners, enrolled, with every live step of every track completed."""
    session = lms.db.session
    step_ids = session.scalars(select(Step.id).where(Step.archived_at.is_(None))).all()
    track_id = session.scalar(select(Track.id))  # ids are not 1 on PostgreSQL: sequences go on
    for _ in range(count):
        user = make_user("student")
        session.add(Enrolment(user_id=user.id, track_id=track_id, status="active"))
        session.add_all(StepCompletion(user_id=user.id, step_id=s) for s in step_ids)
    session.commit()


def measure(lms, client, project_id: int) -> dict[str, int]:
    counts = {}
    for page in PAGES:
        with recording_statements(lms.db.engine) as statements:
            response = client.get(page.format(project=project_id))
        assert response.status_code == 200, response.json
        counts[page] = len(statements)
    return counts


def test_statements_per_request_do_not_grow(app, lms, api_client, make_user, content_root):
    sync(app, lms)
    learner = make_user("student")
    me = api_client(learner)
    for code in ("TT", "UU"):
        assert me.post(f"/api/v1/tracks/{code}/enrol").status_code == 201
    project_id = me.get("/api/v1/tracks/TT").json["projects"][0]["id"]
    project = me.get(f"/api/v1/projects/{project_id}").json
    me.post(f"/api/v1/steps/{project['steps'][0]['id']}/complete", json={})
    report = next(d for d in project["deliverables"] if d["key"] == "report")
    assert me.post("/api/v1/submissions", json={"deliverable_id": report["id"],
                                                  "text": "x"}).status_code == 201
    add_learners(lms, make_user, 2)

    small = measure(lms, me, project_id)
    grow(content_root, projects=8, steps=6)
    sync(app, lms)
    add_learners(lms, make_user, 15)
    large = measure(lms, me, project_id)

    assert len(me.get("/api/v1/tracks/TT").json["projects"]) == 8
    assert len(me.get(f"/api/v1/projects/{project_id}").json["steps"]) == 6
    assert large == small, (small, large)
    # And the figures themselves stay small.
    assert all(n <= 16 for n in large.values()), large
