"""A learner's notification settings and the dashboard's recommendations, in Chromium."""

from __future__ import annotations

import pytest

from lmscore.services import learning

from .conftest import sign_in

pytestmark = pytest.mark.browser


def test_learner_sets_notifications_and_reads_why_a_step_is_recommended(
    live_server, browser_context, screenshot
):
    base = live_server.url
    user = live_server.make_user("student", name="Nora Notified", email="nora@example.org")
    live_server.call(lambda lms, session: learning.enrol(
        lms, session, session.get(type(user), user.id), "TT"))
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, "nora@example.org")

    page.goto(f"{base}/profile")
    page.get_by_role("link", name="Notification settings").click()
    reviewed = page.get_by_label("Your submission was reviewed")
    assert reviewed.input_value() == "immediate"
    reviewed.select_option(label="Daily summary")
    page.get_by_label("Your quiz result").select_option(label="Off")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    page.reload()
    assert page.get_by_label("Your submission was reviewed").input_value() == "digest"
    assert page.get_by_label("Your quiz result").input_value() == "off"
    screenshot(page, "learner-notification-settings")

    page.goto(f"{base}/dashboard")
    recommended = page.locator("section.recommendations")
    recommended.get_by_role("heading", name="Recommended for you").wait_for()
    why = recommended.locator("details").first
    assert not why.locator("p").first.is_visible()
    why.get_by_text("Why am I seeing this?").click()
    assert why.locator("p").first.is_visible()
    assert why.get_by_role("row", name="prerequisites completed").inner_text().split()[-1] == "none"
    screenshot(page, "learner-dashboard-recommendations")
    assert errors == []
