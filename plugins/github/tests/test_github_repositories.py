"""Starting a project: the learner's repository generated from the template by a job (naming
rule, organisation, 422 "already exists", GHES base URL, rate limits), then the deliverable's
submission target."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from github_support import TEMPLATE, follow_authorisation
from lms_github.models import GithubAccount, GithubRepository
from lms_github.service import repository_name
from sqlalchemy import select

from lmscore.db import utcnow
from lmscore.models import Project, Submission
from lmscore.testing.plugin import DEFAULT_PASSWORD


def repository(lms, user) -> GithubRepository | None:
    lms.db.session.expire_all()
    return lms.db.session.scalar(select(GithubRepository).where(
        GithubRepository.user_id == user.id))


def start(web, project_id):
    return web.submit(f"/projects/{project_id}", {},
                      action=f"/projects/{project_id}/github/start")


def test_start_on_the_web_creates_the_repository_and_the_draft(connected, github, jobs, lms,
                                                                learner, course):
    page = connected.get(f"/projects/{course.project.id}").get_data(as_text=True)
    assert "Start on GitHub" in page and TEMPLATE in page
    start(connected, course.project.id)
    assert repository(lms, learner).status == "pending"
    assert github.calls("POST", r"/repos/.*/generate") == []  # the job calls GitHub

    jobs.drain()
    [call] = github.calls("POST", r"/repos/.*/generate")
    assert call.path == f"/repos/{TEMPLATE}/generate"
    assert call.body == {"owner": "octo-learner", "name": "dp-sql-foundations-octo-learner",
                         "private": False, "include_all_branches": False,
                         "description": "SQL foundations (lmscore)"}
    repo = repository(lms, learner)
    assert (repo.status, repo.html_url) == (
        "ready", f"{github.url}/octo-learner/dp-sql-foundations-octo-learner")
    [draft] = lms.db.session.scalars(select(Submission).where(Submission.user_id == learner.id))
    assert (draft.status, draft.url, draft.deliverable_id) == ("draft", repo.html_url,
                                                               course.deliverable.id)
    page = connected.get(f"/projects/{course.project.id}").get_data(as_text=True)
    assert f'href="{repo.html_url}"' in page and "open a pull request there" in page

    start(connected, course.project.id)  # starting again changes nothing
    jobs.drain()
    assert len(github.calls("POST", r"/repos/.*/generate")) == 1


def test_the_start_button_only_where_it_can_work(connected, lms, course, make_user, app):
    url = f"/projects/{course.project.id}"
    project = lms.db.session.get(Project, course.project.id)
    project.github_template_repo = None
    lms.db.session.commit()
    assert "Start on GitHub" not in connected.get(url).get_data(as_text=True)
    trainer = app.test_client()
    trainer.sign_in(make_user("trainer").email, DEFAULT_PASSWORD)
    assert "Your GitHub repository" not in trainer.get(url).get_data(as_text=True)


def test_an_existing_repository_is_linked(connected, github, jobs, lms, learner, course):
    existing = github.add_repository("octo-learner/dp-sql-foundations-octo-learner")
    start(connected, course.project.id)
    jobs.drain()
    [generate] = github.calls("POST", r"/repos/.*/generate")
    assert github.calls("GET", r"/repos/octo-learner/dp-sql-foundations-octo-learner")
    repo = repository(lms, learner)
    assert (repo.status, repo.github_id) == ("ready", existing["id"])


def test_in_a_configured_organisation(make_app, github, jobs, make_user, course):
    from lmscore.services import learning

    app = make_app(organization="acme-classroom")
    lms = app.extensions["lmscore"]
    user = make_user("student")
    learning.enrol(lms, lms.db.session, user, course.track.code)
    web = app.test_client()
    web.sign_in(user.email, DEFAULT_PASSWORD)
    follow_authorisation(web, github)
    lms.jobs.drain()
    start(web, course.project.id)
    lms.jobs.drain()
    [call] = github.calls("POST", r"/repos/.*/generate")
    assert call.body["owner"] == "acme-classroom"
    assert repository(lms, user).html_url.endswith(
        "/acme-classroom/dp-sql-foundations-octo-learner")


def test_github_enterprise_server_base_urls(app_factory, jobs, make_user, course):
    from github_support import BASE_URL, FakeGitHub, plugin_settings

    from lmscore.services import learning

    ghes = FakeGitHub(api_prefix="/api/v3")
    ghes.add_repository(TEMPLATE, template=True)
    try:
        app = app_factory({"base_url": BASE_URL, "plugins": {
            "enabled": ["github"], "github": plugin_settings(ghes)}})
        lms = app.extensions["lmscore"]
        user = make_user("student")
        learning.enrol(lms, lms.db.session, user, course.track.code)
        web = app.test_client()
        web.sign_in(user.email, DEFAULT_PASSWORD)
        follow_authorisation(web, ghes)
        lms.jobs.drain()
        start(web, course.project.id)
        lms.jobs.drain()
        assert repository(lms, user).status == "ready"
        assert ghes.calls("GET", "/user") and ghes.calls("POST", r"/repos/.*/generate")
    finally:
        ghes.close()


def test_an_unknown_template_fails_with_a_message(connected, github, jobs, lms, learner,
                                                  course):
    github.templates.clear()
    start(connected, course.project.id)
    jobs.drain()
    repo = repository(lms, learner)
    assert repo.status == "failed" and "Not Found" in repo.problem
    page = connected.get(f"/projects/{course.project.id}").get_data(as_text=True)
    assert "Not Found" in page and "Try again" in page
    github.templates.add(TEMPLATE)
    start(connected, course.project.id)
    jobs.drain()
    assert repository(lms, learner).status == "ready"


def _token(lms, github) -> str:
    return next(iter(github.tokens))


@pytest.mark.parametrize("kind", ["primary", "secondary"])
def test_a_spent_rate_limit_defers_the_job_until_the_reset(connected, github, jobs, lms,
                                                           learner, course, kind):
    github.rate_limit(_token(lms, github), 1.5, kind)
    start(connected, course.project.id)
    jobs.drain()
    calls = github.calls("POST", r"/repos/.*/generate")
    # One refused call, then nothing until GitHub's reset / Retry-After, then success.
    assert len(calls) == 2
    limited = (calls[0].at, calls[1].at)
    assert limited[1] - limited[0] >= 1.0
    assert repository(lms, learner).status == "ready"


def test_a_spent_limit_is_remembered_for_the_account(connected, github, jobs, lms, learner,
                                                     course):
    """Another job of the same learner waits for the recorded reset without calling."""
    session = lms.db.session
    account = session.scalar(select(GithubAccount).where(GithubAccount.user_id == learner.id))
    account.rate_limited_until = utcnow() + timedelta(seconds=2)
    session.commit()
    started = time.time()
    start(connected, course.project.id)
    jobs.drain()
    [call] = github.calls("POST", r"/repos/.*/generate")
    assert call.at >= started + 1
    assert repository(lms, learner).status == "ready"


def test_api_start_and_poll(connected, github, jobs, lms, learner, course, api_client):
    api = api_client(learner)
    url = f"/api/v1/github/projects/{course.project.id}/repository"
    assert api.get(url).status_code == 404
    response = api.post(url)
    assert response.status_code == 202
    assert response.json["status"] == "pending"
    assert response.json["name"] == "dp-sql-foundations-octo-learner"
    jobs.drain()
    body = api.get(url).json
    assert body["status"] == "ready" and body["html_url"].endswith(body["name"])


def test_api_refusals(app, api_client, api_as, make_user, lms, course, learner):
    url = f"/api/v1/github/projects/{course.project.id}/repository"
    not_connected = api_client(learner).post(url)
    assert not_connected.status_code == 409
    assert not_connected.json["error"]["message"] == "Connect your GitHub account first."
    assert api_as("trainer").post(url).status_code == 403
    assert api_as("student").post(url).status_code == 403  # not enrolled
    lms.db.session.get(Project, course.project.id).github_template_repo = None
    lms.db.session.commit()
    no_template = api_client(learner).post(url)
    assert no_template.status_code == 422
    assert "project_id" in no_template.json["error"]["details"]["fields"]
    assert api_client(learner).post("/api/v1/github/projects/999999/repository").status_code \
        == 404


@pytest.mark.parametrize(("code", "slug", "login", "expected"), [
    ("DP", "sql-foundations", "Octo-Learner", "dp-sql-foundations-octo-learner"),
    ("FS", "rest api!", "a_b", "fs-rest-api-a_b"),
    ("X", "..weird//slug..", "me", "x-weird-slug-me"),
    ("DP", "s" * 120, "longlogin", "dp-" + "s" * 87 + "-longlogin"),
    ("DP", "a" * 90 + "-b" * 10, "me", "dp-" + "a" * 90 + "-b-b-me"),
])
def test_naming_rule(code, slug, login, expected):
    project = SimpleNamespace(track=SimpleNamespace(code=code), slug=slug)
    name = repository_name(project, login)
    assert name == expected and len(name) <= 100
