"""Code grading: a learner's program checked by an instructor's tests in a sandbox.

A *code spec* (a bank item's ``answer``, or a deliverable's ``settings["code"]``) holds either
pytest tests or stdin/stdout cases, the points of each test, support files and limits::

    {"tests": {"test_sum.py": "from solution import add\\ndef test_add(): ..."},
     "points": {"test_add": 2},
     "entrypoint": "solution.py",
     "files": {"data.csv": "a,b\\n1,2\\n"},
     "limits": {"cpu_s": 2, "memory_mb": 256}}

    {"cases": [{"name": "adds", "stdin": "2 3\\n", "stdout": "5\\n", "points": 1}]}

``tests`` may also be one string (one file, ``test_solution.py``). One sandbox run per
submission: :mod:`lmscore.defaults.code_runner` runs inside it, runs every test and reports
each result on stdout, tagged with a per-run nonce.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
import secrets
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..capabilities import GradeResult, LimitHit, Sandbox, SandboxLimits, SandboxRun
from ..capabilities.sandbox import limit_message

DEFAULT_ENTRYPOINT = "solution.py"
DEFAULT_TEST_FILE = "test_solution.py"
RUNNER_FILE = "_lms_runner.py"
SPEC_FILE = "_lms_spec.json"
MAX_TESTS = 200
MAX_SPEC_BYTES = 2_000_000
_LIMIT_KEYS = tuple(f.name for f in dataclasses.fields(SandboxLimits))
_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}"
_FILE_NAME = re.compile(rf"^{_PART}(/{_PART}){{0,3}}$")
_TEST_FILE = re.compile(r"^(.*/)?test_[A-Za-z0-9_]+\.py$")


@dataclass(frozen=True)
class Case:
    name: str
    stdin: str
    stdout: str
    points: float = 1.0
    args: tuple[str, ...] = ()
    match: str = "normalised"


@dataclass(frozen=True)
class CodeSpec:
    entrypoint: str = DEFAULT_ENTRYPOINT
    tests: dict[str, str] = field(default_factory=dict)
    cases: tuple[Case, ...] = ()
    points: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "cases" if self.cases else "pytest"

    def points_of(self, test: str) -> float:
        if self.cases:
            return next((c.points for c in self.cases if c.name == test), 1.0)
        return float(self.points.get(test, 1.0))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _FILE_NAME.match(name) or ".." in name.split("/") \
            or posixpath.basename(name).startswith("_lms"):
        raise ValueError(f"{what} {name!r} is not a plain relative file name")
    return name


def parse_spec(data: Any) -> CodeSpec:
    """A :class:`CodeSpec` from stored data; ``ValueError`` naming the problem otherwise."""
    if not isinstance(data, dict):
        raise ValueError('a code answer is {"tests": "..."} (pytest) or {"cases": [...]} '
                         "(stdin/stdout)")
    unknown = set(data) - {"tests", "cases", "points", "entrypoint", "files", "limits"}
    if unknown:
        raise ValueError(f"unknown code answer key {sorted(unknown)[0]!r}")
    if len(json.dumps(data)) > MAX_SPEC_BYTES:
        raise ValueError(f"the tests and files are over {MAX_SPEC_BYTES:,} bytes")
    entrypoint = _check_name(data.get("entrypoint", DEFAULT_ENTRYPOINT), "entrypoint")
    tests = data.get("tests")
    if isinstance(tests, str):
        tests = {DEFAULT_TEST_FILE: tests}
    cases = data.get("cases")
    if bool(tests) == bool(cases):
        raise ValueError("a code answer has either tests (pytest files) or cases (stdin/stdout)")
    if tests is not None:
        if not isinstance(tests, dict) or not all(isinstance(v, str) and v.strip()
                                                  for v in tests.values()):
            raise ValueError("tests are pytest source text, or a table of file name → source")
        for name in tests:
            _check_name(name, "test file")
            if not _TEST_FILE.match(name):
                raise ValueError(f"test file {name!r} must be named test_*.py")
    parsed_cases: list[Case] = []
    if cases is not None:
        if not isinstance(cases, list) or len(cases) > MAX_TESTS:
            raise ValueError(f"cases are a list of at most {MAX_TESTS}")
        for n, case in enumerate(cases, start=1):
            if not isinstance(case, dict) or not isinstance(case.get("stdout"), str):
                raise ValueError(f"case {n} needs the expected stdout text")
            extra = set(case) - {"name", "stdin", "stdout", "points", "args", "match"}
            if extra:
                raise ValueError(f"case {n}: unknown key {sorted(extra)[0]!r}")
            name = case.get("name", f"case {n}")
            points = case.get("points", 1)
            args = case.get("args", [])
            if not isinstance(name, str) or not name.strip() or len(name) > 100:
                raise ValueError(f"case {n}: the name is 1 to 100 characters")
            if not _number(points) or not 0 <= points <= 100:
                raise ValueError(f"case {n}: points are a number from 0 to 100")
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise ValueError(f"case {n}: args are a list of strings")
            if case.get("match", "normalised") not in ("normalised", "exact"):
                raise ValueError(f"case {n}: match is 'normalised' or 'exact'")
            if not isinstance(case.get("stdin", ""), str):
                raise ValueError(f"case {n}: stdin is text")
            parsed_cases.append(Case(name=name, stdin=case.get("stdin", ""),
                                     stdout=case["stdout"], points=float(points),
                                     args=tuple(args), match=case.get("match", "normalised")))
        if len({c.name for c in parsed_cases}) != len(parsed_cases):
            raise ValueError("two cases have the same name")
    points = data.get("points", {})
    if not isinstance(points, dict) or not all(
            isinstance(k, str) and _number(v) and 0 <= v <= 100 for k, v in points.items()):
        raise ValueError("points map test names to numbers from 0 to 100")
    files = data.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ValueError("files map file names to their text")
    for name in files:
        _check_name(name, "file")
    if entrypoint in files or entrypoint in (tests or {}):
        raise ValueError(f"{entrypoint} is where the learner's code goes")
    limits = data.get("limits", {})
    if not isinstance(limits, dict) or any(k not in _LIMIT_KEYS for k in limits) \
            or not all(_number(v) and v > 0 for v in limits.values()):
        raise ValueError(f"limits are positive numbers for {', '.join(_LIMIT_KEYS)}")
    return CodeSpec(entrypoint=entrypoint, tests=dict(tests or {}),
                    cases=tuple(parsed_cases), points={k: float(v) for k, v in points.items()},
                    files=dict(files), limits=dict(limits))


def spec_problem(data: Any) -> str | None:
    try:
        parse_spec(data)
    except ValueError as exc:
        return str(exc)
    return None


def effective_limits(spec: CodeSpec, defaults: SandboxLimits,
                     maximum: SandboxLimits) -> SandboxLimits:
    """The item's own limits over the site's defaults, never above the hard maximum."""
    chosen = {key: min(float(value), float(getattr(maximum, key)))
              for key, value in spec.limits.items()}
    for key in ("memory_mb", "processes", "output_bytes", "disk_mb"):
        if key in chosen:
            chosen[key] = int(chosen[key])
    return dataclasses.replace(defaults, **chosen)


def build_run(spec: CodeSpec, code: str, limits: SandboxLimits, label: str = ""
              ) -> tuple[SandboxRun, str]:
    """The sandbox run for one submission, and the nonce its results carry."""
    nonce = secrets.token_hex(16)
    orders = {
        "nonce": nonce, "mode": spec.mode, "entrypoint": spec.entrypoint,
        "wall_s": limits.wall_s, "output_bytes": limits.output_bytes,
        "test_files": sorted(spec.tests),
        "cases": [dataclasses.asdict(c) for c in spec.cases],
    }
    runner = resources.files("lmscore.defaults").joinpath("code_runner.py").read_bytes()
    files = {name: text.encode() for name, text in {**spec.files, **spec.tests}.items()}
    files.update({spec.entrypoint: code.encode(), RUNNER_FILE: runner,
                  SPEC_FILE: json.dumps(orders).encode()})
    return SandboxRun(command=("python3", RUNNER_FILE), files=files, limits=limits,
                      label=label), nonce


@dataclass
class TestResult:
    name: str
    passed: bool
    points: float
    max_points: float
    message: str = ""
    limit: str | None = None
    duration_s: float | None = None


def _events(stdout: bytes, nonce: str) -> list[dict[str, Any]]:
    prefix = f"LMS {nonce} "
    events = []
    for line in stdout.decode("utf-8", "replace").splitlines():
        if line.startswith(prefix):
            try:
                events.append(json.loads(line[len(prefix):]))
            except ValueError:
                continue
    return events


def headline(message: str, chars: int = 300) -> str:
    """The part of a test's message a learner reads first: pytest's ``E`` lines (what went
    wrong) when there are any, else the first line."""
    lines = message.splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    text = "\n".join(errors) if errors else (lines[0] if lines else "")
    return text if len(text) <= chars else text[:chars] + "…"


def grade_run(spec: CodeSpec, code: str, sandbox: Sandbox, limits: SandboxLimits,
              label: str = "") -> GradeResult:
    """Run the learner's ``code`` against the spec's tests in a fresh sandbox."""
    request, nonce = build_run(spec, code, limits, label)
    outcome = sandbox.run(request)
    events = _events(outcome.stdout, nonce)
    collected = next((e["tests"] for e in events if e["event"] == "collected"), None)
    if collected is None:  # the runner never got going: report what stopped it
        collected = [c.name for c in spec.cases] or sorted(spec.points)
    results: dict[str, TestResult] = {}
    for event in events:
        if event["event"] == "result" and event["test"] in collected \
                and event["test"] not in results:
            worth = spec.points_of(event["test"])
            limit = event.get("limit")
            message = event.get("message") or ""
            if limit in set(LimitHit):
                message = limit_message(LimitHit(limit), limits)
            results[event["test"]] = TestResult(
                name=event["test"], passed=bool(event["passed"]) and not limit,
                points=worth if event["passed"] and not limit else 0.0, max_points=worth,
                message=message, limit=limit, duration_s=event.get("duration_s"),
            )
    crash = next((e for e in events if e["event"] == "crash"), None)
    finished = any(e["event"] == "done" for e in events)
    stopped_by = outcome.limit.value if outcome.limit else None
    if crash and crash.get("limit"):
        stopped_by = crash["limit"]
    for name in collected:
        if name not in results:
            if stopped_by:
                message = limit_message(LimitHit(stopped_by), limits)
            else:
                message = "Not run: the test run stopped before this test."
            results[name] = TestResult(name=name, passed=False, points=0.0,
                                       max_points=spec.points_of(name), message=message,
                                       limit=stopped_by)
    tests = [results[name] for name in collected]
    score = round(sum(t.points for t in tests), 4)
    max_score = round(sum(t.max_points for t in tests), 4) or 1.0
    passed = sum(t.passed for t in tests)
    lines = [f"{passed} of {len(tests)} tests passed ({score:g}/{max_score:g} points)."]
    if crash and not tests:
        lines = ["The tests could not run with your code:",
                 headline(crash.get("message") or "", 2000)]
        if crash.get("limit"):
            lines.append(limit_message(LimitHit(crash["limit"]), limits))
    elif not finished and stopped_by and not any(t.limit for t in tests):
        lines.append(limit_message(LimitHit(stopped_by), limits))
    if outcome.error:
        lines.append("The sandbox reported a problem; a trainer will look at it.")
    summary = "\n".join(lines)  # shown above the per-test table, which has the rest
    for test in tests:
        mark = "✓" if test.passed else "✗"
        lines.append(f"{mark} {test.name} ({test.points:g}/{test.max_points:g})"
                     + (f": {headline(test.message)}" if test.message else ""))
    details = {
        "summary": summary,
        "mode": spec.mode,
        "tests": [dataclasses.asdict(t) for t in tests],
        "limits": dataclasses.asdict(limits),
        "limit_hit": stopped_by,
        "wall_s": outcome.wall_s,
        "cpu_s": outcome.cpu_s,
        "sandbox": sandbox.name,
    }
    if crash and not tests:
        details["error"] = crash.get("message", "")
    return GradeResult(score=score, max_score=max_score, feedback="\n".join(lines),
                       details=details)
