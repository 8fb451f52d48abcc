"""GitHub webhooks: signature check, de-duplication by delivery id, and what each event does
to the learner's submission. Flask-free: the API view passes the raw body and headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lmscore.errors import AuthenticationFailed, LmsError
from lmscore.models import Project, Submission, Track, User
from lmscore.services import submissions

from .models import GithubDelivery, GithubRepository, RepositoryStatus
from .service import NotConfigured, repository_deliverable, settings

if TYPE_CHECKING:
    from lmscore.platform import Platform

log = logging.getLogger(__name__)
#: Track.settings key: ``{"github": {"merge_approves": true}}`` makes a merged pull request
#: approve the submission; otherwise it waits for a trainer.
MERGE_APPROVES = "merge_approves"
#: A score published by the workflow in a check run's output (title, summary or text):
#: GitHub Classroom's reporter writes "Points 8/10"; "score: 8/10" works too.
SCORE_LINE = re.compile(
    r"^\s*(?:points|score)\s*:?\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$",
    re.IGNORECASE | re.MULTILINE)
SUBMITTING_ACTIONS = {"opened", "reopened", "synchronize", "ready_for_review"}
CI_EVENTS = {"check_suite", "workflow_run", "check_run"}


def verify(secret: str, body: bytes, signature: str | None) -> None:
    """``X-Hub-Signature-256`` must be ``sha256=`` + HMAC-SHA256(secret, raw body) in hex."""
    if not secret:
        raise NotConfigured("The GitHub webhook secret is not configured; deliveries are "
                            "refused until it is.")
    if not signature:
        raise AuthenticationFailed("Missing X-Hub-Signature-256 header.")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise AuthenticationFailed("The X-Hub-Signature-256 signature does not match.")


class BadDelivery(LmsError):
    """A signed request that is not a usable delivery (a header or the JSON body missing)."""

    status = 400
    code = "bad_request"


def _missing(field: str, message: str) -> BadDelivery:
    return BadDelivery(message, details={"fields": {field: [message]}})


def receive(lms: Platform, session: Session, *, body: bytes, signature: str | None,
            event: str | None, delivery_id: str | None) -> str:
    """Check and apply one delivery; returns what was done (for GitHub's delivery log).
    Nothing changes unless the signature is right; a delivery id seen before changes nothing."""
    verify(settings(lms).webhook_secret, body, signature)
    if not event:
        raise _missing("X-GitHub-Event", "Missing X-GitHub-Event header.")
    if not delivery_id or len(delivery_id) > 64:
        raise _missing("X-GitHub-Delivery", "Missing or invalid X-GitHub-Delivery header.")
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise _missing("_body", "The body is not a JSON object.")
    return _once(lms, session, delivery_id, event, payload)


def _record(session: Session, delivery_id: str, event: str) -> GithubDelivery | None:
    """Claim the delivery id in the current transaction; None when it was handled already
    (or a concurrent request with the same id got there first)."""
    if session.get(GithubDelivery, delivery_id) is not None:
        return None
    row = GithubDelivery(delivery_id=delivery_id, event=event, outcome="handling")
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    return row


def _once(lms: Platform, session: Session, delivery_id: str, event: str,
          payload: dict[str, Any]) -> str:
    row = _record(session, delivery_id, event)
    if row is None:
        return "duplicate delivery: already handled"
    try:
        # The services commit: the delivery row goes in the same commit as the effect.
        outcome = _apply(lms, session, event, payload)
    except LmsError as exc:
        session.rollback()
        outcome = f"ignored: {exc.message}"
        row = _record(session, delivery_id, event)
        if row is None:
            return "duplicate delivery: already handled"
    row = session.get(GithubDelivery, delivery_id) or row
    row.outcome = outcome[:200]
    session.commit()
    return outcome


# -- effects -------------------------------------------------------------------------------------


def _target(session: Session, payload: dict[str, Any]) -> tuple[GithubRepository, Project] | None:
    full_name = (payload.get("repository") or {}).get("full_name")
    if not isinstance(full_name, str):
        return None
    repository = session.scalar(select(GithubRepository).where(
        GithubRepository.full_name_key == full_name.lower(),
        GithubRepository.status == RepositoryStatus.READY))
    if repository is None:
        return None
    return repository, session.get(Project, repository.project_id)


def _latest(session: Session, user_id: int, deliverable_id: int) -> Submission | None:
    return session.scalar(
        select(Submission).where(Submission.user_id == user_id,
                                 Submission.deliverable_id == deliverable_id)
        .order_by(Submission.attempt.desc()).limit(1))


def _apply(lms: Platform, session: Session, event: str, payload: dict[str, Any]) -> str:
    if event == "ping":
        return "pong"
    if event in ("installation", "installation_repositories"):
        return f"acknowledged {event} {payload.get('action', '')}".strip()
    if event != "pull_request" and event not in CI_EVENTS:
        return f"ignored: {event} events are not used"
    target = _target(session, payload)
    if target is None:
        return "ignored: not a learner repository of this site"
    repository, project = target
    deliverable = repository_deliverable(project)
    if deliverable is None:
        return "ignored: the project has no repository deliverable"
    if event == "pull_request":
        return _pull_request(lms, session, repository, project, deliverable.id, payload)
    if payload.get("action") != "completed":
        return f"ignored: {event} {payload.get('action')}"
    return _ci_result(session, repository, deliverable.id, event, payload)


def _pull_request(lms: Platform, session: Session, repository: GithubRepository,
                  project: Project, deliverable_id: int, payload: dict[str, Any]) -> str:
    action = payload.get("action")
    pr = payload.get("pull_request") or {}
    number, url = pr.get("number"), pr.get("html_url", "")
    learner = session.get(User, repository.user_id)
    latest = _latest(session, learner.id, deliverable_id)
    if action in SUBMITTING_ACTIONS:
        if pr.get("draft"):
            return f"ignored: pull request #{number} is a draft"
        text = (f"Pull request [#{number}]({url}): {pr.get('title', '')}\n\n"
                f"Head commit `{(pr.get('head') or {}).get('sha', '')[:12]}`.")
        submission = submissions.create(lms, session, learner, submissions.SubmissionInput(
            deliverable_id=deliverable_id, url=repository.html_url, text=text))
        return f"submission {submission.id} submitted for review (pull request #{number})"
    if action != "closed":
        return f"ignored: pull_request {action}"
    if latest is None:
        return "ignored: no submission yet"
    if pr.get("merged"):
        track = session.get(Track, project.track_id)
        if not (track.settings or {}).get("github", {}).get(MERGE_APPROVES):
            return f"pull request #{number} merged; submission {latest.id} waits for a trainer"
        submissions.decide_externally(
            session, latest.id, decision="approved",
            feedback=f"Approved: pull request [#{number}]({url}) was merged on GitHub.")
        return f"submission {latest.id} approved (pull request #{number} merged)"
    submissions.withdraw(session, learner, latest.id)
    return f"submission {latest.id} back to draft (pull request #{number} closed unmerged)"


def _ci_result(session: Session, repository: GithubRepository, deliverable_id: int, event: str,
               payload: dict[str, Any]) -> str:
    run = payload.get(event) or {}
    latest = _latest(session, repository.user_id, deliverable_id)
    if latest is None:
        return "ignored: no submission yet"
    name = run.get("name") or (run.get("app") or {}).get("name") or event
    conclusion = run.get("conclusion") or "unknown"
    result: dict[str, Any] = {
        "grader": "github", "event": event, "name": name, "conclusion": conclusion,
        "head_sha": run.get("head_sha"), "url": run.get("html_url") or run.get("url"),
    }
    output = run.get("output") or {}
    texts = "\n".join(str(output.get(k) or "") for k in ("title", "summary", "text"))
    score = SCORE_LINE.search(texts)
    previous = latest.auto_grade or {}
    if score:
        result["score"], result["max_score"] = float(score[1]), float(score[2])
    elif previous.get("head_sha") == result["head_sha"] and "score" in previous:
        # A suite or workflow finishing after its scored check run keeps that commit's score.
        result["score"], result["max_score"] = previous["score"], previous["max_score"]
    result["feedback"] = f"{name}: {conclusion}"
    submissions.record_auto_grade(session, latest.id, result)
    scored = f", score {result['score']:g}/{result['max_score']:g}" if "score" in result else ""
    return f"submission {latest.id}: {name} {conclusion}{scored}"
