"""Workspace launch on a real Docker Engine: time from ``launch`` to a running IDE that answers
its health check, with the image present.

Goal (issue 7): under 2 s to running. Each launch is what the launch job does: image check,
volume, a network of its own, a hardened container, the wait for the health check; each is
stopped (container and network removed, volume kept) before the next, so every launch starts
from the learner's usual state. Same-run baseline: a bare ``docker run`` of the same image
(create, start, ``python3 -c pass`` runs and exits, remove: no network, no health wait), the
engine's own floor. Prints figures, never asserts.

    bash scripts/docker.sh run .venv/bin/python bench/workspace_launch.py [--launches 20]

Needs LMSCORE_TEST_DOCKER_HOST (scripts/docker.sh exports it with the local test image).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

from lmscore.capabilities import WorkspaceSpec, WorkspaceStatus  # noqa: E402
from lmscore.capabilities.workspaces import WorkspaceProfileSchema  # noqa: E402

SMOKE_ARGS = ["--launches", "3"]
IDE_PORT = 8000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=20)
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()
    engine = os.environ.get("LMSCORE_TEST_DOCKER_HOST")
    if not engine:
        raise SystemExit("Needs a Docker Engine: run through `bash scripts/docker.sh run …` "
                         "(make bench does).")
    image = os.environ.get("LMSCORE_TEST_DOCKER_IMAGE", "lmscore-test/workspace:latest")

    from lms_workspace_docker.backend import INSTANCE_LABEL, DockerWorkspaceBackend
    from lms_workspace_docker.plugin import WorkspaceDockerSettings

    instance = f"bench{uuid.uuid4().hex[:8]}"
    backend = DockerWorkspaceBackend(WorkspaceDockerSettings().load(
        {"base_url": engine, "instance": instance, "bind_mounts": ["/usr:/usr"]}))
    profile = WorkspaceProfileSchema().load({
        "image": image, "port": IDE_PORT, "volume_path": "/workspace",
        "command": ["python3", "-m", "http.server", "--directory", "/workspace", str(IDE_PORT)],
    })
    spec = WorkspaceSpec(workspace_id=1, user_id=1, track_code="BENCH", profile=profile)
    client = backend.client()
    info = h.machine()
    print(f"engine       Docker {client.version()['Version']} at {engine}, image {image}")

    launches, stops, baseline = [], [], []
    try:
        for _ in range(args.launches):
            started = time.perf_counter()
            result = backend.launch(spec)
            launches.append(time.perf_counter() - started)
            if result.status is not WorkspaceStatus.RUNNING:
                raise SystemExit(f"launch failed: {result.reason}: {result.message}")
            started = time.perf_counter()
            backend.stop(spec)
            stops.append(time.perf_counter() - started)
        for _ in range(args.launches):
            started = time.perf_counter()
            client.containers.run(image, ["python3", "-c", "pass"], remove=True,
                                  network_mode="none", labels={INSTANCE_LABEL: instance},
                                  volumes={"/usr": {"bind": "/usr", "mode": "ro"}})
            baseline.append(time.perf_counter() - started)
    finally:
        backend.delete(spec)

    figures = {"launch": h.percentiles(launches), "stop": h.percentiles(stops),
               "bare_docker_run": h.percentiles(baseline)}
    print(f"launch→running  {h.fmt(figures['launch'])}   (goal < 2000 ms)")
    print(f"stop            {h.fmt(figures['stop'])}")
    print(f"baseline run    {h.fmt(figures['bare_docker_run'])}   (bare docker run)")
    h.write_json(args.json, {
        "machine": info, "launches": args.launches, **figures,
        "table": [h.table_row("workspace_launch", "launch to running", figures["launch"],
                              "bare docker run", figures["bare_docker_run"], unit="launch")],
    })


if __name__ == "__main__":
    main()
