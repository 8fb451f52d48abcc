"""Lifecycle hooks: configuration, routes, jobs, commands, templates, migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import hookspec

if TYPE_CHECKING:
    import click
    import flask
    import flask_smorest
    from marshmallow import Schema
    from sqlalchemy.orm import Session

    from ..jobs import JobSpec, PeriodicJob
    from ..models import User
    from ..platform import Platform
    from ..web.navigation import NavItem


# -- configuration --------------------------------------------------------------------------


@hookspec
def lms_config_schema() -> type[Schema] | None:
    """Return the marshmallow schema class for this plugin's ``[plugins.<id>]`` table.

    Called once per plugin at start-up, before any other hook, and only for that plugin's own
    implementation. Unknown keys are rejected (set ``Meta.unknown = RAISE``, the default). The
    loaded value is what ``lms.plugin_config("<id>")`` returns. Returning None (or not
    implementing the hook) means the plugin takes no settings, and any table for it is an error.
    """


# -- web and API ----------------------------------------------------------------------------


@hookspec
def lms_register_api_blueprints(lms: Platform) -> list[flask_smorest.Blueprint] | None:
    """Return flask-smorest blueprints for the REST API.

    Give each blueprint the full prefix ``/api/v1/<plugin id>`` (the core does not add one).

    Called once per app while it is built. Each blueprint becomes an OpenAPI tag; use
    ``lmscore.api.auth_required`` / ``lmscore.api.current_user`` for authentication and the
    core's error format. URL prefixes must not clash with the core's.
    """


@hookspec
def lms_register_web_blueprints(lms: Platform) -> list[flask.Blueprint] | None:
    """Return Flask blueprints for server-rendered pages.

    Called once per app while it is built. Forms get CSRF protection automatically; render
    templates from your ``lms_<id>/`` template folder so themes can override them.
    """


@hookspec
def lms_register_template_folders(lms: Platform) -> list[str] | None:
    """Return directories holding this plugin's templates, namespaced ``lms_<id>/…``.

    Called once per app while it is built. Lookup order, highest first: instance overrides,
    the active theme and its parents, plugin folders, core templates.
    """


@hookspec
def lms_register_static_folders(lms: Platform) -> list[str] | None:
    """Return directories holding static files, namespaced ``lms_<id>/…``.

    Called once per app while it is built; files are served under ``/static/`` with the
    same fallback chain as templates.
    """


@hookspec
def lms_form_action_origins(lms: Platform) -> list[str] | None:
    """Return origins (``https://host[:port]``) outside the site that a form may lead to.

    Called once per app while it is built. A form whose view redirects off-site (a hosted
    checkout, an OAuth authorisation page) needs its target's origin here: browsers apply the
    Content-Security-Policy ``form-action`` (``'self'`` by default) to the redirects that follow
    a form submission, and block them otherwise.
    """


@hookspec
def lms_nav_items(lms: Platform, user: User | None) -> list[NavItem] | None:
    """Return navigation items to show to ``user`` (None when signed out).

    Called on each page render; keep it cheap. Items are sorted by ``order`` then label.
    """


@hookspec
def lms_template_slot(lms: Platform, slot: str, context: dict[str, Any]) -> str | None:
    """Return HTML for the named template ``slot`` (e.g. ``"dashboard_cards"``), or None.

    Called on each render of a page that declares the slot; every plugin's non-None result is
    joined in plugin-id order. Return ``markupsafe.Markup`` (escape anything user-provided);
    plain strings are escaped.
    """


# -- background work ------------------------------------------------------------------------


@hookspec
def lms_register_actors(lms: Platform) -> list[JobSpec] | None:
    """Return job specifications to turn into dramatiq actors.

    Called once per app while it is built, in web and worker processes alike. The job's
    function receives the ``Platform`` first and JSON-serialisable keyword arguments; enqueue
    with ``lms.jobs.enqueue("<name>", **kwargs)``. Names must be unique across plugins.
    """


@hookspec
def lms_register_periodic_jobs(lms: Platform) -> list[PeriodicJob] | None:
    """Return periodic jobs: an actor name and an interval.

    The in-process worker or ``lms worker`` enqueues each once per interval; the job itself must
    be safe to run twice (several workers may enqueue it).
    """


# -- command line ---------------------------------------------------------------------------


@hookspec
def lms_register_commands(lms: Platform) -> list[click.Command] | None:
    """Return click commands or groups to add to ``lms``.

    Called when the CLI is built. Commands run inside an app context; get the platform with
    ``lmscore.current_platform()``. Long work should show a progress bar.
    """


# -- database -------------------------------------------------------------------------------


@hookspec
def lms_alembic_version_locations(lms: Platform) -> list[str] | None:
    """Return directories with this plugin's Alembic revisions.

    The plugin's first revision sets ``branch_labels = ("<id>",)`` and ``depends_on`` the core
    revision it needs. ``lms db upgrade`` runs ``upgrade heads`` over core and every enabled
    plugin's locations.
    """


@hookspec
def lms_user_deleting(lms: Platform, session: Session, user: User) -> None:
    """Let go of what this plugin holds for ``user``, whose account is being deleted.

    Called in the deleting transaction, before the user's row is deleted; the plugin's rows
    that reference the user with ``ON DELETE CASCADE`` go with it. This is the last moment
    the plugin can read them: work outside the database (revoking a token at a provider)
    belongs in a job enqueued with ``lmscore.services.events.job_after_commit``, which runs
    only if the deletion commits. Do not commit. Raising stops the deletion (the admin sees
    the error); a refusal for a reason the admin can act on is an ``lmscore.errors.LmsError``.
    """
