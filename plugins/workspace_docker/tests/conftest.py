"""A real Docker Engine (scripts/docker.sh exports its address) and the local test image: an
empty rootfs whose /usr is the host's, bind-mounted read-only, so ``python3 -m http.server``
plays the IDE. Each test gets its own ``instance``, so its containers, networks and volumes
are its own, and removes them afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from docker.errors import NotFound
from lms_workspace_docker.backend import INSTANCE_LABEL, DockerWorkspaceBackend
from lms_workspace_docker.engine import EngineSchema, client_from_config
from lms_workspace_docker.plugin import WorkspaceDockerSettings
from lms_workspace_docker.sandbox import DockerSandbox

from lmscore.capabilities.workspaces import WorkspaceProfileSchema
from lmscore.defaults import sandbox_local

DOCKER_HOST = os.environ.get("LMSCORE_TEST_DOCKER_HOST")
IMAGE = os.environ.get("LMSCORE_TEST_DOCKER_IMAGE", "lmscore-test/workspace:latest")
IDE_PORT = 8000



def _ide_profile(**changes) -> dict:
    profile = {
        "image": IMAGE, "port": IDE_PORT,
        "command": ["python3", "-m", "http.server", "--directory", "/workspace", str(IDE_PORT)],
        "volume_path": "/workspace", "health_path": "/", "memory_mb": 96, "cpus": 0.5,
        "pids_limit": 64, "start_timeout_s": 20, "idle_timeout_min": 5,
    }
    profile.update(changes)
    return profile


@pytest.fixture
def ide_profile():
    """``ide_profile(**changes)``: a loaded profile running the fake IDE from the test image."""
    return lambda **changes: WorkspaceProfileSchema().load(_ide_profile(**changes))


@pytest.fixture
def raw_ide_profile():
    """The same profile as configuration (``[workspaces.profiles.NAME]``)."""
    return _ide_profile


@pytest.fixture
def docker_settings() -> Iterator[dict]:
    """``[plugins.workspace_docker]`` for this test (unvalidated); afterwards everything made
    under its instance (containers, networks, volumes) is removed."""
    if not DOCKER_HOST:
        pytest.skip("LMSCORE_TEST_DOCKER_HOST is not set: run under scripts/docker.sh")
    settings = {"base_url": DOCKER_HOST, "instance": f"t{uuid.uuid4().hex[:10]}",
                "bind_mounts": ["/usr:/usr"], "timeout_s": 20}
    yield settings
    client = client_from_config(EngineSchema().load({"base_url": DOCKER_HOST}))
    own = {"label": f"{INSTANCE_LABEL}={settings['instance']}"}
    for container in client.containers.list(all=True, filters=own):
        with contextlib.suppress(NotFound):  # a sandbox may be removing it in the background
            container.remove(force=True)
    for network in client.networks.list(filters=own):
        network.remove()
    for volume in client.volumes.list(filters=own):
        volume.remove(force=True)
    client.close()


@pytest.fixture
def docker_client(docker_settings):
    client = client_from_config(EngineSchema().load({"base_url": docker_settings["base_url"]}))
    yield client
    client.close()


@pytest.fixture
def backend(docker_settings, docker_client) -> DockerWorkspaceBackend:
    return DockerWorkspaceBackend(WorkspaceDockerSettings().load(docker_settings))


@pytest.fixture
def sandbox_settings(docker_settings) -> dict:
    """The test image has no Python of its own: the host's /usr and pytest, read-only."""
    # Imported as a module: pytest would take a conftest's ``pytest_mounts`` for a hook.
    library = sandbox_local.PYTHON_PATH_MOUNT
    binds = ["/usr:/usr"] + [f"{host}:{library}/{name}"
                             for host, name in sandbox_local.pytest_mounts().items()]
    return {**docker_settings, "sandbox": {"image": IMAGE, "bind_mounts": binds,
                                           "env": {"PYTHONPATH": library}}}


@pytest.fixture
def make_sandbox(sandbox_settings, docker_client) -> Iterator:
    """``make_sandbox(**sandbox_settings_changes)``: a docker sandbox, closed (its warm pool
    drained) at the end of the test."""
    made: list[DockerSandbox] = []

    def make(**changes) -> DockerSandbox:
        config = WorkspaceDockerSettings().load(
            {**sandbox_settings, "sandbox": {**sandbox_settings["sandbox"], **changes}})
        made.append(DockerSandbox(config, config["sandbox"], instance=config["instance"]))
        return made[-1]

    yield make
    for sandbox in made:
        sandbox.close()
