"""The docker backend against a real engine: contract, hardening, storage, isolation and the
failures a learner must be told about."""

from __future__ import annotations

import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from lms_workspace_docker.backend import DockerWorkspaceBackend
from lms_workspace_docker.plugin import WorkspaceDockerSettings

from lmscore.capabilities import WorkspaceReason, WorkspaceSpec, WorkspaceStatus
from lmscore.testing.contracts import WorkspaceBackendContract


def spec_for(profile, workspace_id=1, user_id=7, track="DP") -> WorkspaceSpec:
    return WorkspaceSpec(workspace_id=workspace_id, user_id=user_id, track_code=track,
                         profile=profile)


def fetch(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return response.read().decode()


def run_in(backend, spec, code: str) -> tuple[int, str]:
    """Run Python in the workspace, as its user."""
    container = backend.client().containers.get(backend.container_name(spec))
    result = container.exec_run(["python3", "-c", code])
    return result.exit_code, result.output.decode()


CONNECT = """
import socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect(({host!r}, {port}))
except OSError as exc:
    print("blocked", type(exc).__name__); sys.exit(0)
print("connected")
"""


class TestDockerBackendContract(WorkspaceBackendContract):
    @pytest.fixture
    def provider(self, backend):
        return backend

    @pytest.fixture
    def workspace_spec(self, ide_profile):
        return spec_for(ide_profile(), workspace_id=3)


def test_launch_runs_the_ide_until_stopped(backend, ide_profile):
    spec = spec_for(ide_profile())
    launched = backend.launch(spec)
    assert launched.status is WorkspaceStatus.RUNNING, launched.message
    assert launched.url.startswith("http://127.0.0.1:")
    assert "Directory listing" in fetch(launched.url + "/")
    assert backend.status(spec).status is WorkspaceStatus.RUNNING

    assert backend.stop(spec).status is WorkspaceStatus.STOPPED
    assert backend.status(spec).status is WorkspaceStatus.STOPPED
    assert backend.client().networks.list(names=[backend.container_name(spec)]) == []


def test_every_container_is_hardened(backend, ide_profile):
    spec = spec_for(ide_profile(memory_mb=96, cpus=0.5, pids_limit=64))
    assert backend.launch(spec).status is WorkspaceStatus.RUNNING
    container = backend.client().containers.get(backend.container_name(spec))
    host = container.attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] == 64
    assert host["Memory"] == 96 * 1024 * 1024
    assert host["MemorySwap"] == host["Memory"]
    assert host["NanoCpus"] == 500_000_000
    assert host["ReadonlyRootfs"] is True
    assert host["Init"] is True
    assert "/tmp" in host["Tmpfs"]
    assert container.attrs["Config"]["User"] == "1000:1000"
    assert {b["HostIp"] for b in host["PortBindings"]["8000/tcp"]} == {"127.0.0.1"}
    labels = container.labels
    assert labels["lmscore.managed"] == "true"
    assert (labels["lmscore.learner"], labels["lmscore.track"]) == ("7", "DP")
    # Inside: not root, no capabilities, a read-only root.
    code, out = run_in(backend, spec, "import os; print(os.getuid());"
                       "print(open('/proc/self/status').read())")
    assert out.splitlines()[0] == "1000"
    assert "CapEff:\t0000000000000000" in out
    assert "NoNewPrivs:\t1" in out
    code, out = run_in(backend, spec, "open('/etc/evil', 'w')")
    assert code != 0 and "Read-only file system" in out


def test_learner_files_survive_stop_start_and_an_image_upgrade(backend, ide_profile):
    spec = spec_for(ide_profile())
    assert backend.launch(spec).status is WorkspaceStatus.RUNNING
    run_in(backend, spec, "open('/workspace/notes.txt', 'w').write('my work')")
    backend.stop(spec)

    # A new image (same content, another tag) stands for an upgrade of the profile's image.
    client = backend.client()
    client.images.get(spec.profile["image"]).tag("lmscore-test/workspace", "upgraded")
    try:
        upgraded = spec_for({**spec.profile, "image": "lmscore-test/workspace:upgraded"})
        launched = backend.launch(upgraded)
        assert launched.status is WorkspaceStatus.RUNNING, launched.message
        assert "my work" in fetch(launched.url + "/notes.txt")
    finally:
        backend.stop(spec)
        client.images.remove("lmscore-test/workspace:upgraded")

    backend.delete(spec)
    assert backend.launch(spec).status is WorkspaceStatus.RUNNING
    code, out = run_in(backend, spec, "import os; print(os.listdir('/workspace'))")
    assert "notes.txt" not in out


def test_learners_do_not_share_volumes(backend, ide_profile):
    mine, theirs = spec_for(ide_profile(), 1, user_id=7), spec_for(ide_profile(), 2, user_id=8)
    assert backend.launch(mine).status is WorkspaceStatus.RUNNING
    assert backend.launch(theirs).status is WorkspaceStatus.RUNNING
    run_in(backend, theirs, "open('/workspace/secret.txt', 'w').write('theirs')")
    code, out = run_in(backend, mine, "import os; print(os.listdir('/workspace'))")
    assert "secret.txt" not in out
    assert backend.volume_name(mine) != backend.volume_name(theirs)


@pytest.fixture
def host_service():
    """A service on the host's 127.0.0.1, like the LMS database or Redis."""

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"host secret")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_workspaces_reach_neither_each_other_nor_host_services(backend, ide_profile,
                                                               host_service):
    mine, theirs = spec_for(ide_profile(), 1), spec_for(ide_profile(), 2, user_id=8)
    assert backend.launch(mine).status is WorkspaceStatus.RUNNING
    other = backend.launch(theirs)
    assert other.status is WorkspaceStatus.RUNNING
    client = backend.client()
    their_container = client.containers.get(backend.container_name(theirs))
    their_ip = next(iter(their_container.attrs["NetworkSettings"]["Networks"].values()))[
        "IPAddress"]
    their_host_port = int(other.url.rsplit(":", 1)[1])
    gateway = next(iter(client.containers.get(backend.container_name(mine))
                        .attrs["NetworkSettings"]["Networks"].values()))["Gateway"]

    for host, port in [(their_ip, 8000), ("127.0.0.1", their_host_port),
                       (gateway, their_host_port), ("127.0.0.1", host_service),
                       (gateway, host_service)]:
        code, out = run_in(backend, mine, CONNECT.format(host=host, port=port))
        assert out.startswith("blocked"), (host, port, out)
    # The host itself reaches both through their published ports.
    assert "Directory listing" in fetch(other.url + "/")


def test_out_of_memory_is_reported(backend, ide_profile):
    hog = ide_profile(memory_mb=64, command=[
        "python3", "-c", "blocks = [bytearray(8 << 20) for _ in range(64)]"])
    launched = backend.launch(spec_for(hog))
    assert launched.status is WorkspaceStatus.FAILED
    assert launched.reason == WorkspaceReason.OUT_OF_MEMORY, launched.message
    assert "ran out of memory" in launched.message


def test_a_crashing_ide_is_reported_with_its_output(backend, ide_profile):
    crash = ide_profile(command=["python3", "-c", "import sys; sys.exit('no config found')"])
    launched = backend.launch(spec_for(crash))
    assert launched.status is WorkspaceStatus.FAILED
    assert launched.reason == WorkspaceReason.CRASHED
    assert "exited with code 1" in launched.message and "no config found" in launched.message
    assert backend.client().containers.list(all=True, filters={
        "name": backend.container_name(spec_for(crash))}) == []


def test_an_ide_that_never_answers_times_out(backend, ide_profile):
    silent = ide_profile(command=["python3", "-c", "import time; time.sleep(60)"],
                         start_timeout_s=1)
    launched = backend.launch(spec_for(silent))
    assert (launched.status, launched.reason) == (WorkspaceStatus.FAILED,
                                                  WorkspaceReason.START_TIMEOUT)
    assert backend.status(spec_for(silent)).status is WorkspaceStatus.STOPPED


def test_a_missing_image_is_reported_and_never_pulled(backend, ide_profile):
    launched = backend.launch(spec_for(ide_profile(image="lmscore-test/absent:1")))
    assert (launched.status, launched.reason) == (WorkspaceStatus.FAILED,
                                                  WorkspaceReason.IMAGE_MISSING)
    assert "lmscore-test/absent:1 is not on the workspace engine" in launched.message


def _listening_below_port_base_limit() -> socket.socket:
    """A socket listening on a free port under 60,000 (``host_port_base``'s maximum): an
    ephemeral port from the kernel may lie above it."""
    for port in range(20_000, 40_000, 7):
        candidate = socket.socket()
        try:
            candidate.bind(("127.0.0.1", port))
        except OSError:
            candidate.close()
            continue
        candidate.listen()
        return candidate
    raise RuntimeError("no free port between 20,000 and 40,000")


def test_a_port_clash_is_reported(docker_settings, docker_client, ide_profile):
    with _listening_below_port_base_limit() as taken:
        port = taken.getsockname()[1]
        backend = DockerWorkspaceBackend(WorkspaceDockerSettings().load(
            {**docker_settings, "host_port_base": port - 1}))
        launched = backend.launch(spec_for(ide_profile(), workspace_id=1))
    assert (launched.status, launched.reason) == (WorkspaceStatus.FAILED,
                                                  WorkspaceReason.PORT_CLASH)
    assert f"port {port} is already in use" in launched.message
    assert backend.status(spec_for(ide_profile(), workspace_id=1)).status \
        is WorkspaceStatus.STOPPED


def test_an_unreachable_engine_is_reported(tmp_path, ide_profile):
    backend = DockerWorkspaceBackend(WorkspaceDockerSettings().load(
        {"base_url": f"unix://{tmp_path}/no-engine.sock", "instance": "gone"}))
    spec = spec_for(ide_profile())
    for info in (backend.launch(spec), backend.stop(spec), backend.status(spec)):
        assert (info.status, info.reason) == (WorkspaceStatus.FAILED,
                                              WorkspaceReason.ENGINE_UNREACHABLE)
        assert "no-engine.sock is not reachable" in info.message
    with pytest.raises(RuntimeError, match="not reachable"):
        backend.delete(spec)


def test_inventory_lists_own_workspaces_with_resource_use_and_discards(backend, ide_profile):
    spec = spec_for(ide_profile(), workspace_id=5)
    assert backend.launch(spec).status is WorkspaceStatus.RUNNING
    (held,) = backend.inventory()
    assert (held.workspace_id, held.running) == (5, True)
    assert held.resources["memory_bytes"] > 0
    assert held.resources["memory_limit_bytes"] == 96 * 1024 * 1024
    backend.discard(held.reference)
    assert backend.inventory() == []
    # Discarding keeps the learner's work.
    assert backend.client().volumes.get(backend.volume_name(spec))
