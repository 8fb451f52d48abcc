"""A learner takes a timed quiz in a real (headless) Chromium: answers by clicking and typing,
sees each answer saved by quiz.js, submits through the confirmation page and reads the score."""

from __future__ import annotations

import re

import pytest

from lmscore.services import quizzes

from .conftest import sign_in

pytestmark = pytest.mark.browser


def test_learner_takes_a_quiz(live_server, browser_context, screenshot):
    base = live_server.url
    owner = live_server.make_user("trainer", name="Quinn Quizmaker", email="quinn@example.org")

    def create(lms, session):
        author = session.get(type(owner), owner.id)
        quiz = quizzes.create_quiz(session, author, {
            "title": "Browser quiz", "description": "Two *quick* questions.",
            "time_limit_s": 600, "pass_mark": 50}, [
            quizzes.QuestionInput(type="mcq_single", prompt="Which is a prime?",
                                  options={"A": "4", "B": "7", "C": "9"}, answer="B",
                                  explanation="7 has no divisors but 1 and itself."),
            quizzes.QuestionInput(type="numeric", prompt="6 × 7?",
                                  answer={"value": 42, "tolerance": 0}),
        ], [])
        return quizzes.publish(session, author, quiz).id

    live_server.call(create)
    learner = live_server.make_user("student", name="Quiz Taker", email="taker@example.org")
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, learner.email)

    page.get_by_role("link", name="Quizzes", exact=True).click()
    page.get_by_role("link", name="Browser quiz").click()
    page.get_by_role("button", name="Start the quiz").click()
    page.get_by_text("Question 1 of 2").wait_for()
    timer = page.get_by_role("timer")
    assert re.search(r"Time left: (09:5\d|10:00)", timer.inner_text())
    status = page.locator("[data-save-status]")

    page.get_by_label("7").check()
    status.filter(has_text=re.compile(r"Saved at \d\d:\d\d:\d\d")).wait_for()
    assert page.get_by_role("button", name="Question 1, answered").count() == 1
    screenshot(page, "learner-quiz-taking")

    page.get_by_role("button", name="Next question").click()
    page.get_by_text("Question 2 of 2").wait_for()
    page.get_by_label("Your answer (a number)").fill("42")
    # quiz.js marks the question answered once its save came back.
    page.get_by_role("button", name="Question 2, answered").wait_for()
    assert re.search(r"Saved at \d\d:\d\d:\d\d", status.inner_text())
    page.get_by_role("button", name="Show all questions on one page").click()
    assert page.locator("fieldset.question").count() == 2
    assert page.get_by_label("7").is_checked()
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    screenshot(page, "learner-quiz-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Finish and submit…").click()
    page.get_by_text("All 2 questions are answered.").wait_for()
    screenshot(page, "learner-quiz-confirm")
    page.get_by_role("button", name="Submit answers").click()
    page.get_by_role("heading", name=re.compile("Your result")).wait_for()
    main = page.locator("main").inner_text()
    assert "2 / 2" in main and "100 %" in main and "passed" in main
    assert "7 has no divisors" in main
    screenshot(page, "learner-quiz-result")
    assert not errors
