"""The test runner copied into every code-grading sandbox (as ``_lms_runner.py``).

Standard library only: it runs with the sandbox's ``python3``. It reads its orders from
``_lms_spec.json`` (deleted at once), runs the instructor's tests against the learner's code
in child processes, and prints one line per event on stdout,
``LMS <nonce> <json>``: ``collected`` (the test names), ``result`` (one test), ``done``.
Lines without the nonce are ignored by the grader. A test's child is stopped when the run's
time is nearly up, so the results so far still reach the grader.

The same file is the pytest plugin of the ``pytest`` mode (``-p _lms_runner``): it writes
each collected test and each result to the report file the runner reads afterwards.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time

SPEC = "_lms_spec.json"
#: The sandbox's private /tmp; TMPDIR only when the runner runs outside one (the benchmark).
TMP = os.environ.get("TMPDIR", "/tmp")
REPORT = os.path.join(TMP, "_lms_report.jsonl")
PYTEST_LOG = os.path.join(TMP, "_lms_pytest_out")
#: Seconds kept back from the run's wall-clock limit to report what happened.
MARGIN_S = 0.4
MESSAGE_CHARS = 3000

REFUSALS = (
    ("memory", ("MemoryError", "Cannot allocate memory", "std::bad_alloc")),
    ("processes", ("Resource temporarily unavailable", "can't start new thread")),
    ("disk", ("File too large", "No space left on device")),
)


def emit(nonce, event, **data):
    sys.stdout.write(f"LMS {nonce} {json.dumps({'event': event, **data})}\n")
    sys.stdout.flush()


def clip(text):
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + "\n[…]"


def limit_of(returncode, stderr):
    if returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "cpu"
    if returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
        return "output"
    if returncode != 0:
        for limit, needles in REFUSALS:
            if any(n in stderr[-4000:] for n in needles):
                return limit
    return None


def read_head(path, limit):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def cap_output(limit_bytes):
    """In the child: a file (its captured output) larger than the limit stops it."""
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def filled(path, limit_bytes):
    """Whether the child's output reached the cap (Python ignores SIGXFSZ: it sees EFBIG)."""
    try:
        return os.path.getsize(path) >= limit_bytes
    except OSError:
        return False


def normalise(text):
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def run_cases(spec, nonce, deadline):
    cases = spec["cases"]
    emit(nonce, "collected", tests=[c["name"] for c in cases])
    for case in cases:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            emit(nonce, "result", test=case["name"], passed=False, limit="wall",
                 message="Not run: the time for the whole submission was used up.")
            continue
        out_path, err_path = os.path.join(TMP, "_lms_stdout"), os.path.join(TMP, "_lms_stderr")
        started = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            child = subprocess.Popen(
                [sys.executable, spec["entrypoint"], *case.get("args", [])],
                stdin=subprocess.PIPE, stdout=out, stderr=err,
                preexec_fn=cap_output(spec["output_bytes"]), start_new_session=True,
            )
            try:
                child.communicate(case.get("stdin", "").encode(), timeout=remaining)
                timed_out = False
            except (subprocess.TimeoutExpired, BrokenPipeError):
                timed_out = child.poll() is None
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        elapsed = round(time.monotonic() - started, 3)
        stdout = read_head(out_path, spec["output_bytes"])
        stderr = read_head(err_path, 20000)
        if timed_out:
            limit = "wall"
        elif filled(out_path, spec["output_bytes"]) or filled(err_path, spec["output_bytes"]):
            limit = "output"
        else:
            limit = limit_of(child.returncode, stderr)
        if limit:
            passed, message = False, ""
        elif child.returncode != 0:
            passed, message = False, f"Your program exited with status {child.returncode}.\n" \
                                     + clip(stderr)
        else:
            expected = case["stdout"]
            if case.get("match", "normalised") == "exact":
                passed = stdout == expected
            else:
                passed = normalise(stdout) == normalise(expected)
            message = "" if passed else (
                "Wrong output.\nExpected:\n" + clip(expected) + "\nYour output:\n" + clip(stdout))
        emit(nonce, "result", test=case["name"], passed=passed, limit=limit, message=message,
             duration_s=elapsed)


def run_pytest(spec, nonce, deadline):
    try:
        os.unlink(REPORT)
    except FileNotFoundError:
        pass
    # Only this plugin: none of the host's installed pytest plugins are wanted (or importable).
    env = dict(os.environ, LMS_REPORT=REPORT, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "_lms_runner",
               "--tb=short", "-o", "console_output_style=classic", *spec["test_files"]]
    with open(PYTEST_LOG, "wb") as out:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                 preexec_fn=cap_output(spec["output_bytes"]))
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    events = []
    for line in read_head(REPORT, 10_000_000).splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    collected = next((e["tests"] for e in events if e["event"] == "collected"), None)
    log = read_head(PYTEST_LOG, 20000)
    errors = [e["message"] for e in events if e["event"] == "collect_error"]
    if errors or not collected:
        emit(nonce, "collected", tests=[])
        emit(nonce, "crash", limit="wall" if timed_out else limit_of(child.returncode, log),
             message="The tests could not be collected (does your code import?).\n"
                     + clip("\n".join(errors) or log))
        return
    emit(nonce, "collected", tests=collected)
    reported = set()
    running = None
    for event in events:
        if event["event"] == "start":
            running = event["test"]
        elif event["event"] == "result" and event["test"] not in reported:
            reported.add(event["test"])
            running = None
            emit(nonce, "result", test=event["test"], passed=event["passed"], limit=None,
                 message=clip(event.get("message", "")), duration_s=event.get("duration_s"))
    if timed_out:
        ended = "wall"
    elif filled(PYTEST_LOG, spec["output_bytes"]):
        ended = "output"
    else:
        ended = limit_of(child.returncode, log)
    for test in collected:
        if test in reported:
            continue
        was_running = test == running
        emit(nonce, "result", test=test, passed=False, limit=ended if was_running else None,
             message="" if (was_running and ended) else (
                 "Not run: the test run stopped before this test." if not was_running else
                 "The test run stopped during this test.\n" + clip(log[-MESSAGE_CHARS:])))


def main():
    with open(SPEC, encoding="utf-8") as handle:
        spec = json.load(handle)
    os.unlink(SPEC)
    nonce = spec["nonce"]
    deadline = time.monotonic() + spec["wall_s"] - MARGIN_S
    if spec["mode"] == "cases":
        run_cases(spec, nonce, deadline)
    else:
        run_pytest(spec, nonce, deadline)
    emit(nonce, "done")


# -- pytest plugin (-p _lms_runner), active in the pytest child only ---------------------------


def _report(event, **data):
    with open(os.environ["LMS_REPORT"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"event": event, **data}) + "\n")


def pytest_collectreport(report):
    if "LMS_REPORT" in os.environ and report.failed:
        _report("collect_error", message=str(report.longrepr))


def pytest_collection_finish(session):
    if "LMS_REPORT" in os.environ:
        _report("collected", tests=[item.name for item in session.items])


def pytest_runtest_logstart(nodeid, location):
    if "LMS_REPORT" in os.environ:
        _report("start", test=location[2].split(".")[-1])


def pytest_runtest_logreport(report):
    if "LMS_REPORT" not in os.environ:
        return
    name = report.nodeid.split("::")[-1]
    if report.when == "call" or (report.when == "setup" and not report.passed):
        message = "" if report.passed else str(report.longrepr)
        _report("result", test=name, passed=bool(report.passed), message=message,
                duration_s=round(report.duration, 3))


if __name__ == "__main__":
    main()
