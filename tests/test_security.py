"""Security: headers, CSP without inline script, injection strings (the login throttle and
login sessions: tests/test_login_security.py)."""

import pytest

from crm import create_app
from crm.extensions import db
from tests.conftest import TEST_PASSWORD


def test_security_headers_on_every_page(client, admin, login):
    login(admin)
    for path in ("/login", "/account", "/healthz"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_flags(client, make_user):
    user = make_user("sales")
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("payload", ["' OR 1=1 --", "%", "_", "\\", "1; DROP TABLE users", "\x00",
                                     "' UNION SELECT password_hash FROM users --"])
def test_injection_strings_in_login_give_normal_answers(client, make_user, payload):
    make_user("sales")
    response = client.post("/login", data={"email": payload, "password": payload})
    assert response.status_code in (400, 422)


def test_trusted_proxy_gives_the_client_address(database_url):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                      "SECRET_KEY": "x" * 16, "TRUSTED_PROXIES": 1})
    seen = {}

    @app.before_request
    def _remember_address():
        from flask import request
        seen["addr"] = request.remote_addr

    app.test_client().get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"},
                          environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert seen["addr"] == "203.0.113.9"
    with app.app_context():
        db.engine.dispose()
