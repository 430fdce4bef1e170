"""The password rule (crm.auth.passwords): 12 characters or more, not one character repeated,
not the email or name, not a common password; the same at /setup, the account page, the
admin's user form (new user and reset) and the `create-user` command, with the reason."""
import pytest

from crm.auth.passwords import common_passwords, password_problem
from crm.models import User
from tests.conftest import TEST_PASSWORD

SHORT = "at least 12 characters"
REPEATED = "one character repeated"
PERSONAL = "not be your email or your name"
COMMON = "one of the most common passwords"
VARIANT = "common password with only digits or signs added"

CASES = [
    ("short-pass1", SHORT),
    ("aaaaaaaaaaaa", REPEATED),
    ("111111111111111", REPEATED),
    ("password1234", COMMON),
    ("PASSWORD1234", COMMON),
    ("qwerty123456", COMMON),
    ("1q2w3e4r5t6y", COMMON),
    ("Password123!", VARIANT),
    ("welcome12345", VARIANT),
    ("!!iloveyou2024", VARIANT),
    ("  monkey-1234567 ", VARIANT),
]


@pytest.mark.parametrize("password, reason", CASES)
def test_the_rule(app_ctx, password, reason):
    assert reason in password_problem(password, email="li.na@example.com", name="Li Na")


def test_the_email_its_local_part_and_the_name_are_refused(app_ctx):
    for password in ("wang.xiaoming@example.com", "WANG.XIAOMING", "Wang Xiaoming Li",
                     "wangxiaomingli"):
        assert PERSONAL in password_problem(password, email="wang.xiaoming@example.com",
                                            name="Wang Xiaoming Li"), password


def test_digits_or_signs_around_the_email_or_name_are_refused_too(app_ctx):
    for password in ("wang.xiaoming-1988", "2024Wang Xiaoming Li!", "wangxiaomingli#1"):
        assert PERSONAL in password_problem(password, email="wang.xiaoming@example.com",
                                            name="Wang Xiaoming Li"), password


def test_good_passwords_pass(app_ctx):
    for password in (TEST_PASSWORD, "长城脚下的一家小茶馆里的绿茶", "blue-kettle-on-the-stove",
                     "blue-kettle-on-the-stove-2024", "2024-li-na-tea-trip", "x" * 11 + "y"):
        assert password_problem(password, email="li.na@example.com", name="Li Na") is None
    assert "at most 128" in password_problem("ab" * 65)


def test_the_shipped_list_is_the_common_passwords(app_ctx):
    passwords = common_passwords()
    assert len(passwords) >= 10_000
    assert {"password", "123456", "qwerty", "iloveyou", "password1234"} <= passwords
    assert not any(p.startswith("#") for p in passwords)


def test_setup_refuses_each_with_its_reason_and_keeps_the_input(client):
    for password, reason in CASES + [("li.na@example.com", PERSONAL)]:
        response = client.post("/setup", data={
            "name": "Li Na", "email": "li.na@example.com", "password": password,
            "language": "en", "timezone": "UTC"})
        assert response.status_code == 422, password
        html = response.get_data(as_text=True)
        assert reason in html and 'value="li.na@example.com"' in html, password
    ok = client.post("/setup", data={"name": "Li Na", "email": "li.na@example.com",
                                     "password": TEST_PASSWORD, "language": "en",
                                     "timezone": "UTC"})
    assert ok.status_code == 303


def test_the_reason_is_in_chinese_too(client):
    response = client.post("/setup", data={"name": "李娜", "email": "li.na@example.com",
                                           "password": "password1234", "language": "zh_CN",
                                           "timezone": "UTC"},
                           headers={"Accept-Language": "zh-CN"})
    assert "这是最常见的密码之一" in response.get_data(as_text=True)


def test_the_account_page_compares_with_my_own_email_and_name(client, make_user, login):
    user = make_user("sales", email="zhang.weiming@example.com", name="Zhang Weiming")
    login(user)
    for password, reason in [("zhang.weiming@example.com", PERSONAL), ("zhang weiming", PERSONAL),
                             ("ZHANG.WEIMING", PERSONAL),
                             ("password1234", COMMON), ("bbbbbbbbbbbbbb", REPEATED),
                             ("shortone", SHORT)]:
        response = client.post("/account/password", data={
            "current_password": TEST_PASSWORD, "new_password": password, "confirm": password})
        assert response.status_code == 422 and reason in response.get_data(as_text=True), password
    response = client.post("/account/password", data={
        "current_password": TEST_PASSWORD, "new_password": "tea-by-the-west-lake",
        "confirm": "tea-by-the-west-lake"})
    assert response.status_code == 303


def test_the_admin_user_form_new_and_reset(admin_client, app):
    data = {"name": "Chen Jingjing", "email": "chen.jingjing@example.com", "role": "sales",
            "language": "en", "timezone": "UTC"}
    for password, reason in CASES + [("chen.jingjing", PERSONAL), ("Chen Jingjing", PERSONAL)]:
        response = admin_client.post("/admin/users/new", data={**data, "password": password})
        assert response.status_code == 422 and reason in response.get_data(as_text=True), password
    assert admin_client.post("/admin/users/new", data={**data, "password": TEST_PASSWORD}
                             ).status_code == 303
    with app.app_context():
        user_id = User.by_email("chen.jingjing@example.com").id
    response = admin_client.post(f"/admin/users/{user_id}/edit", data={**data, "password": "password1234"})
    assert response.status_code == 422 and COMMON in response.get_data(as_text=True)
    # Empty keeps the password.
    assert admin_client.post(f"/admin/users/{user_id}/edit", data={**data, "password": ""}
                             ).status_code == 303


def test_create_user_refuses_with_the_reason(app):
    runner = app.test_cli_runner()
    for password, reason in CASES + [("boss@example.com", PERSONAL)]:
        result = runner.invoke(args=["crm", "create-user", "--email", "boss@example.com",
                                     "--name", "Boss", "--password", password, "--language", "en"])
        assert result.exit_code != 0 and reason in result.output, (password, result.output)
    result = runner.invoke(args=["crm", "create-user", "--email", "boss@example.com", "--name",
                                 "Boss", "--password", "password1234", "--language", "zh_CN"])
    assert result.exit_code != 0 and "这是最常见的密码之一" in result.output
    with app.app_context():
        assert User.by_email("boss@example.com") is None
