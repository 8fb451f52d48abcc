"""Hook implementations of the ``github`` plugin."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import render_template
from markupsafe import Markup

from lmscore import hookimpl
from lmscore.jobs import JobSpec, PeriodicJob
from lmscore.services.permissions import Action, can
from lmscore.web.navigation import NavItem

from . import api, service, web
from .models import AccountStatus, GithubAccount, GithubDelivery, GithubRepository  # noqa: F401
from .settings import GithubSettingsSchema


@hookimpl
def lms_config_schema():
    return GithubSettingsSchema


@hookimpl
def lms_register_actors():
    # Rate-limit waits are retries too (with GitHub's own delay): allow plenty of them.
    return [JobSpec(service.CONNECT_JOB, service.connect, max_retries=8),
            JobSpec(service.CREATE_REPOSITORY_JOB, service.create_repository, max_retries=12),
            JobSpec(service.REVOKE_TOKEN_JOB, service.revoke_token, max_retries=8),
            # No retries: the next periodic run picks up where this one stopped.
            JobSpec(service.RESEAL_TOKENS_JOB, service.reseal_tokens, max_retries=0)]


@hookimpl
def lms_register_periodic_jobs(lms):
    """Only while a key rotation is under way: without old keys there is nothing to re-seal."""
    if not service.settings(lms).old_token_keys:
        return None
    return [PeriodicJob(service.RESEAL_TOKENS_JOB, every_s=service.RESEAL_EVERY_S)]


@hookimpl
def lms_register_api_blueprints():
    return [api.blp]


@hookimpl
def lms_register_web_blueprints():
    return [web.bp]


@hookimpl
def lms_register_template_folders():
    return [str(Path(__file__).parent / "templates")]


@hookimpl
def lms_user_deleting(session, user):
    """The link goes with the user (cascade): its token is revoked on GitHub as on
    disconnecting."""
    account = service.account_of(session, user.id)
    if account is not None:
        service.revoke_after_commit(session, account)


@hookimpl
def lms_alembic_version_locations():
    return [str(Path(__file__).parent / "migrations")]


@hookimpl
def lms_form_action_origins(lms):
    """The connect form's view redirects to GitHub's authorisation page."""
    return ["{0.scheme}://{0.netloc}".format(urlsplit(service.settings(lms).web_url))]


@hookimpl
def lms_nav_items(lms, user):
    """A broken link is shown on every page until the learner reconnects."""
    if user is None:
        return None
    account = service.account_of(lms.db.session, user.id)
    if account is None or account.status != AccountStatus.BROKEN:
        return None
    return [NavItem("Reconnect GitHub", "/profile#github", order=85)]


@hookimpl
def lms_template_slot(lms, slot, context):
    user = context.get("user")
    if user is None:
        return None
    session = lms.db.session
    if slot == "profile_sections":
        return Markup(render_template(
            "lms_github/profile_section.html", account=service.account_of(session, user.id),
            can_link=service.settings(lms).can_link))
    if slot == "project_actions":
        project = context["project"]
        template = service.template_of(project)
        progress = context.get("progress")
        locked = progress is not None and progress.status == "locked"
        if (template is None or locked or not context.get("learning_here")
                or not can(user, Action.SUBMIT_WORK) or not service.settings(lms).can_link):
            return None
        return Markup(render_template(
            "lms_github/project_section.html", project=project, template=template,
            account=service.account_of(session, user.id),
            repository=service.repository_of(session, user.id, project.id)))
    return None
