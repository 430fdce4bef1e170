"""Capture in the browser: a visitor sends the public web form on a phone (390 px) in Chinese
and in English, and the lead lands in its owner's /leads with the contact task in /tasks;
an admin creates a form at 1280 px from the Settings card. The minimum fill time is set to 0
for these tests (time is injected through the config, never slept)."""
import re

import pytest
from playwright.sync_api import expect

from crm.webforms.throttle import limiter

TEXT = {"en": {"send": "Send", "thanks": "Thank you", "task": "Contact 王芳 within 4 hours",
               "name": "Name", "phone": "Phone"},
        "zh": {"send": "提交", "thanks": "谢谢", "task": "4 小时内联系 王芳",
               "name": "姓名", "phone": "电话"}}
PHONE_ONLY = "the public form is a phone's first; the admin's flow is the desktop test"
DESKTOP_ONLY = "an admin builds forms at a desk; the phone test sends one"


@pytest.fixture(autouse=True)
def _no_fill_wait(app):
    app.config["WEBFORM_MIN_FILL_SECONDS"] = 0
    limiter.reset()
    yield
    app.config.pop("WEBFORM_MIN_FILL_SECONDS", None)
    limiter.reset()


def _seed_form(app, owner, language):
    with app.app_context():
        from crm.extensions import db
        from crm.leads.assignment import save_rule
        from crm.models import User
        from crm.webforms.services import save_form
        rule = save_rule(None, name="Web", mode="owner", owner=db.session.get(User, owner.id),
                         members=[], contact_hours=4)
        web_form = save_form(None, {"name": "官网咨询" if language == "zh_CN" else "Contact us",
                                    "language": language, "rule_id": rule.id,
                                    "fields": ["company", "phone", "email", "message"]},
                             custom_inputs=set())
        db.session.commit()
        return web_form.key


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_visitor_sends_the_form_on_a_phone(app, page, make_user, browser_login, language):
    if page.viewport_size["width"] >= 900:
        pytest.skip(PHONE_ONLY)
    text = TEXT[language]
    owner = make_user("sales", name="Olga", language="zh_CN" if language == "zh" else "en")
    key = _seed_form(app, owner, "zh_CN" if language == "zh" else "en")
    page.goto(f"/f/{key}")
    expect(page.locator("nav")).to_have_count(0)
    page.get_by_label(text["name"]).fill("王芳")
    page.get_by_label(text["phone"]).fill("138 0013 8000")
    page.fill("input[name=email]", "wangfang@example.com")
    page.fill("textarea[name=message]", '<b hx-get="/admin/users">想要报价</b>')
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    page.get_by_role("button", name=text["send"]).click()
    expect(page).to_have_url(re.compile(r"\?sent=1$"))
    expect(page.locator("h1")).to_have_text(text["thanks"])

    browser_login(page, owner)
    page.goto("/leads")
    expect(page.locator("body")).to_contain_text("王芳")
    page.goto("/tasks")
    expect(page.locator("body")).to_contain_text(text["task"])
    page.goto("/leads")
    page.get_by_role("link", name="王芳").first.click()
    expect(page.locator("body")).to_contain_text('<b hx-get="/admin/users">想要报价</b>')
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_an_admin_creates_a_form(app, page, make_user, browser_login):
    if page.viewport_size["width"] < 900:
        pytest.skip(DESKTOP_ONLY)
    admin = make_user("admin", name="Ada", language="en")
    seller = make_user("sales", name="Sam", language="en")
    with app.app_context():
        from crm.extensions import db
        from crm.leads.assignment import save_rule
        from crm.models import User
        save_rule(None, name="Round the team", mode="round_robin", owner=None,
                  members=[db.session.get(User, seller.id)], contact_hours=2)
        db.session.commit()
    browser_login(page, admin)
    page.goto("/admin/settings")
    page.get_by_role("link", name="Web forms").click()
    expect(page).to_have_url(re.compile(r"/admin/forms$"))
    page.get_by_role("link", name="New form").click()
    page.fill("input[name=name]", "Expo 2026")
    page.select_option("select[name=language]", "en")
    page.locator("label.check", has_text="Mobile").locator("input").check()
    page.fill("input[name=redirect_url]", "javascript:alert(1)")
    page.select_option("select[name=rule_id]", label="Round the team")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field-error")).to_contain_text("http:// or https://")
    expect(page.locator("input[name=name]")).to_have_value("Expo 2026")
    page.fill("input[name=redirect_url]", "")
    page.fill("textarea[name=frame_origins]", "https://www.example.com")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/admin/forms$"))
    link = page.locator(".webform-address a").first
    expect(link).to_contain_text("/f/")
    address = link.get_attribute("href")
    page.goto(address)
    expect(page.locator("input[name=mobile]")).to_be_visible()
    page.fill("input[name=name]", "Li Lei")
    page.fill("input[name=email]", "lilei@example.com")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Thank you")
    page.context.clear_cookies()  # the admin leaves; the salesperson comes
    browser_login(page, seller)
    page.goto("/tasks")
    expect(page.locator("body")).to_contain_text("Contact Li Lei within 2 hours")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    with app.app_context():
        from crm.extensions import db
        from crm.models import Lead
        assert db.session.execute(db.select(Lead.owner_id)).scalar() == seller.id
