"""Background jobs on dramatiq. Each app owns its broker: an in-memory StubBroker with worker
threads inside the web process by default, or Redis with ``lms worker`` processes."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import q_name
from dramatiq.middleware import Middleware, Retries

from ..config import JobsSettings
from ..errors import StartupError

if TYPE_CHECKING:
    from ..platform import Platform

log = logging.getLogger(__name__)
#: Broker commands out of a million that also requeue the jobs of dead workers.
REQUEUE_CHECK_PER_MILLION = 50_000


class JobFailed(RuntimeError):
    """Raised by ``JobQueue.drain`` for a job that failed for good while draining."""


@dataclass(frozen=True)
class JobSpec:
    """A job a plugin (or the core) offers. ``fn(lms, **kwargs)``; kwargs must be JSON."""

    name: str
    fn: Callable[..., Any]
    max_retries: int | None = None
    time_limit_s: int | None = None
    queue: str = "default"


@dataclass(frozen=True)
class PeriodicJob:
    actor: str
    every_s: int
    kwargs: dict[str, Any] = field(default_factory=dict)


class _RecordFailures(Middleware):
    """Writes a JobFailure row once a message has failed for good."""

    def __init__(self, queue: JobQueue):
        self.queue = queue

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None or not message.failed:
            return
        self.queue.record_failure(message, exception)

    def after_skip_message(self, broker, message):
        return None


class JobQueue:
    def __init__(self, lms: Platform, settings: JobsSettings):
        self.lms = lms
        self.settings = settings
        if settings.uses_redis:
            import redis
            from dramatiq.brokers.redis import RedisBroker

            # A bounded connect, so an unreachable Redis fails the readiness probe, not hangs it.
            client = redis.Redis.from_url(settings.broker, socket_connect_timeout=5)
            # A started job stays in its worker's "unacked" set until it finishes. If the
            # worker dies (SIGKILL, OOM, lost node), another worker's broker puts the job back
            # on the queue once the dead one's heartbeat is older than requeue_after_s; the
            # check runs on a random share of broker commands (dramatiq's default, 0.1 %, can
            # take minutes on an idle queue: 5 % of ~20 polls/s is about once a second).
            self.broker: dramatiq.Broker = RedisBroker(
                client=client, heartbeat_timeout=settings.requeue_after_s * 1000,
                maintenance_chance=REQUEUE_CHECK_PER_MILLION)
        else:
            self.broker = StubBroker()
        # After-hooks run in reverse order: ours must come after Retries has marked the failure.
        self.broker.add_middleware(_RecordFailures(self), before=Retries)
        self.actors: dict[str, dramatiq.Actor] = {}
        self.periodic: list[PeriodicJob] = []
        self._worker: dramatiq.Worker | None = None
        self._booted = False
        self._ticker: _Ticker | None = None

    def declare(self, spec: JobSpec, plugin: str) -> None:
        if spec.name in self.actors:
            raise StartupError(f"plugin {plugin!r} registers job {spec.name!r}, which exists")
        lms = self.lms

        def run(**kwargs: Any) -> None:
            # Jobs act through the database; a return value (e.g. a count for the CLI) has
            # nowhere to go, and dramatiq warns about every discarded one.
            try:
                spec.fn(lms, **kwargs)
            finally:
                lms.db.remove()

        run.__name__ = spec.name.replace(".", "_")
        options = {
            "max_retries": self.settings.max_retries if spec.max_retries is None
            else spec.max_retries,
            "min_backoff": self.settings.min_backoff_ms,
            "max_backoff": self.settings.max_backoff_ms,
            "time_limit": (spec.time_limit_s or self.settings.time_limit_s) * 1000,
        }
        self.actors[spec.name] = dramatiq.Actor(
            run,
            broker=self.broker,
            actor_name=spec.name,
            queue_name=spec.queue,
            priority=0,
            options=options,
        )

    def enqueue(self, name: str, **kwargs: Any) -> dramatiq.Message:
        try:
            actor = self.actors[name]
        except KeyError:
            raise LookupError(f"no job named {name!r}") from None
        return actor.send(**kwargs)

    def record_failure(self, message: dramatiq.Message, exception: BaseException) -> None:
        from ..models import JobFailure

        session = self.lms.db.session_factory()
        try:
            session.add(
                JobFailure(
                    actor=message.actor_name,
                    message_id=message.message_id,
                    kwargs=message.kwargs,
                    # Retries counts every failed run, the last one too: one more than retried.
                    retries=max(message.options.get("retries", 0) - 1, 0),
                    error=f"{type(exception).__name__}: {exception}",
                    traceback="".join(traceback.format_exception(exception))[-20_000:],
                )
            )
            session.commit()
        except Exception:
            log.exception("could not record the failure of job %s", message.actor_name)
            session.rollback()
        finally:
            session.close()

    # -- workers ------------------------------------------------------------------------------

    def start_worker(self, threads: int | None = None, *, periodic: bool = True) -> None:
        """Start worker threads in this process (in-process mode and ``lms worker``)."""
        if not self._booted:
            # Once per broker: starts middleware that workers need (TimeLimit's timer thread,
            # which never stops: apps that never run jobs, like most test apps, don't start it).
            self.broker.emit_after("process_boot")
            self._booted = True
        self._worker = dramatiq.Worker(
            self.broker, worker_threads=threads or self.settings.worker_threads, worker_timeout=100
        )
        self._worker.start()
        if periodic and self.periodic:
            self._ticker = _Ticker(self)
            self._ticker.start()

    def stop_worker(self) -> None:
        if self._ticker:
            self._ticker.stop()
            self._ticker = None
        if self._worker:
            self._worker.stop()
            # Worker.start() adds a middleware pointing at the worker that stop() leaves on
            # the broker; drop it so repeated drains do not pile up stopped workers.
            self.broker.middleware[:] = [
                m for m in self.broker.middleware if getattr(m, "worker", None) is not self._worker
            ]
            self._worker = None

    @property
    def worker_running(self) -> bool:
        return self._worker is not None

    def ping(self) -> None:
        """Raise if the broker cannot take jobs (readiness check)."""
        if self.settings.uses_redis:
            self.broker.client.ping()
        elif self.settings.in_process_worker and not self.worker_running:
            raise RuntimeError("the in-process job worker is not running")

    def has_pending(self) -> bool:
        """Whether the in-process broker still holds messages (delayed retries included)."""
        return isinstance(self.broker, StubBroker) and any(
            queue.qsize() for queue in self.broker.queues.values()
        )

    def drain(self, timeout_s: float = 30, *, raise_failures: bool = True) -> None:
        """Run queued jobs, their retries and the jobs they queue until none is left (tests and
        one-shot CLI runs use this on the in-process broker). Starts a temporary worker when
        none is running. A job that fails for good during the drain gets its JobFailure row
        and, with ``raise_failures``, its error is raised here."""
        if not isinstance(self.broker, StubBroker):
            raise RuntimeError("drain() only works with the in-process broker")
        failed_before = {message.message_id for message in self.broker.dead_letters}
        own_worker = self._worker is None
        if own_worker:
            self.start_worker(periodic=False)
        assert self._worker is not None
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                for queue_name in [name for name in self.broker.queues if name == q_name(name)]:
                    left_ms = int((deadline - time.monotonic()) * 1000)
                    if left_ms <= 0:
                        raise TimeoutError(f"jobs still queued after {timeout_s} s")
                    self.broker.join(queue_name, timeout=left_ms, fail_fast=False)
                self._worker.join()
                if not self.has_pending():
                    break
        finally:
            if own_worker:
                self.stop_worker()
        failed = [m for m in self.broker.dead_letters if m.message_id not in failed_before]
        if failed and raise_failures:
            message = failed[0]
            raise JobFailed(f"job {message.actor_name} failed for good:\n"
                            f"{message.options.get('traceback', '')}")

    def close(self) -> None:
        self.stop_worker()
        self.broker.close()


class _Ticker(threading.Thread):
    """Enqueues each periodic job once per interval."""

    def __init__(self, queue: JobQueue):
        super().__init__(name="lmscore-ticker", daemon=True)
        self.queue = queue
        self._stop_event = threading.Event()

    def run(self) -> None:
        next_run = {job.actor: time.monotonic() + job.every_s for job in self.queue.periodic}
        while not self._stop_event.wait(1.0):
            now = time.monotonic()
            for job in self.queue.periodic:
                if now >= next_run[job.actor]:
                    next_run[job.actor] = now + job.every_s
                    try:
                        self.queue.enqueue(job.actor, **job.kwargs)
                    except Exception:
                        log.exception("could not enqueue periodic job %s", job.actor)

    def stop(self) -> None:
        self._stop_event.set()
