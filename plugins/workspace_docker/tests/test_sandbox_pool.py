"""The docker sandbox's warm pool on a real engine: every run in a container nobody used
before, one pool per configuration, bounded, self-healing, drained at close."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest
from docker.errors import APIError
from lms_workspace_docker.engine import MANAGED_LABEL
from lms_workspace_docker.sandbox import (
    CONFIG_LABEL,
    INSTANCE_LABEL,
    KIND_LABEL,
    POOL_CONFIGURATIONS,
)

from lmscore.capabilities import SandboxLimits, SandboxRun

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
