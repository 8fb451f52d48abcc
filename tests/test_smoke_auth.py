from lmscore.testing.plugin import DEFAULT_PASSWORD


def test_register_login_refresh_logout(api_client, mailbox, jobs):
    api = api_client()
    r = api.post("/api/v1/auth/register",
                 json={"email": "Ann@Example.org", "password": "long enough 1", "name": "Ann"})
    assert r.status_code == 201, r.json
    assert r.json["user"]["email"] == "ann@example.org"
    assert "password_hash" not in r.json["user"]
    jobs.drain()
    assert [m["To"] for m in mailbox()] == ["ann@example.org"]

    r = api.post("/api/v1/auth/login", json={"email": "ann@example.org", "password": "long enough 1"})
    assert r.status_code == 200
    first = r.json["refresh"]
    me = api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {r.json['access']}"})
    assert me.status_code == 200 and me.json["name"] == "Ann"

    r = api.post("/api/v1/auth/refresh", json={"refresh": first})
    assert r.status_code == 200
    second = r.json["refresh"]
    # Reusing the rotated token revokes the whole family, including the newest token.
    assert api.post("/api/v1/auth/refresh", json={"refresh": first}).status_code == 401
    assert api.post("/api/v1/auth/refresh", json={"refresh": second}).status_code == 401


def test_web_sign_in(web, make_user):
    user = make_user()
    web.sign_in(user.email, DEFAULT_PASSWORD)
    assert user.name in web.get("/").get_data(as_text=True)
