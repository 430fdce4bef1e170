"""First-run setup, logging in and switching the language, at desktop and phone sizes."""
import re

from playwright.sync_api import expect

from tests.conftest import TEST_PASSWORD


def test_first_run_setup_then_login_and_switch_language(page, screenshot):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    screenshot(page, "setup")
    page.fill("input[name=name]", "Chen Jing")
    page.fill("input[name=email]", "chen@example.com")
    page.fill("input[name=password]", "short")
    page.select_option("select[name=language]", "en")
    page.click("form button[type=submit]")
    expect(page.locator(".field-error")).to_contain_text("at least 12 characters")
    expect(page.locator("input[name=email]")).to_have_value("chen@example.com")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("form button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/setup"))
    # /setup is gone once the first admin exists
    assert page.request.get("/setup").status == 404

    # log out and in again through the menu
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")
    page.click("text=Log out")
    expect(page).to_have_url(re.compile(r"/login"))
    screenshot(page, "login")
    page.fill("input[name=email]", "CHEN@example.com")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("form button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))

    # switch to Chinese and back
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")
    page.click("button:has-text('中文')")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")
    page.click("button:has-text('English')")
    expect(page.locator("html")).to_have_attribute("lang", "en")
