"""Shared pieces of the PostgreSQL + gunicorn scenarios: a throwaway database, the lmscore
configuration both the seeding process and the server read, a gunicorn server on 127.0.0.1,
an open-loop load generator, percentiles and the machine description.

The PostgreSQL server comes from LMSCORE_BENCH_DATABASE_URL, else the one
``scripts/services.sh`` exports (LMSCORE_SERVICES_PG_URL): a superuser URL, since each
scenario creates and drops its own database.

Scenarios are the other ``bench/*.py`` scripts; ``bench/run.py`` (``make bench``) finds and
runs them all and prints one summary table. What a scenario offers the runner:
  * ``--json FILE``: its figures, with ``"table": [table_row(...), ...]`` for the summary;
  * ``SMOKE_ARGS = [...]``: command-line arguments for a tiny run (``bench/run.py --smoke``);
  * ``serve_stack`` for HTTP scenarios: gunicorn (``web_workers``) plus ``lms worker``.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SECRET_KEY = "bench-secret-key-0123456789abcdef0123456789"
ACCESS_LOG = "access.log"


def postgres_url() -> str:
    url = (os.environ.get("LMSCORE_BENCH_DATABASE_URL")
           or os.environ.get("LMSCORE_SERVICES_PG_URL") or "")
    if make_url(url or "sqlite://").get_backend_name() != "postgresql":
        raise SystemExit("Needs PostgreSQL: set LMSCORE_BENCH_DATABASE_URL=postgresql://… or "
                         "run through `bash scripts/services.sh run …` (make bench does).")
    return url


def _admin_engine(url: str):
    return create_engine(make_url(url).set(drivername="postgresql+psycopg", database="postgres"),
                         isolation_level="AUTOCOMMIT")


def database_exists(url: str, name: str) -> bool:
    engine = _admin_engine(url)
    with engine.connect() as conn:
        found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    engine.dispose()
    return bool(found)


@contextmanager
def throwaway_database(url: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """The URL of database ``name`` on the server of ``url``, created if absent and dropped
    afterwards unless ``keep`` (a kept database lets a re-run skip seeding)."""
    engine = _admin_engine(url)
    with engine.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


#: Settings for plugins that cannot start without any: test-mode keys and an API address
#: nothing listens on (no scenario calls a payment provider; the plugin's hooks still run).
PLUGIN_SETTINGS: dict[str, dict[str, str]] = {
    "payments_stripe": {"secret_key": "sk_test_bench", "webhook_secret": "whsec_bench",
                        "api_base": "http://127.0.0.1:9"},
}


def startable_plugins() -> list[str]:
    """Every installed plugin that starts with no settings but ``PLUGIN_SETTINGS``: one that
    needs more is left out, and named, rather than failing the run."""
    from lmscore.app import create_app
    from lmscore.errors import LmsError
    from lmscore.plugins import installed_entry_points

    startable = []
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as empty:  # no developer's lms.toml
        for plugin in sorted(installed_entry_points()):
            try:
                create_app({"secret_key": SECRET_KEY, "database": {"url": "sqlite://"},
                            "plugins": {"enabled": [plugin],
                                        plugin: PLUGIN_SETTINGS.get(plugin, {})}},
                           config_path=empty.name).extensions["lmscore"].close()
            except LmsError as exc:
                print(f"plugins      {plugin} left out: {exc.message}")
            else:
                startable.append(plugin)
    return startable


def plugins_toml(plugins: list[str]) -> str:
    """The ``[plugins]`` table enabling ``plugins``, with their ``PLUGIN_SETTINGS``."""
    return f"[plugins]\nenabled = {json.dumps(plugins)}\n" + "".join(
        f"[plugins.{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n"
                                         for key, value in PLUGIN_SETTINGS[name].items())
        for name in plugins if name in PLUGIN_SETTINGS)


@contextmanager
def lms_config(database_url: str, *, broker: str = "inprocess",
               extra_toml: str = "") -> Iterator[Path]:
    """A working directory with an ``lms.toml`` for ``database_url``, every installed plugin
    that starts without settings enabled (a production-like app) and the login rate limits
    out of the load's way; ``extra_toml`` is appended (e.g. a plugin's table)."""
    plugins = startable_plugins()
    with tempfile.TemporaryDirectory(prefix="lms-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "lms.toml").write_text(
            f'secret_key = "{SECRET_KEY}"\n'
            f'instance_dir = "{workdir / "instance"}"\n'
            f'[database]\nurl = "{database_url}"\npool_size = 10\n'
            f'[jobs]\nbroker = "{broker}"\n'
            f'[email]\nbackend = "file"\nfile_dir = "{workdir / "mail"}"\n'
            '[auth]\nip_rate_limit = "1000000 per minute"\n'
            'account_rate_limit = "1000000 per minute"\naccess_token_minutes = 240\n'
            + plugins_toml(plugins)
            + extra_toml,
            encoding="utf-8",
        )
        yield workdir


def create_bench_app(workdir: Path):
    """The app for ``workdir``'s config, with the schema migrated to the latest revision."""
    from lmscore.app import create_app
    from lmscore.migrations import upgrade

    app = create_app(config_path=str(workdir / "lms.toml"))
    with app.app_context():
        upgrade(app.extensions["lmscore"])
    return app


def add_learners(session, prefix: str, first: int, last: int) -> None:
    """Students ``{prefix}-{n}@bench.invalid`` for n in first..last, in one statement."""
    session.execute(text("""
        INSERT INTO users (email, name, role, password_hash, timezone, failed_logins,
                           session_version, created_at, updated_at)
        SELECT :prefix || '-' || g || '@bench.invalid', 'Bench ' || g, 'student', '-', 'UTC',
               0, 1, :now, :now
        FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g
    """), {"prefix": prefix, "first": first, "last": last,
           "now": datetime.now(UTC).replace(tzinfo=None)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


@contextmanager
def gunicorn(workdir: Path, *, workers: int, threads: int = 1) -> Iterator[int]:
    """``gunicorn 'lmscore.wsgi:app'`` on 127.0.0.1 (the production entry point); yields the
    port once every worker answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    env["LMS_CONFIG"] = str(workdir / "lms.toml")
    command = [sys.executable, "-m", "gunicorn", "lmscore.wsgi:app", "--bind",
               f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
               "--backlog", "4096", "--timeout", "60", "--log-level", "warning",
               "--error-logfile", str(workdir / "gunicorn.log"),
               # Per-request server time in µs (%(D)s): the server's figure, not the client's.
               "--access-logfile", str(workdir / ACCESS_LOG),
               "--access-logformat", "%(m)s %(U)s %(s)s %(D)s"]
    process = subprocess.Popen(command, cwd=workdir, env=env)
    try:
        wait_for_port(port, process)
        # Every worker imports the app on its own: warm them all before measuring.
        burst(port, [Request("GET", "/health/ready")] * (workers * threads * 4), rate=200)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def lms_worker(workdir: Path) -> Iterator[subprocess.Popen | None]:
    """``lms worker`` for ``workdir``'s config when its broker is Redis (the production
    layout: jobs leave the web processes); nothing with the in-process broker."""
    if '[jobs]\nbroker = "redis' not in (workdir / "lms.toml").read_text(encoding="utf-8"):
        yield None
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    env["LMS_CONFIG"] = str(workdir / "lms.toml")
    lms = str(Path(sys.executable).with_name("lms"))
    with open(workdir / "worker.log", "w", encoding="utf-8") as log:
        process = subprocess.Popen([lms, "worker"], cwd=workdir, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def web_workers(default: int) -> int:
    """gunicorn workers: LMSCORE_BENCH_WORKERS (set by ``bench/run.py --workers``), else
    the scenario's own default."""
    return int(os.environ.get("LMSCORE_BENCH_WORKERS") or default)


@contextmanager
def serve_stack(workdir: Path, *, workers: int, threads: int = 1) -> Iterator[int]:
    """The production-like stack for ``workdir``'s config: gunicorn with ``workers`` workers
    on 127.0.0.1 and, with a Redis broker, an ``lms worker``. Yields gunicorn's port."""
    with lms_worker(workdir), gunicorn(workdir, workers=workers, threads=threads) as port:
        yield port


def access_log_mark(workdir: Path) -> int:
    """Where the access log ends now: ``server_times`` reads what comes after."""
    path = workdir / ACCESS_LOG
    return path.stat().st_size if path.exists() else 0


def server_times(workdir: Path, mark: int, path_prefix: str) -> list[float]:
    """Seconds of server time of the logged 2xx requests to ``path_prefix`` after ``mark``."""
    time.sleep(0.5)  # gunicorn writes the line after the response has gone out
    with open(workdir / ACCESS_LOG, encoding="utf-8") as log:
        log.seek(mark)
        rows = [line.split() for line in log]
    return [int(row[3]) / 1e6 for row in rows
            if len(row) == 4 and row[1].startswith(path_prefix) and row[2].startswith("2")]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str | None = None
    body: dict | None = None


@dataclass
class LoadResult:
    sent: int
    elapsed_s: float
    #: Seconds from each request's scheduled start to its full response: queueing included,
    #: so a server that falls behind shows up in the tail (no coordinated omission).
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def figures(self) -> dict:
        return {"requests": self.sent, "elapsed_s": round(self.elapsed_s, 3),
                "rate_per_s": round(self.sent / self.elapsed_s, 1) if self.elapsed_s else None,
                "errors": sum(self.errors.values()), "error_kinds": self.errors,
                **percentiles(self.latencies)}


def burst(port: int, requests: list[Request], *, rate: float | None, concurrency: int = 200,
          timeout: float = 30) -> LoadResult:
    """Send ``requests`` open-loop, request i at i / ``rate`` seconds, each on a fresh
    connection (distinct clients), from at most ``concurrency`` threads; with ``rate`` None,
    closed-loop: each thread sends its next request as soon as the last one is answered."""
    result = LoadResult(sent=len(requests), elapsed_s=0.0)
    lock = threading.Lock()
    cursor = iter(range(len(requests)))
    start = time.perf_counter() + 0.05

    def client() -> None:
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            scheduled = start + i / rate if rate else time.perf_counter()
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            error = _send(port, requests[i], timeout)
            done = time.perf_counter() - scheduled
            with lock:
                if error:
                    result.errors[error] = result.errors.get(error, 0) + 1
                else:
                    result.latencies.append(done)

    threads = [threading.Thread(target=client, daemon=True)
               for _ in range(min(concurrency, len(requests)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.elapsed_s = time.perf_counter() - start
    return result


def _send(port: int, req: Request, timeout: float) -> str | None:
    """None on a 2xx answer, else a short description of what went wrong."""
    headers = {"Connection": "close"}
    if req.token:
        headers["Authorization"] = f"Bearer {req.token}"
    body = None
    if req.body is not None:
        body = json.dumps(req.body)
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(req.method, req.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except OSError as exc:
        return type(exc).__name__
    finally:
        conn.close()


def percentiles(seconds: list[float]) -> dict:
    """p50/p95/p99/max in milliseconds."""
    if len(seconds) < 2:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 2), "p95_ms": round(cuts[94] * 1000, 2),
            "p99_ms": round(cuts[98] * 1000, 2), "max_ms": round(max(seconds) * 1000, 2)}


def fmt(figures: dict) -> str:
    return (f"p50 {figures['p50_ms']:8.2f} ms  p95 {figures['p95_ms']:8.2f} ms  "
            f"p99 {figures['p99_ms']:8.2f} ms  max {figures['max_ms']:8.2f} ms")


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def machine(database_url: str | None = None) -> dict:
    """Cores, load and versions: printed with every figure, which depends on them."""
    info = {"cores": os.cpu_count(), "load_average": load_average(),
            "python": platform.python_version(), "platform": platform.platform()}
    if database_url:
        engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"))
        with engine.connect() as conn:
            info["postgresql"] = conn.scalar(text("SHOW server_version"))
        engine.dispose()
    print(f"machine      {info['cores']} cores, load average {info['load_average']}, "
          f"Python {info['python']}"
          + (f", PostgreSQL {info['postgresql']}" if "postgresql" in info else ""))
    return info


def table_row(scenario: str, measure: str, figures: dict, baseline: str | None = None,
              baseline_figures: dict | None = None, unit: str = "req/s") -> dict:
    """One line of ``bench/run.py``'s summary table: ``figures`` and ``baseline_figures``
    are ``LoadResult.figures()``-shaped dicts (rate_per_s, p50_ms, p95_ms, p99_ms, errors;
    any may be None), the baseline being what the same run measured for comparison."""
    keys = ("rate_per_s", "p50_ms", "p95_ms", "p99_ms", "errors")
    return {"scenario": scenario, "measure": measure, "unit": unit,
            **{key: figures.get(key) for key in keys},
            "baseline": None if baseline is None else {
                "measure": baseline, **{key: (baseline_figures or {}).get(key) for key in keys}}}


def write_json(path: str | None, result: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(result, indent=2, default=str) + "\n",
                              encoding="utf-8")
