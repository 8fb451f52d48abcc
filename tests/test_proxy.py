"""Behind trusted proxies the client address comes from X-Forwarded-For (rate limits)."""

import pytest


@pytest.mark.lms_config({"web": {"trusted_proxies": 1},
                         "auth": {"ip_rate_limit": "2 per minute"}})
def test_rate_limit_counts_the_forwarded_client(api_client):
    api = api_client()

    def login(ip):
        return api.post("/api/v1/auth/login", json={"email": "x@example.org", "password": "nope"},
                        headers={"X-Forwarded-For": ip}).status_code

    assert [login("203.0.113.1") for _ in range(3)] == [401, 401, 429]
    assert login("203.0.113.2") == 401  # another client behind the same proxy


@pytest.mark.lms_config({"auth": {"ip_rate_limit": "2 per minute"}})
def test_forwarded_header_is_ignored_without_trusted_proxies(api_client):
    api = api_client()
    codes = [api.post("/api/v1/auth/login", json={"email": "y@example.org", "password": "nope"},
                      headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
             for n in range(3)]
    assert codes == [401, 401, 429]  # forged addresses do not escape the limit
