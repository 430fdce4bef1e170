"""Logging out ends the session: Back and reload ask for a login; "log out everywhere" on the
account page ends the other browser's session too. Desktop and phone sizes."""
import re

from playwright.sync_api import expect


def _open_menu(page):
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")


def test_log_out_then_back_and_reload_ask_for_a_login(app, page, make_user, browser_login, build):
    seller = make_user("sales", email="backer@example.com")
    build.customer(seller, name="Back Button Trading Co", created_by=seller)
    browser_login(page, seller)
    page.goto("/customers")
    expect(page.locator("main")).to_contain_text("Back Button Trading Co")
    _open_menu(page)
    page.click("text=Log out")
    expect(page).to_have_url(re.compile(r"/login"))
    page.go_back()
    page.reload()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator("input[name=password]")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Back Button Trading Co")
    # The customer page itself, asked for again, asks for a login too.
    page.goto("/customers")
    expect(page).to_have_url(re.compile(r"/login\?next=/customers"))


def test_log_out_everywhere_ends_the_other_browsers_session(app, page, browser, live_server,
                                                          make_user, browser_login, viewport):
    seller = make_user("sales", email="everywhere-flow@example.com")
    other = browser.new_context(base_url=live_server, locale="en-US")
    try:
        second = other.new_page()
        browser_login(second, seller)
        second.goto("/customers")
        expect(second).to_have_url(re.compile(r"/customers"))
        browser_login(page, seller)
        page.goto("/account")
        sessions = page.locator("#login-sessions .session-row")
        expect(sessions).to_have_count(2)
        expect(page.locator("#login-sessions")).to_contain_text("This device")
        page.click("#revoke-sessions")
        expect(page).to_have_url(re.compile(r"/login"))
        expect(page.locator("body")).to_contain_text("You were logged out on every device.")
        second.reload()
        expect(second).to_have_url(re.compile(r"/login"))
    finally:
        other.close()
