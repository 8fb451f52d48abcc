"""Workspaces in the core: the status machine, who may do what, profiles and the settling of
launches that never finished, with an in-memory backend registered like any plugin's. The
real engine is exercised in plugins/workspace_docker/tests."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlsplit

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
from lmscore.models import Track, User, Workspace
from lmscore.services import learning, workspaces


class MemoryBackend(ReconciledBackend):
    """Holds "running" workspaces in a dict; ``on_launch`` lets a test act mid-launch."""

    name = "memory"

    def __init__(self):
        self.running: dict[int, str] = {}
        self.on_launch = None
        self.deleted: list[int] = []
        self.engine_down = False

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
        if self.engine_down:
            raise ConnectionError("the engine is not answering")
        self.running.pop(spec.workspace_id, None)
        self.deleted.append(spec.workspace_id)

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


# -- access on an origin of its own ------------------------------------------------------------

WS_ORIGIN = "https://ws.example.org"
#: Workspaces on a host of their own: the LMS hands browsers over to it.
SEPARATE_ORIGIN = pytest.mark.lms_config({"workspaces": {"public_url": f"{WS_ORIGIN}/ws/"}})


def running_workspace(lms, jobs, owner) -> Workspace:
    row = workspaces.launch(lms, lms.db.session, owner, "WS")
    jobs.drain()
    lms.db.session.refresh(row)
    assert row.status == "running"
    return row


def change(lms, model, row_id, **values):
    """Change a row as another request would (the web requests ended the test's session)."""
    row = lms.db.session.get(model, row_id)
    for name, value in values.items():
        setattr(row, name, value)
    lms.db.session.commit()


def signed_in(app, user):
    from lmscore.testing.plugin import DEFAULT_PASSWORD

    client = app.test_client()
    client.sign_in(user.email, DEFAULT_PASSWORD)
    return client


def press_open(client, row, page="/tracks/WS/workspace"):
    """The "Open" button: a CSRF-checked form."""
    return client.submit(page, {}, action=f"/workspaces/{row.id}/open")


def on_workspace_origin(client, url):
    """Follow an absolute URL on the workspace origin (the LMS answers there too)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == WS_ORIGIN, url
    return client.get(f"{parts.path}?{parts.query}", base_url=WS_ORIGIN)


def workspace_cookies(browser, row, host="ws.example.org") -> dict[str, str]:
    """What the browser sends with a request to the workspace on ``host``."""
    found = {name: browser.get_cookie(name, domain=host, path=path)
             for name, path in (("lms_workspace", f"/ws/{row.access_secret}/"),
                                ("lms_session", "/"))}
    return {name: cookie.value for name, cookie in found.items() if cookie is not None}


def tampered(value: str, at: int) -> str:
    return value[:at] + ("B" if value[at] == "A" else "A") + value[at + 1:]


def proxy_check(app, row, cookies, base_url=WS_ORIGIN):
    """nginx's auth sub-request for a browser's request to the workspace: it carries the
    browser's cookies for that request."""
    return app.test_client(use_cookies=False).get(
        "/workspaces/proxy-auth", base_url=base_url,
        headers={"X-Original-URI": f"/ws/{row.access_secret}/lab?x=1",
                 "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())})


@pytest.mark.parametrize(("base_url", "public_url", "separate"), [
    ("https://learn.example.org", "", False),
    ("https://learn.example.org", "https://LEARN.example.org:443/ws/", False),
    ("https://learn.example.org", "https://ws.example.org/ws/", True),
    ("http://127.0.0.1:5000", "http://localhost:5000/ws/", True),
])
def test_workspaces_have_an_origin_of_their_own_on_another_host(app_factory, base_url,
                                                                 public_url, separate):
    app = app_factory({"base_url": base_url, "workspaces": {"public_url": public_url}})
    assert workspaces.separate_origin(app.extensions["lmscore"]) is separate


@SEPARATE_ORIGIN
def test_open_hands_over_to_the_workspace_origin_with_a_cookie_for_that_workspace(
        app, lms, jobs, learner):
    owner = learner()
    row = running_workspace(lms, jobs, owner)
    browser = signed_in(app, owner)
    page = browser.get("/tracks/WS/workspace")
    assert f'action="/workspaces/{row.id}/open"' in page.get_data(as_text=True)
    assert row.access_secret not in page.get_data(as_text=True)
    # Browsers check form-action on the form's redirect to the workspace origin too.
    assert f"form-action 'self' {WS_ORIGIN};" in page.headers["Content-Security-Policy"]

    opened = press_open(browser, row)
    assert opened.status_code == 303
    assert opened.location.startswith(f"{WS_ORIGIN}/workspaces/handover?token=")
    handed = on_workspace_origin(browser, opened.location)
    # Straight on to the workspace: the token does not stay in the address bar.
    assert (handed.status_code, handed.location) == (302, workspaces.public_url(lms, row))
    (cookie,) = handed.headers.getlist("Set-Cookie")
    attributes = {part.split("=")[0].strip().lower(): part.partition("=")[2]
                  for part in cookie.split(";")}
    assert attributes["path"] == f"/ws/{row.access_secret}/"
    assert attributes["max-age"] == str(12 * 3600) and attributes["samesite"] == "Lax"
    assert {"lms_workspace", "httponly", "secure"} <= set(attributes)
    assert "domain" not in attributes  # host-only: the LMS's host never gets it

    checked = proxy_check(app, row, workspace_cookies(browser, row))
    assert checked.status_code == 204
    assert checked.headers["X-Workspace-Upstream"] == row.engine_url


@SEPARATE_ORIGIN
def test_on_a_workspace_origin_the_proxy_check_ignores_the_lms_session(app, lms, jobs,
                                                                       learner):
    owner = learner()
    row = running_workspace(lms, jobs, owner)
    browser = signed_in(app, owner)
    session = workspace_cookies(browser, row, host="localhost")
    assert list(session) == ["lms_session"]
    # Even where the LMS session cookie would reach the check, it opens nothing.
    assert proxy_check(app, row, session, base_url="http://localhost").status_code == 401
    assert proxy_check(app, row, session).status_code == 401


@SEPARATE_ORIGIN
def test_the_workspace_cookie_opens_its_own_workspace_while_the_session_lasts(
        app, lms, jobs, learner, make_user, monkeypatch):
    from itsdangerous.timed import TimestampSigner

    row, other = running_workspace(lms, jobs, learner()), running_workspace(lms, jobs, learner())
    admin = make_user("admin")
    browser = signed_in(app, admin)
    on_workspace_origin(browser, press_open(browser, row, page="/admin/workspaces").location)
    cookies = workspace_cookies(browser, row)
    assert proxy_check(app, row, cookies).status_code == 204

    # Only for the workspace it was handed over for, untampered.
    assert workspace_cookies(browser, other) == {}
    assert proxy_check(app, other, cookies).status_code == 401
    forged = {"lms_workspace": tampered(cookies["lms_workspace"], 5)}
    assert proxy_check(app, row, forged).status_code == 401
    # Not after its age, nor once the user's sessions end (password reset, sign out everywhere).
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + 12 * 3600 + 5)
        assert proxy_check(app, row, cookies).status_code == 401
    change(lms, User, admin.id, session_version=admin.session_version + 1)
    assert proxy_check(app, row, cookies).status_code == 401


@SEPARATE_ORIGIN
def test_admins_reach_any_running_workspace_through_the_handover(app, lms, jobs, learner,
                                                                 make_user):
    row = running_workspace(lms, jobs, learner())
    before = row.last_activity_at
    admin = signed_in(app, make_user("admin"))
    assert f'action="/workspaces/{row.id}/open"' in admin.get("/admin/workspaces").get_data(
        as_text=True)
    handed = on_workspace_origin(admin, press_open(admin, row, page="/admin/workspaces").location)
    assert handed.location == workspaces.public_url(lms, row)
    assert proxy_check(app, row, workspace_cookies(admin, row)).status_code == 204
    # An admin's visit is not the learner's activity.
    assert lms.db.session.get(Workspace, row.id).last_activity_at == before
    # Other learners get nowhere, by the button or by the proxy.
    stranger = signed_in(app, learner())
    assert press_open(stranger, row).status_code == 404
    assert proxy_check(app, row, workspace_cookies(stranger, row)).status_code == 401


@SEPARATE_ORIGIN
def test_handover_tokens_that_are_stale_tampered_or_no_longer_good_are_refused(
        app, lms, jobs, learner, make_user, monkeypatch):
    from itsdangerous.timed import TimestampSigner

    owner = learner()
    row = running_workspace(lms, jobs, owner)
    browser = signed_in(app, owner)

    def refused(location, status, says):
        response = on_workspace_origin(app.test_client(), location)
        assert response.status_code == status and says in response.get_data(as_text=True)
        assert "Set-Cookie" not in response.headers

    location = press_open(browser, row).location
    with monkeypatch.context() as m:  # a minute later
        m.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + 61)
        refused(location, 400, "has expired")
    location = press_open(browser, row).location
    assert on_workspace_origin(app.test_client(), location).status_code == 302
    # Once only, even within its minute: the link passes through logs and the history.
    refused(location, 400, "has been used")
    location = press_open(browser, row).location
    refused(tampered(location, location.index("token=") + 12), 400, "is not valid")
    refused(f"{WS_ORIGIN}/workspaces/handover", 400, "is not valid")

    location = press_open(browser, row).location
    # e.g. a password reset since
    change(lms, User, owner.id, session_version=owner.session_version + 1)
    refused(location, 400, "signed out")

    admin = make_user("admin")
    as_admin = signed_in(app, admin)
    location = press_open(as_admin, row, page="/admin/workspaces").location
    change(lms, User, admin.id, role="student")  # no longer an admin
    refused(location, 404, "No such workspace")

    browser = signed_in(app, owner)
    location = press_open(browser, row).location
    workspaces.stop(lms, lms.db.session, lms.db.session.get(User, owner.id), row.id)
    refused(location, 404, "No such workspace")
    jobs.drain()
    # Only a running workspace opens: back to its page, which says so.
    stopped = press_open(browser, row)
    assert stopped.status_code == 302 and stopped.location.endswith("/tracks/WS/workspace")
    assert "not running" in browser.get("/tracks/WS/workspace").get_data(as_text=True)


@SEPARATE_ORIGIN
def test_without_a_workspace_cookie_the_proxy_sends_browsers_through_the_lms_again(
        app, lms, jobs, learner):
    owner = learner()
    row = running_workspace(lms, jobs, owner)
    path = f"/ws/{row.access_secret}/lab/tree"
    # nginx answers the check's 401 with a redirect to the same path on the LMS's origin.
    signed_out = app.test_client().get(path)
    assert signed_out.status_code == 302 and "/login?next=" in signed_out.location
    browser = signed_in(app, owner)
    again = browser.get(path)
    assert again.status_code == 302
    assert on_workspace_origin(browser, again.location).location == workspaces.public_url(
        lms, row)
    assert proxy_check(app, row, workspace_cookies(browser, row)).status_code == 204
    assert signed_in(app, learner()).get(path).status_code == 404


def test_on_the_lms_origin_open_goes_straight_to_the_workspace(app, lms, jobs, learner):
    owner = learner()
    row = running_workspace(lms, jobs, owner)
    browser = signed_in(app, owner)
    opened = press_open(browser, row)
    assert (opened.status_code, opened.location) == (303, workspaces.public_url(lms, row))
    assert opened.location == f"http://127.0.0.1:5000/ws/{row.access_secret}/"
    # The LMS session decides: the proxy on the LMS's origin serves /ws/ itself.
    session = workspace_cookies(browser, row, host="localhost")
    assert proxy_check(app, row, session, base_url="http://localhost").status_code == 204
    assert browser.get(f"/ws/{row.access_secret}/").status_code == 404


def test_a_shared_origin_is_warned_about_at_start_up(app_factory, backend, caplog):
    class Plugin:
        @hookimpl
        def lms_register_workspace_backends(self):
            return [backend]

    def start(public_url):
        caplog.clear()
        app_factory({"providers": {"workspace_backend": "memory"},
                     "workspaces": {"public_url": public_url}},
                    plugins={"memory_workspaces": Plugin()})
        return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]

    (warning,) = start("")
    assert "LMS's own origin (http://127.0.0.1:5000)" in warning
    assert "[workspaces] public_url" in warning
    assert start(f"{WS_ORIGIN}/ws/") == []


def test_deleting_a_user_removes_their_workspaces_from_the_engine(lms, jobs, learner, backend,
                                                                  make_user):
    """The rows go with the user (cascade); the containers and stored work must go from the
    engine too, and an engine that fails keeps the user, workspace and all."""
    from lmscore.models import User, Workspace
    from lmscore.services import users

    me, superadmin = learner(), make_user("superadmin")
    row = workspaces.launch(lms, lms.db.session, me, "WS")
    jobs.drain()
    workspace_id, user_id = row.id, me.id
    backend.engine_down = True
    with pytest.raises(workspaces.WorkspaceEngineUnavailable, match="not answering"):
        users.delete_user(lms, lms.db.session, superadmin, me)
    assert lms.db.session.get(User, user_id) is not None
    assert lms.db.session.get(Workspace, workspace_id) is not None

    backend.engine_down = False
    users.delete_user(lms, lms.db.session, superadmin, lms.db.session.get(User, user_id))
    assert backend.deleted == [workspace_id] and backend.running == {}
    assert lms.db.session.get(User, user_id) is None
