"""The ``docker`` sandbox on a real engine (scripts/docker.sh) against the sandbox contract,
and the code grader running through it."""

from __future__ import annotations

import time

import pytest
from lms_workspace_docker.backend import INSTANCE_LABEL
from lms_workspace_docker.plugin import WorkspaceDockerSettings
from lms_workspace_docker.sandbox import KIND_LABEL, DockerSandbox

from lmscore.capabilities import (
    Answer,
    GradableItem,
    SandboxError,
    SandboxLimits,
    SandboxRun,
)
from lmscore.testing.contracts import SandboxContract


@pytest.fixture
def docker_sandbox(make_sandbox) -> DockerSandbox:
    return make_sandbox()


class TestDockerSandbox(SandboxContract):
    @pytest.fixture
    def provider(self, docker_sandbox):
        """Closed before the contract looks for leftovers: its warm pool goes with it."""
        yield docker_sandbox
        docker_sandbox.close()

    @pytest.fixture
    def leftovers(self, docker_sandbox, docker_client):
        filters = {"label": [f"{KIND_LABEL}=sandbox",
                             f"{INSTANCE_LABEL}={docker_sandbox.instance}"]}
        return lambda: [c.name for c in docker_client.containers.list(all=True, filters=filters)]


def test_missing_image_is_a_clear_error(make_sandbox):
    sandbox = make_sandbox(image="lmscore-test/no-such-image:1")
    with pytest.raises(SandboxError, match="no-such-image.*build or pull it"):
        sandbox.run(SandboxRun(command=("true",)))


def test_unreachable_engine_is_a_clear_error(sandbox_settings):
    sandbox_settings["base_url"] = "unix:///nonexistent/docker.sock"
    config = WorkspaceDockerSettings().load(sandbox_settings)
    sandbox = DockerSandbox(config, config["sandbox"], instance=config["instance"])
    with pytest.raises(SandboxError, match="not reachable"):
        sandbox.run(SandboxRun(command=("true",)))


def test_the_engines_time_to_make_a_container_is_not_the_codes(make_sandbox, monkeypatch):
    """A busy engine may take seconds to create a container: the wall-clock limit counts
    from when the container has the run, like the local sandbox's from its spawn."""
    sandbox = make_sandbox(pool_size=0)
    api = sandbox.client.api
    create = api.create_container

    def slow_engine(**config):
        time.sleep(2.5)
        return create(**config)

    monkeypatch.setattr(api, "create_container", slow_engine)
    result = sandbox.run(SandboxRun(command=("echo", "in time"),
                                    limits=SandboxLimits(wall_s=2, output_bytes=1000)))
    assert (result.limit, result.stdout, result.exit_code) == (None, b"in time\n", 0), result
    assert result.wall_s < 2


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


def test_code_grader_runs_through_docker(app_factory, sandbox_settings, docker_client, request):
    app = app_factory(config={"plugins": {"enabled": ["workspace_docker"],
                                          "workspace_docker": sandbox_settings},
                              "code_grading": {"sandbox": "docker"}})
    lms = app.extensions["lmscore"]
    assert lms.sandbox().name == "docker"
    request.addfinalizer(lms.sandbox().close)
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


def test_another_learners_volume_is_out_of_reach(docker_sandbox, docker_client, docker_settings,
                                                 sandbox_settings):
    """A learner's workspace volume holds a secret; a sandbox run searching every folder it
    can see (and the engine's volume store path) never finds it."""
    volume = docker_client.volumes.create(
        f"lmscore-{docker_settings['instance']}-u2-TT",
        labels={INSTANCE_LABEL: docker_settings["instance"]})
    docker_client.containers.run(
        sandbox_settings["sandbox"]["image"],
        ["sh", "-c", "echo other-learners-secret > /workspace/solution.py"],
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
        # Spelt apart: the run's own command is in its /tmp.
        "                if b'other-learners-' b'secret' in open(os.path.join(root, name), "
        "'rb').read(1000):\n"
        "                    print('FOUND', root, name)\n"
        "            except OSError:\n"
        "                pass\n"
        "print('searched')\n"))))
    assert result.ok, result
    assert "searched" in result.stdout.decode() and "FOUND" not in result.stdout.decode()


def test_command_and_environment_reach_the_run_verbatim(docker_sandbox):
    """They travel in the run's archive, through the shell: nothing in them is interpreted."""
    tricky = "it's \"quoted\" $HOME `id` ; exit 3\n"
    result = docker_sandbox.run(SandboxRun(
        command=("python3", "-c", "import os, sys; print(repr(sys.argv[1:]), "
                                  "repr(os.environ['TRICKY']))", tricky, "$HOME"),
        env={"TRICKY": tricky}))
    assert result.ok, result
    assert result.stdout.decode().strip() == f"{[tricky, '$HOME']!r} {tricky!r}"
    with pytest.raises(ValueError, match="shell names"):
        docker_sandbox.run(SandboxRun(command=("true",), env={"NOT-A-NAME": "x"}))
