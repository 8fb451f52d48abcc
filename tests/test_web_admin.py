"""Admin pages: users, tracks and content sync, plugins, jobs, notification deliveries,
themes."""

import pytest
from test_web_pages import assert_no_inline_script
from tracks_fixture import write_track

from lmscore.models import JobFailure, NotificationDelivery, User
from lmscore.testing.plugin import DEFAULT_PASSWORD

PAGES = ("/admin/users", "/admin/tracks", "/admin/plugins", "/admin/jobs", "/admin/notifications",
         "/admin/themes")


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    write_track(root, "TT")
    return {"plugins": {"enabled": ["content_folder"], "content_folder": {"folders": [str(root)]}}}


@pytest.fixture
def admin(web, make_user):
    user = make_user("admin", name="Ada Admin")
    web.sign_in(user.email, DEFAULT_PASSWORD)
    return user


def test_visitors_go_to_login_and_others_get_403(web, make_user):
    for path in PAGES:
        response = web.get(path)
        assert response.status_code == 302 and "/login" in response.location
    for role in ("student", "trainer"):
        user = make_user(role)
        client = web.application.test_client()
        client.sign_in(user.email, DEFAULT_PASSWORD)
        for path in PAGES:
            assert client.get(path).status_code == 403, (role, path)
        assert client.post("/admin/tracks/sync", data={
            "csrf_token": client.csrf_token("/")}).status_code == 403


def test_every_page_renders_for_admins(admin, web):
    for path in PAGES:
        response = web.get(path)
        assert response.status_code == 200, path
        assert_no_inline_script(response.text)
    assert 'href="/admin/users"' in web.get("/").text  # the nav item


def test_users_search_role_trainer_and_lock(admin, web, make_user, lms):
    student = make_user("student", name="Sam Student")
    trainer = make_user("trainer", name="Tia Trainer")
    listing = web.get("/admin/users?q=sam").text
    assert "<td>Sam Student</td>" in listing and "<td>Tia Trainer</td>" not in listing

    page = "/admin/users?q=sam"
    response = web.submit(page, {"trainer_id": trainer.id, "q": "sam"},
                          action=f"/admin/users/{student.id}/trainer")
    assert response.status_code == 302 and "q=sam" in response.location
    assert "trainer is now Tia Trainer" in web.get(response.location).text
    web.submit(page, {"locked": "1"}, action=f"/admin/users/{student.id}/lock")
    assert "badge-locked" in web.get(page).text
    web.submit(page, {"new_role": "trainer"}, action=f"/admin/users/{student.id}/role")
    lms.db.session.expire_all()
    user = lms.db.session.get(User, student.id)
    assert user.role == "trainer" and user.locked_until is not None and user.trainer_id is None


def test_role_change_from_a_list_filtered_by_role(admin, web, make_user, lms):
    student = make_user("student", name="Sam Student")
    page = "/admin/users?role=student"
    form = web.get(page).text
    assert '<input type="hidden" name="role" value="student">' in form
    # What the browser posts: the list's filter (kept) and the chosen new role.
    response = web.submit(page, {"role": "student", "new_role": "trainer"},
                          action=f"/admin/users/{student.id}/role")
    assert response.status_code == 302 and response.location.endswith("/admin/users?role=student")
    lms.db.session.expire_all()
    assert lms.db.session.get(User, student.id).role == "trainer"


def test_service_errors_are_shown(admin, web, make_user):
    superadmin = make_user("superadmin")
    response = web.submit("/admin/users", {"new_role": "student"},
                          action=f"/admin/users/{superadmin.id}/role", follow_redirects=True)
    assert "Only a superadmin" in response.text
    bad = web.submit("/admin/users", {"new_role": "wizard"},
                     action=f"/admin/users/{superadmin.id}/role", follow_redirects=True)
    assert "Unknown role" in bad.text
    assert web.post(f"/admin/users/{superadmin.id}/lock", data={"locked": "1"}).status_code == 400


def test_content_sync_shows_the_report(admin, web):
    assert "No tracks yet" in web.get("/admin/tracks").text
    response = web.submit("/admin/tracks", {"source": ""}, action="/admin/tracks/sync")
    assert response.status_code == 200
    assert "Sync report" in response.text and "<strong>TT</strong>" in response.text
    assert "Test Track TT" in response.text


def test_plugins_jobs_and_themes(admin, web, lms):
    plugins = web.get("/admin/plugins").text
    assert 'id="plugin-content_folder"' in plugins and "enabled" in plugins
    lms.db.session.add(JobFailure(actor="lmscore.demo_job", message_id="m1", kwargs={"x": 1},
                                  retries=3, error="Boom <b>", traceback="Traceback…"))
    lms.db.session.commit()
    jobs = web.get("/admin/jobs").text
    assert "lmscore.demo_job" in jobs and "Boom &lt;b&gt;" in jobs
    themes = web.get("/admin/themes").text
    assert "Active theme: <strong>default</strong>" in themes


def test_user_list_pages_keep_the_filters(admin, web, lms, app):
    with app.app_context():
        lms.db.session.add_all(User(email=f"t{n}@example.org", name=f"Trainer {n}",
                                    role="trainer", password_hash="-") for n in range(55))
        lms.db.session.commit()
    first = web.get("/admin/users?role=trainer").get_data(as_text=True)
    assert "Page 1 of 2" in first and "Previous" not in first
    assert "/admin/users?role=trainer&amp;page=2" in first
    second = web.get("/admin/users?role=trainer&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and "role=trainer&amp;page=1" in second
    assert "Next</a>" not in second


@pytest.mark.parametrize("path", [
    "/admin/users?page=99999999999999999999", "/admin/notifications?page=99999999999999999999",
    "/admin/payments?page=99999999999999999999", "/admin/payments?user_id=99999999999999999999",
    "/admin/payments/export.csv?user_id=99999999999999999999",
])
def test_numbers_beyond_the_database_in_list_filters_are_not_a_500(admin, web, path):
    assert web.get(path).status_code == 200


def add_delivery(lms, n, **fields):
    lms.db.session.add(NotificationDelivery(**{
        "dedup_key": f"web-{n}", "kind": "quiz_submitted", "channel": "email", "status": "sent",
        "subject": f"Subject {n}", "text": "T", **fields}))


def test_notification_deliveries_list_filters_and_escapes(admin, web, lms, make_user):
    learner = make_user("student", name="Lea Learner")
    add_delivery(lms, 1, recipient_id=learner.id)
    add_delivery(lms, 2, kind="digest", recipient_id=learner.id, status="failed", attempts=6,
                 error="SMTPError: <script>alert(1)</script> & Co")
    add_delivery(lms, 3, channel="slack", destination="#ops", status="pending", attempts=2,
                 error="ConnectionError: timed out")
    add_delivery(lms, 4, kind="user_registered", recipient_id=learner.id, status="pending")
    lms.db.session.commit()

    page = web.get("/admin/notifications").text
    assert 'aria-current="page">Notifications</a>' in page  # its entry in the admin nav
    assert all(f"Subject {n}" in page for n in range(1, 5))
    assert "Lea Learner" in page and "#ops" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page and "<script>alert" not in page
    assert page.count("<small>retrying</small>") == 1  # the pending one that failed once
    assert_no_inline_script(page)

    failed = web.get("/admin/notifications?status=failed").text
    assert "Subject 2" in failed and "Subject 1" not in failed
    assert '<option value="failed" selected>' in failed
    by_kind = web.get("/admin/notifications?kind=digest&channel=email").text
    assert "Subject 2" in by_kind and "Subject 1" not in by_kind
    # "slack" is no channel of this app: the filter is dropped, as is a made-up status.
    assert "Subject 3" in web.get("/admin/notifications?channel=slack&status=lost").text
    assert "No deliveries match." in web.get("/admin/notifications?kind=quiz_generated").text


def test_notification_deliveries_pages_keep_the_filters(admin, web, lms):
    for n in range(55):
        add_delivery(lms, n, status="failed", error="E")
    add_delivery(lms, 99)
    lms.db.session.commit()
    first = web.get("/admin/notifications?status=failed").text
    assert "Page 1 of 2" in first and "/admin/notifications?status=failed&amp;page=2" in first
    second = web.get("/admin/notifications?status=failed&page=2").text
    assert "Page 2 of 2" in second and second.count('id="delivery-') == 5
