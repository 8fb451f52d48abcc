"""The ``lms`` command: database, configuration, plugins, users, workers and serving."""

from __future__ import annotations

import atexit
import dataclasses
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
from sqlalchemy.exc import DBAPIError, OperationalError

from . import __version__
from .config import DEFAULT_CONFIG_PATH, masked, to_json
from .errors import LmsError

#: PostgreSQL's SQLSTATEs for a table or column the schema lacks (SQLite raises them as
#: OperationalError "no such table/column").
_MISSING_SCHEMA_STATES = {"42P01", "42703"}


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
            lms.jobs.drain(raise_failures=False)  # recorded as JobFailure rows


class LmsGroup(FlaskGroup):
    """Adds the commands enabled plugins register through ``lms_register_commands``."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        try:
            app = ctx.ensure_object(ScriptInfo).load_app()
        except LmsError:
            return {}  # the configuration error is reported by the command that runs
        lms = app.extensions["lmscore"]
        commands = [cmd for _p, cmd in lms.plugins.collect("lms_register_commands", lms=lms)]
        return {cmd.name: _in_app_context(cmd) for cmd in commands}

    # Only our commands and plugins': not Flask's defaults nor other Flask extensions'.
    def list_commands(self, ctx):
        return sorted(set(click.Group.list_commands(self, ctx)) | set(self._plugin_commands(ctx)))

    def get_command(self, ctx, name):
        return click.Group.get_command(self, ctx, name) or self._plugin_commands(ctx).get(name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DBAPIError as exc:
            problem = _database_problem(exc)
            if problem is None:
                raise
            fail(problem)


def _database_problem(exc: DBAPIError) -> str | None:
    """What an operator can fix (database unreachable, not created, not migrated), or None
    for an error in the code, which keeps its traceback."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if (getattr(exc.orig, "sqlstate", None) in _MISSING_SCHEMA_STATES
            or reason.startswith(("no such table", "no such column"))):
        return (f"the database has no or an older lmscore schema ({reason}): run "
                "`lms db upgrade`.")
    if isinstance(exc, OperationalError):
        return f"cannot use the database: {reason}. Check [database] url."
    return None


def _in_app_context(command: click.Command) -> click.Command:
    """Plugins return plain click commands; the hook promises they run in an app context."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _in_app_context(sub)
    callback = command.callback
    if callback is not None and not getattr(callback, "_lms_in_app_context", False):
        command.callback = with_appcontext(callback)
        command.callback._lms_in_app_context = True  # a command object may be returned again
    return command


cli = LmsGroup(
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    help="lmscore: a plugin-based learning platform.",
)
# Flask's --app/--env-file/--debug options make no sense for `lms`: the app is always ours.
cli.params = [p for p in cli.params if p.name not in ("app", "env_file", "debug")]
cli = click.version_option(__version__, prog_name="lms",
                           message="%(prog)s (lmscore) %(version)s")(cli)


def platform():
    return current_app.extensions["lmscore"]


def fail(message: str) -> None:
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(1)


# -- serving -----------------------------------------------------------------------------------


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@with_appcontext
def serve(host: str, port: int, threads: int) -> None:
    """Serve the web UI and API with waitress (and the in-process job worker)."""
    from waitress.server import create_server

    from .app import start_in_process_worker

    app = current_app._get_current_object()
    try:
        server = create_server(app, host=host, port=port, threads=threads, ident="lmscore")
    except (OSError, ValueError) as exc:  # port taken, no such address
        fail(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}")
    start_in_process_worker(app)
    click.echo(f"lmscore is serving on http://{host}:{port}/ (API docs: /api/v1/docs)")
    try:
        server.run()
    finally:
        platform().jobs.stop_worker()


@cli.command("worker")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="Worker threads (default from config).")
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
    broker = type(lms.jobs.broker).__name__
    click.echo(f"lms worker: {len(lms.jobs.actors)} jobs, queue on {broker}")
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
    from tqdm import tqdm

    from .migrations import pending_revisions, upgrade

    lms = platform()
    total = pending_revisions(lms) if revision == "heads" else None

    class Bar:  # migrations.Progress: one step per revision, a data move's rows alongside
        def applied(self, applied: str, title: str) -> None:
            bar.set_postfix_str(f"{applied} {title}"[:60])
            bar.update()

        def rows(self, moving: str, done: int, of: int) -> None:
            bar.set_postfix_str(f"{moving}: {done:,}/{of:,} rows")

    with tqdm(desc="Migrating", unit="revision", total=total, disable=None) as bar:
        try:
            upgrade(lms, revision, progress=Bar())
        except LmsError as exc:
            bar.close()
            fail(exc.message)
    click.echo(f"Database upgraded to {revision}.")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (``base`` empties the database)."""
    from .migrations import downgrade

    try:
        downgrade(platform(), revision)
    except LmsError as exc:
        fail(exc.message)
    click.echo(f"Database downgraded to {revision}.")


@db_group.command("current")
@with_appcontext
def db_current() -> None:
    """Show the applied revisions."""
    from .migrations import current_heads

    for head in current_heads(platform()) or ["(empty database)"]:
        click.echo(head)


@db_group.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def db_backup(destination: Path) -> None:
    """Write a consistent backup of the database to DESTINATION (a new file) while the site
    runs: a SQLite file, or a pg_dump custom-format archive for PostgreSQL."""
    from .services import backups

    _with_progress(backups.backup, destination, "Backing up")
    click.echo(f"Backup written to {destination} ({destination.stat().st_size:,} bytes).")


@db_group.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def db_restore(source: Path, yes: bool) -> None:
    """Replace the database's contents with the backup SOURCE. Stop the web and worker
    processes first: what they write meanwhile is lost."""
    from .services import backups

    if not yes:
        click.confirm(f"Replace every row of the configured {platform().db.dialect} database "
                      f"with {source}?", abort=True)
    _with_progress(backups.restore, source, "Restoring")
    click.echo(f"Database restored from {source}.")


def _with_progress(operation, path: Path, label: str) -> None:
    """Run ``operation(lms, path, on_progress)`` behind a progress bar (pages or tables)."""
    from tqdm import tqdm

    lms = platform()
    unit = "page" if lms.db.dialect == "sqlite" else "table"
    with tqdm(desc=label, unit=unit, disable=None) as bar:
        def on_progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            operation(lms, path, on_progress)
        except LmsError as exc:
            bar.close()
            fail(exc.message)


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
        plugin_settings = lms.plugin_config(plugin_id)
        # A schema may load into a dataclass: show (and mask) it field by field, not its repr.
        if dataclasses.is_dataclass(plugin_settings):
            plugin_settings = dataclasses.asdict(plugin_settings)
        effective["plugins"][plugin_id] = plugin_settings
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
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(STARTER_CONFIG.format(secret=secrets.token_urlsafe(48)),
                          encoding="utf-8")
        target.chmod(0o600)
    except OSError as exc:
        fail(f"cannot write {target}: {exc}")
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
enabled = ["content_folder", "quiz_ai"]

[plugins.content_folder]
folders = ["tracks"]
"""


@cli.group("content")
def content_group() -> None:
    """Tracks and question banks from content sources."""


@content_group.command("sync")
@click.argument("source", required=False)
@with_appcontext
def content_sync(source: str | None) -> None:
    """Import or update tracks from SOURCE (default: every content source)."""
    lms = platform()
    if source and source not in lms.content_sources:
        fail(f"no content source named {source!r}; available: "
             f"{', '.join(lms.content_sources.names()) or 'none (enable content_folder)'}")
    if not sync_and_report(lms, source):
        sys.exit(1)


def sync_and_report(lms, source: str | None = None) -> bool:
    """Run a content sync with a progress bar and print one line per track; True if clean."""
    from tqdm import tqdm

    from .services import content

    with tqdm(desc="Syncing tracks", unit="track", disable=None) as bar:
        results = content.sync(lms, lms.db.session, source, on_track=lambda _r: bar.update())
    for r in results:
        if r.error:
            click.secho(f"{r.source}: {r.code + ': ' if r.code else ''}{r.error}", fg="red",
                        err=True)
        else:
            state = (f"{r.created} created, {r.updated} updated, {r.archived} archived, "
                     f"{r.restored} restored; questions: {r.items.imported} new, "
                     f"{r.items.updated} updated, {r.items.archived} archived"
                     ) if r.changed else "unchanged"
            click.echo(f"{r.source}: {r.code}: {state}")
    return not any(r.error for r in results)


@cli.group("scheduler")
def scheduler_group() -> None:
    """Spaced-repetition schedulers."""


@scheduler_group.command("preview")
@click.option("--scheduler", "name", required=True, help="A registered scheduler name.")
@click.option("--ratings", required=True, help="Comma-separated: again,hard,good,easy.")
@click.option("--start", default=None, help="ISO datetime of the first review (default: now).")
@with_appcontext
def scheduler_preview(name: str, ratings: str, start: str | None) -> None:
    """Print one JSON line per review, each at the previous due time."""
    from datetime import UTC, datetime

    from .capabilities import Rating
    from .services import reviews

    lms = platform()
    if name not in lms.schedulers:
        fail(f"no scheduler named {name!r}; available: {', '.join(lms.schedulers.names())}")
    try:
        sequence = [Rating(r.strip()) for r in ratings.split(",") if r.strip()]
    except ValueError:
        sequence = []
    if not sequence:
        fail("--ratings takes again, hard, good or easy, separated by commas")
    try:
        at = datetime.fromisoformat(start) if start else datetime.now(UTC)
    except ValueError:
        fail(f"--start {start!r} is not an ISO datetime")
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    try:
        rows = reviews.simulate(lms.schedulers.get(name), sequence, at.astimezone(UTC))
    except OverflowError:
        fail(f"--start {start!r}: the reviews would fall outside the years 1 to 9999")
    for row in rows:
        click.echo(json.dumps(row))


@scheduler_group.command("rebuild")
@with_appcontext
def scheduler_rebuild() -> None:
    """Recompute card states for the configured schedulers by replaying review logs."""
    from tqdm import tqdm

    from .models import CardState
    from .services import reviews

    lms = platform()
    total = lms.db.session.query(CardState).count()
    with tqdm(total=total, desc="Replaying reviews", unit="card", disable=None) as bar:
        count = reviews.rebuild(lms, lms.db.session, on_card=bar.update)
    click.echo(f"Rebuilt {count} card states.")


@cli.group("banks")
def banks_group() -> None:
    """Question banks: import question files, list banks."""


def _facet_path(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    parts = tuple(value.strip("/").split("/"))
    if len(parts) != 4 or not all(parts):
        raise click.BadParameter("give topic/subtopic/leaf/facet", param_hint="--facet")
    return parts


@banks_group.command("import")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bank", "code", required=True, help="Bank code (the bank is created if new).")
@click.option("--name", help="Bank name (default: the code; renames an existing bank).")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "json", "gift", "xml", "apkg"]),
              help="File format; auto goes by extension (.json .gift/.txt .xml .apkg).")
@click.option("--facet", help="topic/subtopic/leaf/facet for items whose file names none "
                              "(default: imported/<file name>/general/general).")
@with_appcontext
def banks_import(paths: tuple[Path, ...], code: str, name: str | None, fmt: str,
                 facet: str | None) -> None:
    """Import question files (JSON bank, Moodle GIFT or XML, Anki .apkg) into a bank.
    Unchanged items are skipped; exits non-zero when anything failed."""
    from tqdm import tqdm

    from .importers import BankFileError, import_parsed, parse_file
    from .importers.service import open_bank
    from .services.banks import ImportFailure, ImportReport

    facet_path = _facet_path(facet)
    session = platform().db.session
    report, parsed = ImportReport(), []
    for path in paths:
        try:
            parsed.append(parse_file(path, fmt, facet_path))
        except BankFileError as exc:  # one unreadable file does not stop the others
            report.failed.append(ImportFailure(path.name, "", exc.details["problem"]))
    try:
        bank = open_bank(session, code, name)
    except LmsError as exc:
        fail(exc.message)
    total = sum(len(p.result.items) for p in parsed)
    with tqdm(total=total, desc=f"Importing into {code}", unit="item", disable=None) as bar:
        report.merge(import_parsed(session, bank, parsed, on_progress=bar.update))
    session.commit()
    click.echo(f"{bank.code}: {report.imported} imported, {report.updated} updated, "
               f"{report.skipped} skipped, {len(report.failed)} failed")
    for warning in report.warnings:
        click.secho(f"  warning: {warning}", fg="yellow", err=True)
    for failure in report.failed:
        click.secho(f"  failed: {failure.position}"
                    f"{f' ({failure.external_id})' if failure.external_id else ''}: "
                    f"{failure.reason}", fg="red", err=True)
    if report.failed:
        sys.exit(1)


@banks_group.command("list")
@with_appcontext
def banks_list() -> None:
    """Question banks with their item counts."""
    from .importers.service import bank_summaries

    rows = bank_summaries(platform().db.session)
    if not rows:
        click.echo("No question banks.")
    for row in rows:
        track = f" (track {row['track_code']})" if row["track_code"] else ""
        click.echo(f"{row['code']:<16} {row['items']:>7} items {row['archived_items']:>6} "
                   f"archived {row['facets']:>5} facets  {row['name']}{track}")


@cli.group("demo")
def demo_group() -> None:
    """Demo data for trying lmscore out."""


@demo_group.command("load")
@with_appcontext
def demo_load() -> None:
    """Sync the content sources, create the demo accounts, enrol the demo learner in every
    track, publish demo quizzes (each once), and print how to sign in."""
    from .services import demo

    lms = platform()
    clean = sync_and_report(lms)
    accounts = demo.load(lms, lms.db.session)
    click.echo("Demo accounts (for trying lmscore out; never load them on a public site):")
    for account in accounts:
        click.echo(f"  {account.role:<10} {account.email:<28} password: {account.password}")
    if not clean:
        sys.exit(1)


def main() -> None:
    try:
        cli.main(prog_name="lms")
    except LmsError as exc:  # configuration and start-up errors: a message, not a traceback
        click.secho(f"Error: {exc.message}", fg="red", err=True)
        sys.exit(2)
