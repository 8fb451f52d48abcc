"""Trainer pages: review queue, submission feedback form, assigned learners."""

import re

import pytest
from tracks_fixture import write_track

from lmscore.models import Deliverable
from lmscore.services import content
from lmscore.testing.plugin import DEFAULT_PASSWORD


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    write_track(root, "TT")
    return {"plugins": {"enabled": ["content_folder"], "content_folder": {"folders": [str(root)]}}}


@pytest.fixture
def setup(app, lms, make_user, app_factory):
    """A trainer, an assigned learner with one submitted report, and an unassigned one."""
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))
    trainer = make_user("trainer", name="Tom Trainer")
    mine = make_user("student", name="Mia Mine", trainer_id=trainer.id)
    other = make_user("student", name="Olaf Other")
    submitted = {}
    for learner in (other, mine):  # the unassigned learner submits first (older)
        client = app.test_client()
        client.sign_in(learner.email, DEFAULT_PASSWORD)
        client.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
        first = int(re.search(r'href="/projects/(\d+)"', client.get("/tracks/TT").text).group(1))
        report = lms.db.session.query(Deliverable).filter_by(project_id=first, key="report").one()
        response = client.submit(f"/projects/{first}", {"text": f"Work of {learner.name}",
                                                         "action": "submit"},
                                 action=f"/deliverables/{report.id}/submit")
        assert response.status_code == 302
        submitted[learner.name] = client
    return trainer, mine, other, submitted


def test_queue_lists_assigned_learners_first(setup, web):
    trainer, *_ = setup
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    html = web.get("/trainer/queue").text
    assert html.index("Mia Mine") < html.index("Olaf Other")
    assert "yours" in html


def test_students_get_403_and_visitors_login(setup, web, make_user):
    for path in ("/trainer/queue", "/trainer/learners"):
        assert "/login" in web.get(path).location
    student = make_user("student")
    web.sign_in(student.email, DEFAULT_PASSWORD)
    for path in ("/trainer/queue", "/trainer/learners", "/trainer/submissions/1"):
        assert web.get(path).status_code == 403


def test_feedback_form_errors_and_review(setup, web):
    trainer, mine, _other, clients = setup
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    queue = web.get("/trainer/queue").text
    link = re.search(r'href="(/trainer/submissions/\d+)"', queue).group(1)
    detail = web.get(link).text
    assert "Work of Mia Mine" in detail and "Send feedback" in detail
    missing = web.submit(link, {"decision": "changes_requested", "feedback": " "})
    assert missing.status_code == 422 and "Say what needs to change." in missing.text
    assert ('aria-describedby="feedback-help feedback-error" aria-invalid="true" autofocus>'
            in missing.text)
    bad_score = web.submit(link, {"decision": "approved", "feedback": "ok", "score": "lots"})
    assert bad_score.status_code == 422 and "Enter a number from 0 to 100." in bad_score.text
    assert web.post(link, data={"decision": "approved"}).status_code == 400  # no CSRF token
    done = web.submit(link, {"decision": "approved", "feedback": "Great **job**", "score": "90"})
    assert done.status_code == 302
    assert "Send feedback" not in web.get(link).text
    learner_view = clients["Mia Mine"].get("/dashboard").text
    assert "Great <strong>job</strong>" in learner_view


def test_assigned_learners_progress(setup, web):
    trainer, *_ = setup
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    html = web.get("/trainer/learners").text
    assert "Mia Mine" in html and "Olaf Other" not in html
    assert "<progress" in html and "Project 1" in html


def test_learner_downloads_own_file_only(setup, web, make_user):
    *_, clients = setup
    assert clients["Mia Mine"].get("/submissions/999999/file").status_code == 404


def test_quiz_forms_name_the_tracks(setup, web):
    trainer, *_ = setup
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    for page in ("/trainer/quizzes/new", "/trainer/quizzes/generate"):
        assert '<option value="TT">TT: Test Track TT</option>' in web.get(page).text, page
