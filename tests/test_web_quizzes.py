"""Quiz pages: the learner's list, attempt (forms and the autosave endpoint), results; the
trainer's builder, generation status, statistics and manual grading."""

import re
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from test_web_pages import assert_no_inline_script

from lmscore import hookimpl
from lmscore.capabilities import GeneratedQuestion, QuizGenerator
from lmscore.db import utcnow
from lmscore.models import QuizAttempt, User
from lmscore.testing import ApiClient
from lmscore.testing.plugin import DEFAULT_PASSWORD

SECRET = "Because-four-is-even"
QUESTIONS = [
    {"type": "mcq_single", "prompt": "2 + 2?", "options": {"A": "three", "B": "four"},
     "answer": "B", "explanation": SECRET},
    {"type": "numeric", "prompt": "Pi?", "answer": {"value": 3.14, "tolerance": 0.01}},
    {"type": "theory", "prompt": "Explain *recursion*.", "answer": "A function calling itself."},
]


@pytest.fixture
def trainer(make_user):
    return make_user("trainer", name="Tom Trainer")


@pytest.fixture
def staff(app, trainer):
    return ApiClient(app, trainer)


def make_quiz(staff, **settings):
    quiz = staff.post("/api/v1/quizzes", json={"title": "Arithmetic", "questions": QUESTIONS,
                                               **settings}).json
    assert staff.post(f"/api/v1/quizzes/{quiz['id']}/publish").status_code == 200
    return quiz


@pytest.fixture
def learner(web, make_user):
    user = make_user("student", name="Lea Learner")
    web.sign_in(user.email, DEFAULT_PASSWORD)
    return user


def start(web, quiz_id) -> int:
    response = web.submit(f"/quizzes/{quiz_id}", {}, action=f"/quizzes/{quiz_id}/start")
    assert response.status_code == 302, response.text
    return int(re.search(r"/attempts/(\d+)$", response.location).group(1))


def question_ids(lms, attempt_id) -> dict[str, int]:
    attempt = lms.db.session.get(QuizAttempt, attempt_id)
    return {q.type: q.id for q in attempt.questions}


def put(web, attempt_id, question_id, body, token):
    return web.put(f"/attempts/{attempt_id}/answers/{question_id}", json=body,
                   headers={"X-CSRFToken": token})


def test_pages_per_role(web, make_user, staff):
    quiz = make_quiz(staff)
    assert web.get("/quizzes").status_code == 302  # anonymous: sign in first
    assert web.get("/trainer/quizzes").status_code == 302
    student = make_user("student")
    web.sign_in(student.email, DEFAULT_PASSWORD)
    html = web.get("/quizzes").text
    assert "Arithmetic" in html and 'href="/trainer/quizzes"' not in html
    assert_no_inline_script(html)
    assert web.get(f"/quizzes/{quiz['id']}").status_code == 200
    for page in ("/trainer/quizzes", "/trainer/quizzes/new", "/trainer/quizzes/generate",
                 f"/trainer/quizzes/{quiz['id']}/statistics"):
        assert web.get(page).status_code == 403, page
    for role in ("trainer", "admin"):
        web.post("/logout", data={"csrf_token": web.csrf_token()})
        web.sign_in(make_user(role).email, DEFAULT_PASSWORD)
        for page in ("/trainer/quizzes?owner=all", "/trainer/quizzes/new",
                     "/trainer/quizzes/generate", f"/trainer/quizzes/{quiz['id']}/edit",
                     f"/trainer/quizzes/{quiz['id']}/statistics",
                     f"/trainer/quizzes/{quiz['id']}/grading"):
            response = web.get(page)
            assert response.status_code == 200, (role, page)
            assert_no_inline_script(response.text)
        assert "Quiz builder" in web.get("/quizzes").text


def test_take_a_quiz_with_plain_forms(web, lms, learner, staff):
    quiz = make_quiz(staff, time_limit_s=600, pass_mark=60)
    listing = web.get("/quizzes").text
    assert "Arithmetic" in listing and "0 of" not in listing
    attempt_id = start(web, quiz["id"])
    page = web.get(f"/attempts/{attempt_id}").text
    assert "Question 1 of 3" in page and "Time left:" in page and 'data-remaining="' in page
    assert SECRET not in page and "Right answer" not in page
    assert_no_inline_script(page)
    ids = question_ids(lms, attempt_id)
    token = web.csrf_token(f"/attempts/{attempt_id}")
    url = f"/attempts/{attempt_id}"
    moved = web.post(url + "?q=1", data={"csrf_token": token, "question": ids["mcq_single"],
                                         f"q{ids['mcq_single']}": "B", "go": "q:2"})
    assert moved.status_code == 302 and moved.location.endswith(f"{url}?q=2")
    bad = web.post(url, data={"csrf_token": token, "q": "2", "question": ids["numeric"],
                              f"q{ids['numeric']}": "pi", "go": "q:3"})
    assert bad.status_code == 422 and "Not a valid number." in bad.text
    # The question in error takes the focus; its legend and message are read out.
    numeric = ids["numeric"]
    assert re.search(rf'<fieldset [^>]*data-question="{numeric}"[^>]*'
                     rf'aria-describedby="q{numeric}-error" tabindex="-1" autofocus>', bad.text)
    web.post(url, data={"csrf_token": token, "question": ids["numeric"],
                        f"q{ids['numeric']}": "3.14", "go": "finish"})
    everything = web.get(url + "?view=all").text
    assert everything.count('class="panel question"') == 3 and "One question per page" in everything
    confirm = web.get(f"{url}/submit").text
    assert "1 of 3 question" in confirm and "is not answered" in confirm
    done = web.post(f"{url}/submit", data={"csrf_token": token})
    assert done.status_code == 302 and done.location.endswith(f"{url}/result")
    result = web.get(f"{url}/result").text
    assert "2 / 3" in result and "66.67 %" in result and "passed" in result
    assert SECRET in result and "Right answer:</strong> four" in result
    assert web.get(url).status_code == 302  # a finished attempt shows its result
    history = web.get(f"/quizzes/{quiz['id']}").text
    assert "Attempt 1" in history and "66.67 %" in history
    assert "66.67 %" in web.get("/quizzes").text  # best score


def test_autosave_endpoint(web, lms, app, learner, staff, make_user):
    quiz = make_quiz(staff, time_limit_s=60)
    attempt_id = start(web, quiz["id"])
    ids = question_ids(lms, attempt_id)
    token = web.csrf_token(f"/attempts/{attempt_id}")
    lms.db.session.get(User, learner.id).timezone = "Asia/Tokyo"
    lms.db.session.commit()
    saved = put(web, attempt_id, ids["mcq_single"], {"selected": ["A"]}, token)
    assert saved.status_code == 200 and saved.json["correct"] is None
    # The status line's time is the learner's, as on the page, not the browser's.
    assert saved.json["saved_at_local"] == datetime.fromisoformat(
        saved.json["saved_at"]).astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M:%S")
    again = put(web, attempt_id, ids["mcq_single"], {"selected": ["B"]}, token)
    assert again.status_code == 200
    assert lms.db.session.get(QuizAttempt, attempt_id).questions[0].selected == ["B"]
    bad = put(web, attempt_id, ids["mcq_single"], {"selected": ["Z"]}, token)
    assert bad.status_code == 422 and "No option 'Z'" in bad.json["error"]["message"]
    assert put(web, attempt_id, ids["numeric"], {"value": "x"}, token).status_code == 422
    no_csrf = web.put(f"/attempts/{attempt_id}/answers/{ids['numeric']}", json={"value": 3})
    assert no_csrf.status_code == 400

    other = app.test_client()
    other.sign_in(make_user("student").email, DEFAULT_PASSWORD)
    other_token = other.csrf_token("/quizzes")
    assert put(other, attempt_id, ids["numeric"], {"value": 3.14}, other_token).status_code == 404
    assert other.get(f"/attempts/{attempt_id}").status_code == 404
    assert other.get(f"/attempts/{attempt_id}/result").status_code == 404

    row = lms.db.session.get(QuizAttempt, attempt_id)
    row.deadline_at = utcnow() - timedelta(seconds=lms.settings.quizzes.grace_s + 1)
    lms.db.session.commit()
    late = put(web, attempt_id, ids["numeric"], {"value": 3.14}, token)
    assert late.status_code == 409 and "Time is up" in late.json["error"]["message"]
    # The auto-closed attempt shows its result, graded from what was saved in time.
    page = web.get(f"/attempts/{attempt_id}", follow_redirects=True).text
    assert "Time ran out" in page and "1 / 3" in page


def test_feedback_timing_controls_what_the_page_shows(web, lms, learner, staff):
    deferred = make_quiz(staff)
    attempt_id = start(web, deferred["id"])
    ids = question_ids(lms, attempt_id)
    token = web.csrf_token(f"/attempts/{attempt_id}")
    saved = put(web, attempt_id, ids["mcq_single"], {"selected": ["B"]}, token)
    assert saved.json["correct"] is None
    page = web.get(f"/attempts/{attempt_id}").text
    assert "Right." not in page and SECRET not in page and "Saved at" in page

    immediate = make_quiz(staff, feedback_timing="immediate")
    attempt_id = start(web, immediate["id"])
    ids = question_ids(lms, attempt_id)
    saved = put(web, attempt_id, ids["mcq_single"], {"selected": ["B"]}, token)
    assert saved.json["correct"] is True
    page = web.get(f"/attempts/{attempt_id}").text
    assert "Right." in page and SECRET not in page  # explanations wait for the end


def test_csrf_is_required(web, learner, staff):
    quiz = make_quiz(staff)
    assert web.post(f"/quizzes/{quiz['id']}/start").status_code == 400
    attempt_id = start(web, quiz["id"])
    assert web.post(f"/attempts/{attempt_id}/submit").status_code == 400
    assert web.post("/trainer/quizzes/new", data={"title": "x"}).status_code == 400


def builder_form(**fields):
    form = {"title": "Built", "description": "About *sums*.", "track": "", "pass_mark": "50",
            "feedback_timing": "deferred", "time_limit_min": "5", "attempts_allowed": "2",
            "rows": "2", "q0-type": "mcq_single", "q0-prompt": "1 + 1?", "q0-opt-A": "2",
            "q0-opt-B": "3", "q0-correct": "A", "q0-points": "1", "q1-type": "short_answer",
            "q1-prompt": "Capital of France?", "q1-answer": "Paris\nparis", "q1-points": "2",
            "action": "save"}
    return {**form, **fields}


def test_trainer_builds_edits_publishes_and_deletes(web, lms, trainer, make_user, app):
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    bad = web.submit("/trainer/quizzes/new", builder_form(**{"q0-correct": ""}))
    assert bad.status_code == 422 and "Question 1" in bad.text
    assert "a single-choice answer is one existing option key" in bad.text
    assert ('<fieldset class="question-row" id="row-0" aria-describedby="q0-error"'
            ' aria-invalid="true" autofocus tabindex="-1">') in bad.text
    bad = web.submit("/trainer/quizzes/new", builder_form(time_limit_min="soon"))
    assert bad.status_code == 422 and "Enter a number." in bad.text
    more = web.submit("/trainer/quizzes/new", builder_form(action="rows"))
    assert more.status_code == 200 and 'name="q4-prompt"' in more.text
    # A tampered row count reads at most a full quiz's rows, at once.
    huge = web.submit("/trainer/quizzes/new", builder_form(action="rows", rows=str(10**12)))
    assert huge.status_code == 200 and huge.text.count('name="q') < 2000

    created = web.submit("/trainer/quizzes/new", builder_form())
    assert created.status_code == 302
    quiz_id = int(re.search(r"/trainer/quizzes/(\d+)/edit", created.location).group(1))
    edit = web.get(f"/trainer/quizzes/{quiz_id}/edit").text
    assert "Capital of France?" in edit and 'value="5"' in edit and "Paris\nparis" in edit
    changed = web.submit(f"/trainer/quizzes/{quiz_id}/edit",
                         builder_form(title="Built again", **{"q1-remove": "on"}))
    assert changed.status_code == 302
    edit = web.get(f"/trainer/quizzes/{quiz_id}/edit").text
    assert "Built again" in edit and "Capital of France?" not in edit

    published = web.submit("/trainer/quizzes", {}, action=f"/trainer/quizzes/{quiz_id}/publish")
    assert published.status_code == 302
    locked = web.get(f"/trainer/quizzes/{quiz_id}/edit").text
    assert "its questions are fixed" in locked and "1 + 1?" in locked

    other = app.test_client()
    other.sign_in(make_user("trainer").email, DEFAULT_PASSWORD)
    row = other.get("/trainer/quizzes?owner=all").text
    assert "Built again" in row and f'/trainer/quizzes/{quiz_id}/delete"' not in row
    refused = other.submit("/trainer/quizzes", {}, action=f"/trainer/quizzes/{quiz_id}/delete")
    assert refused.status_code == 403
    deleted = web.submit("/trainer/quizzes", {}, action=f"/trainer/quizzes/{quiz_id}/delete")
    assert deleted.status_code == 302
    web.get("/trainer/quizzes")  # shows the flash message
    assert f'id="quiz-{quiz_id}"' not in web.get("/trainer/quizzes").text


class EchoGenerator(QuizGenerator):
    name = "echo"

    def generate(self, request):
        return [GeneratedQuestion(type="mcq_single", prompt=f"{request.prompt} {n}?",
                                  options={"A": "yes", "B": "no"}, correct=("A",))
                for n in range(request.num_questions)]


def test_generation_form_and_status(app_factory, make_user):
    plugin = SimpleNamespace(lms_register_quiz_generators=hookimpl(lambda: [EchoGenerator()]))
    app = app_factory({"quizzes": {"default_generator": "echo"}}, plugins={"echo_gen": plugin})
    lms = app.extensions["lmscore"]
    with app.app_context():
        trainer = make_user("trainer")
    web = app.test_client()
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    form = web.get("/trainer/quizzes/generate").text
    assert '<option value="echo" selected>' in form
    bad = web.submit("/trainer/quizzes/generate", {"title": "", "num_questions": "0"})
    assert bad.status_code == 422 and "Length must be between 1 and 200." in bad.text
    sent = web.submit("/trainer/quizzes/generate", {
        "title": "Echo", "prompt": "Is it", "num_questions": "2", "types": "mcq_single",
        "difficulty": "3", "generator": "echo"})
    assert sent.status_code == 302
    status_url = sent.location
    queued = web.get(status_url).text
    assert 'http-equiv="refresh"' in queued and "queued" in queued
    lms.jobs.drain()
    ready = web.get(status_url).text
    assert 'http-equiv="refresh"' not in ready and "2 questions ready" in ready
    edit = re.search(r'href="(/trainer/quizzes/\d+/edit)"', ready).group(1)
    assert "Is it 1?" in web.get(edit).text


def test_statistics_and_manual_grading(web, lms, app, staff, trainer, make_user):
    quiz = make_quiz(staff)
    learner = make_user("student", name="Gia Graded")
    web.sign_in(learner.email, DEFAULT_PASSWORD)
    attempt_id = start(web, quiz["id"])
    ids = question_ids(lms, attempt_id)
    token = web.csrf_token(f"/attempts/{attempt_id}")
    put(web, attempt_id, ids["mcq_single"], {"selected": ["B"]}, token)
    put(web, attempt_id, ids["theory"], {"text": "It calls <b>itself</b>."}, token)
    web.post(f"/attempts/{attempt_id}/submit", data={"csrf_token": token})
    assert "awaiting grading" in web.get(f"/attempts/{attempt_id}/result").text

    teacher = app.test_client()
    teacher.sign_in(trainer.email, DEFAULT_PASSWORD)
    stats = teacher.get(f"/trainer/quizzes/{quiz['id']}/statistics").text
    assert "Finished attempts" in stats and "2 + 2?" in stats and "Facility" in stats
    page = f"/trainer/quizzes/{quiz['id']}/grading"
    grading = teacher.get(page).text
    assert "Gia Graded" in grading and "&lt;b&gt;itself&lt;/b&gt;" in grading
    action = f"/trainer/attempts/{attempt_id}/questions/{ids['theory']}/grade"
    too_high = teacher.submit(page, {"quiz_id": quiz["id"], "score": "5"}, action=action)
    assert too_high.status_code == 422 and "between 0 and 1" in too_high.text
    tampered = teacher.submit(page, {"quiz_id": str(10**20), "score": "x"}, action=action)
    assert tampered.status_code == 404  # the page to show the error on: no such quiz
    graded = teacher.submit(page, {"quiz_id": quiz["id"], "score": "1", "feedback": "Good."},
                            action=action)
    assert graded.status_code == 302 and "Nothing waits for grading" in teacher.get(page).text
    result = web.get(f"/attempts/{attempt_id}/result").text
    assert "2 / 3" in result and "Good." in result


def test_free_text_answers_wait_in_the_trainer_queue(app, lms, make_user, web):
    from lmscore.db import utcnow
    from lmscore.services import quizzes
    from lmscore.testing.plugin import DEFAULT_PASSWORD

    trainer = make_user("trainer")
    learner = make_user("student", trainer_id=trainer.id)
    with app.app_context():
        session = lms.db.session
        quiz = quizzes.create_quiz(session, trainer, {"title": "Essay"}, [
            quizzes.QuestionInput(type="theory", prompt="Explain joins.", answer="Rows...")], [])
        quizzes.publish(session, trainer, quiz)
        attempt, _ = quizzes.start_attempt(lms, session, learner, quiz.id, utcnow())
        quizzes.save_answer(lms, session, learner, attempt.id, attempt.questions[0].id,
                            quizzes.AnswerInput(text="They combine rows."), utcnow())
        quizzes.submit(lms, session, learner, attempt.id, utcnow())
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    page = web.get("/trainer/queue").get_data(as_text=True)
    assert "Quiz answers to grade" in page and "Essay" in page and learner.name in page


def test_statistics_show_prompts_as_text_not_markdown(app, staff, trainer, make_user):
    quiz = staff.post("/api/v1/quizzes", json={"title": "Markdown", "questions": [
        {"type": "short_answer", "prompt": "What does **SQL** stand for? <b>x</b>",
         "answer": ["structured query language"]}]}).json
    staff.post(f"/api/v1/quizzes/{quiz['id']}/publish")
    learner = ApiClient(app, make_user("student"))
    attempt = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    learner.post(f"/api/v1/attempts/{attempt['id']}/submit")
    teacher = app.test_client()
    teacher.sign_in(trainer.email, DEFAULT_PASSWORD)
    page = teacher.get(f"/trainer/quizzes/{quiz['id']}/statistics").text
    assert "What does SQL stand for? &lt;b&gt;x&lt;/b&gt;" in page and "**SQL**" not in page
