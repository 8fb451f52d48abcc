"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis): for
every operation, as every role, valid and invalid requests never get a 5xx and every answer
matches the documented status codes, content type and response schema.

Bounded for CI: LMSCORE_FUZZ_EXAMPLES examples per operation, role and generation mode
(default 3), derandomized so a run is reproducible; raise it locally to dig deeper, e.g.
``LMSCORE_FUZZ_EXAMPLES=200 pytest tests/reliability/test_api_fuzz.py``. Every failing
operation is reported, not only the first.
"""

from __future__ import annotations

import os

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lmscore.db import utcnow
from lmscore.models import Deliverable, Project, Step, Track
from lmscore.services import banks, learning, quizzes
from lmscore.services.auth import make_access_token
from lmscore.services.banks import ItemSpec

ROLES = ("anonymous", "student", "trainer", "admin", "superadmin")
EXAMPLES = int(os.environ.get("LMSCORE_FUZZ_EXAMPLES", "3"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
    # Shrinking a failure costs more runs than CI has; the report shows the failing request.
    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
)


def _seed(lms, make_user) -> None:
    """Something behind the small ids the fuzzer tries: a track with a bank, a published quiz
    and a learner enrolled and part-way through both."""
    session = lms.db.session
    trainer, learner = make_user("trainer"), make_user("student")
    track = Track(code="FZ", name="Fuzz track")
    project = Project(track=track, number=1, slug="p", title="P")
    session.add_all([track, project,
                     Step(project=project, number=1, slug="s", title="S", body_markdown="x"),
                     Deliverable(project=project, key="d", title="D", kind="text")])
    session.flush()
    bank = banks.get_or_create_bank(session, "FZ", "Fuzz bank", track.id)
    banks.import_items(session, bank, [(f"item {n}", ItemSpec(
        external_id=f"fz-{n}", type="mcq_single", prompt="?", options={"A": "a", "B": "b"},
        answer="A", facet_path=("a", "b", "c", "d"))) for n in range(3)], "fuzz")
    session.commit()
    learning.enrol(lms, session, learner, "FZ")
    quiz = quizzes.create_quiz(session, trainer, {"title": "Fuzz quiz"}, [
        quizzes.QuestionInput(type="mcq_single", prompt="Pick.", options={"A": "a", "B": "b"},
                              answer="A")], [])
    quizzes.publish(session, trainer, quiz)
    quizzes.start_attempt(lms, session, learner, quiz.id, utcnow())


def _cases(operation):
    modes = [operation.as_strategy(generation_mode=mode)
             for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    return st.one_of(modes)


def _fuzz(operation, headers: dict[str, str]) -> None:
    @SETTINGS
    @hypothesis.given(case=_cases(operation))
    def run(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


@pytest.mark.parametrize("role", ROLES)
def test_api_answers_every_generated_request_by_its_schema(role, app, lms, make_user):
    with app.app_context():
        _seed(lms, make_user)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        # A fresh user per operation: one operation (log out everywhere, change the
        # password, delete the account) must not turn the others into plain 401s.
        headers = {}
        if role != "anonymous":
            with app.app_context():
                headers["Authorization"] = f"Bearer {make_access_token(lms, make_user(role))}"

        try:
            _fuzz(operation, headers)
        # schemathesis reports failures as a BaseExceptionGroup: catch it with the rest.
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001
            failures.append(f"{operation.label}: {str(exc)[:3000]}")
    assert operations > 20
    assert not failures, f"{len(failures)} operation(s) failed as {role}:\n\n" + "\n\n".join(
        failures)
