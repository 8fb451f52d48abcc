"""The ``docker`` sandbox: each code-grading run in a fresh, hardened container.

Per run: one container from ``[plugins.workspace_docker.sandbox] image`` with no network
(``network_mode=none``), every capability dropped, ``no-new-privileges``, a non-root user, a
read-only root filesystem with a size-limited tmpfs ``/tmp``, pids / memory / CPU limits,
rlimits for CPU time and file size, ``init`` and lmscore labels. The engine's log driver is off:
output is read from the attached stream, at most ``output_bytes`` of it, and the container is
killed once there is more or the wall-clock limit passes. It is removed afterwards, in the
background: it has exited by then.

A read-only container cannot receive files through ``put_archive``, so the run's files, its
stdin and its command travel as one tar stream on the container's stdin, unpacked into ``/tmp``
by ``tar`` before the command starts: the image needs ``sh`` and ``tar`` (and ``python3`` for
the code grader).

Creating and starting a container costs the engine about a quarter of a second, so a small
*warm pool* does it ahead of time: per container configuration (image, user, limits…), up to
``pool_size`` containers created, attached and started, each waiting in ``tar`` for the run it
will serve, refilled in the background as runs take them. Every run still gets a container
nobody used before. A pool container holds its attach connection and the engine closes its
stdin once that connection goes (``StdinOnce``): when the process that made it dies, it exits
by itself. Pools are bounded, drained by :meth:`DockerSandbox.close` (also at interpreter exit),
and a pool container that died while waiting is discarded for a freshly made one.

Every container is labelled with its owner: the process that made it and the place where that
process's pid means something (host name, boot id, pid namespace). A process that dies without
closing (SIGKILL, out of memory, host restart) leaves its containers behind; :meth:`clean_up`
(the plugin's periodic job, and once when a process first uses the sandbox) removes those whose
owner on this host is gone, at any age, and another host's only once older than
``orphan_max_age_s``. That age rule never takes a container a live process uses: a pool
container waits at most ``pool_max_age_s`` before it is replaced, and a run lasts at most its
wall-clock limit.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import io
import json
import logging
import os
import re
import select
import shlex
import socket
import struct
import tarfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig, Ulimit
from marshmallow import Schema, fields, validate

from lmscore.capabilities import (
    LimitHit,
    Sandbox,
    SandboxError,
    SandboxLimits,
    SandboxResult,
    SandboxRun,
)
from lmscore.capabilities.sandbox import WORKDIR, refused_limit

from .engine import MANAGED_LABEL, EngineUnavailable, client_from_config, ran_out_of_memory

log = logging.getLogger(__name__)

KIND_LABEL = "lmscore.kind"
INSTANCE_LABEL = "lmscore.instance"
#: A digest of everything the container was created with: a run only takes a pool container
#: whose configuration is its own.
CONFIG_LABEL = "lmscore.sandbox_config"
#: Who made the container (:class:`Owner`): where its pid means something, and the process.
OWNER_PLACE_LABEL = "lmscore.owner_place"
OWNER_PROCESS_LABEL = "lmscore.owner_process"
STDIN_FILE = "/tmp/.lms-stdin"
#: Sourced after unpacking: sets the run's arguments and environment.
COMMAND_FILE = "/tmp/.lms-command"
#: Unpack the run's files from stdin, take its command, run it with its stdin from a file.
BOOTSTRAP = (f'mkdir -p {WORKDIR} && tar -x -o -C /tmp -f - && . {COMMAND_FILE} '
             f'&& cd {WORKDIR} && exec "$@" < {STDIN_FILE}')
#: Processes the bootstrap itself needs (init, sh, tar) on top of the run's own limit.
BOOTSTRAP_PROCESSES = 4
#: Configurations (distinct limits) with a pool of their own; the least recently used goes.
POOL_CONFIGURATIONS = 4
STDOUT, STDERR = 1, 2
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DockerSandboxSchema(Schema):
    """``[plugins.workspace_docker.sandbox]``."""

    #: Built or pulled by the operator beforehand (docs/code-grading.md); never pulled here.
    image = fields.String(load_default="lmscore/code-sandbox:latest")
    user = fields.String(load_default="65534:65534",
                         validate=validate.Regexp(r"^[1-9][0-9]*:[1-9][0-9]*$",
                                                  error="a non-root uid:gid"))
    cpus = fields.Float(load_default=1.0, validate=validate.Range(min=0.1, max=64))
    #: Host paths bind-mounted read-only, as "source:target" (e.g. the host's /usr in tests).
    bind_mounts = fields.List(
        fields.String(validate=validate.Regexp(r"^/[^:]*:/[^:]*$",
                                               error="must be /host/path:/container/path")),
        load_default=list,
    )
    env = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    #: Started containers kept waiting per configuration; 0 makes each one during its run.
    pool_size = fields.Integer(load_default=2, validate=validate.Range(min=0, max=32))
    #: A pool container waiting longer is replaced, never handed a run.
    pool_max_age_s = fields.Integer(load_default=600, validate=validate.Range(min=1, max=1800))
    #: Another host's sandbox containers are removed once older than this: from here nobody
    #: can tell whether their owner still runs. The minimum stays above the longest a live
    #: process uses one (``pool_max_age_s`` at most 30 min, then a run of at most the 1 h
    #: wall-clock limit the core allows) with room for clocks that disagree; the default also
    #: leaves a day to a host still on an older lmscore, whose pool containers never expire.
    orphan_max_age_s = fields.Integer(load_default=86_400,
                                      validate=validate.Range(min=7200, max=30 * 86_400))
    #: How often the plugin's job renews expired pool containers and removes orphans.
    cleanup_every_s = fields.Integer(load_default=300, validate=validate.Range(min=10, max=86_400))


@dataclass(frozen=True)
class Owner:
    """The process that made a sandbox container."""

    #: Host name, boot id and pid namespace: only a process with the same place can look up
    #: ``pid`` (after a reboot or in another container the same pid is someone else).
    place: str
    pid: int
    #: The process's start time since boot (clock ticks): a reused pid has another one.
    started: str

    @staticmethod
    def current() -> Owner:
        return _owner_of(os.getpid())

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Owner | None:
        """The owner a container's labels name; None for a container made before they were."""
        pid, _, started = labels.get(OWNER_PROCESS_LABEL, "").partition("/")
        if not labels.get(OWNER_PLACE_LABEL) or not pid.isdigit():
            return None
        return cls(labels[OWNER_PLACE_LABEL], int(pid), started)

    def labels(self) -> dict[str, str]:
        return {OWNER_PLACE_LABEL: self.place, OWNER_PROCESS_LABEL: f"{self.pid}/{self.started}"}

    def is_alive(self) -> bool:
        """Whether the owner still runs; only meaningful for an owner of this place."""
        if self == Owner.current():
            return True
        started = _start_time(self.pid)
        if started is None:
            try:  # /proc may hide other users' processes (hidepid): a signal still finds them
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass
            return True  # running, but its start time cannot be compared: assume the owner
        return started == self.started


@functools.lru_cache(maxsize=1)
def _owner_of(pid: int) -> Owner:
    """Looked up again in a forked child: it is another owner."""
    host = socket.gethostname()
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot_id:
            boot = boot_id.read().strip()
        place = f"{host}/{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
        started = _start_time(pid)
    except OSError:
        # No /proc (not Linux): a place of its own, so other processes' containers, even this
        # host's, are judged by age alone.
        return Owner(f"{host}/{uuid.uuid4().hex}", pid, "")
    return Owner(place, pid, started or "")


def _start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/<pid>/stat``; None when no such process runs."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name (field 2) may hold spaces and parentheses: count from its end.
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError):
        return None


@dataclass(eq=False)
class _Warm:
    """A started container, attached, waiting in ``tar`` for its run on stdin."""

    id: str
    attached: Any
    raw: socket.socket
    #: What it was created with (its pool's key is in the labels), to make its replacement.
    config: dict[str, Any]
    #: ``time.monotonic()`` before it was created: its age, never less than the engine's.
    made: float

    def hand_over(self, archive: bytes) -> bool:
        """Send the run's archive; False when the container is no longer waiting (it ended:
        its stream is readable, at least its end) or the send fails."""
        try:
            readable, _, _ = select.select([self.raw], [], [], 0)
            if readable:
                return False
            self.raw.sendall(archive)
            self.raw.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            return False
        return True


class DockerSandbox(Sandbox):
    name = "docker"
    label = "Docker Engine"

    def __init__(self, engine: Mapping[str, Any], settings: Mapping[str, Any],
                 instance: str = "lmscore"):
        self.engine = engine
        self.settings = settings
        self.instance = instance
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()
        #: Background work: pool refills and the removal of used containers.
        self._background: ThreadPoolExecutor | None = None
        self._pool: OrderedDict[str, list[_Warm]] = OrderedDict()
        self._filling: dict[str, int] = {}
        self._closed = False

    @property
    def client(self) -> docker.DockerClient:
        """Made on first use, so a site starts even while its engine is down."""
        with self._lock:
            if self._client is None:
                try:
                    self._client = client_from_config(self.engine)
                except EngineUnavailable as exc:
                    raise SandboxError(str(exc)) from exc
            return self._client

    def check(self) -> None:
        try:
            self.client.images.get(self.settings["image"])
        except ImageNotFound:
            raise SandboxError(
                f"the code-grading image {self.settings['image']!r} is not on the Docker Engine "
                f"at {self.engine['base_url']}: build or pull it there (docs/code-grading.md)"
            ) from None
        except (APIError, DockerException) as exc:
            raise SandboxError(f"the Docker Engine at {self.engine['base_url']} failed: "
                               f"{exc}") from exc

    def labels(self) -> dict[str, str]:
        return {MANAGED_LABEL: "true", INSTANCE_LABEL: self.instance, KIND_LABEL: "sandbox",
                **Owner.current().labels()}

    def container_config(self, limits: SandboxLimits) -> tuple[str, dict[str, Any]]:
        """The engine's ``create`` arguments for a run under ``limits``, and their digest (the
        pool key): nothing of a particular run is in them, that comes on stdin."""
        api = self.client.api
        cpu = max(1, round(limits.cpu_s))
        file_size = limits.disk_mb * 2**20
        binds = [f"{mount}:ro" for mount in self.settings["bind_mounts"]]
        config = {
            "image": self.settings["image"], "command": ["sh", "-c", BOOTSTRAP, "sandbox"],
            "user": self.settings["user"], "working_dir": "/tmp",
            "environment": {"HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
                            **self.settings["env"]},
            "stdin_open": True, "labels": self.labels(),
            "host_config": api.create_host_config(
                network_mode="none", cap_drop=["ALL"], security_opt=["no-new-privileges"],
                read_only=True,
                tmpfs={"/tmp": f"rw,exec,nosuid,nodev,size={limits.disk_mb}m,mode=1777"},
                pids_limit=limits.processes + BOOTSTRAP_PROCESSES,
                mem_limit=f"{limits.memory_mb}m", memswap_limit=f"{limits.memory_mb}m",
                nano_cpus=int(self.settings["cpus"] * 1e9),
                ulimits=[Ulimit(name="cpu", soft=cpu, hard=cpu + 1),
                         Ulimit(name="fsize", soft=file_size, hard=file_size),
                         Ulimit(name="nofile", soft=256, hard=256),
                         Ulimit(name="core", soft=0, hard=0)],
                init=True, binds=binds, log_config=LogConfig(type="none"),
            ),
        }
        key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
        config["labels"] = {**config["labels"], CONFIG_LABEL: key}
        return key, config

    def _warm_up(self, config: dict[str, Any]) -> _Warm:
        """Create, attach (before start: no output is missed) and start one container."""
        api = self.client.api
        made = time.monotonic()
        container_id = api.create_container(**config)["Id"]
        try:
            attached = api.attach_socket(
                container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            warm = _Warm(container_id, attached, getattr(attached, "_sock", attached), config,
                         made)
            try:
                api.start(container_id)
            except BaseException:
                attached.close()
                raise
        except BaseException:
            self._remove(container_id)
            raise
        return warm

    @staticmethod
    def _archive(request: SandboxRun) -> bytes:
        for name in request.env:
            if not _ENV_NAME.match(name):
                raise ValueError(f"sandbox environment names are shell names: {name!r}")
        command = " ".join(["set --", *map(shlex.quote, request.command)]) + "\n" + "".join(
            f"export {name}={shlex.quote(value)}\n" for name, value in request.env.items())
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            entries = {f"work/{path}": data for path, data in request.files.items()}
            entries[".lms-stdin"] = request.stdin
            entries[".lms-command"] = command.encode()
            for name, data in entries.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def run(self, request: SandboxRun) -> SandboxResult:
        archive = self._archive(request)
        try:
            key, config = self.container_config(request.limits)
            warm = self._take(key, archive)
            if warm is None:
                warm = self._warm_up(config)
                if not warm.hand_over(archive):
                    self._discard(warm)
                    raise SandboxError("a new sandbox container ended before its run")
            self._refill(key, config)
        except ImageNotFound:
            self.check()
            raise
        except (APIError, DockerException, OSError) as exc:
            raise SandboxError(f"the Docker Engine could not create a sandbox: {exc}") from exc
        log.debug("sandbox run %s in container %s", request.label, warm.id)
        # The clock starts once the container has the run: a busy engine's time to create one
        # is not the learner's code running.
        started = time.monotonic()
        try:
            return self._run(warm, request.limits, started)
        except (APIError, DockerException) as exc:
            raise SandboxError(f"the Docker Engine failed during a sandbox run: {exc}") from exc
        finally:
            self._later(self._remove, warm.id)

    def _run(self, warm: _Warm, limits: SandboxLimits, started: float) -> SandboxResult:
        api = self.client.api
        try:
            out, err, limit = _read_frames(warm.raw, limits.output_bytes,
                                           started + limits.wall_s)
            if limit is not None:
                # Kill while still draining the stream: the engine must never block on a
                # reader that went away, or the kill itself would wait on it.
                killer = threading.Thread(target=_kill, args=(api, warm.id), daemon=True)
                killer.start()
                _drain(warm.raw, time.monotonic() + 30)
                killer.join(30)
        finally:
            warm.attached.close()
        code = api.wait(warm.id, timeout=30).get("StatusCode")
        if limit is None and code:
            # One more request, only for a failed run: was it the memory limit?
            if ran_out_of_memory(api.inspect_container(warm.id)["State"]):
                limit = LimitHit.MEMORY
            elif code == 128 + 24:  # SIGXCPU: the CPU-time rlimit
                limit = LimitHit.CPU
            elif code:
                limit = refused_limit(bytes(err))
        return SandboxResult(
            exit_code=code, stdout=bytes(out), stderr=bytes(err),
            wall_s=round(time.monotonic() - started, 4), cpu_s=0.0, limit=limit,
            output_truncated=limit == LimitHit.OUTPUT,
        )

    # -- the warm pool and background work ----------------------------------------------------

    def _take(self, key: str, archive: bytes) -> _Warm | None:
        """A pool container for ``key``, given ``archive``; None when the pool has none."""
        while True:
            with self._lock:
                ready = self._pool.get(key)
                if not ready:
                    return None
                self._pool.move_to_end(key)
                warm = ready.pop(0)
            if self._expired(warm):
                # Never handed a run: the orphan age rule relies on it (see pool_max_age_s).
                self._later(self._discard, warm)
                continue
            if warm.hand_over(archive):
                return warm
            log.warning("sandbox pool container %s ended while waiting: discarded", warm.id)
            self._discard(warm)

    def _refill(self, key: str, config: dict[str, Any]) -> None:
        """Top the pool for ``key`` up in the background; only for a configuration that just
        made a container, so a broken one (missing image) never loops."""
        if self.settings["pool_size"] == 0:
            return
        with self._lock:
            self._pool.setdefault(key, [])
            self._pool.move_to_end(key)
            missing = self._claim_missing(key)
            evicted = []
            while len(self._pool) > POOL_CONFIGURATIONS:
                evicted += self._pool.popitem(last=False)[1]
        for warm in evicted:
            self._discard(warm)
        for _ in range(missing):
            self._later(self._fill, key, config)

    def _claim_missing(self, key: str) -> int:
        """Under the lock: how many containers ``key``'s pool lacks, now counted as filling."""
        missing = max(0, self.settings["pool_size"] - len(self._pool[key])
                      - self._filling.get(key, 0))
        self._filling[key] = self._filling.get(key, 0) + missing
        return missing

    def _expired(self, warm: _Warm) -> bool:
        return time.monotonic() - warm.made > self.settings["pool_max_age_s"]

    def _renew_pool(self) -> None:
        """Replace the pool containers that waited longer than ``pool_max_age_s``, so that
        an idle pool stays warm and younger than the orphan age rule."""
        with self._lock:
            if self._closed:
                return
            expired, refills = [], []
            for key, ready in self._pool.items():
                old = [warm for warm in ready if self._expired(warm)]
                if old:
                    ready[:] = [warm for warm in ready if warm not in old]
                    expired += old
                    refills.append((key, old[0].config, self._claim_missing(key)))
        for warm in expired:
            self._discard(warm)
        for key, config, missing in refills:
            for _ in range(missing):
                self._later(self._fill, key, config)

    def _fill(self, key: str, config: dict[str, Any]) -> None:
        warm = None
        try:
            if not self._closed:
                warm = self._warm_up(config)
        except (APIError, DockerException, OSError) as exc:
            log.warning("could not add a container to the sandbox pool: %s", exc)
        finally:
            with self._lock:
                self._filling[key] -= 1
                if not self._filling[key]:
                    del self._filling[key]
                keep = warm is not None and not self._closed and key in self._pool
                if keep:
                    self._pool[key].append(warm)
        if warm is not None and not keep:
            self._discard(warm)

    def _later(self, work, *args) -> None:
        """Run ``work`` in the background; at once when the background is shut."""
        with self._lock:
            starting = self._background is None and not self._closed
            if starting:
                self._background = ThreadPoolExecutor(
                    self.settings["pool_size"] + 2, thread_name_prefix="lms-docker-sandbox")
                atexit.register(self.close)
            background = self._background
        try:
            if background is not None and not self._closed:
                if starting:  # what this host's dead processes left, before the periodic job
                    background.submit(self.clean_up)
                background.submit(work, *args)
                return
        except RuntimeError:
            pass  # shut down (interpreter exit) between the check and the submit
        work(*args)

    def _discard(self, warm: _Warm) -> None:
        warm.attached.close()
        self._remove(warm.id)

    def _remove(self, container_id: str) -> bool:
        """Whether this removed it (False: it was gone already, or the engine failed)."""
        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except NotFound:
            return False
        except (APIError, DockerException, OSError) as exc:
            # Labelled: remove_orphans() or `scripts/docker.sh down` take it later.
            log.warning("could not remove sandbox container %s: %s", container_id, exc)
            return False
        return True

    def close(self) -> None:
        """Finish the background work and remove every pool container. Runs may still come
        afterwards: each then makes its own container and removes it before returning."""
        with self._lock:
            self._closed = True
            background, self._background = self._background, None
        if background is not None:
            background.shutdown(wait=True)
            atexit.unregister(self.close)
        with self._lock:
            pooled = [warm for ready in self._pool.values() for warm in ready]
            self._pool.clear()
        for warm in pooled:
            self._discard(warm)

    def remove_orphans(self, max_age_s: float | None = None) -> int:
        """Remove this site's sandbox containers that no live process owns; return how many.

        A container whose owner is of this place (:class:`Owner`) goes as soon as that process
        is gone or its pid is another process's, at any age; a live process's never does.
        Another host's (and one without owner labels, from an older lmscore) goes only once
        older than ``max_age_s`` (default ``orphan_max_age_s``). Raises :class:`SandboxError`
        when the engine does not answer."""
        if max_age_s is None:
            max_age_s = self.settings["orphan_max_age_s"]
        here = Owner.current().place
        filters = {"label": [f"{MANAGED_LABEL}=true", f"{KIND_LABEL}=sandbox",
                             f"{INSTANCE_LABEL}={self.instance}"]}
        try:
            # Summaries: labels and creation time (epoch seconds), no lookup per container.
            listed = self.client.api.containers(all=True, filters=filters)
        except (APIError, DockerException, OSError) as exc:
            raise SandboxError(f"the Docker Engine at {self.engine['base_url']} failed: "
                               f"{exc}") from exc
        removed = 0
        for summary in listed:
            owner = Owner.from_labels(summary.get("Labels") or {})
            if owner is not None and owner.place == here:
                orphan = not owner.is_alive()
            else:
                orphan = time.time() - summary["Created"] > max_age_s
            if orphan and self._remove(summary["Id"]):
                removed += 1
        return removed

    def clean_up(self) -> int:
        """Renew expired pool containers and remove orphans (the plugin's periodic job, and
        once when a process first uses the sandbox); return how many orphans went. An engine
        that does not answer is logged: the next round tries again."""
        self._renew_pool()
        try:
            removed = self.remove_orphans()
        except SandboxError as exc:
            log.warning("could not look for orphaned sandbox containers: %s", exc)
            return 0
        if removed:
            log.info("removed %d orphaned sandbox containers", removed)
        return removed


def _kill(api, container_id: str) -> None:
    try:
        api.kill(container_id)
    except (APIError, DockerException):
        pass  # it had just exited


def _drain(raw: socket.socket, deadline: float) -> None:
    while time.monotonic() < deadline:
        raw.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not raw.recv(65536):
                return
        except (TimeoutError, OSError):
            return


def _read_frames(raw: socket.socket, budget: int, deadline: float
                 ) -> tuple[bytearray, bytearray, LimitHit | None]:
    """Demultiplex the attached stream (8-byte header: stream, 0, 0, 0, size) until it ends,
    the output budget is spent or the deadline passes."""
    streams = {STDOUT: bytearray(), STDERR: bytearray()}
    pending = bytearray()
    used = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return streams[STDOUT], streams[STDERR], LimitHit.WALL
        raw.settimeout(remaining)
        try:
            chunk = raw.recv(65536)
        except TimeoutError:
            return streams[STDOUT], streams[STDERR], LimitHit.WALL
        if not chunk:
            return streams[STDOUT], streams[STDERR], None
        pending += chunk
        while len(pending) >= 8:
            kind, size = struct.unpack(">BxxxL", pending[:8])
            if len(pending) < 8 + size:
                break
            payload = pending[8:8 + size]
            del pending[:8 + size]
            keep = payload[:max(0, budget - used)]
            streams.get(kind, streams[STDERR]).extend(keep)
            used += len(payload)
            if used > budget:
                return streams[STDOUT], streams[STDERR], LimitHit.OUTPUT
