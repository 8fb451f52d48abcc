"""Rotating ``token_key``: ``old_token_keys`` still open what they sealed, the periodic
``github.reseal_tokens`` job re-seals it with the current key, and the old keys can then go."""

from __future__ import annotations

import json
import logging

import pytest
from cryptography.fernet import Fernet
from github_support import TOKEN_KEY, account, token_works
from lms_github.models import GithubAccount
from lms_github.service import RESEAL_EVERY_S, RESEAL_TOKENS_JOB

from lmscore.cli import cli
from lmscore.config import SECRET_MASK
from lmscore.errors import ConfigError, StartupError
from lmscore.testing.clients import ApiClient

NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="lms_github.service")
    return caplog


def reseal(app) -> None:
    jobs = app.extensions["lmscore"].jobs
    jobs.enqueue(RESEAL_TOKENS_JOB)
    jobs.drain()


def github_periodic_jobs(app) -> list[tuple[str, int]]:
    return [(job.actor, job.every_s) for job in app.extensions["lmscore"].jobs.periodic
            if job.actor.startswith("github.")]


def test_a_rotation_from_start_to_end(connected, github, make_app, lms, learner, course, log):
    [token] = github.tokens
    sealed_with_old_key = account(lms, learner).secret_encrypted
    rotating = make_app(token_key=NEW_KEY, old_token_keys=[TOKEN_KEY])
    assert github_periodic_jobs(rotating) == [(RESEAL_TOKENS_JOB, RESEAL_EVERY_S)]

    # Before the job has run, the token sealed with the old key is used as before.
    api = ApiClient(rotating, learner)
    url = f"/api/v1/github/projects/{course.project.id}/repository"
    assert api.post(url).status_code == 202
    rotating.extensions["lmscore"].jobs.drain()
    assert api.get(url).json["status"] == "ready"

    reseal(rotating)
    resealed = account(lms, learner).secret_encrypted
    assert resealed != sealed_with_old_key
    assert Fernet(NEW_KEY.encode()).decrypt(resealed.encode()).decode() == f"token:{token}"
    assert "1 token(s) re-sealed with token_key" in log.text
    reseal(rotating)  # nothing left under the old key
    assert account(lms, learner).secret_encrypted == resealed
    assert "0 token(s) re-sealed with token_key" in log.text

    # The old key removed: the token still opens (disconnecting revokes it with GitHub).
    rotated = make_app(token_key=NEW_KEY)
    assert github_periodic_jobs(rotated) == []
    assert ApiClient(rotated, learner).delete("/api/v1/github/account").status_code == 204
    rotated.extensions["lmscore"].jobs.drain()
    assert not token_works(github, token)


def test_the_job_reseals_only_what_an_old_key_sealed(make_app, make_user, lms, log):
    app = make_app(token_key=NEW_KEY, old_token_keys=[TOKEN_KEY])
    lost_key = Fernet.generate_key()
    sealed = {
        "old": Fernet(TOKEN_KEY.encode()).encrypt(b"token:gho_old").decode(),
        "current": Fernet(NEW_KEY.encode()).encrypt(b"token:gho_current").decode(),
        "lost": Fernet(lost_key).encrypt(b"token:gho_lost").decode(),
        "broken": None,
    }
    users = {name: make_user("student") for name in sealed}
    lms.db.session.add_all(GithubAccount(user_id=users[name].id, status="active",
                                         secret_encrypted=value)
                           for name, value in sealed.items())
    lms.db.session.commit()

    reseal(app)
    stored = {name: account(lms, user).secret_encrypted for name, user in users.items()}
    assert Fernet(NEW_KEY.encode()).decrypt(stored["old"].encode()) == b"token:gho_old"
    assert {name: stored[name] for name in ("current", "lost", "broken")} == {
        name: sealed[name] for name in ("current", "lost", "broken")}
    assert "1 token(s) re-sealed with token_key" in log.text
    assert ("1 token(s) are sealed with a key that is neither token_key nor in "
            "old_token_keys; those learners must reconnect") in log.text


def test_old_keys_may_come_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("GITHUB_OLD_TOKEN_KEY", TOKEN_KEY)
    app = make_app(token_key=NEW_KEY, old_token_keys=[{"$env": "GITHUB_OLD_TOKEN_KEY"}])
    assert app.extensions["lmscore"].plugin_config("github").old_token_keys == (TOKEN_KEY,)


@pytest.mark.parametrize(("settings", "key"), [
    ({"old_token_keys": [TOKEN_KEY, "not a key"]}, "plugins.github.old_token_keys.1"),
    ({"old_token_keys": [""]}, "plugins.github.old_token_keys.0"),
    ({"token_key": "", "old_token_keys": [TOKEN_KEY]}, "plugins.github.old_token_keys"),
])
def test_every_old_key_is_checked_at_start_up(make_app, settings, key):
    with pytest.raises((ConfigError, StartupError), match=key):
        make_app(**settings)


def test_config_show_masks_every_key(make_app, github):
    app = make_app(token_key=NEW_KEY, old_token_keys=[TOKEN_KEY])
    result = app.test_cli_runner().invoke(cli, ["config", "show"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output.partition("\n")[2])["plugins"]["github"]
    assert {key: shown[key] for key in ("client_secret", "token_key", "old_token_keys")} == (
        dict.fromkeys(("client_secret", "token_key", "old_token_keys"), SECRET_MASK))
    assert shown["client_id"] == github.client_id
    for secret in (NEW_KEY, TOKEN_KEY, github.client_secret):
        assert secret not in result.output
