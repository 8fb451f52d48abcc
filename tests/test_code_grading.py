"""The ``code`` grader: instructor tests (pytest or stdin/stdout cases) run against a learner's
code in the ``local`` sandbox; per-test results, partial credit, a message per limit hit; as a
background job for deliverables and quiz answers; the sandbox registration hook."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from tracks_fixture import write_track

from lmscore import hookimpl
from lmscore.capabilities import (
    Answer,
    GradableItem,
    Sandbox,
    SandboxError,
    SandboxLimits,
    SandboxResult,
)
from lmscore.capabilities.content import ItemSpec
from lmscore.errors import StartupError
from lmscore.services import code_grading, content
from lmscore.services.banks import item_problem
from lmscore.testing.clients import ApiClient

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is installed by scripts/test.sh")

ADD_TESTS = {
    "tests": "from solution import add\n\n"
             "def test_small():\n    assert add(1, 2) == 3\n\n"
             "def test_negative():\n    assert add(-2, -3) == -5\n\n"
             "def test_zero():\n    assert add(0, 0) == 0\n",
    "points": {"test_negative": 2},
}
SUM_CASES = {"cases": [
    {"name": "small", "stdin": "1 2\n", "stdout": "3\n"},
    {"name": "negative", "stdin": "-2 -3\n", "stdout": "-5\n", "points": 2},
]}
READ_AND_ADD = "a, b = map(int, input().split())\nprint({})\n"


def grade(lms, answer_key, code, **settings):
    item = GradableItem(id="q", type="code", prompt="Add.", answer_key=answer_key,
                        settings=settings)
    return lms.graders.get("code").grade(item, Answer(text=code))


# -- the spec -------------------------------------------------------------------------------


@pytest.mark.parametrize("answer, problem", [
    ("def test_x(): pass", '{"tests": "..."}'),
    ({}, "either tests"),
    ({"tests": "x", "cases": [{"stdout": "1"}]}, "either tests"),
    ({"tests": {"check.py": "def test_x(): pass"}}, "test_*.py"),
    ({"tests": {"../test_x.py": "def test_x(): pass"}}, "plain relative file name"),
    ({"cases": [{"stdin": "1"}]}, "expected stdout"),
    ({"cases": [{"stdout": "1", "points": -1}]}, "points"),
    ({"cases": [{"name": "a", "stdout": "1"}, {"name": "a", "stdout": "2"}]}, "same name"),
    ({"tests": "def test_x(): pass", "limits": {"cpu_s": 0}}, "limits"),
    ({"tests": "def test_x(): pass", "limits": {"gpu": 1}}, "limits"),
    ({"tests": "def test_x(): pass", "files": {"solution.py": "x"}}, "learner's code"),
    ({"tests": "def test_x(): pass", "surprise": 1}, "unknown code answer key"),
])
def test_bad_code_answers_are_refused_on_import(answer, problem):
    spec = ItemSpec(external_id="c1", type="code", prompt="Write add.", answer=answer,
                    facet_path=("a", "b", "c", "d"))
    assert problem in item_problem(spec)


def test_good_code_answers_pass_validation():
    for answer in (ADD_TESTS, SUM_CASES, {"tests": "def test_x(): pass"}):
        spec = ItemSpec(external_id="c1", type="code", prompt="Write add.", answer=answer,
                        facet_path=("a", "b", "c", "d"))
        assert item_problem(spec) is None


def test_item_limits_override_defaults_up_to_the_hard_maximum():
    spec = code_grading.parse_spec({**ADD_TESTS, "limits": {"cpu_s": 500, "memory_mb": 256}})
    limits = code_grading.effective_limits(spec, SandboxLimits(), SandboxLimits(
        cpu_s=60, wall_s=120, memory_mb=1024, processes=512, output_bytes=10**7, disk_mb=512))
    assert (limits.cpu_s, limits.memory_mb, limits.wall_s) == (60, 256, 10)


def test_defaults_are_the_documented_limits(lms):
    assert lms.settings.code_grading.limits == SandboxLimits(
        cpu_s=5, wall_s=10, memory_mb=128, processes=64, output_bytes=1_000_000, disk_mb=64)


# -- the sandbox hook ---------------------------------------------------------------------------


class PlainSandbox(Sandbox):
    """No isolation at all: the run's files in a temporary folder, a plain subprocess. Enough
    to show that the grader uses whichever sandbox the configuration names."""

    name = "plain"

    def __init__(self):
        self.runs = 0

    def check(self):
        """A plain subprocess needs nothing beyond this machine's python3."""

    def run(self, request):
        self.runs += 1
        with tempfile.TemporaryDirectory() as folder:
            for name, data in request.files.items():
                Path(folder, name).parent.mkdir(parents=True, exist_ok=True)
                Path(folder, name).write_bytes(data)
            started = time.monotonic()
            done = subprocess.run(request.command, cwd=folder, input=request.stdin,
                                  capture_output=True, timeout=request.limits.wall_s,
                                  env={"PATH": "/usr/bin:/bin", "TMPDIR": folder})
        return SandboxResult(exit_code=done.returncode, stdout=done.stdout, stderr=done.stderr,
                             wall_s=time.monotonic() - started, cpu_s=0.0)


def app_with_sandbox(app_factory, sandbox):
    """An app whose code grading runs in ``sandbox``, registered by a plugin."""

    class Provides:
        @hookimpl
        def lms_register_sandboxes(self, lms):
            return [sandbox]

    return app_factory(config={"code_grading": {"sandbox": sandbox.name}},
                       plugins={f"{sandbox.name}_sandbox": Provides()})


def published_code_quiz(staff, answer_key, **settings) -> dict:
    """A published quiz of one code question worth 3 points."""
    quiz = staff.post("/api/v1/quizzes", json={"title": "Code", **settings, "questions": [
        {"type": "code", "prompt": "Write it.", "answer": answer_key, "points": 3}]}).json
    assert staff.post(f"/api/v1/quizzes/{quiz['id']}/publish").status_code == 200
    return quiz


def test_hook_lms_register_sandboxes(app_factory):
    sandbox = PlainSandbox()
    app = app_with_sandbox(app_factory, sandbox)
    lms = app.extensions["lmscore"]
    assert lms.sandboxes.names() == ["local", "plain"] and lms.sandbox() is sandbox
    result = grade(lms, SUM_CASES, READ_AND_ADD.format("a + b"))
    assert (result.score, result.max_score, sandbox.runs) == (3.0, 3.0, 1)
    assert result.details["sandbox"] == "plain"


def test_an_unknown_sandbox_stops_start_up(app_factory):
    with pytest.raises(StartupError, match="code_grading.sandbox.*'nope'.*available: local"):
        app_factory(config={"code_grading": {"sandbox": "nope"}})


# -- grading in the local sandbox -----------------------------------------------------------------


@needs_bwrap
def test_pytest_tests_give_partial_credit_per_test(lms):
    result = grade(lms, ADD_TESTS, "def add(a, b):\n    return abs(a) + abs(b)\n")
    assert (result.score, result.max_score) == (2.0, 4.0)
    tests = {t["name"]: t for t in result.details["tests"]}
    assert [tests[n]["passed"] for n in ("test_small", "test_negative", "test_zero")] == [
        True, False, True]
    assert tests["test_negative"]["max_points"] == 2
    assert "assert 5 == -5" in tests["test_negative"]["message"]
    assert "2 of 3 tests passed" in result.feedback and "✗ test_negative (0/2)" in result.feedback


@needs_bwrap
def test_stdin_stdout_cases_give_partial_credit(lms):
    result = grade(lms, SUM_CASES, READ_AND_ADD.format("abs(a) + abs(b)"))
    assert (result.score, result.max_score) == (1.0, 3.0)
    failed = result.details["tests"][1]
    assert not failed["passed"] and "Expected:\n-5" in failed["message"]
    assert "Your output:\n5" in failed["message"]


@needs_bwrap
@pytest.mark.parametrize("code, limits, limit, message", [
    # A generous wall-clock limit: a busy machine gives the loop its CPU second slowly.
    ("while True:\n    pass\n", {"cpu_s": 1, "wall_s": 30}, "cpu", "more than 1 s of CPU time"),
    ("import time\ntime.sleep(60)\n", {"wall_s": 3}, "wall", "ran for more than 3 s"),
    ("x = bytearray(500 * 2**20)\n", {}, "memory", "more than 128 MB of memory"),
    ("while True:\n    print('spam' * 1000)\n", {"wall_s": 30}, "output",
     "printed more than 1,000,000 bytes"),
    ("import os\nwhile True:\n    os.fork()\n", {"wall_s": 30}, "processes",
     "more than 64 processes"),
])
def test_each_limit_hit_has_a_learner_message(lms, code, limits, limit, message):
    answer = {"cases": [{"name": "runs", "stdin": "", "stdout": "fine\n"}], "limits": limits}
    result = grade(lms, answer, code)
    (test,) = result.details["tests"]
    assert not test["passed"] and test["limit"] == limit, test
    assert message in test["message"] and message in result.feedback
    assert result.score == 0


@needs_bwrap
def test_a_limit_in_one_test_keeps_the_others(lms):
    tests = {"tests": "import solution\n\ndef test_fast():\n    assert solution.add(1, 1) == 2\n\n"
                      "def test_endless():\n    solution.spin()\n",
             "limits": {"cpu_s": 1, "wall_s": 30}}
    result = grade(lms, tests, "def add(a, b):\n    return a + b\n\n"
                               "def spin():\n    while True:\n        pass\n")
    by_name = {t["name"]: t for t in result.details["tests"]}
    assert by_name["test_fast"]["passed"]
    assert by_name["test_endless"]["limit"] == "cpu"
    assert (result.score, result.max_score) == (1.0, 2.0)


@needs_bwrap
def test_code_that_does_not_import_is_explained(lms):
    result = grade(lms, ADD_TESTS, "def add(a, b) return a + b\n")
    assert result.score == 0 and result.details["tests"] == []
    assert "SyntaxError" in result.feedback and "could not run" in result.feedback


@needs_bwrap
def test_learner_output_cannot_forge_results(lms):
    """A learner's program cannot write into the runner's output (its pipe belongs to the
    host), and lines without the run's fresh nonce would be ignored anyway."""
    forged = ("import os\nrunner = os.open(f'/proc/{os.getppid()}/fd/1', os.O_WRONLY)\n"
              "for name in ('small', 'negative'):\n"
              "    os.write(runner, ('LMS 0 {\"event\": \"result\", \"test\": \"%s\", "
              "\"passed\": true}\\n' % name).encode())\n")
    result = grade(lms, SUM_CASES, forged + READ_AND_ADD.format("0"))
    assert result.score == 0 and not any(t["passed"] for t in result.details["tests"])


def test_empty_code_is_refused_before_any_run(lms):
    with pytest.raises(ValueError, match="paste your code"):
        grade(lms, SUM_CASES, "  \n")


# -- background jobs: deliverables and quiz answers ---------------------------------------------


@pytest.fixture
def track_root(tmp_path):
    root = tmp_path / "content"
    folder = write_track(root, "CG", projects=1)
    project = folder / "projects" / "01-project-1"
    (project / "tests").mkdir()
    (project / "tests" / "test_add.py").write_text(ADD_TESTS["tests"])
    toml = project / "project.toml"
    toml.write_text(toml.read_text() + '\n[[deliverables]]\nkey = "adder"\ntitle = "Adder"\n'
                    'kind = "code"\ngrader = "code"\ndescription = "Write add(a, b)."\n\n'
                    '[deliverables.settings.code]\ntests_from = ["tests/test_add.py"]\n'
                    'points = { test_negative = 2 }\n')
    return root


@pytest.fixture
def lms_config(request):
    if "track_root" not in request.fixturenames:
        return {}
    root = request.getfixturevalue("track_root")
    return {"plugins": {"enabled": ["content_folder"],
                        "content_folder": {"folders": [str(root)]}}}


@needs_bwrap
def test_code_deliverable_is_graded_in_a_job_with_per_test_results(
        app, lms, track_root, api_client, make_user, jobs):
    with app.app_context():
        (result,) = content.sync(lms, lms.db.session)
    assert result.error == ""
    learner, trainer = make_user("student"), make_user("trainer")
    me, staff = api_client(learner), api_client(trainer)
    assert me.post("/api/v1/tracks/CG/enrol").status_code == 201
    project = me.get("/api/v1/tracks/CG").json["projects"][0]
    deliverable = next(d for d in me.get(f"/api/v1/projects/{project['id']}").json["deliverables"]
                       if d["key"] == "adder")
    sub = me.post("/api/v1/submissions", json={
        "deliverable_id": deliverable["id"],
        "text": "def add(a, b):\n    return abs(a) + abs(b)\n"})
    assert sub.status_code == 201 and sub.json["status"] == "submitted"
    jobs.drain()
    graded = me.get(f"/api/v1/submissions/{sub.json['id']}").json
    assert graded["status"] == "in_review"
    auto = graded["auto_grade"]
    assert (auto["grader"], auto["score"], auto["max_score"]) == ("code", 2.0, 4.0)
    assert [t["passed"] for t in auto["details"]["tests"]] == [True, False, True]

    web = lms_web_client(app, learner)
    page = web.get(f"/projects/{project['id']}").get_data(as_text=True)
    assert "test_negative" in page and "assert 5 == -5" in page
    staff_page = lms_web_client(app, trainer).get(
        f"/trainer/submissions/{sub.json['id']}").get_data(as_text=True)
    assert 'class="test-results"' in staff_page and "test_negative" in staff_page
    assert staff.get("/api/v1/submissions").json["items"][0]["auto_grade"]["score"] == 2.0


def lms_web_client(app, user):
    from lmscore.testing.plugin import DEFAULT_PASSWORD

    client = app.test_client()
    client.sign_in(user.email, DEFAULT_PASSWORD)
    return client


@needs_bwrap
def test_code_quiz_answer_is_graded_in_a_job_then_the_quiz_result_is_announced(
        app, lms, api_as, api_client, make_user, jobs):
    staff, student = api_as("trainer"), make_user("student")
    learner = api_client(student)
    quiz = staff.post("/api/v1/quizzes", json={"title": "Code", "questions": [
        {"type": "mcq_single", "prompt": "2 + 2?", "options": {"A": "3", "B": "4"},
         "answer": "B"},
        {"type": "code", "prompt": "Read two numbers, print their sum.", "answer": SUM_CASES,
         "points": 3},
    ]})
    assert quiz.status_code == 201, quiz.json
    assert staff.post(f"/api/v1/quizzes/{quiz.json['id']}/publish").status_code == 200
    attempt = learner.post(f"/api/v1/quizzes/{quiz.json['id']}/attempts").json
    choice, code = attempt["questions"]
    learner.put(f"/api/v1/attempts/{attempt['id']}/answers/{choice['id']}",
                json={"selected": ["B"]})
    saved = learner.put(f"/api/v1/attempts/{attempt['id']}/answers/{code['id']}",
                        json={"text": READ_AND_ADD.format("abs(a) + abs(b)")})
    assert saved.status_code == 200

    code_page = lms_web_client(app, student).get(
        f"/attempts/{attempt['id']}?q=2").get_data(as_text=True)
    assert 'class="code" spellcheck="false" autocapitalize="off"' in code_page

    submitted = learner.post(f"/api/v1/attempts/{attempt['id']}/submit").json
    waiting = next(q for q in submitted["questions"] if q["type"] == "code")
    assert waiting["score"] is None  # never graded during the request
    assert announced(lms) == 0  # the final result is announced once the code is graded
    page = lms_web_client(app, student).get(
        f"/attempts/{attempt['id']}/result").get_data(as_text=True)
    assert "your code is being tested" in page

    jobs.drain()
    result = learner.get(f"/api/v1/attempts/{attempt['id']}").json
    graded = next(q for q in result["questions"] if q["type"] == "code")
    # 1 of 3 case points: a third of the question's 3 points.
    assert graded["score"] == 1.0 and "✗ negative (0/2)" in graded["feedback"]
    assert [(t["name"], t["passed"], t["points"]) for t in graded["details"]["tests"]] == [
        ("small", True, 1.0), ("negative", False, 0.0)]
    assert (result["score"], result["max_score"]) == (2.0, 4.0)
    assert announced(lms) == 1
    page = lms_web_client(app, student).get(
        f"/attempts/{attempt['id']}/result").get_data(as_text=True)
    code_part = page.split("Question 2")[1]
    assert "1 of 2 tests passed" in code_part and "Right answer" not in code_part
    # The code as written, line by line (Markdown would reflow it).
    assert ('<pre class="code"><code>a, b = map(int, input().split())\n'
            'print(abs(a) + abs(b))\n</code></pre>') in code_part
    assert '<tr class="test-failed">' in code_part and "<code>negative</code>" in code_part


def test_a_quiz_waiting_for_its_code_tests_has_no_verdict_yet(app_factory, make_user):
    """Not "not passed, 0 / 3" while the code runs: no score, no verdict, a page that
    refreshes itself until the job has graded the answer."""

    app = app_with_sandbox(app_factory, PlainSandbox())
    student = make_user("student")
    staff, learner = ApiClient(app, make_user("trainer")), ApiClient(app, student)
    quiz = published_code_quiz(staff, SUM_CASES)
    attempt = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    learner.put(f"/api/v1/attempts/{attempt['id']}/answers/{attempt['questions'][0]['id']}",
                json={"text": READ_AND_ADD.format("a + b")})

    submitted = learner.post(f"/api/v1/attempts/{attempt['id']}/submit").json
    assert (submitted["score"], submitted["percent"], submitted["passed"]) == (None, None, None)
    web = lms_web_client(app, student)
    page = web.get(f"/attempts/{attempt['id']}/result").get_data(as_text=True)
    assert "code being tested" in page and "not passed" not in page
    assert '<meta http-equiv="refresh"' in page
    assert "not passed" not in web.get(f"/quizzes/{quiz['id']}").get_data(as_text=True)

    with app.app_context():
        app.extensions["lmscore"].jobs.drain()
    result = learner.get(f"/api/v1/attempts/{attempt['id']}").json
    assert (result["score"], result["percent"], result["passed"]) == (3.0, 100.0, True)
    page = web.get(f"/attempts/{attempt['id']}/result").get_data(as_text=True)
    assert "passed" in page and '<meta http-equiv="refresh"' not in page
    # A phone scrolls the wide test table in its box, not the whole page.
    assert '<div class="table-wrap">\n  <table class="test-results">' in page


class SandboxWithAMoment(PlainSandbox):
    """``PlainSandbox`` that does ``meanwhile()`` once during its first run: what the
    learner does while a grading job's code runs."""

    name = "with_a_moment"

    def __init__(self, meanwhile):
        super().__init__()
        self.meanwhile = meanwhile

    def run(self, request):
        if self.runs == 0:
            self.meanwhile()
        return super().run(request)


@pytest.mark.parametrize("meanwhile, score", [
    ("submits", 1.0),           # the job grades the answer the attempt was finished with
    ("saves again", 3.0),       # its grade is for an answer that is no longer there
])
def test_a_grade_that_finishes_after_the_learner_moved_on_is_written_once(
        app_factory, make_user, meanwhile, score):
    from lmscore.db import utcnow
    from lmscore.services import quizzes

    def learner_acts():
        session = lms.db.session
        if meanwhile == "saves again":
            quizzes.save_answer(lms, session, student, attempt["id"], code["id"],
                                quizzes.AnswerInput(text=READ_AND_ADD.format("a + b")),
                                utcnow())
        quizzes.submit(lms, session, student, attempt["id"], utcnow())

    app = app_with_sandbox(app_factory, SandboxWithAMoment(learner_acts))
    lms = app.extensions["lmscore"]
    staff, student = ApiClient(app, make_user("trainer")), make_user("student")
    quiz = published_code_quiz(staff, SUM_CASES, feedback_timing="immediate")
    learner = ApiClient(app, student)
    attempt = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    code = attempt["questions"][0]
    learner.put(f"/api/v1/attempts/{attempt['id']}/answers/{code['id']}",
                json={"text": READ_AND_ADD.format("abs(a) + abs(b)")})  # 1 of 3 points

    with app.app_context():
        lms.jobs.drain()
        result = learner.get(f"/api/v1/attempts/{attempt['id']}").json
        assert result["status"] == "submitted"
        assert (result["questions"][0]["score"], result["score"]) == (score, score)
        assert announced(lms) == 1


class BrokenSandbox(PlainSandbox):
    name = "broken"

    def run(self, request):
        raise SandboxError("the engine is down")


def test_a_code_answer_the_sandbox_could_not_run_goes_to_a_trainer_as_code(
        app_factory, make_user):
    app = app_with_sandbox(app_factory, BrokenSandbox())
    trainer, student = make_user("trainer"), make_user("student")
    quiz = published_code_quiz(ApiClient(app, trainer), ADD_TESTS)
    learner = ApiClient(app, student)
    attempt = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    answer = "def __init__(x):\n    # not a heading\n    return x < 2\n"
    learner.put(f"/api/v1/attempts/{attempt['id']}/answers/{attempt['questions'][0]['id']}",
                json={"text": answer})
    learner.post(f"/api/v1/attempts/{attempt['id']}/submit")
    with app.app_context():
        app.extensions["lmscore"].jobs.drain()

    page = lms_web_client(app, trainer).get(
        f"/trainer/quizzes/{quiz['id']}/grading").get_data(as_text=True)
    assert ('<pre class="code"><code>def __init__(x):\n    # not a heading\n'
            '    return x &lt; 2\n</code></pre>') in page
    assert ('<summary>The tests</summary><pre class="code"><code>from solution import add\n'
            '\ndef test_small():') in page


def announced(lms) -> int:
    from sqlalchemy import func, select

    from lmscore.models import OutboxEvent

    return lms.db.session.scalar(select(func.count()).where(OutboxEvent.name == "quiz_submitted"))
