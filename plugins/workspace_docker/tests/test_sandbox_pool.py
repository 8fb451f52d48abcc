"""The docker sandbox's warm pool on a real engine: every run in a container nobody used
before, one pool per configuration, bounded, self-healing, renewed when old, drained at close;
and the cleanup of containers whose owner process died."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid

import pytest
from docker.errors import APIError, NotFound
from lms_workspace_docker.engine import MANAGED_LABEL
from lms_workspace_docker.plugin import SANDBOX_CLEANUP_JOB
from lms_workspace_docker.sandbox import (
    CONFIG_LABEL,
    INSTANCE_LABEL,
    KIND_LABEL,
    OWNER_PLACE_LABEL,
    OWNER_PROCESS_LABEL,
    POOL_CONFIGURATIONS,
    Owner,
)

from lmscore.capabilities import SandboxLimits, SandboxRun
from lmscore.jobs import PeriodicJob

#: Prints what the container was made with: the size of /tmp (MB) and the CPU-time rlimit.
INSPECT_ITSELF = ("python3", "-c", "import os, resource\nst = os.statvfs('/tmp')\n"
                  "print(st.f_blocks * st.f_frsize // 2**20, "
                  "resource.getrlimit(resource.RLIMIT_CPU)[0])")


@pytest.fixture
def containers(docker_client, docker_settings):
    """``containers(status=None)``: this test's sandbox containers, id → labels."""
    def listed(status: str | None = None) -> dict[str, dict[str, str]]:
        filters = {"label": [f"{KIND_LABEL}=sandbox",
                             f"{INSTANCE_LABEL}={docker_settings['instance']}"]}
        if status:
            filters["status"] = status
        # The summaries only: a container removed meanwhile cannot fail a lookup.
        return {c["Id"]: c["Labels"] for c in docker_client.api.containers(all=True,
                                                                            filters=filters)}
    return listed


@pytest.fixture
def used(caplog):
    """``used()``: the containers runs went to so far, in order (from the sandbox's log)."""
    caplog.set_level(logging.DEBUG, logger="lms_workspace_docker.sandbox")
    return lambda: [match.group(1) for record in caplog.records
                    if (match := re.match(r"sandbox run .* in container (\w+)$",
                                          record.getMessage()))]


def settle(containers, expected: int) -> dict[str, dict[str, str]]:
    """Wait for the background work to leave exactly ``expected`` containers, all running."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = containers()
        if len(listed) == expected and len(containers("running")) == expected:
            return listed
        time.sleep(0.1)
    raise AssertionError(f"expected {expected} running sandbox containers, found {containers()}")


def limits(disk_mb: int = 16, cpu_s: float = 2) -> SandboxLimits:
    return SandboxLimits(cpu_s=cpu_s, wall_s=10, disk_mb=disk_mb, output_bytes=10_000)


def test_each_run_takes_a_warm_container_nobody_used(make_sandbox, containers, used):
    sandbox = make_sandbox(pool_size=2)
    run = SandboxRun(command=("python3", "-c", "print('hi')"), limits=limits())
    assert sandbox.run(run).stdout == b"hi\n"
    for _ in range(4):
        waiting = settle(containers, 2)
        assert all(labels[MANAGED_LABEL] == "true" for labels in waiting.values())
        result = sandbox.run(run)
        assert result.ok and result.stdout == b"hi\n", result
        assert used()[-1] in waiting, "the run did not take a pool container"
    assert len(set(used())) == 5, "a container served two runs"
    waiting = settle(containers, 2)
    assert not set(used()) & set(waiting), "a used container is still there"
    sandbox.close()
    assert containers() == {}
    # Closed, it still runs (each run makes its own container) and leaves nothing.
    assert sandbox.run(run).ok and containers() == {}


def test_each_configuration_has_its_own_pool(make_sandbox, containers):
    sandbox = make_sandbox(pool_size=1)
    small, large = limits(disk_mb=8, cpu_s=2), limits(disk_mb=24, cpu_s=3)
    for own in (small, large, small, large, large, small):
        result = sandbox.run(SandboxRun(command=INSPECT_ITSELF, limits=own))
        assert result.stdout.decode().split() == [str(own.disk_mb), str(int(own.cpu_s))], result
    waiting = settle(containers, 2)
    assert {labels[CONFIG_LABEL] for labels in waiting.values()} == {
        sandbox.container_config(small)[0], sandbox.container_config(large)[0]}
    # Bounded: the least recently used configurations give their containers back.
    for disk_mb in range(30, 30 + POOL_CONFIGURATIONS):
        assert sandbox.run(SandboxRun(command=("true",), limits=limits(disk_mb=disk_mb))).ok
    waiting = settle(containers, POOL_CONFIGURATIONS)
    assert sandbox.container_config(small)[0] not in {
        labels[CONFIG_LABEL] for labels in waiting.values()}


def test_a_pool_container_that_ended_is_replaced(make_sandbox, containers, docker_client, used,
                                                 caplog):
    sandbox = make_sandbox(pool_size=2)
    run = SandboxRun(command=("python3", "-c", "print('hi')"), limits=limits())
    assert sandbox.run(run).ok
    waiting = settle(containers, 2)
    for container_id in waiting:  # e.g. remove_orphans() or an engine restart
        docker_client.containers.get(container_id).kill()
    result = sandbox.run(run)
    assert result.ok and result.stdout == b"hi\n", result
    assert used()[-1] not in waiting
    assert "ended while waiting: discarded" in caplog.text
    settle(containers, 2)


def test_a_refill_that_fails_leaves_nothing_behind(make_sandbox, containers, monkeypatch,
                                                   caplog):
    sandbox = make_sandbox(pool_size=2)
    api = sandbox.client.api
    start = api.start

    def failing_in_the_background(container_id):
        if threading.current_thread().name.startswith("lms-docker-sandbox"):
            raise APIError("refused for the test")
        return start(container_id)

    monkeypatch.setattr(api, "start", failing_in_the_background)
    run = SandboxRun(command=("python3", "-c", "print('hi')"), limits=limits())
    for _ in range(3):
        assert sandbox.run(run).stdout == b"hi\n"
    settle(containers, 0)
    assert "could not add a container to the sandbox pool" in caplog.text
    monkeypatch.setattr(api, "start", start)
    assert sandbox.run(run).ok
    settle(containers, 2)


def test_without_a_pool_nothing_waits(make_sandbox, containers):
    sandbox = make_sandbox(pool_size=0)
    assert sandbox.run(SandboxRun(command=("true",), limits=limits())).ok
    settle(containers, 0)


def test_idle_pool_containers_are_renewed_and_never_run_when_old(make_sandbox, containers,
                                                                  used):
    sandbox = make_sandbox(pool_size=2, pool_max_age_s=1)
    run = SandboxRun(command=("true",), limits=limits())
    assert sandbox.run(run).ok
    waiting = settle(containers, 2)
    time.sleep(1.2)
    sandbox.clean_up()  # the periodic job
    renewed = settle(containers, 2)
    assert not set(renewed) & set(waiting)
    time.sleep(1.2)  # too old again: a run skips them (no job came by)
    assert sandbox.run(run).ok
    assert used()[-1] not in renewed
    assert not set(settle(containers, 2)) & set(renewed)


#: Fills its pool, starts a run that would last ten minutes, says so, and waits to be killed.
DIES_WITH_A_POOL_AND_A_RUN = """
import json, sys, threading, time
from lms_workspace_docker.plugin import WorkspaceDockerSettings
from lms_workspace_docker.sandbox import DockerSandbox
from lmscore.capabilities import SandboxLimits, SandboxRun

config = WorkspaceDockerSettings().load(json.loads(sys.argv[1]))
sandbox = DockerSandbox(config, config["sandbox"], instance=config["instance"])
assert sandbox.run(SandboxRun(command=("true",))).ok
endless = SandboxRun(command=("sleep", "600"), limits=SandboxLimits(wall_s=600))
threading.Thread(target=sandbox.run, args=(endless,), daemon=True).start()
print("ready", flush=True)
time.sleep(600)
"""


def test_the_containers_of_a_killed_process_are_removed(make_sandbox, sandbox_settings,
                                                         containers, used):
    sandbox = make_sandbox(pool_size=2)
    run = SandboxRun(command=("true",), limits=limits())
    assert sandbox.run(run).ok
    own = settle(containers, 2)
    settings = {**sandbox_settings, "sandbox": {**sandbox_settings["sandbox"], "pool_size": 2}}
    child = subprocess.Popen([sys.executable, "-c", DIES_WITH_A_POOL_AND_A_RUN,
                              json.dumps(settings)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        # Its two waiting containers and the one running its endless run.
        childs = {cid: labels for cid, labels in settle(containers, 5).items() if cid not in own}
        assert {Owner.from_labels(labels).pid for labels in childs.values()} == {child.pid}
        # Alive, however old: nothing of it goes (nor of this process).
        assert sandbox.remove_orphans(max_age_s=0) == 0
        assert len(containers("running")) == 5
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert sandbox.remove_orphans(max_age_s=0) == 3
    assert set(containers()) == set(own)
    assert sandbox.run(run).ok and used()[-1] in own


@pytest.fixture
def labelled(docker_client, sandbox_settings):
    """``labelled(labels)``: a created (never started) container with ``labels``, removed at
    the end of the test whatever they are."""
    made = []

    def create(labels: dict[str, str]) -> str:
        container = docker_client.containers.create(
            sandbox_settings["sandbox"]["image"], ["true"], labels=labels,
            name=f"lmscore-test-{uuid.uuid4().hex[:12]}")
        made.append(container.id)
        return container.id

    yield create
    for container_id in made:
        try:
            docker_client.api.remove_container(container_id, force=True)
        except NotFound:
            pass


def exists(docker_client, container_id: str) -> bool:
    try:
        docker_client.api.inspect_container(container_id)
    except NotFound:
        return False
    return True


def test_what_only_an_owner_label_can_tell_apart(make_sandbox, labelled, docker_client):
    sandbox = make_sandbox()
    ours = sandbox.labels()
    reused_pid = labelled({**ours, OWNER_PROCESS_LABEL: f"{os.getpid()}/0"})
    other_host = labelled({**ours, OWNER_PLACE_LABEL: "elsewhere/boot/4026531836"})
    older_lmscore = labelled({key: value for key, value in ours.items()
                              if key not in (OWNER_PLACE_LABEL, OWNER_PROCESS_LABEL)})
    not_ours = [labelled({}), labelled({**ours, KIND_LABEL: "workspace"}),
                labelled({**ours, INSTANCE_LABEL: "another-site"}),
                labelled({**ours, MANAGED_LABEL: "false"})]
    # This host's pid now names another process: an orphan at any age.
    assert sandbox.remove_orphans() == 1
    assert not exists(docker_client, reused_pid)
    # Whose owner cannot be seen from here: only once older than the maximum age.
    assert exists(docker_client, other_host) and exists(docker_client, older_lmscore)
    assert sandbox.remove_orphans(max_age_s=0) == 2
    assert not exists(docker_client, other_host) and not exists(docker_client, older_lmscore)
    assert all(exists(docker_client, container_id) for container_id in not_ours)


def test_a_sandbox_removes_orphans_when_first_used(make_sandbox, labelled, docker_client):
    sandbox = make_sandbox(pool_size=0)
    orphan = labelled({**sandbox.labels(), OWNER_PROCESS_LABEL: f"{os.getpid()}/0"})
    assert sandbox.run(SandboxRun(command=("true",), limits=limits())).ok
    deadline = time.monotonic() + 10
    while exists(docker_client, orphan):
        assert time.monotonic() < deadline, "the orphan is still there"
        time.sleep(0.1)


def test_the_cleanup_job_is_periodic_with_the_docker_sandbox(app_factory, sandbox_settings,
                                                             labelled, docker_client, request):
    def platform(sandbox: str):
        return app_factory(config={"plugins": {"enabled": ["workspace_docker"],
                                               "workspace_docker": sandbox_settings},
                                   "code_grading": {"sandbox": sandbox}}).extensions["lmscore"]

    lms = platform("docker")
    request.addfinalizer(lms.sandbox().close)
    assert PeriodicJob(SANDBOX_CLEANUP_JOB, every_s=300) in lms.jobs.periodic
    orphan = labelled({**lms.sandbox().labels(), OWNER_PROCESS_LABEL: f"{os.getpid()}/0"})
    lms.jobs.enqueue(SANDBOX_CLEANUP_JOB)
    lms.jobs.drain()
    assert not exists(docker_client, orphan)
    assert SANDBOX_CLEANUP_JOB not in {job.actor for job in platform("local").jobs.periodic}
