"""Workspaces in the core: the status machine, who may do what, profiles and the settling of
launches that never finished, with an in-memory backend registered like any plugin's. The
real engine is exercised in plugins/workspace_docker/tests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lmscore.capabilities import (
    EngineWorkspace,
    ReconciledBackend,
    WorkspaceInfo,
    WorkspaceReason,
    WorkspaceStatus,
)
from lmscore.db import utcnow
from lmscore.errors import Conflict, NotFound, PermissionDenied
from lmscore.hookspecs import hookimpl
from lmscore.models import Track, Workspace
from lmscore.services import learning, workspaces


class MemoryBackend(ReconciledBackend):
    """Holds "running" workspaces in a dict; ``on_launch`` lets a test act mid-launch."""

    name = "memory"

    def __init__(self):
        self.running: dict[int, str] = {}
        self.on_launch = None

    def launch(self, spec):
        if self.on_launch:
            self.on_launch(spec)
        self.running[spec.workspace_id] = f"ref-{spec.workspace_id}"
        return WorkspaceInfo(WorkspaceStatus.RUNNING, url=f"http://127.0.0.1:9{spec.workspace_id}",
                             reference=self.running[spec.workspace_id])

    def status(self, spec):
        running = spec.workspace_id in self.running
        return WorkspaceInfo(WorkspaceStatus.RUNNING if running else WorkspaceStatus.STOPPED)

    def stop(self, spec):
        self.running.pop(spec.workspace_id, None)
        return WorkspaceInfo(WorkspaceStatus.STOPPED)

    def delete(self, spec):
        self.running.pop(spec.workspace_id, None)

    def inventory(self):
        return [EngineWorkspace(workspace_id=i, reference=ref, running=True,
                                resources={"memory_bytes": 1024})
                for i, ref in self.running.items()]

    def discard(self, reference):
        self.running = {i: r for i, r in self.running.items() if r != reference}


@pytest.fixture
def backend():
    return MemoryBackend()


@pytest.fixture
def app(app_factory, backend):
    class Plugin:
        @hookimpl
        def lms_register_workspace_backends(self):
            return [backend]

    return app_factory(
        {"providers": {"workspace_backend": "memory"},
         "workspaces": {"max_running": 2,
                        "profiles": {"ide": {"image": "ide:1", "port": 8000}}}},
        plugins={"memory_workspaces": Plugin()},
    )


@pytest.fixture
def track(lms):
    row = Track(code="WS", name="Workspace track", settings={"workspace_profile": "ide"})
    lms.db.session.add(row)
    lms.db.session.commit()
    return row


@pytest.fixture
def learner(lms, make_user, track):
    def enrolled():
        user = make_user("student")
        learning.enrol(lms, lms.db.session, user, track.code)
        return user

    return enrolled


def test_launch_runs_through_the_status_machine(lms, jobs, learner, backend):
    me = learner()
    row = workspaces.launch(lms, lms.db.session, me, "WS")
    assert row.status == "requested" and row.backend == "memory"
    # Launching again while it is on its way changes nothing.
    assert workspaces.launch(lms, lms.db.session, me, "WS").id == row.id
    jobs.drain()
    lms.db.session.refresh(row)
    assert (row.status, row.engine_url, row.engine_ref) == ("running", "http://127.0.0.1:9"
                                                            f"{row.id}", f"ref-{row.id}")
    workspaces.stop(lms, lms.db.session, me, row.id)
    assert row.status == "stopping"
    with pytest.raises(Conflict, match="stopping"):
        workspaces.launch(lms, lms.db.session, me, "WS")
    jobs.drain()
    lms.db.session.refresh(row)
    assert (row.status, row.reason) == ("stopped", "requested")
    assert backend.running == {}


def test_a_stop_that_comes_in_during_the_launch_wins(lms, jobs, learner, backend):
    me = learner()
    row = workspaces.launch(lms, lms.db.session, me, "WS")

    def learner_stops_meanwhile(spec):
        workspaces.stop(lms, lms.db.session, me, spec.workspace_id)

    backend.on_launch = learner_stops_meanwhile
    jobs.drain()
    lms.db.session.refresh(row)
    assert row.status == "stopped"
    assert backend.running == {}  # what the launch started was stopped again


def test_a_deletion_during_the_launch_leaves_nothing_behind(lms, jobs, learner, backend):
    me = learner()
    workspace_id = workspaces.launch(lms, lms.db.session, me, "WS").id
    backend.on_launch = lambda spec: workspaces.delete(lms, lms.db.session, me, spec.workspace_id)
    jobs.drain()
    lms.db.session.expire_all()
    assert lms.db.session.get(Workspace, workspace_id) is None
    assert backend.running == {}


def test_launches_need_an_enrolment_and_count_against_the_cap(lms, make_user, learner, track):
    with pytest.raises(PermissionDenied, match="Enrol in Workspace track"):
        workspaces.launch(lms, lms.db.session, make_user("student"), "WS")
    workspaces.launch(lms, lms.db.session, learner(), "WS")
    workspaces.launch(lms, lms.db.session, learner(), "WS")
    with pytest.raises(workspaces.WorkspaceCapacityReached) as raised:
        workspaces.launch(lms, lms.db.session, learner(), "WS")
    assert raised.value.status == 409 and "All 2 workspaces" in raised.value.message


def test_others_cannot_find_a_workspace(lms, learner, make_user):
    row = workspaces.launch(lms, lms.db.session, learner(), "WS")
    for stranger in (learner(), make_user("trainer")):
        with pytest.raises(NotFound):
            workspaces.get_workspace(lms.db.session, stranger, row.id)
        with pytest.raises(NotFound):
            workspaces.stop(lms, lms.db.session, stranger, row.id)
    assert workspaces.get_workspace(lms.db.session, make_user("admin"), row.id) is row


def test_the_proxy_check_needs_the_owner_or_an_admin_and_the_secret(lms, jobs, learner,
                                                                     make_user):
    owner = learner()
    row = workspaces.launch(lms, lms.db.session, owner, "WS")
    jobs.drain()
    lms.db.session.refresh(row)
    grant = workspaces.authorize_access(lms, lms.db.session, owner, row.access_secret)
    assert grant.upstream == row.engine_url
    assert workspaces.authorize_access(lms, lms.db.session, make_user("admin"),
                                       row.access_secret).workspace_id == row.id
    for user, secret in ((learner(), row.access_secret), (owner, row.access_secret[:-2]),
                         (owner, ""), (None, row.access_secret)):
        with pytest.raises(NotFound):
            workspaces.authorize_access(lms, lms.db.session, user, secret)


def test_a_profile_that_keeps_the_base_path_is_forwarded_with_it(lms, jobs, learner, track):
    track.settings = {"workspace_profile": {"image": "lab:1", "port": 8888,
                                            "strip_base_path": False}}
    owner = learner()
    row = workspaces.launch(lms, lms.db.session, owner, "WS")
    jobs.drain()
    lms.db.session.refresh(row)
    grant = workspaces.authorize_access(lms, lms.db.session, owner, row.access_secret)
    assert grant.upstream == f"{row.engine_url}/ws/{row.access_secret}"


def test_tracks_without_a_usable_profile_are_refused_clearly(lms, learner, track):
    track.settings = {"workspace_profile": "nowhere"}
    with pytest.raises(workspaces.WorkspacesNotConfigured, match="'nowhere', which is not"):
        workspaces.launch(lms, lms.db.session, learner(), "WS")
    track.settings = {"workspace_profile": {"image": "x", "port": 0}}
    with pytest.raises(workspaces.WorkspacesNotConfigured, match="invalid"):
        workspaces.launch(lms, lms.db.session, learner(), "WS")


def test_the_bundled_tracks_profiles_are_built_in(lms):
    for name, image in (("code-server", "codercom/code-server"), ("jupyter", "jupyter")):
        found, profile = workspaces.profile_for(
            lms, Track(code="X", name="X", settings={"workspace_profile": name}))
        assert found == name and image in profile["image"]
        assert profile["user"] != "0" and profile["read_only_root"]


def test_launches_that_never_finished_are_settled(lms, jobs, learner, backend):
    row = workspaces.launch(lms, lms.db.session, learner(), "WS")
    lms.db.session.rollback()
    jobs.broker.flush_all()  # the worker that would have run the launch is gone
    row.status_changed_at = utcnow() - timedelta(hours=1)
    lms.db.session.commit()
    workspaces.reconcile(lms)
    lms.db.session.refresh(row)
    assert (row.status, row.reason) == ("failed", WorkspaceReason.INTERRUPTED)
    assert "did not finish" in row.message


def test_the_reconciler_compares_rows_with_the_engine(lms, jobs, learner, backend):
    kept = workspaces.launch(lms, lms.db.session, learner(), "WS")
    gone = workspaces.launch(lms, lms.db.session, learner(), "WS")
    jobs.drain()
    backend.running.pop(gone.id)  # removed behind lmscore's back
    backend.running[999] = "ref-orphan"  # no row owns it
    jobs.enqueue(workspaces.RECONCILE_JOB)
    jobs.drain()
    lms.db.session.refresh(kept)
    lms.db.session.refresh(gone)
    assert kept.status == "running" and kept.resources["memory_bytes"] == 1024
    assert (gone.status, gone.reason) == ("failed", "vanished")
    assert set(backend.running) == {kept.id}


def test_the_local_default_refuses_launches_saying_no_engine_is_configured(
        app_factory, make_user):
    app = app_factory()
    lms = app.extensions["lmscore"]
    lms.db.session.add(Track(code="WS", name="W", settings={"workspace_profile": "jupyter"}))
    lms.db.session.commit()
    user = make_user("student")
    learning.enrol(lms, lms.db.session, user, "WS")
    assert not workspaces.workspaces_enabled(lms, "WS")
    with pytest.raises(workspaces.WorkspacesNotConfigured,
                       match="No workspace engine is configured"):
        workspaces.launch(lms, lms.db.session, user, "WS")


def test_learners_find_their_workspaces_from_the_navigation(lms, jobs, web, learner,
                                                            make_user, track):
    from lmscore.testing.plugin import DEFAULT_PASSWORD

    user = learner()
    lms.db.session.add(Track(code="NOWS", name="Track without a workspace profile"))
    lms.db.session.commit()
    learning.enrol(lms, lms.db.session, user, "NOWS")
    web.sign_in(user.email, DEFAULT_PASSWORD)
    page = web.get("/workspaces").get_data(as_text=True)
    assert 'href="/workspaces"' in page  # the navigation item
    assert "Workspace track" in page and "not started yet" in page
    assert 'href="/tracks/WS/workspace"' in page
    workspaces.launch(lms, lms.db.session, user, "WS")
    jobs.drain()
    page = web.get("/workspaces").get_data(as_text=True)
    assert "running" in page and ">Open<" in page


def test_without_a_workspace_engine_there_is_no_workspaces_link(app_factory, make_user):
    from lmscore.testing.plugin import DEFAULT_PASSWORD

    app = app_factory()
    web = app.test_client()
    user = make_user("student")
    web.sign_in(user.email, DEFAULT_PASSWORD)
    assert 'href="/workspaces"' not in web.get("/dashboard").get_data(as_text=True)
