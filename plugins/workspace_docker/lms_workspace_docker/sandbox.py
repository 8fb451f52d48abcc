"""The ``docker`` sandbox: each code-grading run in a fresh, hardened container.

Per run: one container from ``[plugins.workspace_docker.sandbox] image`` with no network
(``network_mode=none``), every capability dropped, ``no-new-privileges``, a non-root user, a
read-only root filesystem with a size-limited tmpfs ``/tmp``, pids / memory / CPU limits,
rlimits for CPU time and file size, ``init`` and lmscore labels. The engine's log driver is off:
output is read from the attached stream, at most ``output_bytes`` of it, and the container is
killed once there is more or the wall-clock limit passes. It is always removed afterwards.

A read-only container cannot receive files through ``put_archive``, so the run's files (and its
stdin) travel as a tar stream on the container's stdin, unpacked into ``/tmp`` by ``tar``
before the command starts: the image needs ``sh`` and ``tar`` (and ``python3`` for the code
grader).
"""

from __future__ import annotations

import io
import socket
import struct
import tarfile
import threading
import time
from collections.abc import Mapping
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig, Ulimit
from marshmallow import Schema, fields, validate

from lmscore.capabilities import LimitHit, Sandbox, SandboxError, SandboxResult, SandboxRun
from lmscore.capabilities.sandbox import WORKDIR, refused_limit

from .engine import MANAGED_LABEL, EngineUnavailable, client_from_config

KIND_LABEL = "lmscore.kind"
INSTANCE_LABEL = "lmscore.instance"
RUN_LABEL = "lmscore.sandbox_run"
STDIN_FILE = "/tmp/.lms-stdin"
#: Unpack the run's files from stdin, then run the command with its own stdin from a file.
BOOTSTRAP = (f'mkdir -p {WORKDIR} && tar -x -o -C /tmp -f - && cd {WORKDIR} '
             f'&& exec "$@" < {STDIN_FILE}')
#: Processes the bootstrap itself needs (init, sh, tar) on top of the run's own limit.
BOOTSTRAP_PROCESSES = 4
STDOUT, STDERR = 1, 2


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


class DockerSandbox(Sandbox):
    name = "docker"
    label = "Docker Engine"

    def __init__(self, engine: Mapping[str, Any], settings: Mapping[str, Any],
                 instance: str = "lmscore"):
        self.engine = engine
        self.settings = settings
        self.instance = instance
        self._client: docker.DockerClient | None = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> docker.DockerClient:
        """Made on first use, so a site starts even while its engine is down."""
        with self._client_lock:
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

    def labels(self, request: SandboxRun) -> dict[str, str]:
        return {MANAGED_LABEL: "true", INSTANCE_LABEL: self.instance, KIND_LABEL: "sandbox",
                RUN_LABEL: request.label[:100]}

    def _create(self, request: SandboxRun):
        limits = request.limits
        cpu = max(1, round(limits.cpu_s))
        file_size = limits.disk_mb * 2**20
        binds = {}
        for mount in self.settings["bind_mounts"]:
            source, target = mount.split(":")
            binds[source] = {"bind": target, "mode": "ro"}
        return self.client.containers.create(
            self.settings["image"], command=["sh", "-c", BOOTSTRAP, "sandbox", *request.command],
            user=self.settings["user"], working_dir="/tmp",
            environment={"HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
                         **self.settings["env"], **request.env},
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
            init=True, labels=self.labels(request), volumes=binds,
            stdin_open=True, log_config=LogConfig(type="none"),
        )

    @staticmethod
    def _archive(request: SandboxRun) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            entries = {f"work/{path}": data for path, data in request.files.items()}
            entries[".lms-stdin"] = request.stdin
            for name, data in entries.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def run(self, request: SandboxRun) -> SandboxResult:
        started = time.monotonic()
        try:
            container = self._create(request)
        except ImageNotFound:
            self.check()
            raise
        except (APIError, DockerException, OSError) as exc:
            raise SandboxError(f"the Docker Engine could not create a sandbox: {exc}") from exc
        try:
            return self._run(container, request, started)
        except (APIError, DockerException) as exc:
            raise SandboxError(f"the Docker Engine failed during a sandbox run: {exc}") from exc
        finally:
            try:
                container.remove(force=True, v=True)
            except NotFound:
                pass
            except (APIError, DockerException, OSError):
                # Labelled: remove_orphans() takes it later; never a reason to fail the run.
                pass

    def _run(self, container, request: SandboxRun, started: float) -> SandboxResult:
        limits = request.limits
        attached = container.attach_socket(
            params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        raw: socket.socket = getattr(attached, "_sock", attached)
        try:
            container.start()
            raw.sendall(self._archive(request))
            raw.shutdown(socket.SHUT_WR)
            out, err, limit = _read_frames(raw, limits.output_bytes,
                                           started + limits.wall_s)
            if limit is not None:
                # Kill while still draining the stream: the engine must never block on a
                # reader that went away, or the kill itself would wait on it.
                killer = threading.Thread(target=_kill, args=(container,), daemon=True)
                killer.start()
                _drain(raw, time.monotonic() + 30)
                killer.join(30)
        finally:
            attached.close()
        status = container.wait(timeout=30)
        code = status.get("StatusCode")
        if limit is None and code:
            # One more request, only for a failed run: was it the memory limit?
            if self.client.api.inspect_container(container.id)["State"].get("OOMKilled"):
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

    def remove_orphans(self, older_than_s: float = 600) -> int:
        """Remove sandbox containers of this site left by a worker that died mid-run."""
        removed = 0
        filters = {"label": [f"{MANAGED_LABEL}=true", f"{KIND_LABEL}=sandbox",
                             f"{INSTANCE_LABEL}={self.instance}"]}
        for container in self.client.containers.list(all=True, filters=filters):
            created = container.attrs.get("Created", "")
            age = time.time() - _epoch(created)
            if age > older_than_s:
                container.remove(force=True, v=True)
                removed += 1
        return removed


def _kill(container) -> None:
    try:
        container.kill()
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


def _epoch(created: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(created[:26].rstrip("Z") + "+00:00").timestamp()
    except ValueError:
        return 0.0


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
