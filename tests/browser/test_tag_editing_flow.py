"""Editing a customer's tags in the browser, at desktop and phone sizes, in English and
Chinese: each click says what it saved (the chip marked, a line with Undo), choosing another
tag of a single-choice group says that it replaced the first, Undo puts things back, and Done
closes the editor."""
import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import htmx_settled, open_section


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_tag_editing_shows_what_it_saved_with_undo_and_done(page, app, make_user, browser_login,
                                                            screenshot, language):
    me = make_user("sales", name="Sam Seller", email="sam@example.com", language=language)
    with app.app_context():
        hot = factories.tag("阶段 Stage", "热 Hot", multiple=False)
        cold = factories.tag("阶段 Stage", "冷 Cold", multiple=False)
        customer_id = factories.customer(me, name="星辰科技").id
        hot_id, cold_id = hot.id, cold.id
    browser_login(page, me)
    page.goto(f"/customers/{customer_id}")
    htmx_settled(page)
    open_section(page, "#tags")
    tags = page.locator("#tags")
    tags.locator("summary").click()
    expect(tags.locator("legend")).to_contain_text(
        "choosing another replaces it" if language == "en" else "阶段 Stage")

    tags.locator(f"button[data-tag-id='{hot_id}']").click()
    expect(tags.locator(".tag-saved")).to_be_visible()
    expect(tags.locator(f"button[data-tag-id='{hot_id}']")).to_have_attribute("aria-pressed", "true")
    if language == "en":
        expect(tags.locator(".tag-saved")).to_contain_text("Added 热 Hot.")

    # The other tag of the single-choice group replaces it, and says so.
    tags.locator(f"button[data-tag-id='{cold_id}']").click()
    expect(tags.locator(f"button[data-tag-id='{cold_id}']")).to_have_attribute("aria-pressed", "true")
    expect(tags.locator(f"button[data-tag-id='{hot_id}']")).to_have_attribute("aria-pressed", "false")
    expect(tags.locator(".tag-saved")).to_contain_text("热 Hot")
    if language == "en":
        expect(tags.locator(".tag-saved")).to_contain_text("Added 冷 Cold, replacing 热 Hot.")
    screenshot(page, f"tag-editing-{language}")

    # Undo puts the first one back.
    tags.locator(".tag-saved button").click()
    expect(tags.locator(f"button[data-tag-id='{hot_id}']")).to_have_attribute("aria-pressed", "true")
    expect(tags.locator(f"button[data-tag-id='{cold_id}']")).to_have_attribute("aria-pressed", "false")
    expect(tags.locator(".tag-groups")).to_contain_text("热 Hot")

    # Done closes the editor.
    tags.locator("[data-close-details]").click()
    expect(tags.locator("details.tag-picker")).not_to_have_attribute("open", "")
    expect(tags.locator("details.tag-picker .tag-picker-group").first).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
