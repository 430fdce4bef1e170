"""Edit a follow-up note in place (htmx): Edit swaps the form in for the note, Cancel puts the
note back, a refused save keeps the form with its error, Save shows the saved note, all
without leaving the page. Without JavaScript the same Edit link opens the note's edit page. At
desktop and phone sizes."""
import re

from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Note
from tests import factories
from tests.browser.conftest import VIEWPORTS, htmx_settled


def _seed(app, owner_id):
    with app.app_context():
        customer = factories.customer(owner_id, name="杭州云栖科技", created_by=owner_id,
                                      commit=False)
        note = factories.note(owner_id, customer, kind="call", body="Called about the quote")
        return customer.id, note.id


def test_note_edit_in_place(page, app, make_user, browser_login):
    owner = make_user("sales", name="Zhang Min", email="zhang@example.com")
    customer_id, note_id = _seed(app, owner.id)
    browser_login(page, owner)
    page.goto(f"/customers/{customer_id}")
    htmx_settled(page)
    page.evaluate("window.__sameDocument = true")
    item = page.locator(f"#note-{note_id}")

    # Edit, then Cancel: the note is back as it was
    item.locator("a:has-text('Edit')").click()
    expect(item.locator("textarea[name=body]")).to_have_value("Called about the quote")
    item.locator("a:has-text('Cancel')").click()
    expect(item.locator("textarea")).to_have_count(0)
    expect(item).to_contain_text("Called about the quote")

    # Edit, an empty text is refused in place, then saved
    item.locator("a:has-text('Edit')").click()
    item.locator("textarea[name=body]").fill("")
    item.locator("button:has-text('Save')").click()
    expect(item.locator(".field-error")).to_contain_text("Write what was said or done.")
    item.locator("textarea[name=body]").fill("Called, sent the quote 报价已发")
    item.locator("button:has-text('Save')").click()
    expect(item.locator("textarea")).to_have_count(0)
    expect(item).to_contain_text("Called, sent the quote 报价已发")
    expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))
    assert page.evaluate("window.__sameDocument === true")
    with app.app_context():
        assert db.session.get(Note, note_id).body == "Called, sent the quote 报价已发"


def test_note_edit_link_without_javascript(browser, live_server, app, make_user, browser_login,
                                           viewport):
    owner = make_user("sales", name="Zhang Min", email="zhang@example.com")
    customer_id, note_id = _seed(app, owner.id)
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=live_server,
                                  locale="en-US", java_script_enabled=False)
    try:
        page = context.new_page()
        browser_login(page, owner)
        page.goto(f"/customers/{customer_id}")
        page.locator(f"#note-{note_id} a:has-text('Edit')").click()
        expect(page).to_have_url(re.compile(rf"/notes/{note_id}/edit$"))
        page.locator("textarea[name=body]").fill("")
        page.locator("button:has-text('Save')").click()
        expect(page.locator(".field-error")).to_contain_text("Write what was said or done.")
        page.locator("textarea[name=body]").fill("Visited them")
        page.locator("button:has-text('Save')").click()
        expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))
        expect(page.locator(f"#note-{note_id}")).to_contain_text("Visited them")
    finally:
        context.close()
