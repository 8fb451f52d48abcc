"""Every API error is ``{"error": {"code", "message", "details"}}`` and nothing a client sends
produces a 500."""

import pytest

from tests.test_permission_matrix import ENDPOINTS


def assert_envelope(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    assert set(response.json) == {"error"}
    error = response.json["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    if code is not None:
        assert error["code"] == code
    return error


def test_malformed_json_is_400_invalid_json(api_client):
    r = api_client().post("/api/v1/auth/login", data='{"email": ', content_type="application/json")
    assert_envelope(r, 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": 5, "password": "x"}, "email"),
        ({"email": "a@example.org", "password": ["x"]}, "password"),
        ({"email": "a@example.org"}, "password"),
        ({"email": "a@example.org", "password": "x", "admin": True}, "admin"),
        ({"email": "a\u0000@example.org", "password": "x"}, "email"),
    ],
)
def test_wrong_types_missing_and_unknown_fields_are_422_naming_the_field(api_client, body, field):
    error = assert_envelope(api_client().post("/api/v1/auth/login", json=body), 422,
                            "validation_failed")
    assert field in error["details"]["fields"]
    assert field in error["message"]


@pytest.mark.parametrize("body", [[], "text", 5, None])
def test_a_body_that_is_not_an_object_is_422(api_client, body):
    r = api_client().post("/api/v1/auth/login", json=body)
    assert_envelope(r, 422, "validation_failed")


def test_unknown_fields_on_an_authenticated_endpoint(api_as):
    error = assert_envelope(api_as("student").patch("/api/v1/users/me", json={"colour": "red"}),
                            422)
    assert error["details"]["fields"] == {"colour": ["Unknown field."]}


def test_trainer_id_must_be_an_integer(api_as, make_user):
    learner = make_user()
    r = api_as("admin").put(f"/api/v1/users/{learner.id}/trainer", json={"trainer_id": "7"})
    assert "trainer_id" in assert_envelope(r, 422)["details"]["fields"]


@pytest.mark.parametrize(
    "path",
    ["/api/v1/users/999999", "/api/v1/users/0", "/api/v1/users/abc", "/api/v1/users/-1",
     "/api/v1/users/99999999999999999999999", "/api/v1/users/9223372036854775808/trainer",
     "/api/v1/no-such-thing"],
)
def test_bad_ids_and_unknown_paths_are_404(api_as, path):
    method = "put" if path.endswith("/trainer") else "get"
    r = getattr(api_as("superadmin"), method)(path, json={"trainer_id": 1})
    assert_envelope(r, 404, "not_found")


def test_wrong_method_is_405_with_allow(api_client):
    r = api_client().get("/api/v1/auth/login")
    assert_envelope(r, 405, "method_not_allowed")
    assert "POST" in r.headers["Allow"]


def test_errors_carry_the_right_codes(api_as, api_client):
    assert_envelope(api_client().get("/api/v1/users"), 401, "unauthorized")
    assert_envelope(api_as("student").get("/api/v1/users"), 403, "forbidden")


@pytest.mark.lms_config({"web": {"max_request_mb": 1}})
def test_an_oversized_body_is_413(api_client):
    big = '{"email": "a@example.org", "password": "' + "x" * (1024 * 1024 + 10) + '"}'
    r = api_client().post("/api/v1/auth/login", data=big, content_type="application/json")
    assert_envelope(r, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("query", "field"),
    [("page_size=101", "page_size"), ("page_size=0", "page_size"), ("page=0", "page"),
     ("page=-3", "page"), ("page=two", "page"), ("page=99999999999999999999", "page")],
)
def test_pagination_bounds(api_as, query, field):
    r = api_as("admin").get(f"/api/v1/users?{query}")
    assert field in assert_envelope(r, 422, "validation_failed")["details"]["fields"]


def test_page_size_100_is_allowed(api_as):
    r = api_as("admin").get("/api/v1/users?page_size=100")
    assert r.status_code == 200 and r.json["page_size"] == 100


HOSTILE_BODIES = [
    None, {}, [], "x", 0, 1e308, True,
    {"email": None, "password": None, "name": None, "refresh": None, "token": None},
    {"email": {"$gt": ""}, "password": [1], "name": {}, "trainer_id": "1; DROP TABLE users"},
    {"email": "a" * 5000 + "@example.org", "password": "p" * 5000, "name": "n" * 5000},
    {"email": "\u0000@\u0000.org", "password": "\u0000" * 9, "name": "\u0000",
     "token": "\u0000", "refresh": "\u0000", "timezone": "\u0000"},
    {"trainer_id": 2**80, "role": "root", "locked": "maybe", "timezone": "../../etc/passwd"},
    {"refresh": "x" * 199, "token": "." * 999, "trainer_id": -1},
]
CONCRETE_URLS = {"<int:user_id>": "1"}


def concrete(rule):
    for placeholder, value in CONCRETE_URLS.items():
        rule = rule.replace(placeholder, value)
    return rule


@pytest.mark.parametrize("key", sorted(ENDPOINTS), ids=" ".join)
def test_nothing_a_client_sends_gives_a_500(key, api_client, make_user):
    method, rule = key
    boss = make_user("superadmin")
    target = make_user()
    url = concrete(rule).replace("/1", f"/{target.id}", 1) if "<int:user_id>" in rule else rule
    for body in HOSTILE_BODIES:
        for client in (api_client(), api_client(boss)):
            r = client.open(method, url, json=body)
            assert r.status_code < 500, (body, r.get_data(as_text=True))
            if r.status_code >= 400:
                assert_envelope(r, r.status_code)
        garbage = api_client(boss).open(method, url, data=b"\xff\xfe{",
                                        content_type="application/json")
        assert garbage.status_code < 500


NUL = "a\u0000b"


@pytest.mark.parametrize(("method", "url", "body", "field"), [
    ("post", "/api/v1/quizzes", {"title": NUL}, "title"),
    ("post", "/api/v1/quizzes", {"title": "Q", "questions": [
        {"type": "short_answer", "prompt": NUL, "answer": ["x"]}]}, "questions"),
    ("post", "/api/v1/quizzes", {"title": "Q", "draw": {"banks": [NUL], "count": 1}}, "draw"),
    ("post", "/api/v1/quizzes/generate", {"title": "Q", "num_questions": 1, "track": NUL},
     "track"),
    ("get", f"/api/v1/quizzes?track={NUL}", None, "track"),
    ("post", "/api/v1/payments/checkout", {"track": NUL}, "track"),
    ("get", f"/api/v1/payments?track={NUL}", None, "track"),
    ("post", "/api/v1/workspaces", {"track": NUL}, "track"),
    ("get", f"/api/v1/reviews/next?bank={NUL}", None, "bank"),
    ("get", f"/api/v1/admin/notifications/deliveries?channel={NUL}", None, "channel"),
    ("patch", "/api/v1/tracks/NOPE", {"name": NUL}, "name"),
])
def test_a_nul_character_is_422_naming_the_field(api_as, method, url, body, field):
    """PostgreSQL can neither store nor compare text with NUL: refused before any query."""
    r = api_as("admin").open(method.upper(), url, json=body)
    assert field in assert_envelope(r, 422, "validation_failed")["details"]["fields"]
