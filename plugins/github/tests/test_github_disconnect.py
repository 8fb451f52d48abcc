"""Disconnecting GitHub: the link is forgotten at once and a job revokes its token on GitHub
(``DELETE /applications/{client_id}/token`` as the OAuth app), retried while GitHub fails and
only logged when GitHub refuses."""

from __future__ import annotations

import base64
import logging

import dramatiq
import pytest
from github_support import account, follow_authorisation, token_works
from lms_github.models import GithubAccount
from lms_github.service import REVOKE_TOKEN_JOB
from sqlalchemy import select

from lmscore.models import JobFailure
from lmscore.testing.clients import ApiClient

REVOKE_PATH = r"/applications/[^/]+/token"


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="lms_github.service")
    return caplog


def queued(jobs, actor: str) -> list[dramatiq.Message]:
    return [message for message in map(dramatiq.Message.decode,
                                       jobs.broker.queues["default"].queue)
            if message.actor_name == actor]


def test_disconnect_on_the_web_revokes_the_token_in_a_job(connected, github, jobs, lms,
                                                          learner, log):
    [token] = github.tokens
    sealed = account(lms, learner).secret_encrypted
    connected.submit("/profile", {}, action="/github/disconnect")
    assert account(lms, learner) is None  # forgotten at once
    assert "Your GitHub account is disconnected." in connected.get("/profile").get_data(
        as_text=True)
    assert github.calls("DELETE", REVOKE_PATH) == []  # the request did not wait on GitHub
    [job] = queued(jobs, REVOKE_TOKEN_JOB)
    assert job.kwargs == {"user_id": learner.id, "sealed_token": sealed}
    assert token not in job.encode().decode()  # the broker only ever sees it sealed

    jobs.drain()
    [call] = github.calls("DELETE", REVOKE_PATH)
    assert call.path == f"/applications/{github.client_id}/token"
    credentials = f"{github.client_id}:{github.client_secret}".encode()
    assert call.headers["authorization"] == "Basic " + base64.b64encode(credentials).decode()
    assert call.body == {"access_token": token}
    assert not token_works(github, token)
    assert f"GitHub token of user {learner.id} revoked" in log.text


def test_disconnect_by_api_revokes_too_and_is_idempotent(connected, github, jobs, lms,
                                                         learner, api_client, log):
    [token] = github.tokens
    api = api_client(learner)
    assert api.delete("/api/v1/github/account").status_code == 204
    assert api.get("/api/v1/github/account").json["status"] == "not_connected"
    assert api.delete("/api/v1/github/account").status_code == 204  # nothing left to revoke
    [job] = queued(jobs, REVOKE_TOKEN_JOB)
    jobs.drain()
    assert not token_works(github, token)

    jobs.enqueue(REVOKE_TOKEN_JOB, **job.kwargs)  # delivered twice: GitHub answers 404
    jobs.drain()
    assert len(github.calls("DELETE", REVOKE_PATH)) == 2
    assert f"GitHub token of user {learner.id} was already revoked" in log.text


def test_a_token_the_learner_already_revoked_on_github_is_fine(connected, github, jobs, lms,
                                                               learner, log):
    [token] = github.tokens
    github.tokens.pop(token)  # revoked under Settings → Applications, unnoticed here yet
    connected.submit("/profile", {}, action="/github/disconnect")
    jobs.drain()
    assert len(github.calls("DELETE", REVOKE_PATH)) == 1
    assert "was already revoked" in log.text


def test_github_failing_is_retried(connected, github, jobs, learner, log):
    [token] = github.tokens
    connected.submit("/profile", {}, action="/github/disconnect")
    github.unavailable(2)
    jobs.drain()
    assert len(github.calls("DELETE", REVOKE_PATH)) == 3
    assert not token_works(github, token)


def test_a_revoke_that_keeps_failing_is_logged_and_recorded_not_shown(connected, github, jobs,
                                                                      lms, learner):
    [token] = github.tokens
    connected.submit("/profile", {}, action="/github/disconnect")
    github.unavailable(100)
    jobs.drain(raise_failures=False)
    assert len(github.calls("DELETE", REVOKE_PATH)) == 9  # the first try and 8 retries
    [failure] = lms.db.session.scalars(select(JobFailure).where(
        JobFailure.actor == REVOKE_TOKEN_JOB))
    assert "GitHub answered 502" in failure.error
    assert token not in str(failure.kwargs)
    github.unavailable(0)
    assert token_works(github, token)
    page = connected.get("/profile").get_data(as_text=True)
    assert "Connect GitHub" in page and "502" not in page


def test_a_wrong_client_secret_is_logged_without_failing(connected, github, make_app, lms,
                                                         learner, log):
    [token] = github.tokens
    misconfigured = make_app(client_secret="not-the-secret")
    assert ApiClient(misconfigured, learner).delete("/api/v1/github/account").status_code == 204
    assert account(lms, learner) is None
    misconfigured.extensions["lmscore"].jobs.drain()  # raises if the job failed
    [call] = github.calls("DELETE", REVOKE_PATH)
    assert call.body == {"access_token": token}
    assert token_works(github, token)
    [warning] = [r for r in log.records
                 if r.name == "lms_github.service" and r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        f"GitHub refused to revoke the token of user {learner.id} (GitHub answered 401: Bad "
        f"credentials): it stays valid until the learner revokes the app on GitHub")


def test_a_broken_link_needs_no_revoke(connected, github, jobs, lms, learner, course):
    github.revoke_all()
    connected.submit(f"/projects/{course.project.id}", {},
                     action=f"/projects/{course.project.id}/github/start")
    jobs.drain()
    assert account(lms, learner).status == "broken"
    connected.submit("/profile", {}, action="/github/disconnect")
    assert account(lms, learner) is None
    assert queued(jobs, REVOKE_TOKEN_JOB) == []


def test_disconnecting_before_the_code_is_exchanged_calls_nothing(signed_in, github, jobs,
                                                                   lms, learner):
    follow_authorisation(signed_in, github)  # the connect job has not run yet
    signed_in.submit("/profile", {}, action="/github/disconnect")
    jobs.drain()
    assert account(lms, learner) is None
    assert github.calls("POST", "/login/oauth/access_token") == []
    assert github.calls("DELETE", REVOKE_PATH) == []


def test_linking_again_revokes_the_token_it_replaces(connected, github, jobs, lms, learner):
    [old] = github.tokens
    follow_authorisation(connected, github)
    jobs.drain()
    [new] = github.tokens
    assert new != old and token_works(github, new) and not token_works(github, old)
    assert account(lms, learner).status == "active"
    assert len(github.calls("DELETE", REVOKE_PATH)) == 1


def test_a_token_exchanged_after_the_learner_disconnected_is_revoked(
        signed_in, github, jobs, lms, learner, api_client):
    api = api_client(learner)

    def learner_disconnects():
        assert api.delete("/api/v1/github/account").status_code == 204

    github.during_exchange = learner_disconnects
    follow_authorisation(signed_in, github)
    jobs.drain()  # connect: the code becomes a token no link keeps; then its revoke
    # Only the token is checked: the tests' single shared transaction undoes the disconnect
    # when the connect job rolls back, which separate connections would not.
    assert github.tokens == {}
    assert len(github.calls("DELETE", REVOKE_PATH)) == 1


def test_hook_lms_user_deleting(connected, github, jobs, lms, learner, make_user, api_client,
                                log):
    """Deleting the user drops the link with them (cascade); the token it held is revoked
    on GitHub as on disconnecting, once the deletion has committed."""
    [token] = github.tokens
    sealed = account(lms, learner).secret_encrypted
    learner_id = learner.id
    admin = api_client(make_user("superadmin"))
    assert admin.delete(f"/api/v1/users/{learner_id}").status_code == 204
    assert lms.db.session.scalar(select(GithubAccount.id)) is None
    [job] = queued(jobs, REVOKE_TOKEN_JOB)
    assert job.kwargs == {"user_id": learner_id, "sealed_token": sealed}
    jobs.drain()
    assert not token_works(github, token)
    assert f"GitHub token of user {learner_id} revoked" in log.text
