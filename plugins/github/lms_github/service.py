"""Linking GitHub accounts and creating learners' repositories. Flask-free: the web pages, the
API and the jobs call these. Every GitHub call happens in a job (``connect``,
``create_repository``, ``revoke_token``); requests only record intent and enqueue."""

from __future__ import annotations

import hmac
import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import dramatiq
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from lmscore.db import utcnow
from lmscore.errors import Conflict, LmsError, NotFound, ValidationFailed
from lmscore.models import Deliverable, DeliverableKind, Project, Submission, User
from lmscore.services import events, learning, submissions
from lmscore.services.permissions import Action, require

from .client import (
    BadCredentials,
    GitHubApi,
    GitHubError,
    OAuthApp,
    OAuthFailed,
    RateLimited,
    Response,
    already_exists,
)
from .models import AccountStatus, GithubAccount, GithubRepository, RepositoryStatus
from .settings import GithubSettings

if TYPE_CHECKING:
    from collections.abc import Callable

    from lmscore.platform import Platform

log = logging.getLogger(__name__)
PLUGIN_ID = "github"
CONNECT_JOB = "github.connect"
CREATE_REPOSITORY_JOB = "github.create_repository"
REVOKE_TOKEN_JOB = "github.revoke_token"
RESEAL_TOKENS_JOB = "github.reseal_tokens"
#: While ``old_token_keys`` is set, how often tokens still sealed with an old key are re-sealed.
RESEAL_EVERY_S = 15 * 60
RESEAL_BATCH = 500
CALLBACK_PATH = "/github/callback"
T = TypeVar("T")


class NotConfigured(LmsError):
    status = 503
    code = "unavailable"


def settings(lms: Platform) -> GithubSettings:
    return lms.plugin_config(PLUGIN_ID)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": {field: [message]}})


# -- the token at rest ---------------------------------------------------------------------------
# One Fernet token per account holds either the one-time OAuth code (until the job exchanges it)
# or the access token; the prefix says which, so a retried job never re-spends a used code.
# Sealed with token_key; opened with it or any of old_token_keys (key rotation).


def _seal(lms: Platform, kind: str, value: str) -> str:
    return settings(lms).token_fernet.encrypt(f"{kind}:{value}".encode()).decode()


def _unseal(lms: Platform, sealed: str | None) -> tuple[str, str]:
    try:
        kind, _, value = settings(lms).token_fernet.decrypt(
            (sealed or "").encode()).decode().partition(":")
    except InvalidToken:  # sealed with a key no longer configured: it cannot be read any more
        return "", ""
    return kind, value


def oauth_app(lms: Platform) -> OAuthApp:
    s = settings(lms)
    return OAuthApp(s.web_url, s.client_id, s.client_secret,
                    lms.settings.base_url.rstrip("/") + CALLBACK_PATH, list(s.scopes), s.timeout_s)


# -- linking -------------------------------------------------------------------------------------


def account_of(session: Session, user_id: int) -> GithubAccount | None:
    return session.scalar(select(GithubAccount).where(GithubAccount.user_id == user_id))


def _require_configured(lms: Platform) -> GithubSettings:
    s = settings(lms)
    if not s.can_link:
        raise NotConfigured("GitHub is not set up on this site yet; ask an administrator.")
    return s


def begin_link(lms: Platform, user: User) -> tuple[str, str]:
    """(GitHub authorisation URL, its ``state``): the caller binds the state to the browser
    session and hands it back to ``finish_link`` once."""
    require(user, Action.OWN_PROFILE)
    _require_configured(lms)
    return oauth_app(lms).authorization_url()


def finish_link(lms: Platform, session: Session, user: User, *, expected_state: str | None,
                state: str, code: str, error: str = "") -> GithubAccount:
    """GitHub sent the browser back: check the state, keep the code (encrypted) and let the
    ``connect`` job exchange it. Commits."""
    require(user, Action.OWN_PROFILE)
    _require_configured(lms)
    if not expected_state or not hmac.compare_digest(expected_state.encode(), state.encode()):
        raise _invalid("state", "This GitHub sign-in link is stale or was not started here; "
                                "connect again.")
    if error:
        reason = "you cancelled it" if error == "access_denied" else error
        raise _invalid("code", f"GitHub did not authorise the link ({reason}).")
    if not code:
        raise _invalid("code", "GitHub sent no authorisation code; connect again.")
    account = account_of(session, user.id) or GithubAccount(user_id=user.id)
    session.add(account)
    # Linked again: the token this replaces is revoked as a disconnected link's is.
    revoke_after_commit(session, account)
    account.status = AccountStatus.CONNECTING.value
    account.secret_encrypted = _seal(lms, "code", code)
    account.problem = None
    session.flush()
    events.job_after_commit(session, CONNECT_JOB, account_id=account.id)
    session.commit()
    return account


def disconnect(session: Session, user: User) -> None:
    """Forget the link at once (repositories stay on GitHub and keep their webhooks); the
    ``revoke_token`` job then invalidates its token on GitHub. Idempotent. Commits."""
    require(user, Action.OWN_PROFILE)
    account = account_of(session, user.id)
    if account is None:
        return
    revoke_after_commit(session, account)
    session.delete(account)
    session.commit()


def revoke_after_commit(session: Session, account: GithubAccount) -> None:
    """Have the ``revoke_token`` job invalidate the link's token on GitHub once the
    transaction that drops the link commits."""
    if account.secret_encrypted is not None:  # a broken link has dropped its token already
        # Sealed: job arguments sit in the broker (Redis) until a worker takes them.
        events.job_after_commit(session, REVOKE_TOKEN_JOB, user_id=account.user_id,
                                sealed_token=account.secret_encrypted)


def revoke_token(lms: Platform, user_id: int, sealed_token: str) -> None:
    """Job: invalidate a disconnected link's token on GitHub, as the OAuth app. GitHub being
    unreachable or failing (5xx) retries the job; any refusal is only logged: the learner is
    already disconnected here, and can still revoke the app on GitHub themselves."""
    s = settings(lms)
    if not s.can_link:
        log.warning("GitHub token of user %s not revoked: the OAuth app is no longer "
                    "configured", user_id)
        return
    kind, token = _unseal(lms, sealed_token)
    if kind == "code":
        return  # disconnected before the code was exchanged: no token exists on GitHub
    if kind != "token":
        log.warning("GitHub token of user %s not revoked: it is sealed with a key that is "
                    "neither token_key nor in old_token_keys", user_id)
        return
    app = GitHubApi.as_oauth_app(s.api_url, s.client_id, s.client_secret,
                                 timeout_s=s.timeout_s)
    try:
        app.revoke(s.client_id, token)
    except RateLimited as exc:
        raise _defer(exc.retry_at) from exc
    except GitHubError as exc:
        if exc.status in (404, 422):
            log.info("GitHub token of user %s was already revoked", user_id)
        elif exc.status == 0 or exc.status >= 500:
            raise  # retried with backoff; the job system logs and records the last failure
        else:
            log.warning("GitHub refused to revoke the token of user %s (%s): it stays valid "
                        "until the learner revokes the app on GitHub", user_id, exc)
        return
    log.info("GitHub token of user %s revoked", user_id)


def _opens(fernet: Fernet, sealed: str) -> bool:
    try:
        fernet.decrypt(sealed.encode())
    except InvalidToken:
        return False
    return True


def reseal_tokens(lms: Platform) -> None:
    """Job (periodic while ``old_token_keys`` is set): re-seal with ``token_key`` every stored
    secret still sealed with an old key, so the old keys can be removed afterwards."""
    s = settings(lms)
    if not s.old_token_keys:
        return
    current, every_key = Fernet(s.token_key.encode()), s.token_fernet
    session = lms.db.session
    resealed = unreadable = 0
    last_id = 0
    while batch := session.execute(
            select(GithubAccount.id, GithubAccount.secret_encrypted)
            .where(GithubAccount.id > last_id, GithubAccount.secret_encrypted.is_not(None))
            .order_by(GithubAccount.id).limit(RESEAL_BATCH)).all():
        for account_id, sealed in batch:
            if _opens(current, sealed):
                continue
            try:
                fresh = every_key.rotate(sealed.encode()).decode()
            except InvalidToken:
                unreadable += 1
                continue
            # Only where it is unchanged: a connect job may have just sealed a new token.
            resealed += session.execute(
                update(GithubAccount)
                .where(GithubAccount.id == account_id, GithubAccount.secret_encrypted == sealed)
                .values(secret_encrypted=fresh)
                .execution_options(synchronize_session=False)).rowcount
        session.commit()
        last_id = batch[-1].id
    log.info("GitHub token key rotation: %d token(s) re-sealed with token_key", resealed)
    if unreadable:
        log.warning("GitHub token key rotation: %d token(s) are sealed with a key that is "
                    "neither token_key nor in old_token_keys; those learners must reconnect",
                    unreadable)


def _break(account: GithubAccount, problem: str) -> None:
    account.status = AccountStatus.BROKEN.value
    account.secret_encrypted = None
    account.problem = problem


def _defer(until: datetime) -> dramatiq.Retry:
    delay_ms = max(1000, int((until - utcnow()).total_seconds() * 1000) + 1000)
    return dramatiq.Retry(f"GitHub rate limit: waiting until {until.isoformat()}", delay=delay_ms)


class LinkBroken(Exception):
    """GitHub answered 401: the account is marked broken (and committed)."""


def _call(lms: Platform, session: Session, account: GithubAccount, token: str,
          request: Callable[[GitHubApi], T]) -> T:
    """One GitHub call for ``account``: never while its rate limit is spent (the job is retried
    at the reset instead), 401 marks the link broken, a spent limit is recorded for the other
    jobs of this account."""
    if account.rate_limited_until and account.rate_limited_until > utcnow():
        raise _defer(account.rate_limited_until)
    s = settings(lms)
    try:
        result = request(GitHubApi(s.api_url, token, timeout_s=s.timeout_s))
    except BadCredentials as exc:
        _break(account, "GitHub no longer accepts this link (the token was revoked or "
                        f"expired: {exc.message}). Reconnect your GitHub account.")
        session.commit()
        raise LinkBroken from exc
    except RateLimited as exc:
        account.rate_limited_until = exc.retry_at
        session.commit()
        raise _defer(exc.retry_at) from exc
    if isinstance(result, Response) and result.exhausted_until:
        account.rate_limited_until = result.exhausted_until
    return result


def connect(lms: Platform, account_id: int) -> None:
    """Job: exchange the code for a token, then read who the learner is on GitHub."""
    session = lms.db.session
    account = session.get(GithubAccount, account_id)
    if account is None or account.status != AccountStatus.CONNECTING:
        return
    kind, value = _unseal(lms, account.secret_encrypted)
    if kind == "code":
        try:
            token = oauth_app(lms).exchange(value)
        except OAuthFailed as exc:
            _break(account, f"GitHub refused the authorisation ({exc}). Connect again.")
            session.commit()
            return
        user_id, sealed = account.user_id, _seal(lms, "token", token["access_token"])
        account.secret_encrypted = sealed
        try:
            session.commit()  # the code is spent: a retry must not exchange it again
        except StaleDataError:
            # Disconnected while the code was exchanged: nothing keeps this token, so it goes.
            session.rollback()
            events.job_after_commit(session, REVOKE_TOKEN_JOB, user_id=user_id,
                                    sealed_token=sealed)
            session.commit()
            return
        kind, value = "token", token["access_token"]
    if kind != "token":
        _break(account, "The stored authorisation could not be read. Connect again.")
        session.commit()
        return
    try:
        me = _call(lms, session, account, value, lambda api: api.user())
    except LinkBroken:
        return
    account.github_id = me.body["id"]
    account.login = me.body["login"]
    account.scopes = me.scopes
    account.status = AccountStatus.ACTIVE.value
    session.commit()


# -- repositories --------------------------------------------------------------------------------


def template_of(project: Project) -> str | None:
    """``owner/name`` of the project's template (``github_template_repo`` may also be a URL)."""
    raw = (project.github_template_repo or "").strip()
    path = urlsplit(raw).path if "://" in raw else raw
    parts = [p for p in path.removesuffix(".git").split("/") if p]
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


def _name_part(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9._-]", "-", text.lower())).strip("-.")


def repository_name(project: Project, login: str) -> str:
    """The naming rule: ``<track code>-<project slug>-<GitHub login>`` in lower case; in each
    part anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``-`` (runs of ``-``
    collapsed, ``-`` and ``.`` trimmed at its ends); at most 100 characters, the slug cut
    first so the login (what makes the name unique in an organisation) stays whole."""
    code, slug, who = (_name_part(p) for p in (project.track.code, project.slug, login))
    room = 100 - len(code) - len(who) - 2
    return "-".join(p for p in (code, slug[:room].rstrip("-."), who) if p)


def repository_deliverable(project: Project) -> Deliverable | None:
    """The deliverable the repository is submitted for: the project's first live deliverable
    of kind ``repository``."""
    return next((d for d in project.deliverables
                 if d.kind == DeliverableKind.REPOSITORY and d.archived_at is None), None)


def repository_of(session: Session, user_id: int, project_id: int) -> GithubRepository | None:
    return session.scalar(select(GithubRepository).where(
        GithubRepository.user_id == user_id, GithubRepository.project_id == project_id))


def visible_repository(session: Session, user: User, project_id: int) -> GithubRepository:
    require(user, Action.SUBMIT_WORK)
    repository = repository_of(session, user.id, project_id)
    if repository is None:
        raise NotFound("You have not started this project on GitHub.")
    return repository


def start_project(lms: Platform, session: Session, user: User,
                  project_id: int) -> GithubRepository:
    """Ask for the learner's repository of a project; the job creates it. Idempotent: a ready
    repository is returned as is, a failed one is tried again. Commits."""
    require(user, Action.SUBMIT_WORK)
    project = learning.get_project(session, project_id)
    learning.require_open_project(session, user, project)
    template = template_of(project)
    if template is None:
        raise _invalid("project_id", "This project has no GitHub template repository.")
    s = _require_configured(lms)
    account = account_of(session, user.id)
    if account is None or account.status != AccountStatus.ACTIVE:
        raise Conflict("Reconnect your GitHub account first." if account is not None
                       and account.status == AccountStatus.BROKEN
                       else "Connect your GitHub account first.",
                       details={"github_account": account.status if account else None})
    repository = repository_of(session, user.id, project.id)
    if repository is not None and repository.status != RepositoryStatus.FAILED:
        return repository  # ready, or its job is queued
    owner = s.organization or account.login or ""
    name = repository_name(project, account.login or "")
    if repository is None:
        repository = GithubRepository(user_id=user.id, project_id=project.id)
        session.add(repository)
    repository.owner, repository.name = owner, name
    repository.full_name_key = f"{owner}/{name}".lower()
    repository.status = RepositoryStatus.PENDING.value
    repository.problem = None
    try:
        session.flush()
    except IntegrityError:  # a second click raced this one: its row is the answer
        session.rollback()
        return repository_of(session, user.id, project.id)
    events.job_after_commit(session, CREATE_REPOSITORY_JOB, repository_id=repository.id)
    session.commit()
    return repository


def _fail(session: Session, repository: GithubRepository, problem: str) -> None:
    repository.status = RepositoryStatus.FAILED.value
    repository.problem = problem
    session.commit()


def create_repository(lms: Platform, repository_id: int) -> None:
    """Job: generate the learner's repository from the template (or link the existing one on
    GitHub's 422 "already exists"), then make it the repository deliverable's draft."""
    session = lms.db.session
    repository = session.get(GithubRepository, repository_id)
    if repository is None or repository.status != RepositoryStatus.PENDING:
        return
    account = account_of(session, repository.user_id)
    kind, token = _unseal(lms, account.secret_encrypted) if account is not None else ("", "")
    if account is None or account.status != AccountStatus.ACTIVE or kind != "token":
        _fail(session, repository, "Your GitHub account is not connected: connect it, then "
                                   "start the project again.")
        return
    project = session.get(Project, repository.project_id)
    template = template_of(project)
    description = f"{project.title} ({lms.settings.site_name})"
    try:
        try:
            created = _call(lms, session, account, token, lambda api: api.generate(
                template, owner=repository.owner, name=repository.name,
                private=settings(lms).private, description=description))
        except GitHubError as exc:
            if not already_exists(exc):
                raise
            created = _call(lms, session, account, token,
                            lambda api: api.repository(repository.owner, repository.name))
    except LinkBroken:
        _fail(session, repository, "GitHub no longer accepts your link: reconnect, then start "
                                   "the project again.")
        return
    except GitHubError as exc:
        if exc.status == 0 or exc.status >= 500:
            raise  # GitHub unreachable or failing: the job is retried with backoff
        _fail(session, repository, f"GitHub could not create the repository from "
                                   f"{template}: {exc.message}")
        return
    body: dict[str, Any] = created.body
    repository.owner, repository.name = body["owner"]["login"], body["name"]
    repository.full_name_key = body["full_name"].lower()
    repository.html_url = body["html_url"]
    repository.github_id = body["id"]
    repository.status = RepositoryStatus.READY.value
    session.commit()
    _make_submission_target(lms, session, repository, project)


def _make_submission_target(lms: Platform, session: Session, repository: GithubRepository,
                            project: Project) -> None:
    """A draft submission pointing at the repository, unless the learner already has one."""
    deliverable = repository_deliverable(project)
    if deliverable is None:
        return
    existing = session.scalar(select(Submission.id).where(
        Submission.user_id == repository.user_id, Submission.deliverable_id == deliverable.id))
    if existing is not None:
        return
    learner = session.get(User, repository.user_id)
    try:
        submissions.create(lms, session, learner, submissions.SubmissionInput(
            deliverable_id=deliverable.id, url=repository.html_url, draft=True))
    except LmsError as exc:  # e.g. the enrolment ended meanwhile: the repository still exists
        session.rollback()
        log.info("no draft for repository %s: %s", repository.full_name_key, exc.message)
