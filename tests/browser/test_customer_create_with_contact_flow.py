"""Create a customer with its first contact and two tags from the new-customer form (issue 17,
point 4): a refused single-choice pair keeps everything typed, then the customer page shows the
contact and the tags. At desktop and phone sizes, in English and in Chinese."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled
from tests.browser.test_customers_flow import _seed_tags

REFUSED = {"en": "客户等级 Value tier takes one tag only", "zh": "“客户等级 Value tier”只能选一个标签"}
CONTACT_LEGEND = {"en": "First contact", "zh": "首位联系人"}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_new_customer_with_contact_and_tags(page, app, make_user, browser_login, language):
    user = make_user("sales", name="Chen Jing", email=f"chen-{language}@example.com",
                     language=language)
    _seed_tags(app)
    browser_login(page, user)

    page.goto("/customers/new")
    htmx_settled(page)
    expect(page.locator("fieldset.first-contact legend")).to_have_text(CONTACT_LEGEND[language])
    page.fill("#name", "苏州明远精密机械")
    page.fill("#phone", "0512 6666 8888")
    page.fill("#contact-name", "刘洋")
    page.fill("#contact-title", "采购经理")
    page.fill("#contact-phone", "139 5555 0001")
    page.fill("#contact-email", "liu.yang@mingyuan.cn")
    # Two tags of the single-choice group: refused, with everything typed kept.
    page.check("label.tag-check:has-text('重要 Important') input")
    page.check("label.tag-check:has-text('普通 Ordinary') input")
    page.check("label.tag-check:has-text('制造 Manufacturing') input")
    page.click("form.customer-form button[type=submit].primary")
    expect(page.locator("#tag_ids-error")).to_contain_text(REFUSED[language])
    expect(page).to_have_url(re.compile(r"/customers/new$"))
    expect(page.locator("#contact-name")).to_have_value("刘洋")
    expect(page.locator("#contact-email")).to_have_value("liu.yang@mingyuan.cn")
    expect(page.locator("label.tag-check:has-text('制造 Manufacturing') input")).to_be_checked()
    expect(page.locator("label.tag-check:has-text('普通 Ordinary') input")).to_be_checked()
    # Nothing sticks out of a phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    page.uncheck("label.tag-check:has-text('普通 Ordinary') input")
    page.click("form.customer-form button[type=submit].primary")
    expect(page).to_have_url(re.compile(r"/customers/\d+$"))
    expect(page.locator("h1")).to_contain_text("苏州明远精密机械")
    contacts = page.locator("#contacts .contact")
    expect(contacts).to_have_count(1)
    expect(page.locator("#contacts .contact.primary")).to_contain_text("刘洋")
    expect(page.locator("#contacts")).to_contain_text("采购经理")
    expect(page.locator("#contacts")).to_contain_text("139 5555 0001")
    tags = page.locator("#tags .tag-groups")
    expect(tags).to_contain_text("重要 Important")
    expect(tags).to_contain_text("制造 Manufacturing")
    expect(tags).not_to_contain_text("普通 Ordinary")
