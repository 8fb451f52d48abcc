"""Fixtures of the github plugin tests: a fake GitHub on 127.0.0.1, an app with the plugin
enabled and pointed at it, and a learner enrolled in a project with a template repository."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from github_support import BASE_URL, TEMPLATE, FakeGitHub, follow_authorisation, plugin_settings

from lmscore.models import Deliverable, Project, Step, Track, User
from lmscore.services import learning
from lmscore.testing.plugin import DEFAULT_PASSWORD


@pytest.fixture
def github():
    server = FakeGitHub()
    server.add_repository(TEMPLATE, template=True)
    yield server
    server.close()


@pytest.fixture
def make_app(app_factory, github) -> Callable[..., Any]:
    def build(**overrides: Any):
        return app_factory({"base_url": BASE_URL, "plugins": {
            "enabled": ["github"], "github": plugin_settings(github, **overrides)}})

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@dataclass
class Course:
    track: Track
    project: Project
    deliverable: Deliverable


@pytest.fixture
def course(lms) -> Course:
    session = lms.db.session
    track = Track(code="DP", name="Data Professional")
    project = Project(track=track, number=1, slug="sql-foundations", title="SQL foundations",
                      github_template_repo=TEMPLATE)
    deliverable = Deliverable(project=project, key="repo", title="Your repository",
                              kind="repository")
    session.add_all([track, project, deliverable,
                     Step(project=project, number=1, slug="s", title="S", body_markdown="x")])
    session.commit()
    return Course(track, project, deliverable)


@pytest.fixture
def learner(lms, make_user, course) -> User:
    user = make_user("student")
    learning.enrol(lms, lms.db.session, user, course.track.code)
    return user


@pytest.fixture
def signed_in(web, learner):
    web.sign_in(learner.email, DEFAULT_PASSWORD)
    return web


@pytest.fixture
def connected(signed_in, github, jobs, lms, learner):
    """The learner's GitHub account linked (the connect job has run)."""
    follow_authorisation(signed_in, github)
    jobs.drain()
    return signed_in
