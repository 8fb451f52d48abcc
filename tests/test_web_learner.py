"""Learner pages: catalogue, track, project (steps, submissions), dashboard, review session."""

import re

import pytest
from test_web_pages import assert_no_inline_script
from tracks_fixture import write_bank, write_track

from lmscore.models import Deliverable, Step, Submission
from lmscore.services import content, submissions
from lmscore.testing.plugin import DEFAULT_PASSWORD
from lmscore.testing.statements import recording_statements


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    write_bank(write_track(root, "TT"))
    write_track(root, "PP", price=1500, projects=1)
    return {"plugins": {"enabled": ["content_folder"],
                        "content_folder": {"folders": [str(root)]}},
            "reviews": {"new_per_day": 5}}


@pytest.fixture
def synced(app, lms):
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))


@pytest.fixture
def learner(synced, web, make_user):
    user = make_user("student", name="Lea Learner")
    web.sign_in(user.email, DEFAULT_PASSWORD)
    return user


def ids(lms, model, **where):
    session = lms.db.session
    return [row.id for row in session.query(model).filter_by(**where).order_by(model.id)]


def project_ids(web, code="TT"):
    return [int(n) for n in re.findall(r'href="/projects/(\d+)"', web.get(f"/tracks/{code}").text)]


def test_catalogue_and_track_are_public(synced, web):
    html = web.get("/tracks").text
    assert "Test Track TT" in html and "15.00 EUR" in html
    assert_no_inline_script(html)
    track = web.get("/tracks/TT")
    assert track.status_code == 200
    assert "Project 1" in track.text and "Sign in to enrol" in track.text
    assert web.get("/tracks/NOPE").status_code == 404


def test_outline_only_until_enrolled(synced, web, learner):
    first = project_ids(web)[0]
    html = web.get(f"/projects/{first}").text
    assert "Build thing 1." in html and "Steps and deliverables are for enrolled" in html
    assert "Some <strong>teaching</strong>" not in html


def test_enrol_then_steps_and_deliverables(learner, web, lms):
    response = web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    assert response.status_code == 302
    first, second = project_ids(web)
    html = web.get(f"/projects/{first}").text
    assert "Some <strong>teaching</strong> text" in html  # Markdown rendered
    assert "Mark step 1 complete" in html
    assert 'name="text"' in html and 'type="url"' in html
    locked = web.get(f"/projects/{second}").text
    assert "This project is locked" in locked and "Project 1: Project 1" in locked
    assert "Mark step 1 complete" not in locked


def test_paid_track_shows_payment_message(learner, web, lms, monkeypatch):
    from lmscore.capabilities import CheckoutResult, PaymentStatus

    provider = lms.payment_provider_for("PP")
    if not provider.takes_payment:
        monkeypatch.setattr(type(provider), "takes_payment", True, raising=False)
    monkeypatch.setattr(provider, "start_checkout", lambda request: CheckoutResult(
        status=PaymentStatus.REQUIRES_ACTION, provider_reference="ref-1",
        checkout_url="https://pay.example/checkout/1"), raising=False)
    response = web.submit("/tracks/PP", {}, action="/tracks/PP/enrol")
    assert response.status_code == 402
    assert "costs 15.00 EUR" in response.text
    assert 'href="https://pay.example/checkout/1"' in response.text


def test_complete_step_and_submit_text(learner, web, lms):
    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    first = project_ids(web)[0]
    page = f"/projects/{first}"
    step_id = ids(lms, Step, project_id=first)[0]
    done = web.submit(page, {"shown_at": "0"}, action=f"/steps/{step_id}/complete")
    assert done.status_code == 302 and done.location.endswith(f"#step-{step_id}")
    assert "Mark step 1 complete" not in web.get(page).text

    report = ids(lms, Deliverable, project_id=first, key="report")[0]
    action = f"/deliverables/{report}/submit"
    empty = web.submit(page, {"text": "  ", "action": "submit"}, action=action)
    assert empty.status_code == 422 and "This deliverable needs text." in empty.text
    text = "My **work** <script>alert(1)</script>"
    ok = web.submit(page, {"text": text, "action": "submit"}, action=action)
    assert ok.status_code == 302
    html = web.get(page).text
    assert "Attempt 1" in html and "<strong>work</strong>" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert_no_inline_script(html)
    again = web.submit(page, {"text": "more", "action": "submit"}, action=action)
    assert again.status_code == 409 and "still waiting for review" in again.text


def test_repository_url_is_checked(learner, web, lms):
    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    first = project_ids(web)[0]
    repo = ids(lms, Deliverable, project_id=first, key="repo")[0]
    bad = web.submit(f"/projects/{first}", {"url": "not a url", "action": "submit"},
                     action=f"/deliverables/{repo}/submit")
    assert bad.status_code == 422 and "Enter a full http(s) address." in bad.text
    # Focus goes to the field (far down a long page) so its error is seen and read out.
    assert f'id="d{repo}-url"' in bad.text
    assert 'aria-describedby="url-error" aria-invalid="true" autofocus>' in bad.text


def test_a_link_beside_text_is_checked_too(learner, web, lms, api_client):
    """Reviewers get every submitted link as a link: the optional one a text deliverable
    takes over the API may not be javascript: either."""
    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    report = ids(lms, Deliverable, project_id=project_ids(web)[0], key="report")[0]
    bad = api_client(learner).post("/api/v1/submissions", json={
        "deliverable_id": report, "text": "My work", "url": "javascript:alert(document.domain)"})
    assert bad.status_code == 422 and "url" in bad.json["error"]["details"]["fields"]
    assert not ids(lms, Submission, deliverable_id=report)


def test_a_saved_draft_link_is_in_the_form_again(learner, web, lms):
    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    first = project_ids(web)[0]
    repo = ids(lms, Deliverable, project_id=first, key="repo")[0]
    saved = web.submit(f"/projects/{first}", {"url": "https://git.example/lea/thing",
                                              "action": "draft"},
                       action=f"/deliverables/{repo}/submit")
    assert saved.status_code == 302
    html = web.get(f"/projects/{first}").text
    assert 'type="url" inputmode="url" value="https://git.example/lea/thing"' in html


def test_forms_need_csrf(learner, web):
    response = web.post("/tracks/TT/enrol")
    assert response.status_code == 400 and "Form expired" in response.text


def test_signed_out_pages_redirect_to_login(synced, web):
    for path in ("/dashboard", "/review/TT"):
        response = web.get(path)
        assert response.status_code == 302 and "/login" in response.location


def test_dashboard(learner, web, lms, app):
    empty = web.get("/dashboard")
    assert empty.status_code == 200 and "not enrolled in a track yet" in empty.text
    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    html = web.get("/dashboard").text
    assert "Test Track TT" in html and "<progress" in html
    assert "Step 1.1" in html  # next step
    assert "5 new today" in html and 'href="/review/TT"' in html
    assert html.count("<svg") == 3 and 'role="img"' in html and "style=" not in html
    assert_no_inline_script(html)
    # A chart with data carries its numbers as a table too (not only the bars' tooltips).
    work_in(web, lms, "TT")
    html = web.get("/dashboard").text
    tables = re.findall(r'<details class="chart-data">.*?</details>', html, re.S)
    assert tables and all('<th scope="col">Day</th>' in t for t in tables)
    assert any(re.search(r"<td>\d{4}-\d\d-\d\d</td><td>1</td>", t) for t in tables)


def add_track_with_bank(root, code: str, projects: int) -> None:
    """Another free track with its own bank (item ids renamed: they are unique site-wide)."""
    folder = write_track(root, code, projects=projects)
    write_bank(folder)
    for bank_file in (folder / "bank").iterdir():
        bank_file.write_text(bank_file.read_text().replace('"tt-', f'"{code.lower()}-'))


def work_in(web, lms, code: str) -> None:
    """Enrol, complete the first step and answer a card: every dashboard panel gets rows."""
    web.submit(f"/tracks/{code}", {}, action=f"/tracks/{code}/enrol")
    first = project_ids(web, code)[0]
    step_id = ids(lms, Step, project_id=first)[0]
    web.submit(f"/projects/{first}", {"shown_at": "0"}, action=f"/steps/{step_id}/complete")
    card = web.get(f"/review/{code}").text
    assert "Right!" in web.submit(f"/review/{code}", {**card_fields(card), "selected": "A"}).text


def dashboard_queries(web, lms) -> list[str]:
    """The statements ``GET /dashboard`` sends, without the test's transaction control."""
    with recording_statements(lms.db.engine) as statements:
        assert web.get("/dashboard").status_code == 200
    return [s for s in statements if s.lstrip().startswith(("SELECT", "WITH"))]


def test_dashboard_statements_do_not_grow_with_tracks(learner, web, lms, app, tmp_path):
    """No N+1: the dashboard sends as many statements for one track as for four, each with
    its bank, reviews, done steps and more projects; the recommender reuses its progress."""
    work_in(web, lms, "TT")
    small = dashboard_queries(web, lms)
    for code in ("UU", "VV", "WW"):
        add_track_with_bank(tmp_path / "content", code, projects=3)
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))
    for code in ("UU", "VV", "WW"):
        work_in(web, lms, code)
    html = web.get("/dashboard").text
    assert all(f"Review {code}" in html for code in ("TT", "UU", "VV", "WW"))
    large = dashboard_queries(web, lms)
    assert len(large) == len(small), "\n".join(large)
    assert len(large) <= 20, "\n".join(large)  # 44 before progress was shared and stats grouped
    # Track progress once: the core recommender is handed the dashboard's.
    assert sum(bool(re.search(r"\bFROM projects\b", s)) for s in large) == 1, large


def card_fields(html):
    return {name: re.search(rf'name="{name}" value="([^"]+)"', html).group(1)
            for name in ("item_id", "client_attempt_id")}


def test_review_session_without_javascript(learner, web, lms):
    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    card = web.get("/review/TT").text
    assert "Question 1?" in card and 'src="/static/review.js"' in card
    form = {**card_fields(card), "selected": "A", "shown_at": "0"}
    result = web.submit("/review/TT", form)
    assert result.status_code == 200 and "Right!" in result.text and "Next card" in result.text
    # "Next card" takes the focus; the outcome is its description, so it is read out too.
    assert '<h1 id="result-title"' in result.text
    assert 'aria-describedby="result-title">Next card' in result.text
    # The same attempt posted again (a reload) changes nothing.
    assert "Right!" in web.submit("/review/TT", form).text
    card = web.get("/review/TT").text
    wrong = web.submit("/review/TT", {**card_fields(card), "selected": "B"})
    assert "Not quite." in wrong.text and "The answer: <strong>right" in wrong.text
    for _ in range(10):  # a wrong answer is due again at once: answer until nothing is left
        card = web.get("/review/TT").text
        if "All done for now" in card:
            break
        assert "Right!" in web.submit("/review/TT", {**card_fields(card), "selected": "A"}).text
    assert "All done for now" in card


def test_review_rating_buttons_for_self_rated_cards(learner, web, lms, app):
    from lmscore.models import Item

    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    with app.app_context():
        session = lms.db.session
        first = session.query(Item).order_by(Item.id).first()
        first.type, first.answer, first.options = "theory", "Because **reasons**.", {}
        session.commit()
    card = web.get("/review/TT").text
    assert "Show answer" in card and f"reveal={first.id}" in card
    shown = web.get(f"/review/TT?reveal={first.id}").text
    assert "<strong>reasons</strong>" in shown
    assert shown.count('name="rating"') == 4 and 'data-key="4"' in shown
    rated = web.submit(f"/review/TT?reveal={first.id}", {**card_fields(shown), "rating": "good"},
                       action="/review/TT")
    assert rated.status_code == 302
    assert "Next review in" in web.get("/review/TT").text


def _first_item_as(app, lms, **changes) -> None:
    from lmscore.models import Item

    with app.app_context():
        session = lms.db.session
        first = session.query(Item).order_by(Item.id).first()
        for name, value in changes.items():
            setattr(first, name, value)
        session.commit()


@pytest.mark.parametrize("typed", ["inf", "1e400", "three"])
def test_a_number_the_review_cannot_use_comes_back_in_its_field(learner, web, lms, app, typed):
    """Refused as the API refuses it, not graded wrong; the learner sees what they typed."""
    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    _first_item_as(app, lms, type="numeric", options={}, answer={"value": 3.14, "tolerance": 0})
    card = web.get("/review/TT").text
    refused = web.submit("/review/TT", {**card_fields(card), "value": typed})
    assert refused.status_code == 422
    assert "Enter a number." in refused.text and f'value="{typed}"' in refused.text
    right = web.submit("/review/TT", {**card_fields(refused.text), "value": "3.14"})
    assert "Right!" in right.text


def test_a_multiple_answer_card_sent_with_nothing_chosen_says_so(learner, web, lms, app):
    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    _first_item_as(app, lms, type="mcq_multi", answer=["A"])
    card = web.get("/review/TT").text
    refused = web.submit("/review/TT", card_fields(card))
    assert refused.status_code == 422 and "Choose an option." in refused.text
    assert 'id="selected-error"' in refused.text


def test_review_needs_enrolment(learner, web):
    assert web.get("/review/TT").status_code == 403


def test_trainer_sees_no_submission_forms(synced, web, make_user, lms):
    trainer = make_user("trainer")
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    first = project_ids(web)[0]
    html = web.get(f"/projects/{first}").text
    assert "Some <strong>teaching</strong>" in html
    assert "Submit for review" not in html and "Mark step" not in html


def test_feedback_on_project_page(learner, web, lms, make_user, app):
    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    first = project_ids(web)[0]
    report = ids(lms, Deliverable, project_id=first, key="report")[0]
    web.submit(f"/projects/{first}", {"text": "done", "action": "submit"},
               action=f"/deliverables/{report}/submit")
    trainer = make_user("trainer", name="Tom Trainer")
    with app.app_context():
        session = lms.db.session
        sub = session.query(Submission).filter_by(deliverable_id=report).one()
        submissions.review(session, trainer, sub.id, decision="changes_requested",
                           feedback="Add a *chart* <img src=x onerror=alert(1)>", score=40)
    html = web.get(f"/projects/{first}").text
    assert "Tom Trainer" in html and "<em>chart</em>" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "Resubmit" in html
    dash = web.get("/dashboard").text
    assert "Recent feedback" in dash and "<em>chart</em>" in dash


def test_a_card_id_beyond_the_database_is_not_found_not_a_500(learner, web):
    web.submit("/tracks/TT", {}, action="/tracks/TT/enrol")
    card = web.get("/review/TT").text
    sent = web.submit("/review/TT", {**card_fields(card), "item_id": str(10**20),
                                     "selected": "A"})
    assert 400 <= sent.status_code < 500
