"""Workspaces end to end on a real engine: the API (202, then polling), the proxy's access
check, the web page, the idle reaper, the reconciler and the failures learners are told about."""

from __future__ import annotations

import urllib.request
from datetime import timedelta

import pytest
from lms_workspace_docker.backend import DockerWorkspaceBackend
from sqlalchemy import select

from lmscore.db import utcnow
from lmscore.models import OutboxEvent, Track, Workspace
from lmscore.services import learning, workspaces
from lmscore.testing.plugin import DEFAULT_PASSWORD


@pytest.fixture
def app(app_factory, docker_settings, raw_ide_profile):
    return app_factory({
        "plugins": {"enabled": ["workspace_docker"], "workspace_docker": docker_settings},
        "providers": {"workspace_backend": "docker"},
        "workspaces": {"max_running": 2, "profiles": {"ide": raw_ide_profile()}},
    })


@pytest.fixture
def backend(lms) -> DockerWorkspaceBackend:
    return lms.workspace_backends.get("docker")


@pytest.fixture
def track(lms):
    session = lms.db.session
    row = Track(code="WS", name="Workspace track", settings={"workspace_profile": "ide"})
    session.add(row)
    session.commit()
    return row


@pytest.fixture
def learner(lms, make_user, track):
    """``learner()``: a new student enrolled in the track."""

    def enrolled(role: str = "student"):
        user = make_user(role)
        learning.enrol(lms, lms.db.session, user, track.code)
        return user

    return enrolled


def fetch(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return response.read().decode()


def launch_and_run(api, jobs) -> dict:
    response = api.post("/api/v1/workspaces", json={"track": "WS"})
    assert response.status_code == 202, response.json
    assert response.json["status"] == "requested" and response.json["url"] is None
    jobs.drain()
    (mine,) = api.get("/api/v1/workspaces/me").json
    assert mine["status"] == "running", mine
    return mine


def test_launch_poll_open_stop_and_delete(app, lms, api_client, learner, jobs, backend, web):
    me = learner()
    api = api_client(me)
    mine = launch_and_run(api, jobs)
    secret = mine["url"].rstrip("/").rsplit("/", 1)[1]
    assert mine["url"] == f"http://127.0.0.1:5000/ws/{secret}/" and len(secret) >= 40

    # The proxy's check: the owner gets the upstream, which serves the IDE.
    web.sign_in(me.email, DEFAULT_PASSWORD)
    checked = web.get("/workspaces/proxy-auth", headers={"X-Original-URI": f"/ws/{secret}/x"})
    assert checked.status_code == 204
    assert "Directory listing" in fetch(checked.headers["X-Workspace-Upstream"] + "/")

    stopped = api.post(f"/api/v1/workspaces/{mine['id']}/stop")
    assert (stopped.status_code, stopped.json["status"]) == (202, "stopping")
    jobs.drain()
    (after,) = api.get("/api/v1/workspaces/me").json
    assert (after["status"], after["reason"], after["url"]) == ("stopped", "requested", None)
    assert backend.inventory() == []
    # A stopped workspace's secret opens nothing.
    assert web.get("/workspaces/proxy-auth",
                   headers={"X-Original-URI": f"/ws/{secret}/"}).status_code == 404

    # Start again: a new secret; then delete it with its files.
    again = launch_and_run(api, jobs)
    assert again["id"] == mine["id"] and again["url"] != mine["url"]
    assert api.delete(f"/api/v1/workspaces/{mine['id']}").status_code == 204
    assert api.get("/api/v1/workspaces/me").json == []
    assert backend.client().volumes.list(
        filters={"label": f"lmscore.instance={backend.instance}"}) == []


def test_every_status_change_is_an_event(lms, api_client, learner, jobs):
    api = api_client(learner())
    launch_and_run(api, jobs)
    rows = lms.db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.name == "workspace_changed")
        .order_by(OutboxEvent.id)
    )
    assert [row.payload["status"] for row in rows] == ["requested", "starting", "running"]
    assert {row.status for row in rows} <= {"delivered"}


def test_only_the_owner_and_admins_get_through_the_proxy(app, api_client, learner, jobs,
                                                         make_user):
    owner = learner()
    secret = launch_and_run(api_client(owner), jobs)["url"].rstrip("/").rsplit("/", 1)[1]
    uri = {"X-Original-URI": f"/ws/{secret}/"}

    anonymous = app.test_client()
    assert anonymous.get("/workspaces/proxy-auth", headers=uri).status_code == 401
    for role, expected in (("student", 404), ("trainer", 404), ("admin", 204)):
        other = make_user(role)
        client = app.test_client()
        client.sign_in(other.email, DEFAULT_PASSWORD)
        assert client.get("/workspaces/proxy-auth", headers=uri).status_code == expected, role
        # A guessed secret is no better than a wrong one.
        # (Its last character changed: the secret itself may end in "A".)
        guessed = {"X-Original-URI": f"/ws/{secret[:-1]}{'B' if secret[-1] == 'A' else 'A'}/"}
        assert client.get("/workspaces/proxy-auth", headers=guessed).status_code == 404
    # Another learner cannot see, stop or delete it through the API either.
    stranger = api_client(learner())
    (mine,) = api_client(owner).get("/api/v1/workspaces/me").json
    assert stranger.post(f"/api/v1/workspaces/{mine['id']}/stop").status_code == 404
    assert stranger.delete(f"/api/v1/workspaces/{mine['id']}").status_code == 404
    assert stranger.get("/api/v1/workspaces/me").json == []


def test_only_enrolled_learners_launch(api_client, make_user, track):
    response = api_client(make_user("student")).post("/api/v1/workspaces", json={"track": "WS"})
    assert response.status_code == 403
    assert "Enrol in Workspace track" in response.json["error"]["message"]
    unknown = api_client(make_user("student")).post("/api/v1/workspaces", json={"track": "NOPE"})
    assert unknown.status_code == 404
    missing = api_client(make_user("student")).post("/api/v1/workspaces", json={})
    assert missing.status_code == 422 and "track" in missing.json["error"]["details"]["fields"]


def test_the_node_cap_answers_409(api_client, learner, jobs):
    for _ in range(2):
        assert api_client(learner()).post("/api/v1/workspaces",
                                          json={"track": "WS"}).status_code == 202
    full = api_client(learner()).post("/api/v1/workspaces", json={"track": "WS"})
    assert full.status_code == 409
    assert full.json["error"]["code"] == "workspace_capacity_reached"
    assert full.json["error"]["details"] == {"max_running": 2}
    jobs.drain()


def test_idle_workspaces_are_reaped(lms, api_client, learner, jobs, backend):
    api = api_client(learner())
    mine = launch_and_run(api, jobs)
    session = lms.db.session
    row = session.get(Workspace, mine["id"])
    row.last_activity_at = utcnow() - timedelta(minutes=4)
    session.commit()
    lms.jobs.enqueue(workspaces.REAP_JOB)
    jobs.drain()
    assert api.get("/api/v1/workspaces/me").json[0]["status"] == "running"  # 5 min timeout

    row = session.get(Workspace, mine["id"])
    row.last_activity_at = utcnow() - timedelta(minutes=6)
    session.commit()
    lms.jobs.enqueue(workspaces.REAP_JOB)
    jobs.drain()
    (after,) = api.get("/api/v1/workspaces/me").json
    assert (after["status"], after["reason"]) == ("stopped", "idle")
    assert "idle" in after["message"]
    assert backend.inventory() == []


def test_the_reconciler_marks_vanished_workspaces_and_removes_orphans(
        lms, api_client, learner, jobs, backend):
    first = api_client(learner())
    second = api_client(learner())
    vanishing = launch_and_run(first, jobs)
    orphaned = launch_and_run(second, jobs)
    client = backend.client()
    # Behind lmscore's back: one container removed, the other's row forgotten.
    client.containers.get(f"lmscore-{backend.instance}-ws-{vanishing['id']}").remove(force=True)
    session = lms.db.session
    session.delete(session.get(Workspace, orphaned["id"]))
    session.commit()

    lms.jobs.enqueue(workspaces.RECONCILE_JOB)
    jobs.drain()
    (after,) = first.get("/api/v1/workspaces/me").json
    assert (after["status"], after["reason"]) == ("failed", "vanished")
    assert backend.inventory() == []


def test_the_reconciler_samples_resource_use_for_admins(lms, api_client, learner, jobs,
                                                        make_user):
    launch_and_run(api_client(learner()), jobs)
    lms.jobs.enqueue(workspaces.RECONCILE_JOB)
    jobs.drain()
    (row,) = api_client(make_user("admin")).get("/api/v1/workspaces").json
    assert row["resources"]["memory_bytes"] > 0
    assert row["resources"]["memory_limit_bytes"] == 96 * 1024 * 1024
    assert row["engine_ref"] and row["user_email"]


#: A fake IDE that eats memory on ``GET /hog``, as a learner's runaway notebook would.
HOG_IDE = """
import http.server

class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hog":
            self.blocks = [bytearray(8 << 20) for _ in range(64)]
        super().do_GET()

http.server.ThreadingHTTPServer(("", 8000), Handler).serve_forever()
"""


def test_a_workspace_killed_for_memory_is_reported_by_the_reconciler(
        lms, api_client, learner, jobs, backend, track, raw_ide_profile):
    track.settings = {"workspace_profile": raw_ide_profile(
        memory_mb=64, command=["python3", "-c", HOG_IDE])}
    lms.db.session.commit()
    api = api_client(learner())
    mine = launch_and_run(api, jobs)
    container = backend.client().containers.get(f"lmscore-{backend.instance}-ws-{mine['id']}")
    with pytest.raises(OSError):
        fetch(container_url(container) + "/hog")
    container.wait(timeout=20)

    lms.jobs.enqueue(workspaces.RECONCILE_JOB)
    jobs.drain()
    (after,) = api.get("/api/v1/workspaces/me").json
    assert (after["status"], after["reason"]) == ("failed", "out_of_memory")
    assert "ran out of memory" in after["message"]
    assert backend.inventory() == []


def container_url(container) -> str:
    binding = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]
    return f"http://127.0.0.1:{binding['HostPort']}"


def test_a_launch_that_fails_says_why(lms, api_client, learner, jobs, track):
    track.settings = {"workspace_profile": {"image": "lmscore-test/absent:1", "port": 8000}}
    lms.db.session.commit()
    api = api_client(learner())
    assert api.post("/api/v1/workspaces", json={"track": "WS"}).status_code == 202
    jobs.drain()
    (after,) = api.get("/api/v1/workspaces/me").json
    assert (after["status"], after["reason"]) == ("failed", "image_missing")
    assert "not on the workspace engine" in after["message"]


def test_an_unreachable_engine_fails_the_launch_with_a_message(
        app_factory, docker_settings, raw_ide_profile, make_user, tmp_path):
    app = app_factory({
        "plugins": {"enabled": ["workspace_docker"], "workspace_docker": {
            **docker_settings, "base_url": f"unix://{tmp_path}/gone.sock"}},
        "providers": {"workspace_backend": "docker"},
        "workspaces": {"profiles": {"ide": raw_ide_profile()}},
    })
    lms = app.extensions["lmscore"]
    session = lms.db.session
    session.add(Track(code="WS", name="Workspace track", settings={"workspace_profile": "ide"}))
    session.commit()
    user = make_user("student")
    learning.enrol(lms, session, user, "WS")
    row = workspaces.launch(lms, session, user, "WS")
    lms.jobs.drain()
    session.expire_all()
    row = session.get(Workspace, row.id)
    assert (row.status, row.reason) == ("failed", "engine_unreachable")
    assert "gone.sock is not reachable" in row.message


def test_the_workspace_page_launches_and_shows_the_status(app, lms, learner, jobs, web):
    me = learner()
    web.sign_in(me.email, DEFAULT_PASSWORD)
    track_page = web.get("/tracks/WS").get_data(as_text=True)
    assert "/tracks/WS/workspace" in track_page
    page = web.get("/tracks/WS/workspace").get_data(as_text=True)
    assert "You have not started this track" in page
    response = web.submit("/tracks/WS/workspace", {})
    assert response.status_code == 302
    waiting = web.get("/tracks/WS/workspace").get_data(as_text=True)
    assert 'http-equiv="refresh"' in waiting and "status-poll.js" in waiting
    (row,) = lms.db.session.scalars(select(Workspace.id)).all()
    assert web.get(f"/workspaces/{row}/status").json["waiting"] is True
    jobs.drain()
    running = web.get("/tracks/WS/workspace").get_data(as_text=True)
    assert "Open the workspace" in running and 'http-equiv="refresh"' not in running
    assert web.get(f"/workspaces/{row}/status").json["status"] == "running"

    response = web.submit("/tracks/WS/workspace", {}, action=f"/workspaces/{row}/stop")
    assert response.status_code == 302
    jobs.drain()
    assert "Your files are kept" in web.get("/tracks/WS/workspace").get_data(as_text=True)


def test_admins_see_every_workspace(app, api_client, learner, jobs, make_user):
    launch_and_run(api_client(learner()), jobs)
    admin = make_user("admin")
    client = app.test_client()
    client.sign_in(admin.email, DEFAULT_PASSWORD)
    page = client.get("/admin/workspaces").get_data(as_text=True)
    assert "running" in page and "@example.org" in page
    assert client.get("/admin/workspaces?status=failed").get_data(as_text=True).count(
        "badge-running") == 0
