"""The ``lms`` command: database, configuration, plugins, users, workers and serving."""

from __future__ import annotations

import atexit
import json
import secrets
import signal
import sys
import threading
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from sqlalchemy import select

from .config import DEFAULT_CONFIG_PATH, masked, to_json
from .errors import LmsError


def _create_app():
    from .app import create_app

    app = create_app()
    if not app.extensions["lmscore"].settings.jobs.uses_redis:
        atexit.register(_finish_in_process_jobs, app)
    return app


def _finish_in_process_jobs(app) -> None:
    """With the in-process broker nothing else will run what a command queued (e.g. the
    welcome email of ``lms users create-admin``): run it before the process exits."""
    lms = app.extensions["lmscore"]
    if lms.jobs.has_pending():
        with app.app_context():
            lms.jobs.drain()


class LmsGroup(FlaskGroup):
    """Adds the commands enabled plugins register through ``lms_register_commands``."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        try:
            app = ctx.ensure_object(ScriptInfo).load_app()
        except LmsError:
            return {}  # the configuration error is reported by the command that runs
        lms = app.extensions["lmscore"]
        return {cmd.name: cmd for _p, cmd in lms.plugins.collect("lms_register_commands", lms=lms)}

    # Only our commands and plugins': not Flask's defaults nor other Flask extensions'.
    def list_commands(self, ctx):
        return sorted(set(click.Group.list_commands(self, ctx)) | set(self._plugin_commands(ctx)))

    def get_command(self, ctx, name):
        return click.Group.get_command(self, ctx, name) or self._plugin_commands(ctx).get(name)


cli = LmsGroup(
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=True,
    load_dotenv=False,
    help="lmscore: a plugin-based learning platform.",
)
# Flask's --app/--env-file/--debug options make no sense for `lms`: the app is always ours.
cli.params = [p for p in cli.params if p.name not in ("app", "env_file", "debug")]


def platform():
    return current_app.extensions["lmscore"]


def fail(message: str) -> None:
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(1)


# -- serving -----------------------------------------------------------------------------------


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@with_appcontext
def serve(host: str, port: int, threads: int) -> None:
    """Serve the web UI and API with waitress (and the in-process job worker)."""
    from waitress import serve as waitress_serve

    from .app import start_in_process_worker

    app = current_app._get_current_object()
    start_in_process_worker(app)
    click.echo(f"lmscore is serving on http://{host}:{port}/ (API docs: /api/v1/docs)")
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="lmscore")
    finally:
        platform().jobs.stop_worker()


@cli.command("worker")
@click.option("--threads", type=int, default=None, help="Worker threads (default from config).")
@click.option("--no-periodic", is_flag=True, help="Do not enqueue periodic jobs from here.")
@with_appcontext
def worker(threads: int | None, no_periodic: bool) -> None:
    """Run background jobs from Redis until interrupted."""
    lms = platform()
    if not lms.settings.jobs.uses_redis:
        fail("[jobs] broker is 'inprocess': jobs run inside the web process; set a redis:// "
             "broker to run separate workers.")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    lms.jobs.start_worker(threads, periodic=not no_periodic)
    click.echo(f"lms worker: {len(lms.jobs.actors)} jobs, queue on {lms.jobs.broker.__class__.__name__}")
    stop.wait()
    click.echo("lms worker: stopping")
    lms.jobs.stop_worker()


@cli.group("jobs")
def jobs_group() -> None:
    """Inspect background jobs."""


@jobs_group.command("failures")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def jobs_failures(limit: int) -> None:
    """List jobs that failed for good, newest first."""
    from .models import JobFailure

    session = platform().db.session
    rows = session.scalars(select(JobFailure).order_by(JobFailure.id.desc()).limit(limit)).all()
    if not rows:
        click.echo("No failed jobs.")
    for row in rows:
        click.echo(f"#{row.id} {row.failed_at:%Y-%m-%d %H:%M:%S} {row.actor} "
                   f"(retries {row.retries}): {row.error}")


# -- database ------------------------------------------------------------------------------------


@cli.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.argument("revision", default="heads")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations (core and every enabled plugin's branch)."""
    from .migrations import upgrade

    upgrade(platform(), revision)
    click.echo(f"Database upgraded to {revision}.")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (``base`` empties the database)."""
    from .migrations import downgrade

    downgrade(platform(), revision)
    click.echo(f"Database downgraded to {revision}.")


@db_group.command("current")
@with_appcontext
def db_current() -> None:
    """Show the applied revisions."""
    from .migrations import current_heads

    for head in current_heads(platform()) or ["(empty database)"]:
        click.echo(head)


# -- configuration and plugins -------------------------------------------------------------------


@cli.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("show")
@with_appcontext
def config_show() -> None:
    """Print the effective configuration, secrets masked."""
    lms = platform()
    settings = lms.settings
    effective = settings.as_dict()
    secret_paths = set(settings.secret_paths)
    for plugin_id in lms.plugins.enabled:
        effective["plugins"][plugin_id] = lms.plugin_config(plugin_id)
        schema = lms.plugins.config_schema(plugin_id)
        if schema is not None:
            secret_paths |= {f"plugins.{plugin_id}.{name}" for name, f in schema.fields.items()
                             if f.metadata.get("secret")}
    click.echo(f"# effective configuration (from {settings.source})")
    click.echo(to_json(masked(effective, frozenset(secret_paths))))


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def plugins_command(as_json: bool) -> None:
    """List installed plugins, enabled or not, and what each provides."""
    from .services.operations import plugin_overview

    rows = plugin_overview(platform())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No plugins installed.")
    for row in rows:
        state = "enabled " if row["enabled"] else "disabled"
        click.echo(f"{row['id']:<20} {state} {row['distribution']} {row['version']}")
        for capability, names in row["provides"].items():
            click.echo(f"    provides {capability}: {', '.join(names)}")
        if row["hooks"]:
            click.echo(f"    hooks: {', '.join(row['hooks'])}")
        if row["error"]:
            click.secho(f"    {row['error']}", fg="red")


# -- users ---------------------------------------------------------------------------------------


@cli.group("users")
def users_group() -> None:
    """User accounts."""


@users_group.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", prompt=True, default="Administrator")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create_admin(email: str, name: str, password: str) -> None:
    """Create a superadmin account."""
    from .models import Role
    from .services import auth

    lms = platform()
    try:
        user = auth.register(lms, lms.db.session, email=email, password=password, name=name,
                             role=Role.SUPERADMIN)
    except LmsError as exc:
        fail(exc.message)
    click.echo(f"Created superadmin {user.email} (id {user.id}).")


@cli.command("init", with_appcontext=False)
@click.option("--path", default=DEFAULT_CONFIG_PATH, show_default=True,
              type=click.Path(dir_okay=False))
def init(path: str) -> None:
    """Write a starting lms.toml with a fresh secret key (never overwrites)."""
    target = Path(path)
    if target.exists():
        click.echo(f"{target} exists; leaving it as it is.")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(STARTER_CONFIG.format(secret=secrets.token_urlsafe(48)), encoding="utf-8")
    target.chmod(0o600)
    click.echo(f"Wrote {target}. Edit it to choose plugins, database and jobs broker.")


STARTER_CONFIG = """\
# lmscore configuration. Every key is documented in docs/configuration.md.
secret_key = "{secret}"
site_name = "lmscore"
base_url = "http://127.0.0.1:5000"

[database]
url = "sqlite:///instance/lms.db"

[jobs]
broker = "inprocess"

[email]
backend = "file"
file_dir = "instance/mail"

[plugins]
enabled = []
"""


@cli.group("demo")
def demo_group() -> None:
    """Demo data for trying lmscore out."""


@demo_group.command("load")
@with_appcontext
def demo_load() -> None:
    """Create the demo accounts (idempotent) and print how to sign in."""
    from .services import demo

    lms = platform()
    accounts = demo.load(lms, lms.db.session)
    click.echo("Demo accounts (for trying lmscore out; never load them on a public site):")
    for account in accounts:
        click.echo(f"  {account.role:<10} {account.email:<28} password: {account.password}")


def main() -> None:
    try:
        cli.main(prog_name="lms")
    except LmsError as exc:  # configuration and start-up errors: a message, not a traceback
        click.secho(f"Error: {exc.message}", fg="red", err=True)
        sys.exit(2)
