"""Accounts: first-run setup, logging in and out, own settings, user administration."""
import re

import pytest

from crm.extensions import db
from crm.models import LostReason, Pipeline, Stage, User
from tests.conftest import TEST_PASSWORD, csrf_token_from


def test_first_run_leads_every_page_to_setup(client):
    for path in ("/", "/login", "/admin/users", "/account"):
        response = client.get(path)
        assert response.status_code in (302, 303)
        assert response.headers["Location"].endswith("/setup")
    assert client.get("/healthz").status_code == 200


def test_setup_preselects_the_language_the_page_is_shown_in(client):
    english = client.get("/setup").get_data(as_text=True)  # no Accept-Language: English
    assert 'lang="en"' in english
    assert re.search(r'<option selected value="en">|<option value="en" selected>', english)
    chinese = client.get("/setup", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert re.search(r'<option selected value="zh_CN">|<option value="zh_CN" selected>', chinese)


def test_setup_creates_admin_and_defaults_then_is_gone(client, app):
    response = client.post("/setup", data={"name": "Wang Li", "email": "Wang@Example.com",
                                           "password": "s3cret-pass-42", "language": "zh_CN",
                                           "timezone": "Asia/Shanghai"})
    assert response.status_code == 303
    with app.app_context():
        user = User.by_email("wang@example.com")
        assert user.role == "admin" and user.email == "wang@example.com"
        stages = db.session.execute(db.select(Stage).order_by(Stage.position)).scalars().all()
        assert [(s.key, s.probability, s.kind) for s in stages] == [
            ("discover", 10, "open"), ("confirm", 20, "open"), ("needs_analysis", 30, "open"),
            ("proposal", 50, "open"), ("negotiation", 70, "open"), ("signed", 100, "won"),
            ("delivered", 100, "won"), ("lost", 0, "lost")]
        assert db.session.query(Pipeline).count() == 1
        assert db.session.query(LostReason).count() == 8
    assert client.get("/setup").status_code == 404
    assert client.post("/setup", data={}).status_code == 404


def test_setup_rejects_bad_input_with_422_and_keeps_it(client):
    response = client.post("/setup", data={"name": "Wang Li", "email": "not-an-email",
                                           "password": "short", "language": "en",
                                           "timezone": "UTC"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="Wang Li"' in html and 'value="not-an-email"' in html
    assert "valid email" in html and "at least 12 characters" in html


def test_login_is_case_insensitive_and_logout_needs_post(client, make_user):
    make_user("sales", email="li.na@example.com")
    response = client.post("/login", data={"email": "LI.NA@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 303
    assert client.get("/account").status_code == 200
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 303
    assert client.get("/account").status_code == 302


def test_wrong_password_is_422_with_message(client, make_user):
    make_user("sales", email="li.na@example.com")
    response = client.post("/login", data={"email": "li.na@example.com", "password": "nope-nope"})
    assert response.status_code == 422
    assert "Wrong email or password" in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(client, make_user, target):
    make_user("sales", email="li.na@example.com")
    response = client.post(f"/login?next={target}", data={"email": "li.na@example.com",
                                                          "password": TEST_PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] in ("/", "http://localhost/")


def test_login_follows_a_local_next(client, make_user):
    make_user("sales", email="li.na@example.com")
    response = client.post("/login?next=/account", data={"email": "li.na@example.com",
                                                        "password": TEST_PASSWORD})
    assert response.headers["Location"].endswith("/account")


def test_pages_need_login(client, make_user):
    make_user("admin")
    for path in ("/", "/account", "/admin/users"):
        response = client.get(path)
        assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
    response = client.get("/account", headers={"HX-Request": "true"})
    assert "/login" in response.headers["HX-Redirect"]


def test_deactivated_user_cannot_log_in_and_loses_session(client, app, admin, make_user, login):
    sales = make_user("sales", email="s@example.com")
    login(admin)
    assert client.post(f"/admin/users/{sales.id}/deactivate").status_code == 303
    client.post("/logout")
    response = client.post("/login", data={"email": "s@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 422
    assert "deactivated" in response.get_data(as_text=True)
    login(sales)
    assert client.get("/account").status_code == 302  # an old session ends too
    login(admin)
    client.post(f"/admin/users/{sales.id}/reactivate")
    client.post("/logout")
    assert client.post("/login", data={"email": "s@example.com",
                                       "password": TEST_PASSWORD}).status_code == 303


def test_only_admins_manage_users(client, make_user, login):
    for role in ("sales", "manager"):
        login(make_user(role))
        assert client.get("/admin/users").status_code == 403
        assert client.post("/admin/users/new", data={}).status_code == 403


def test_admin_creates_user_and_duplicate_email_is_refused(admin_client, app):
    data = {"name": "Zhao Min", "email": "zhao@example.com", "role": "manager",
            "language": "zh_CN", "timezone": "Asia/Shanghai", "password": "long-enough-12"}
    assert admin_client.post("/admin/users/new", data=data).status_code == 303
    response = admin_client.post("/admin/users/new", data={**data, "email": "ZHAO@example.com"})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert "ZHAO@example.com" in response.get_data(as_text=True)
    with app.app_context():
        assert User.by_email("zhao@example.com").role == "manager"


def test_admin_cannot_deactivate_self(admin_client, admin, app):
    admin_client.post(f"/admin/users/{admin.id}/deactivate")
    with app.app_context():
        assert db.session.get(User, admin.id).active


def test_change_password_and_language(client, make_user, login, app):
    user = make_user("sales")
    login(user)
    bad = client.post("/account/password", data={"current_password": "wrong-one",
                                                  "new_password": "new-password-12",
                                                  "confirm": "new-password-12"})
    assert bad.status_code == 422 and "current password is wrong" in bad.get_data(as_text=True)
    ok = client.post("/account/password", data={"current_password": TEST_PASSWORD,
                                                "new_password": "new-password-12",
                                                "confirm": "new-password-12"})
    assert ok.status_code == 303
    switched = client.post("/account/language", data={"language": "zh_CN", "next": "/account"})
    assert switched.status_code == 303 and switched.headers["Location"].endswith("/account")
    # The password change kept this browser logged in (a new session of its own), and the
    # account page is now in Chinese.
    page = client.get("/account")
    assert page.status_code == 200
    assert "我的账户" in page.get_data(as_text=True)
    with app.app_context():
        fresh = db.session.get(User, user.id)
        assert fresh.check_password("new-password-12") and fresh.language == "zh_CN"


def test_csrf_is_enforced(app, make_user):
    user = make_user("sales", email="c@example.com")
    client = app.test_client()
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 400
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD,
                                       "csrf_token": token}).status_code == 303
    # htmx requests send the token in a header
    page = client.get("/account").get_data(as_text=True)
    import re
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post("/account/language", data={"language": "en", "next": "/account"},
                           headers={"X-CSRFToken": header_token})
    assert response.status_code == 303


def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_cli_create_user(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "create-user", "--email", "Boss@Example.com", "--name",
                                 "Boss", "--password", "boss-password-9", "--role", "admin"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert User.by_email("boss@example.com").role == "admin"
    again = runner.invoke(args=["crm", "create-user", "--email", "boss@example.com", "--name",
                                "Boss", "--password", "boss-password-9"])
    assert again.exit_code != 0 and "already exists" in again.output


def test_intranet_email_domains_are_accepted(admin_client, app):
    data = {"name": "Demo", "email": "sales@corp.local", "role": "sales", "language": "en",
            "timezone": "UTC", "password": "long-enough-12"}
    assert admin_client.post("/admin/users/new", data=data).status_code == 303
