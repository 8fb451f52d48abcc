"""Learner, trainer and admin journeys and an XSS probe, in a real (headless) Chromium."""

from __future__ import annotations

import re

import pytest

from lmscore.models import Deliverable, Submission
from lmscore.services import learning, submissions

from .conftest import PASSWORD, sign_in

pytestmark = pytest.mark.browser


def register(page, base: str, name: str, email: str) -> None:
    page.goto(f"{base}/register")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/")


def submit_report(page, text: str) -> None:
    report = page.locator("article", has=page.get_by_role("heading", name=re.compile("Report 1")))
    report.get_by_label("Your answer (Markdown)").fill(text)
    report.get_by_role("button", name="Submit for review").click()
    page.wait_for_load_state()


def learner_with_submission(live, name: str, text: str):
    """A learner enrolled in TT with ``text`` submitted for project 1's report."""
    user = live.make_user("student", name=name, email=f"{name.split()[0].lower()}@example.org")

    def prepare(lms, session):
        learner = session.get(type(user), user.id)
        learning.enrol(lms, session, learner, "TT")
        report = session.query(Deliverable).filter_by(key="report").order_by(Deliverable.id).first()
        return submissions.create(lms, session, learner, submissions.SubmissionInput(
            deliverable_id=report.id, text=text)).id

    return user, live.call(prepare)


def test_learner_journey(live_server, browser_context, screenshot):
    base = live_server.url
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    register(page, base, "Lena Learner", "lena@example.org")

    page.goto(f"{base}/tracks/TT")
    page.get_by_role("button", name="Enrol in TT").click()
    page.get_by_text("You are enrolled").first.wait_for()
    screenshot(page, "learner-track")

    page.get_by_role("link", name="1. Project 1").click()
    page.get_by_role("heading", name="Step 1: Step 1.1").wait_for()
    page.get_by_role("button", name="Mark step 1 complete").first.click()
    page.get_by_text("“Step 1.1” marked complete.").wait_for()

    submit_report(page, "I built **thing 1**.")
    page.get_by_text("Attempt 1 submitted for review.").wait_for()
    assert page.locator(".markdown strong", has_text="thing 1").count() == 1
    screenshot(page, "learner-project")

    page.goto(f"{base}/review/TT")
    for n in range(5):
        page.locator("#question").wait_for()
        page.keyboard.press("1")  # the first option is the right one in the test bank
        page.get_by_role("status").filter(has_text="Right!").wait_for()
        # The result can show before its deferred script has run: a key pressed earlier is lost.
        page.wait_for_load_state("domcontentloaded")
        if n == 0:
            screenshot(page, "learner-review-result")
        # The URL stays /review/TT: wait for the navigation the key starts, not the URL.
        with page.expect_navigation():
            page.keyboard.press(" ")
    page.goto(f"{base}/dashboard")
    assert page.locator("svg[role=img]").count() == 3
    assert "1 day review streak" in page.locator("main").inner_text()
    screenshot(page, "learner-dashboard")
    assert not errors


def test_trainer_journey(live_server, browser_context, screenshot):
    base = live_server.url
    learner, submission_id = learner_with_submission(live_server, "Tara Taught", "My report.")
    trainer = live_server.make_user("trainer", name="Theo Trainer", email="theo@example.org")
    page = browser_context.new_page()
    sign_in(page, base, trainer.email)
    page.goto(f"{base}/trainer/queue")
    page.get_by_role("row", name=re.compile("Tara Taught")).get_by_role("link").click()
    page.get_by_text("My report.").wait_for()
    page.get_by_label("Request changes").check()
    page.get_by_label("Feedback (Markdown)").fill("Add a **chart**, please.")
    page.get_by_label("Score (0–100, optional)").fill("60")
    screenshot(page, "trainer-submission")
    page.get_by_role("button", name="Send feedback").click()
    page.get_by_text("Feedback sent.").wait_for()

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, learner.email)
    page.goto(f"{base}/dashboard")
    feedback = page.locator(".feedback", has_text="please")
    assert feedback.locator("strong", has_text="chart").count() == 1
    screenshot(page, "learner-feedback")

    def status(lms, session):
        return session.get(Submission, submission_id).status

    assert live_server.call(status) == "changes_requested"


def test_admin_journey(live_server, browser_context, screenshot):
    base = live_server.url
    admin = live_server.make_user("admin", name="Ada Admin", email="ada@example.org")
    target = live_server.make_user("student", name="Rolf Role", email="rolf@example.org")
    page = browser_context.new_page()
    sign_in(page, base, admin.email)
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Plugins").click()
    assert page.locator("#plugin-content_folder").get_by_text("enabled").count() == 1
    screenshot(page, "admin-plugins")

    page.get_by_role("link", name="Users").click()
    page.get_by_label("Search name or email").fill("rolf")
    page.get_by_role("button", name="Search").click()
    row = page.locator(f"#user-{target.id}")
    row.get_by_label("Role of Rolf Role").select_option("trainer")
    row.get_by_role("button", name="Change").click()
    page.get_by_text("Rolf Role is now trainer.").wait_for()
    assert page.get_by_label("Role of Rolf Role").input_value() == "trainer"
    screenshot(page, "admin-users")


def test_xss_probe(live_server, browser_context, screenshot):
    base = live_server.url
    name = '<script>alert("name")</script><img src=x onerror=alert("img")>'
    answer = 'Look: <img src=x onerror=alert("answer")> <script>alert("a2")</script>'
    dialogs, console = [], []
    page = browser_context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: console.append(message.text))
    register(page, base, name, "xss@example.org")
    assert name in page.locator("header").inner_text()  # shown as text

    page.goto(f"{base}/tracks/TT")
    page.get_by_role("button", name="Enrol in TT").click()
    page.get_by_role("link", name="1. Project 1").click()
    submit_report(page, answer)
    assert answer in page.locator("main").inner_text()
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    screenshot(page, "xss-project")

    trainer = live_server.make_user("trainer", name="Xavi Trainer", email="xavi@example.org")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, trainer.email)
    page.goto(f"{base}/trainer/queue")
    assert name in page.locator("main").inner_text()
    page.get_by_role("row").filter(has_text='alert("name")').get_by_role("link").click()
    assert answer in page.locator("main").inner_text()
    screenshot(page, "xss-trainer")
    assert not dialogs
    assert not [c for c in console if "alert" in c]
