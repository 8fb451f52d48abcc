"""The users API: own profile, admin listing and edits, roles, deletion, trainer assignment."""

import pytest

from lmscore.errors import PermissionDenied
from lmscore.models import User
from lmscore.services import users
from lmscore.testing.plugin import DEFAULT_PASSWORD

USER_KEYS = {"id", "email", "name", "role", "created_at", "timezone", "email_verified",
             "trainer_id", "locked"}


def no_secrets(user_json):
    assert set(user_json) == USER_KEYS
    text = str(user_json).lower()
    assert "argon2" not in text and "hash" not in text and "token" not in text


def test_me_shows_and_edits_the_own_profile(api_client, make_user):
    me = make_user(name="Gil")
    api = api_client(me)
    r = api.get("/api/v1/users/me")
    assert r.status_code == 200
    no_secrets(r.json)
    assert r.json["name"] == "Gil" and r.json["role"] == "student"

    r = api.patch("/api/v1/users/me", json={"name": " Gil B ", "timezone": "Europe/Brussels"})
    assert r.status_code == 200
    assert (r.json["name"], r.json["timezone"]) == ("Gil B", "Europe/Brussels")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"timezone": "Mars/Olympus"}, "timezone"), ({"name": ""}, "name"),
     ({"role": "admin"}, "role"), ({"email": "new@example.org"}, "email")],
)
def test_me_refuses_bad_values_and_fields_a_user_cannot_set(api_as, body, field):
    r = api_as("student").patch("/api/v1/users/me", json=body)
    assert r.status_code == 422
    assert field in r.json["error"]["details"]["fields"]


def test_a_student_cannot_promote_themselves_through_their_id(api_client, make_user):
    me = make_user()
    r = api_client(me).patch(f"/api/v1/users/{me.id}", json={"role": "admin"})
    assert r.status_code == 403
    assert "role" in r.json["error"]["message"]


def test_users_list_is_paginated_and_filtered(api_client, make_user):
    admin = make_user("admin")
    for n in range(5):
        make_user("trainer", name=f"Coach {n}")
    make_user(name="Zed Zebra", email="zed@zoo.example")
    api = api_client(admin)

    r = api.get("/api/v1/users?page=2&page_size=2")
    assert r.status_code == 200
    assert set(r.json) == {"items", "total", "page", "page_size"}
    assert (r.json["total"], r.json["page"], r.json["page_size"]) == (7, 2, 2)
    assert len(r.json["items"]) == 2
    for item in r.json["items"]:
        no_secrets(item)

    trainers = api.get("/api/v1/users?role=trainer&page_size=100").json
    assert trainers["total"] == 5
    assert {u["role"] for u in trainers["items"]} == {"trainer"}
    assert [u["name"] for u in api.get("/api/v1/users?search=ZEBRA").json["items"]] == ["Zed Zebra"]
    assert api.get("/api/v1/users?search=zoo.example").json["total"] == 1
    # The search is literal: "%" and "_" are not wildcards.
    assert api.get("/api/v1/users?search=%25").json["total"] == 0
    assert api.get("/api/v1/users?search=_").json["total"] == 0
    assert api.get("/api/v1/users?page=99").json["items"] == []


@pytest.mark.parametrize("query", ["page_size=101", "page_size=0", "page=0", "page=x",
                                   "role=king", "search="])
def test_users_list_refuses_bad_query_arguments(api_as, query):
    r = api_as("admin").get(f"/api/v1/users?{query}")
    assert r.status_code == 422
    assert query.split("=")[0] in r.json["error"]["details"]["fields"]


def test_admin_views_and_edits_a_user(api_as, make_user, lms):
    target = make_user()
    admin = api_as("admin")
    r = admin.get(f"/api/v1/users/{target.id}")
    assert r.status_code == 200
    no_secrets(r.json)
    r = admin.patch(f"/api/v1/users/{target.id}",
                    json={"email": "New@Example.org", "name": "Renamed", "locked": True})
    assert r.status_code == 200
    assert (r.json["email"], r.json["name"], r.json["locked"]) == (
        "new@example.org", "Renamed", True)
    assert r.json["email_verified"] is False


def test_admin_email_change_to_a_taken_address_is_a_conflict(api_as, make_user):
    a, b = make_user(), make_user()
    r = api_as("admin").patch(f"/api/v1/users/{a.id}", json={"email": b.email.upper()})
    assert r.status_code == 409
    assert "email" in r.json["error"]["details"]["fields"]
    same = api_as("admin").patch(f"/api/v1/users/{a.id}", json={"email": a.email.upper()})
    assert same.status_code == 200


def test_role_change_invalidates_the_users_tokens(api_as, api_client, make_user):
    target = make_user()
    target_api = api_client(target)
    assert target_api.get("/api/v1/users/me").status_code == 200
    r = api_as("admin").patch(f"/api/v1/users/{target.id}", json={"role": "trainer"})
    assert r.status_code == 200 and r.json["role"] == "trainer"
    assert target_api.get("/api/v1/users/me").status_code == 401
    assert api_client().post("/api/v1/auth/login", json={
        "email": target.email, "password": DEFAULT_PASSWORD}).json["user"]["role"] == "trainer"


def test_role_change_ends_the_refresh_tokens_too(api_as, api_client, make_user):
    target = make_user()
    refresh = api_client().post("/api/v1/auth/login", json={
        "email": target.email, "password": DEFAULT_PASSWORD}).json["refresh"]
    api_as("admin").patch(f"/api/v1/users/{target.id}", json={"role": "trainer"})
    assert api_client().post("/api/v1/auth/refresh", json={"refresh": refresh}).status_code == 401


def test_only_a_superadmin_grants_removes_or_edits_superadmin(api_as, make_user):
    student, boss = make_user(), make_user("superadmin")
    admin = api_as("admin")
    for target, body in [(student, {"role": "superadmin"}), (boss, {"role": "student"}),
                         (boss, {"locked": True}), (boss, {"email": "x@example.org"})]:
        assert admin.patch(f"/api/v1/users/{target.id}", json=body).status_code == 403, body
    superadmin = api_as("superadmin")
    r = superadmin.patch(f"/api/v1/users/{student.id}", json={"role": "superadmin"})
    assert r.status_code == 200 and r.json["role"] == "superadmin"
    r = superadmin.patch(f"/api/v1/users/{student.id}", json={"role": "admin"})
    assert r.status_code == 200 and r.json["role"] == "admin"


def test_nobody_changes_their_own_role_or_lock(api_client, make_user):
    boss = make_user("superadmin")
    api = api_client(boss)
    assert api.patch(f"/api/v1/users/{boss.id}", json={"role": "student"}).status_code == 403
    assert api.patch(f"/api/v1/users/{boss.id}", json={"locked": True}).status_code == 403


def test_only_a_superadmin_deletes_users(api_as, api_client, make_user, lms):
    target = make_user()
    assert api_as("admin").delete(f"/api/v1/users/{target.id}").status_code == 403
    boss = make_user("superadmin")
    api = api_client(boss)
    assert api.delete(f"/api/v1/users/{boss.id}").status_code == 403
    assert api.delete(f"/api/v1/users/{target.id}").status_code == 204
    assert lms.db.session.get(User, target.id) is None
    assert api.delete(f"/api/v1/users/{target.id}").status_code == 404


# -- trainer assignment -------------------------------------------------------------------------


def test_assign_and_unassign_a_trainer(api_as, make_user):
    learner, trainer = make_user(), make_user("trainer")
    admin = api_as("admin")
    r = admin.put(f"/api/v1/users/{learner.id}/trainer", json={"trainer_id": trainer.id})
    assert r.status_code == 200 and r.json["trainer_id"] == trainer.id
    r = admin.put(f"/api/v1/users/{learner.id}/trainer", json={"trainer_id": None})
    assert r.status_code == 200 and r.json["trainer_id"] is None


def test_trainer_assignment_checks_both_roles(api_as, make_user):
    learner, trainer, other_student = make_user(), make_user("trainer"), make_user()
    admin = api_as("admin")
    r = admin.put(f"/api/v1/users/{learner.id}/trainer", json={"trainer_id": other_student.id})
    assert r.status_code == 422 and "trainer_id" in r.json["error"]["details"]["fields"]
    r = admin.put(f"/api/v1/users/{trainer.id}/trainer", json={"trainer_id": trainer.id})
    assert r.status_code == 422
    r = admin.put(f"/api/v1/users/{learner.id}/trainer", json={"trainer_id": 10**6})
    assert r.status_code == 422
    assert admin.put(f"/api/v1/users/{learner.id}/trainer", json={}).status_code == 422


@pytest.mark.lms_config({"users": {"max_students_per_trainer": 2}})
def test_the_per_trainer_maximum_is_a_409_with_a_clear_message(api_as, make_user):
    trainer = make_user("trainer", name="Tess")
    learners = [make_user() for _ in range(3)]
    admin = api_as("admin")
    for learner in learners[:2]:
        url = f"/api/v1/users/{learner.id}/trainer"
        assert admin.put(url, json={"trainer_id": trainer.id}).status_code == 200
    # Assigning someone already assigned does not count twice.
    url = f"/api/v1/users/{learners[0].id}/trainer"
    assert admin.put(url, json={"trainer_id": trainer.id}).status_code == 200
    r = admin.put(f"/api/v1/users/{learners[2].id}/trainer", json={"trainer_id": trainer.id})
    assert r.status_code == 409
    assert r.json["error"]["code"] == "conflict"
    assert r.json["error"]["message"] == (
        "Tess already has 2 learners, the maximum of 2 per trainer.")
    assert r.json["error"]["details"]["limit"] == 2


def test_the_default_maximum_is_20(lms):
    assert lms.settings.users.max_students_per_trainer == 20


def test_demoting_a_trainer_releases_their_learners(api_as, make_user, lms):
    learner, trainer = make_user(), make_user("trainer")
    admin = api_as("admin")
    admin.put(f"/api/v1/users/{learner.id}/trainer", json={"trainer_id": trainer.id})
    assert admin.patch(f"/api/v1/users/{trainer.id}", json={"role": "student"}).status_code == 200
    assert admin.get(f"/api/v1/users/{learner.id}").json["trainer_id"] is None


# -- services enforce the matrix whoever calls them ---------------------------------------------


def test_services_refuse_students_without_any_view(db_session, make_user, lms):
    student, other = make_user(), make_user()
    with pytest.raises(PermissionDenied):
        users.users_query(student)
    with pytest.raises(PermissionDenied):
        users.get_user(db_session, student, other.id)
    with pytest.raises(PermissionDenied):
        users.update_user(db_session, actor=student, target=other, changes={"name": "X"})
    with pytest.raises(PermissionDenied):
        users.delete_user(lms, db_session, student, other)
    with pytest.raises(PermissionDenied):
        users.assign_trainer(lms, db_session, student, other, None)
