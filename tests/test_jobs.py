"""Jobs on the in-process broker: retries with backoff, failures for admins, plugin jobs."""

import time
from collections import defaultdict

import pytest
from sqlalchemy import select

from lmscore.cli import cli
from lmscore.errors import StartupError
from lmscore.hookspecs import hookimpl
from lmscore.jobs import JobFailed, JobSpec, PeriodicJob
from lmscore.models import JobFailure

pytestmark = pytest.mark.lms_config({"jobs": {"min_backoff_ms": 100, "max_backoff_ms": 1000}})


class JobsPlugin:
    def __init__(self):
        self.calls: dict[str, list[float]] = defaultdict(list)

    @hookimpl
    def lms_register_actors(self):
        return [
            JobSpec("test.always_fails", self.always_fails, max_retries=2),
            JobSpec("test.record", self.record, max_retries=0),
        ]

    @hookimpl
    def lms_register_periodic_jobs(self):
        return [PeriodicJob("test.record", every_s=1, kwargs={"label": "tick"})]

    def always_fails(self, lms, n: int) -> None:
        self.calls["always_fails"].append(time.monotonic())
        raise ValueError(f"boom {n}")

    def record(self, lms, label: str) -> None:
        self.calls[label].append(time.monotonic())


@pytest.fixture
def plugin() -> JobsPlugin:
    return JobsPlugin()


@pytest.fixture
def app(app_factory, plugin):
    return app_factory(plugins={"jobsplugin": plugin})


def test_failed_job_is_retried_with_backoff_then_shown_to_admins(app, jobs, plugin, api_as):
    jobs.enqueue("test.always_fails", n=7)
    with pytest.raises(JobFailed, match="ValueError: boom 7"):
        jobs.drain()

    # One run and two retries; dramatiq waits min_backoff * 2**retry (plus jitter) between.
    runs = plugin.calls["always_fails"]
    assert len(runs) == 3
    assert runs[1] - runs[0] >= 0.1 and runs[2] - runs[1] >= 0.2

    failure = app.extensions["lmscore"].db.session.scalars(select(JobFailure)).one()
    assert (failure.actor, failure.kwargs, failure.retries) == ("test.always_fails", {"n": 7}, 2)
    assert failure.error == "ValueError: boom 7" and "always_fails" in failure.traceback

    output = app.test_cli_runner().invoke(cli, ["jobs", "failures"]).output
    assert f"#{failure.id} " in output
    assert "test.always_fails (retries 2): ValueError: boom 7" in output

    response = api_as("admin").get("/api/v1/admin/jobs/failures")
    assert response.status_code == 200
    assert response.json["total"] == 1
    assert response.json["items"][0]["actor"] == "test.always_fails"
    assert response.json["items"][0]["error"] == "ValueError: boom 7"
    assert api_as("student").get("/api/v1/admin/jobs/failures").status_code == 403

    jobs.drain()  # an earlier failure is not raised again


def test_jobs_failures_command_without_failures(app):
    assert app.test_cli_runner().invoke(cli, ["jobs", "failures"]).output == "No failed jobs.\n"


def test_hook_lms_register_actors(app_factory, app, jobs, plugin):
    assert {"test.always_fails", "test.record", "lmscore.deliver_event"} <= set(jobs.actors)
    jobs.enqueue("test.record", label="direct")
    jobs.drain()
    assert len(plugin.calls["direct"]) == 1
    with pytest.raises(LookupError, match="no job named 'test.nope'"):
        jobs.enqueue("test.nope")

    with pytest.raises(StartupError, match="registers job 'test.always_fails', which exists"):
        app_factory(plugins={"one": JobsPlugin(), "two": JobsPlugin()})

    class NotASpec:
        @hookimpl
        def lms_register_actors(self):
            return [lambda lms: None]

    with pytest.raises(StartupError, match="must return JobSpecs"):
        app_factory(plugins={"notaspec": NotASpec()})


def test_hook_lms_register_periodic_jobs(app_factory, app, jobs, plugin):
    assert PeriodicJob("test.record", every_s=1, kwargs={"label": "tick"}) in jobs.periodic
    jobs.start_worker()
    try:
        deadline = time.monotonic() + 10
        while not plugin.calls["tick"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        jobs.stop_worker()
    assert plugin.calls["tick"], "the ticker never enqueued the periodic job"

    class UnknownActor:
        @hookimpl
        def lms_register_periodic_jobs(self):
            return [PeriodicJob("test.missing", every_s=5)]

    with pytest.raises(StartupError, match="names no registered job"):
        app_factory(plugins={"unknown": UnknownActor()})


def test_lms_worker_needs_a_redis_broker(app):
    result = app.test_cli_runner().invoke(cli, ["worker"])
    assert result.exit_code == 1
    assert "[jobs] broker is 'inprocess'" in result.output


def test_an_app_that_runs_no_jobs_starts_no_threads(app_factory):
    import threading

    before = threading.active_count()
    app = app_factory()
    app.extensions["lmscore"].jobs.close()
    assert threading.active_count() <= before
