"""The ``docker`` workspace backend: one hardened container per workspace.

Per workspace: a container ``lmscore-<instance>-ws-<id>`` on its own bridge network of the same
name, its IDE port published on ``published_host`` (127.0.0.1) only, and the learner's named
volume ``lmscore-<instance>-u<user>-<track>`` (kept across stop/start and image upgrades;
removed only when the workspace is deleted). Stopping removes the container and its network,
never the volume. Everything carries lmscore labels, so the reconciler finds orphans.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from lmscore.capabilities import (
    EngineWorkspace,
    ReconciledBackend,
    WorkspaceInfo,
    WorkspaceReason,
    WorkspaceSpec,
    WorkspaceStatus,
)

from .engine import MANAGED_LABEL, EngineUnavailable, client_from_config, ran_out_of_memory

T = TypeVar("T")
KIND_LABEL = "lmscore.kind"
INSTANCE_LABEL = "lmscore.instance"
WORKSPACE_LABEL = "lmscore.workspace"
LEARNER_LABEL = "lmscore.learner"
TRACK_LABEL = "lmscore.track"
#: Seconds a stopping IDE gets to save before it is killed.
STOP_GRACE_S = 10
#: Log lines quoted to the learner when the IDE exits on its own.
LOG_TAIL_LINES = 15


class _Failure(Exception):
    """A launch step failed; carries the reason and the learner-readable message."""

    def __init__(self, reason: WorkspaceReason, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class DockerWorkspaceBackend(ReconciledBackend):
    name = "docker"
    label = "Docker Engine"

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.instance: str = config["instance"]
        self._client: docker.DockerClient | None = None
        self._client_lock = threading.Lock()

    # -- engine ------------------------------------------------------------------------------

    def client(self) -> docker.DockerClient:
        """The engine client, made on first use (and again after the engine was unreachable)."""
        with self._client_lock:
            if self._client is None:
                self._client = client_from_config(self.config)
            return self._client

    def _engine(self, call: Callable[[docker.DockerClient], T]) -> T:
        """Run ``call`` against the engine; an unreachable engine becomes a ``_Failure``."""
        try:
            return call(self.client())
        except EngineUnavailable as exc:
            raise _Failure(WorkspaceReason.ENGINE_UNREACHABLE, str(exc)) from exc
        except requests.exceptions.ConnectionError as exc:
            with self._client_lock:
                self._client = None
            raise _Failure(
                WorkspaceReason.ENGINE_UNREACHABLE,
                f"The Docker Engine at {self.config['base_url']} is not reachable: {exc}",
            ) from exc

    # -- names and labels --------------------------------------------------------------------

    def container_name(self, spec: WorkspaceSpec) -> str:
        return f"lmscore-{self.instance}-ws-{spec.workspace_id}"

    def volume_name(self, spec: WorkspaceSpec) -> str:
        return f"lmscore-{self.instance}-u{spec.user_id}-{spec.track_code.lower()}"

    def labels(self, spec: WorkspaceSpec, kind: str = "workspace") -> dict[str, str]:
        return {
            MANAGED_LABEL: "true", INSTANCE_LABEL: self.instance, KIND_LABEL: kind,
            WORKSPACE_LABEL: str(spec.workspace_id), LEARNER_LABEL: str(spec.user_id),
            TRACK_LABEL: spec.track_code,
        }

    def _own_filter(self, kind: str) -> dict[str, list[str]]:
        return {"label": [f"{MANAGED_LABEL}=true", f"{INSTANCE_LABEL}={self.instance}",
                          f"{KIND_LABEL}={kind}"]}

    # -- the capability ----------------------------------------------------------------------

    def launch(self, spec: WorkspaceSpec) -> WorkspaceInfo:
        try:
            return self._engine(lambda client: self._launch(client, spec))
        except _Failure as failure:
            return WorkspaceInfo(WorkspaceStatus.FAILED, reason=failure.reason,
                                 message=failure.message)

    def status(self, spec: WorkspaceSpec) -> WorkspaceInfo:
        try:
            container = self._engine(lambda client: self._container(client, spec))
        except _Failure as failure:
            return WorkspaceInfo(WorkspaceStatus.FAILED, reason=failure.reason,
                                 message=failure.message)
        if container is None:
            return WorkspaceInfo(WorkspaceStatus.STOPPED)
        if container.status == "running":
            return WorkspaceInfo(WorkspaceStatus.RUNNING, url=self._url(container, spec),
                                 reference=container.id)
        if container.status in ("created", "restarting"):
            return WorkspaceInfo(WorkspaceStatus.STARTING, reference=container.id)
        reason, message = self._exit_report(container)
        return WorkspaceInfo(WorkspaceStatus.FAILED, reason=reason, message=message,
                             reference=container.id)

    def stop(self, spec: WorkspaceSpec) -> WorkspaceInfo:
        try:
            self._engine(lambda client: self._remove(client, spec))
        except _Failure as failure:
            return WorkspaceInfo(WorkspaceStatus.FAILED, reason=failure.reason,
                                 message=failure.message)
        return WorkspaceInfo(WorkspaceStatus.STOPPED)

    def delete(self, spec: WorkspaceSpec) -> None:
        def remove_all(client: docker.DockerClient) -> None:
            self._remove(client, spec)
            try:
                client.volumes.get(self.volume_name(spec)).remove(force=True)
            except NotFound:
                pass

        try:
            self._engine(remove_all)
        except _Failure as failure:
            raise RuntimeError(failure.message) from failure

    def inventory(self) -> list[EngineWorkspace]:
        def listing(client: docker.DockerClient) -> list[EngineWorkspace]:
            held = []
            for container in client.containers.list(all=True,
                                                    filters=self._own_filter("workspace")):
                running = container.status == "running"
                held.append(EngineWorkspace(
                    workspace_id=int(container.labels[WORKSPACE_LABEL]),
                    reference=container.id, running=running,
                    resources=self._usage(container) if running else {},
                ))
            return held

        try:
            return self._engine(listing)
        except _Failure as failure:
            raise RuntimeError(failure.message) from failure

    def discard(self, reference: str) -> None:
        def remove(client: docker.DockerClient) -> None:
            try:
                container = client.containers.get(reference)
            except NotFound:
                return
            network = container.name
            container.remove(force=True)
            self._remove_network(client, network)

        self._engine(remove)

    # -- launching ---------------------------------------------------------------------------

    def _launch(self, client: docker.DockerClient, spec: WorkspaceSpec) -> WorkspaceInfo:
        profile = spec.profile
        self._ensure_image(client, profile["image"])
        self._remove(client, spec)  # a leftover of an earlier run, e.g. after an engine crash
        volume = self._ensure_volume(client, spec)
        network = self._create_network(client, spec)
        container = None
        try:
            container = client.containers.run(
                profile["image"],
                [part.format(base_path=spec.base_path) for part in profile["command"]] or None,
                detach=True,
                name=self.container_name(spec),
                hostname="workspace",
                labels=self.labels(spec),
                environment=dict(profile["env"]),
                network=network,
                ports={f"{profile['port']}/tcp": (self.config["published_host"],
                                                  self._host_port(spec))},
                volumes={volume: {"bind": profile["volume_path"], "mode": "rw"},
                         **self._bind_mounts()},
                **self.hardening(profile),
            )
            url = self._wait_until_ready(container, spec)
        except _Failure:
            self._remove(client, spec)
            raise
        except ImageNotFound as exc:
            self._remove(client, spec)
            raise _Failure(WorkspaceReason.IMAGE_MISSING, self._image_missing(profile["image"])) \
                from exc
        except APIError as exc:
            self._remove(client, spec)
            raise self._launch_error(exc, spec) from exc
        return WorkspaceInfo(
            WorkspaceStatus.RUNNING, url=url, reference=container.id,
            message="Your workspace is running.",
            resources={"image": profile["image"], "memory_limit_bytes": profile["memory_mb"] << 20,
                       "cpus": profile["cpus"], "pids_limit": profile["pids_limit"],
                       "volume": volume},
        )

    def hardening(self, profile: Mapping[str, Any]) -> dict[str, Any]:
        """The container options every workspace gets, whatever its profile says."""
        memory = f"{profile['memory_mb']}m"
        return {
            "user": profile["user"],
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "pids_limit": profile["pids_limit"],
            "mem_limit": memory,
            "memswap_limit": memory,  # no swap beyond the memory limit
            "nano_cpus": int(profile["cpus"] * 1e9),
            "read_only": profile["read_only_root"],
            "tmpfs": {path: "rw,nosuid,nodev,size=256m" for path in profile["tmpfs"]},
            "init": True,
            "ipc_mode": "private",
            "log_config": {"type": "json-file", "config": {"max-size": "1m", "max-file": "2"}},
        }

    def _ensure_image(self, client: docker.DockerClient, image: str) -> None:
        try:
            client.images.get(image)
            return
        except ImageNotFound:
            if not self.config["pull_missing_images"]:
                raise _Failure(WorkspaceReason.IMAGE_MISSING, self._image_missing(image)) \
                    from None
        try:
            client.images.pull(image)
        except (ImageNotFound, APIError) as exc:
            raise _Failure(WorkspaceReason.IMAGE_MISSING,
                           f"The workspace image {image} could not be pulled: {exc}") from exc

    @staticmethod
    def _image_missing(image: str) -> str:
        return (f"The workspace image {image} is not on the workspace engine. An administrator "
                "needs to pull or build it.")

    def _ensure_volume(self, client: docker.DockerClient, spec: WorkspaceSpec) -> str:
        name = self.volume_name(spec)
        try:
            client.volumes.get(name)
        except NotFound:
            labels = self.labels(spec, kind="volume")
            labels.pop(WORKSPACE_LABEL)  # the volume belongs to (learner, track), not one run
            client.volumes.create(name, labels=labels)
        return name

    def _create_network(self, client: docker.DockerClient, spec: WorkspaceSpec) -> str:
        """A bridge of its own: no other workspace is on it (docs/workspaces.md)."""
        name = self.container_name(spec)
        options = {"com.docker.network.bridge.enable_icc": "false"}
        if not self.config["egress"]:
            options["com.docker.network.bridge.enable_ip_masquerade"] = "false"
        client.networks.create(name, driver="bridge", labels=self.labels(spec, kind="network"),
                               options=options, check_duplicate=True)
        return name

    def _host_port(self, spec: WorkspaceSpec) -> int | None:
        """A fixed port per workspace when ``host_port_base`` is set, else any free one."""
        base = self.config["host_port_base"]
        return base + spec.workspace_id if base else None

    def _bind_mounts(self) -> dict[str, dict[str, str]]:
        mounts = {}
        for entry in self.config["bind_mounts"]:
            source, target = entry.split(":", 1)
            mounts[source] = {"bind": target, "mode": "ro"}
        return mounts

    def _launch_error(self, exc: APIError, spec: WorkspaceSpec) -> _Failure:
        text = str(exc.explanation or exc)
        if "port is already allocated" in text or "address already in use" in text:
            port = self._host_port(spec)
            return _Failure(WorkspaceReason.PORT_CLASH,
                            f"The workspace's port{f' {port}' if port else ''} is already in use "
                            f"on the engine host: {text}")
        return _Failure(WorkspaceReason.ENGINE_ERROR,
                        f"The Docker Engine refused to start the workspace: {text}")

    def _wait_until_ready(self, container: Container, spec: WorkspaceSpec) -> str:
        deadline = time.monotonic() + spec.profile["start_timeout_s"]
        health = spec.base_path + spec.profile["health_path"].lstrip("/")
        url = None
        while time.monotonic() < deadline:
            container.reload()
            if container.status in ("exited", "dead"):
                raise _Failure(*self._exit_report(container))
            if container.status == "running":
                url = url or self._url(container, spec)
                if url and _answers(url + health):
                    return url
            time.sleep(0.05)
        raise _Failure(WorkspaceReason.START_TIMEOUT,
                       f"The workspace did not answer on {spec.profile['health_path']} within "
                       f"{spec.profile['start_timeout_s']} s.")

    def _url(self, container: Container, spec: WorkspaceSpec) -> str | None:
        bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{spec.profile['port']}/tcp")
        if not bindings:
            return None
        return f"http://{self.config['published_host']}:{bindings[0]['HostPort']}"

    @staticmethod
    def _exit_report(container: Container) -> tuple[WorkspaceReason, str]:
        state = container.attrs["State"]
        if ran_out_of_memory(state):
            return (WorkspaceReason.OUT_OF_MEMORY,
                    "The workspace ran out of memory and was stopped. Close programs you do "
                    "not need, or ask for a profile with more memory.")
        logs = container.logs(tail=LOG_TAIL_LINES).decode("utf-8", "replace").strip()
        return (WorkspaceReason.CRASHED,
                f"The workspace exited with code {state.get('ExitCode')}."
                + (f" Last output:\n{logs}" if logs else ""))

    # -- removing and sampling ---------------------------------------------------------------

    def _container(self, client: docker.DockerClient, spec: WorkspaceSpec) -> Container | None:
        try:
            return client.containers.get(self.container_name(spec))
        except NotFound:
            return None

    def _remove(self, client: docker.DockerClient, spec: WorkspaceSpec) -> None:
        """Stop (with a grace period) and remove the container and its network."""
        container = self._container(client, spec)
        if container is not None:
            try:
                if container.status == "running":
                    container.stop(timeout=STOP_GRACE_S)
                container.remove(force=True)
            except NotFound:
                pass
        self._remove_network(client, self.container_name(spec))

    @staticmethod
    def _remove_network(client: docker.DockerClient, name: str) -> None:
        for network in client.networks.list(names=[name]):
            try:
                network.remove()
            except NotFound:
                pass

    @staticmethod
    def _usage(container: Container) -> dict[str, Any]:
        try:
            stats = container.stats(stream=False, one_shot=True)
        except (APIError, DockerException):
            return {}
        memory = stats.get("memory_stats") or {}
        cpu = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
        return {
            "memory_bytes": memory.get("usage"),
            "memory_limit_bytes": memory.get("limit"),
            "cpu_seconds": round(cpu.get("total_usage", 0) / 1e9, 2),
            "pids": (stats.get("pids_stats") or {}).get("current"),
        }


#: Health checks go straight to the engine host, never through an HTTP proxy from the env.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str) -> bool:
    """Whether the IDE answers its health check with a success or a redirect."""
    try:
        with _DIRECT.open(url, timeout=1) as response:
            return response.status < 400
    except urllib.error.HTTPError as exc:
        return exc.code < 400
    except (OSError, ValueError):
        return False
