"""Code grading: what the sandbox adds to grading one submission, and gradings per second.

Goals (issue 7): overhead under 0.5 s per submission, at least 4 gradings per second on 2
cores, for both sandboxes. Each submission is graded exactly as the ``code`` grader does it
(one sandbox run with the test runner inside); the same-run baseline runs the very same
runner and files with a plain subprocess in a temporary folder, so the difference is the
sandbox's cost alone. Two workloads: stdin/stdout cases and pytest tests.

    .venv/bin/python bench/code_grading.py [--submissions 40] [--workers 2] [--sandbox docker]
    bash scripts/docker.sh run .venv/bin/python bench/code_grading.py   # adds the docker sandbox
    bash scripts/docker.sh run .venv/bin/python bench/code_grading.py --sandbox docker \
        --docker-pool 0                      # the docker sandbox without its warm pool

The docker sandbox is measured when LMSCORE_TEST_DOCKER_HOST names an engine (scripts/docker.sh
exports it, with a test image whose /usr is the host's, mounted read-only). Prints figures,
never asserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

from lmscore.capabilities import Sandbox, SandboxLimits  # noqa: E402
from lmscore.config import load_settings  # noqa: E402
from lmscore.defaults.sandbox_local import (  # noqa: E402
    PYTHON_PATH_MOUNT,
    LocalSandbox,
    pytest_mounts,
)
from lmscore.services import code_grading  # noqa: E402

SMOKE_ARGS = ["--submissions", "4"]
SOLUTION = "def add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n" \
           "    a, b = map(int, input().split())\n    print(add(a, b))\n"
WORKLOADS = {
    "cases": {"cases": [{"name": f"adds {n}", "stdin": f"{n} {n}\n", "stdout": f"{2 * n}\n"}
                        for n in range(3)]},
    "pytest": {"tests": "from solution import add\n\n"
                        + "".join(f"def test_add_{n}():\n    assert add({n}, {n}) == {2 * n}\n\n"
                                  for n in range(3))},
}


def sandboxes(wanted: set[str], docker_pool: int | None) -> dict[str, Sandbox]:
    found: dict[str, Sandbox] = {}
    if "local" in wanted:
        settings = load_settings(overrides={"secret_key": h.SECRET_KEY}, environ={})
        found["local"] = LocalSandbox(settings.code_grading.local)
    engine = os.environ.get("LMSCORE_TEST_DOCKER_HOST")
    if "docker" in wanted and engine:
        from lms_workspace_docker.plugin import WorkspaceDockerSettings
        from lms_workspace_docker.sandbox import DockerSandbox

        binds = ["/usr:/usr"] + [f"{host}:{PYTHON_PATH_MOUNT}/{name}"
                                 for host, name in pytest_mounts().items()]
        sandbox = {"image": os.environ.get("LMSCORE_TEST_DOCKER_IMAGE",
                                           "lmscore-test/workspace:latest"),
                   "bind_mounts": binds, "env": {"PYTHONPATH": PYTHON_PATH_MOUNT}}
        if docker_pool is not None:
            sandbox["pool_size"] = docker_pool
        config = WorkspaceDockerSettings().load({"base_url": engine, "instance": "bench",
                                                 "sandbox": sandbox})
        found["docker"] = DockerSandbox(config, config["sandbox"], instance="bench")
    elif "docker" in wanted:
        print("docker: skipped (LMSCORE_TEST_DOCKER_HOST is not set; run through "
              "scripts/docker.sh run)")
    return found


def plain_run(spec: code_grading.CodeSpec, limits: SandboxLimits) -> float:
    """The baseline: the same runner and files, a plain subprocess, no sandbox."""
    request, nonce = code_grading.build_run(spec, SOLUTION, limits)
    with tempfile.TemporaryDirectory() as folder:
        for name, data in request.files.items():
            path = Path(folder, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        # pytest and its dependencies only, as the sandbox sees them.
        library = Path(folder, "_pylib")
        library.mkdir()
        for host_path, name in pytest_mounts().items():
            (library / name).symlink_to(host_path)
        env = {"PATH": "/usr/bin:/bin", "TMPDIR": folder, "PYTHONPATH": str(library)}
        started = time.perf_counter()
        done = subprocess.run(request.command, cwd=folder, env=env, capture_output=True)
        elapsed = time.perf_counter() - started
    if f"LMS {nonce} " not in done.stdout.decode() or b'"passed": false' in done.stdout:
        raise SystemExit(f"baseline run failed: {done.stdout[-500:]!r} {done.stderr[-500:]!r}")
    return elapsed


def sandboxed_run(sandbox: Sandbox, spec: code_grading.CodeSpec,
                  limits: SandboxLimits) -> float:
    started = time.perf_counter()
    result = code_grading.grade_run(spec, SOLUTION, sandbox, limits)
    elapsed = time.perf_counter() - started
    if result.score != result.max_score:
        raise SystemExit(f"{sandbox.name}: the right solution did not pass:\n{result.feedback}")
    return elapsed


def measure(run, submissions: int, workers: int) -> dict:
    run()  # warm up (page cache, image layers)
    one_by_one = [run() for _ in range(submissions)]
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: run(), range(submissions)))
    elapsed = time.perf_counter() - started
    ordered = sorted(one_by_one)
    return {"rate_per_s": submissions / elapsed, "p50_ms": statistics.median(ordered) * 1000,
            "p95_ms": ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000,
            "p99_ms": ordered[-1] * 1000, "errors": 0}


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sandbox", action="append", choices=["local", "docker"],
                        help="measure only this sandbox (repeatable; default: both)")
    parser.add_argument("--docker-pool", type=int, metavar="N",
                        help="the docker sandbox's pool_size (default: the setting's default)")
    parser.add_argument("--json")
    args = parser.parse_args()
    limits = SandboxLimits()
    print(f"machine: {os.cpu_count()} cores, load average {h.load_average()}; "
          f"{args.submissions} submissions per measure, {args.workers} at once for the rate")
    result: dict = {"machine": h.machine(), "table": [], "figures": {}}
    measured = sandboxes(set(args.sandbox or ["local", "docker"]), args.docker_pool)
    for workload, data in WORKLOADS.items():
        spec = code_grading.parse_spec(data)
        baseline = measure(lambda spec=spec: plain_run(spec, limits), args.submissions,
                           args.workers)
        print(f"{workload:7} plain subprocess: {baseline['p50_ms']:7.1f} ms per submission, "
              f"{baseline['rate_per_s']:5.1f}/s with {args.workers} at once")
        for name, sandbox in measured.items():
            figures = measure(lambda s=sandbox, spec=spec: sandboxed_run(s, spec, limits),
                              args.submissions, args.workers)
            overhead = (figures["p50_ms"] - baseline["p50_ms"]) / 1000
            print(f"{workload:7} {name:6} sandbox:   {figures['p50_ms']:7.1f} ms per submission "
                  f"(p95 {figures['p95_ms']:.1f}), overhead {overhead:.3f} s (goal < 0.5), "
                  f"{figures['rate_per_s']:5.1f}/s with {args.workers} at once (goal ≥ 4)")
            result["figures"][f"{workload}/{name}"] = {**figures, "overhead_s": overhead}
            result["table"].append(h.table_row(
                "code_grading", f"{workload} graded in the {name} sandbox", figures,
                "the same runner, plain subprocess", baseline, unit="grades/s"))
        result["figures"][f"{workload}/plain"] = baseline
    for sandbox in measured.values():
        getattr(sandbox, "close", lambda: None)()  # the docker sandbox's warm pool
    h.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
