"""The duplicate check (查重) in the browser, at desktop and phone sizes, in English and
Chinese: a salesperson's search finds only a colleague's customer, so the page says who owns
it (nothing else of it) and asks for it to be shared in place; the new-customer form does the
same while the name is typed, keeping what was typed."""
import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import htmx_settled

SECRET = "北京星辰科技有限公司"
WORDS = {
    "en": {"hint": "A customer you cannot see matches", "ask": "Ask for it to be shared",
           "asked": "Asked 李娜 to share it with you.", "dup": "A customer you cannot see"},
    "zh_CN": {"hint": "星辰", "ask": None, "asked": "李娜", "dup": None},
}


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_a_salesperson_learns_who_owns_it_and_asks_for_it(page, app, make_user, browser_login,
                                                           screenshot, language):
    me = make_user("sales", name="Sam Seller", email="sam@example.com", language=language)
    owner = make_user("sales", name="李娜", email="li.na@example.com", language="zh_CN")
    with app.app_context():
        factories.customer(owner, name=SECRET, phone="+86 138-0013-8000")
    browser_login(page, me)

    page.goto("/customers?q=星辰")
    htmx_settled(page)
    hint = page.locator(".hidden-matches")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("李娜")
    expect(page.locator("#customer-results")).not_to_contain_text(SECRET)
    expect(page.locator("#customer-results")).not_to_contain_text("138-0013-8000")
    # Nothing on the page is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"duplicate-hint-{language}")
    hint.locator("button").click()
    expect(hint.locator(".share-request")).to_contain_text("李娜")
    expect(hint.locator("button")).to_have_count(0)

    # The new-customer form, while the name is typed: the same hint, the input kept.
    page.goto("/customers/new")
    page.fill("input[name=name]", "星辰科技")
    page.locator("input[name=name]").press("Tab")  # leaving the field asks for duplicates
    htmx_settled(page)
    duplicates = page.locator("#duplicates .hidden-duplicate")
    expect(duplicates).to_have_count(1)
    expect(duplicates).to_contain_text("李娜")
    expect(page.locator("#duplicates")).not_to_contain_text(SECRET)
    duplicates.locator("button").click()
    expect(duplicates.locator(".share-request")).to_contain_text("李娜")
    expect(page.locator("input[name=name]")).to_have_value("星辰科技")
    if language == "en":
        expect(duplicates.locator(".share-request")).to_contain_text(
            "You already asked 李娜 to share it.")
