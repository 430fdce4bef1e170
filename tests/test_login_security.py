"""Logging out ends the session on the server (crm.auth.sessions), and wrong passwords are
throttled per account and address (crm.auth.throttle): cookie replays after logout, after a
password change, after "log out everywhere" and after a deactivation; the throttle's scopes."""
import os
import secrets
import types
import uuid

import pytest

from crm.auth.throttle import LoginThrottle
from crm.extensions import db
from crm.models import LoginSession
from tests.conftest import HX, TEST_PASSWORD, session_user_id

NEW_PASSWORD = "a-brand-new-secret-77"


def log_in(app, email, password=TEST_PASSWORD, remember=False, address="10.0.0.1"):
    """A new browser, logged in through the form (CSRF off for the form post only)."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    csrf, app.config["WTF_CSRF_ENABLED"] = app.config["WTF_CSRF_ENABLED"], False
    try:
        response = browser.post("/login", data=data)
    finally:
        app.config["WTF_CSRF_ENABLED"] = csrf
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return browser


def replay(app, **cookies):
    """Another browser that holds nothing but copies of these cookies."""
    browser = app.test_client()
    for name, value in cookies.items():
        browser.set_cookie(name, value)
    return browser


def refused(response) -> bool:
    """Sent to the login page (a redirect, or htmx's HX-Redirect for a fragment)."""
    target = response.headers.get("Location") or response.headers.get("HX-Redirect") or ""
    return response.status_code in (200, 204, 302, 303) and "/login" in target


def session_rows(app, user_id):
    with app.app_context():
        count = db.session.execute(db.select(db.func.count()).select_from(LoginSession)
                                   .where(LoginSession.user_id == user_id)).scalar()
        db.session.remove()
    return count


def post_csrf(browser, path, data=None):
    from tests.conftest import csrf_token_from
    token = csrf_token_from(browser.get("/account").get_data(as_text=True))
    return browser.post(path, data={"csrf_token": token, **(data or {})})


# --- Logout ---------------------------------------------------------------------------------

def test_the_session_cookie_is_refused_after_logout_on_pages_fragments_and_posts(app, make_user):
    user = make_user("sales", email="seller@example.com")
    browser = log_in(app, user.email)
    saved = browser.get_cookie("session").value
    assert browser.get("/customers").status_code == 200
    assert replay(app, session=saved).get("/customers").status_code == 200  # a copy works...
    response = post_csrf(browser, "/logout")
    assert response.status_code == 303
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    copy = replay(app, session=saved)  # ...and no longer after logout
    assert refused(copy.get("/customers"))
    assert refused(copy.get("/customers", headers=HX))
    assert refused(copy.get("/account"))
    response = copy.post("/customers/new", data={"name": "Written after logout"})
    assert response.status_code in (302, 303, 400) and "Written after logout" not in \
        response.get_data(as_text=True)
    assert session_rows(app, user.id) == 0


def test_the_remember_cookie_is_refused_after_logout(app, make_user):
    user = make_user("sales", email="keeper@example.com")
    browser = log_in(app, user.email, remember=True)
    remember = browser.get_cookie("remember_token").value
    # Alone, the remember cookie logs a browser back in...
    assert replay(app, remember_token=remember).get("/customers").status_code == 200
    post_csrf(browser, "/logout")
    # ...not once the user has logged out.
    assert refused(replay(app, remember_token=remember).get("/customers"))


def test_logout_ends_only_this_browser(app, make_user):
    user = make_user("sales", email="two@example.com")
    phone, desktop = log_in(app, user.email), log_in(app, user.email)
    post_csrf(phone, "/logout")
    assert refused(phone.get("/customers"))
    assert desktop.get("/customers").status_code == 200


def test_a_cookie_without_a_login_session_is_refused(app, make_user):
    """A cookie from before login sessions ("<id>" alone), or with a made-up token."""
    user = make_user("sales")
    for cookie_id in (str(user.id), f"{user.id}:made-up-token", f"{user.id}:", "x:y"):
        browser = app.test_client()
        with browser.session_transaction() as session:
            session["_user_id"] = cookie_id
        assert refused(browser.get("/customers")), cookie_id


def test_an_expired_login_session_is_refused(app, make_user):
    from datetime import timedelta

    from crm.models import utcnow
    user = make_user("sales")
    browser = log_in(app, user.email)
    with app.app_context():
        db.session.execute(db.update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert refused(browser.get("/customers"))


# --- Password change, log out everywhere, deactivation -------------------------------------

def test_a_password_change_ends_every_other_session_and_keeps_this_browser(app, make_user):
    user = make_user("sales", email="changer@example.com")
    here, there = log_in(app, user.email, remember=True), log_in(app, user.email, remember=True)
    old_session = here.get_cookie("session").value
    old_remember = there.get_cookie("remember_token").value
    response = post_csrf(here, "/account/password", {
        "current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 303
    assert here.get("/customers").status_code == 200  # this browser stays in, on a new session
    assert here.get_cookie("remember_token").value != old_remember
    assert refused(there.get("/customers"))
    assert refused(replay(app, session=old_session).get("/customers"))
    assert refused(replay(app, remember_token=old_remember).get("/customers"))
    assert session_rows(app, user.id) == 1


def test_log_out_everywhere_ends_every_session_of_mine_only(app, make_user):
    user = make_user("sales", email="everywhere@example.com")
    other = make_user("sales", email="colleague@example.com")
    phone, desktop = log_in(app, user.email), log_in(app, user.email, remember=True)
    colleague = log_in(app, other.email)
    remember = desktop.get_cookie("remember_token").value
    response = post_csrf(phone, "/account/sessions/revoke")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    page = phone.get("/login").get_data(as_text=True)
    assert "You were logged out on every device." in page
    for browser in (phone, desktop, replay(app, remember_token=remember)):
        assert refused(browser.get("/customers"))
    assert colleague.get("/customers").status_code == 200
    assert session_rows(app, user.id) == 0


def test_the_account_page_lists_my_sessions_and_ends_another_one(app, make_user):
    user = make_user("sales", email="lister@example.com")
    phone = app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36")
    app.config["WTF_CSRF_ENABLED"] = False
    phone.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    app.config["WTF_CSRF_ENABLED"] = True
    desktop = log_in(app, user.email)
    page = desktop.get("/account").get_data(as_text=True)
    assert "Chrome · Android" in page and "This device" in page
    assert page.count('class="session-row"') == 2
    with app.app_context():
        phone_id = db.session.execute(db.select(LoginSession.id).where(
            LoginSession.user_agent.contains("Android"))).scalar()
        db.session.remove()
    assert post_csrf(desktop, f"/account/sessions/{phone_id}/end").status_code == 303
    assert refused(phone.get("/customers"))
    assert desktop.get("/customers").status_code == 200
    # Another user's session id is not mine to end.
    other = make_user("sales", email="not-mine@example.com")
    theirs = log_in(app, other.email)
    with app.app_context():
        their_id = db.session.execute(db.select(LoginSession.id).where(
            LoginSession.user_id == other.id)).scalar()
        db.session.remove()
    post_csrf(desktop, f"/account/sessions/{their_id}/end")
    assert theirs.get("/customers").status_code == 200


def test_an_admin_deactivating_or_resetting_a_password_ends_that_users_sessions(
        app, admin, make_user, login, client):
    seller = make_user("sales", email="leaver@example.com")
    other = make_user("sales", email="reset@example.com", name="Reset")
    leaver, resetter = log_in(app, seller.email, remember=True), log_in(app, other.email)
    remember = leaver.get_cookie("remember_token").value
    login(admin)
    assert client.post(f"/admin/users/{seller.id}/deactivate").status_code == 303
    assert refused(leaver.get("/customers"))
    assert refused(replay(app, remember_token=remember).get("/customers"))
    assert session_rows(app, seller.id) == 0
    response = client.post(f"/admin/users/{other.id}/edit", data={
        "name": "Reset", "email": other.email, "role": "sales", "language": "en",
        "timezone": "Asia/Shanghai", "password": NEW_PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    assert refused(resetter.get("/customers"))
    assert client.get("/admin/users").status_code == 200  # the admin stays in


def test_the_user_loader_still_runs_one_statement(app, make_user):
    """The login session is checked in the loader's own statement: no page gains a query."""
    from tests.conftest import count_queries
    user = make_user("sales")
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = session_user_id(app, user)
    with app.app_context():
        engine = db.engine
    with count_queries(engine) as statements:
        assert browser.get("/account").status_code == 200
    # The loader's statement (users joined to login_sessions) and the page's list.
    assert sum("login_sessions" in s for s in statements) == 2
    assert sum("JOIN login_sessions" in s for s in statements) == 1


def test_pages_are_not_kept_by_the_browser(app, make_user, login, client):
    login(make_user("sales"))
    assert client.get("/customers").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/css/app.css").headers.get("Cache-Control", "")


# --- The login throttle ---------------------------------------------------------------------

@pytest.fixture
def throttle(app):
    """The throttle switched on (the suite runs with it off), small limits, memory counters."""
    def _make(**config):
        settings = {"LOGIN_THROTTLE_ENABLED": True, "LOGIN_ACCOUNT_LIMIT": "3 per 15 minutes",
                    "LOGIN_ADDRESS_LIMIT": "6 per 15 minutes",
                    "LOGIN_THROTTLE_STORAGE_URI": "memory://",
                    "LOGIN_THROTTLE_NAMESPACE": uuid.uuid4().hex, **config}
        return LoginThrottle(types.SimpleNamespace(config=settings))
    saved = app.extensions["crm_login_throttle"]
    app.extensions["crm_login_throttle"] = _make()
    yield _make
    app.extensions["crm_login_throttle"] = saved


def attempt(app, email, password, address="10.0.0.1", language=None):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    if language:
        browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    csrf, app.config["WTF_CSRF_ENABLED"] = app.config["WTF_CSRF_ENABLED"], False
    try:
        return browser.post("/login", data={"email": email, "password": password})
    finally:
        app.config["WTF_CSRF_ENABLED"] = csrf


def test_wrong_passwords_lock_that_account_from_that_address_only(app, make_user, throttle):
    anna = make_user("sales", email="anna@example.com")
    make_user("sales", email="bo@example.com")
    assert [attempt(app, anna.email, "wrong-password-1").status_code for _ in range(3)] == [422] * 3
    locked = attempt(app, anna.email, TEST_PASSWORD)  # even the right password, for now
    assert locked.status_code == 429
    assert 800 <= int(locked.headers["Retry-After"]) <= 900
    assert "Too many wrong passwords for this account from your network. Try again in 15 minutes." \
        in locked.get_data(as_text=True)
    # A colleague behind the same address logs in; Anna from elsewhere does too.
    assert attempt(app, "bo@example.com", TEST_PASSWORD).status_code == 303
    assert attempt(app, anna.email, TEST_PASSWORD, address="10.9.9.9").status_code == 303
    # The email is matched as the login matches it (case, spaces).
    assert attempt(app, " ANNA@example.com ", TEST_PASSWORD).status_code == 429


def test_the_address_ceiling_is_looser_and_then_refuses_everyone_there(app, make_user, throttle):
    make_user("sales", email="right@example.com")
    statuses = [attempt(app, f"guess-{n}@example.com", "wrong-password-1").status_code
                for n in range(6)]
    assert statuses == [422] * 6  # six accounts tried, none locked on its own
    refused_here = attempt(app, "right@example.com", TEST_PASSWORD)
    assert refused_here.status_code == 429
    assert "Too many failed logins from your network." in refused_here.get_data(as_text=True)
    assert attempt(app, "right@example.com", TEST_PASSWORD, address="10.0.0.2").status_code == 303


def test_a_success_forgets_the_accounts_failures(app, make_user, throttle):
    user = make_user("sales", email="forgetful@example.com")
    for _ in range(2):
        assert attempt(app, user.email, "wrong-password-1").status_code == 422
    assert attempt(app, user.email, TEST_PASSWORD).status_code == 303
    for _ in range(2):
        assert attempt(app, user.email, "wrong-password-1").status_code == 422
    assert attempt(app, user.email, TEST_PASSWORD).status_code == 303


def test_the_lock_message_is_in_chinese_too(app, make_user, throttle):
    user = make_user("sales", email="zh@example.com")
    for _ in range(3):
        attempt(app, user.email, "wrong-password-1", language="zh-CN")
    html = attempt(app, user.email, "wrong-password-1", language="zh-CN").get_data(as_text=True)
    assert "15 分钟后再试" in html


def test_unknown_emails_count_like_wrong_passwords(app, make_user, throttle):
    make_user("sales")
    for _ in range(3):
        assert attempt(app, "nobody@example.com", "wrong-password-1").status_code == 422
    assert attempt(app, "nobody@example.com", "wrong-password-1").status_code == 429


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_up() -> bool:
    try:
        import redis
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except Exception:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on this machine")
def test_with_redis_every_worker_counts_together(app, make_user, throttle):
    """Two workers (two throttles on one Redis): failures at one lock the account at the other."""
    user = make_user("sales", email="shared@example.com")
    namespace = f"test-{secrets.token_hex(6)}"
    first = throttle(LOGIN_THROTTLE_STORAGE_URI=REDIS_URL, LOGIN_THROTTLE_NAMESPACE=namespace)
    second = throttle(LOGIN_THROTTLE_STORAGE_URI=REDIS_URL, LOGIN_THROTTLE_NAMESPACE=namespace)
    app.extensions["crm_login_throttle"] = first
    for _ in range(3):
        assert attempt(app, user.email, "wrong-password-1").status_code == 422
    app.extensions["crm_login_throttle"] = second
    assert attempt(app, user.email, TEST_PASSWORD).status_code == 429
    assert second.lock(user.email, "10.0.0.1").scope == "account"


def test_a_throttle_whose_store_is_down_lets_people_log_in(app, make_user, throttle):
    user = make_user("sales", email="down@example.com")
    app.extensions["crm_login_throttle"] = throttle(
        LOGIN_THROTTLE_STORAGE_URI="redis://127.0.0.1:1/0")
    assert attempt(app, user.email, "wrong-password-1").status_code == 422
    assert attempt(app, user.email, TEST_PASSWORD).status_code == 303
