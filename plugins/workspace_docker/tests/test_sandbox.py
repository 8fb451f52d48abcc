"""The ``docker`` sandbox on a real engine (scripts/docker.sh) against the sandbox contract,
and the code grader running through it."""

from __future__ import annotations

import os

import pytest
from lms_workspace_docker.backend import INSTANCE_LABEL
from lms_workspace_docker.plugin import WorkspaceDockerSettings
from lms_workspace_docker.sandbox import KIND_LABEL, DockerSandbox

from lmscore.capabilities import Answer, GradableItem, SandboxError, SandboxRun
from lmscore.defaults.sandbox_local import PYTHON_PATH_MOUNT, pytest_mounts
from lmscore.testing.contracts import SandboxContract

IMAGE = os.environ.get("LMSCORE_TEST_DOCKER_IMAGE", "lmscore-test/workspace:latest")


@pytest.fixture
def sandbox_settings(docker_settings) -> dict:
    """The test image has no Python of its own: the host's /usr and pytest, read-only."""
    binds = ["/usr:/usr"] + [f"{host}:{PYTHON_PATH_MOUNT}/{name}"
                             for host, name in pytest_mounts().items()]
    return {**docker_settings, "sandbox": {"image": IMAGE, "bind_mounts": binds,
                                           "env": {"PYTHONPATH": PYTHON_PATH_MOUNT}}}


@pytest.fixture
def docker_sandbox(sandbox_settings, docker_client) -> DockerSandbox:
    config = WorkspaceDockerSettings().load(sandbox_settings)
    return DockerSandbox(config, config["sandbox"], instance=config["instance"])


class TestDockerSandbox(SandboxContract):
    @pytest.fixture
    def provider(self, docker_sandbox):
        return docker_sandbox

    @pytest.fixture
    def leftovers(self, docker_sandbox, docker_client):
        filters = {"label": [f"{KIND_LABEL}=sandbox",
                             f"{INSTANCE_LABEL}={docker_sandbox.instance}"]}
        return lambda: [c.name for c in docker_client.containers.list(all=True, filters=filters)]


def test_missing_image_is_a_clear_error(sandbox_settings, docker_client):
    sandbox_settings["sandbox"]["image"] = "lmscore-test/no-such-image:1"
    config = WorkspaceDockerSettings().load(sandbox_settings)
    sandbox = DockerSandbox(config, config["sandbox"], instance=config["instance"])
    with pytest.raises(SandboxError, match="no-such-image.*build or pull it"):
        sandbox.run(SandboxRun(command=("true",)))


def test_unreachable_engine_is_a_clear_error(sandbox_settings):
    sandbox_settings["base_url"] = "unix:///nonexistent/docker.sock"
    config = WorkspaceDockerSettings().load(sandbox_settings)
    sandbox = DockerSandbox(config, config["sandbox"], instance=config["instance"])
    with pytest.raises(SandboxError, match="not reachable"):
        sandbox.run(SandboxRun(command=("true",)))


def test_hardening_of_the_sandbox_container(docker_sandbox, docker_client):
    """What the engine was asked for, read back from a run that inspects itself."""
    result = docker_sandbox.run(SandboxRun(command=(
        "python3", "-c",
        "import os\nprint(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
        "print(open('/proc/self/status').read().split('NoNewPrivs:')[1].split()[0])\n"
        "print(sorted(os.listdir('/sys/class/net')))\n")))
    cap_eff, no_new_privs, interfaces = result.stdout.decode().splitlines()
    assert int(cap_eff, 16) == 0 and no_new_privs == "1"
    assert interfaces == "['lo']"


def test_code_grader_runs_through_docker(app_factory, sandbox_settings, docker_client):
    app = app_factory(config={"plugins": {"enabled": ["workspace_docker"],
                                          "workspace_docker": sandbox_settings},
                              "code_grading": {"sandbox": "docker"}})
    lms = app.extensions["lmscore"]
    assert lms.sandbox().name == "docker"
    item = GradableItem(id="t", type="code", prompt="add", answer_key={
        "tests": "from solution import add\n\ndef test_small():\n    assert add(1, 2) == 3\n\n"
                 "def test_negative():\n    assert add(-1, -2) == -3\n",
        "points": {"test_small": 1, "test_negative": 3},
    })
    result = lms.graders.get("code").grade(
        item, Answer(text="def add(a, b):\n    return abs(a) + abs(b)\n"))
    assert (result.score, result.max_score) == (1.0, 4.0)
    assert result.details["sandbox"] == "docker"
    assert [t["passed"] for t in result.details["tests"]] == [True, False]


def test_another_learners_volume_is_out_of_reach(docker_sandbox, docker_client, docker_settings):
    """A learner's workspace volume holds a secret; a sandbox run searching every folder it
    can see (and the engine's volume store path) never finds it."""
    volume = docker_client.volumes.create(
        f"lmscore-{docker_settings['instance']}-u2-TT",
        labels={INSTANCE_LABEL: docker_settings["instance"]})
    docker_client.containers.run(
        IMAGE, ["sh", "-c", "echo other-learners-secret > /workspace/solution.py"],
        user="0:0", volumes={volume.name: {"bind": "/workspace", "mode": "rw"},
                             "/usr": {"bind": "/usr", "mode": "ro"}},
        network_mode="none", remove=True, labels={INSTANCE_LABEL: docker_settings["instance"]})
    result = docker_sandbox.run(SandboxRun(command=("python3", "-c", (
        "import os\n"
        "for top in ('/', '/var/lib/docker/volumes', '" + volume.attrs["Mountpoint"] + "'):\n"
        "    for root, dirs, files in os.walk(top):\n"
        "        dirs[:] = [d for d in dirs if os.path.join(root, d) not in "
        "('/proc', '/sys', '/usr', '/dev', '/opt')]\n"
        "        for name in files:\n"
        "            try:\n"
        "                if b'other-learners-secret' in open(os.path.join(root, name), 'rb')"
        ".read(1000):\n"
        "                    print('FOUND', root, name)\n"
        "            except OSError:\n"
        "                pass\n"
        "print('searched')\n"))))
    assert result.ok, result
    assert "searched" in result.stdout.decode() and "FOUND" not in result.stdout.decode()
