"""Delete a customer from its page (after confirming), it leaves the list; restore it from
/trash and it is back with its contacts and notes; delete a note and undo it in place. At
desktop and phone sizes."""
import re

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import htmx_settled


def _seed(app, owner_id):
    with app.app_context():
        customer = factories.customer(owner_id, name="上海远航贸易", created_by=owner_id,
                                      contacts=[{"name": "赵敏", "is_primary": True}, "Zhou Lei"],
                                      commit=False)
        for body in ("First visit went well", "Sent the price list"):
            factories.note(owner_id, customer, body=body, commit=False)
        factories.customer(owner_id, name="Stays Here Ltd", created_by=owner_id)
        return customer.id


def _open_nav(page):
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")


def test_trash_flow(page, app, make_user, browser_login, screenshot):
    owner = make_user("sales", name="Liu Yang", email="liu@example.com")
    customer_id = _seed(app, owner.id)
    browser_login(page, owner)

    # Delete from the customer page: the browser asks first; cancelling keeps it.
    page.goto(f"/customers/{customer_id}")
    delete_button = page.locator(".page-head button.danger:has-text('Delete')")
    page.once("dialog", lambda dialog: dialog.dismiss())
    delete_button.click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))
    page.once("dialog", lambda dialog: dialog.accept())
    delete_button.click()

    # Back on the list: the notice offers Undo, and the customer is gone from the results.
    expect(page).to_have_url(re.compile(r"/customers$"))
    expect(page.locator(".undo-notice")).to_contain_text("上海远航贸易")
    expect(page.locator(".undo-notice button:has-text('Undo')")).to_be_visible()
    expect(page.locator("#customer-results")).to_contain_text("Stays Here Ltd")
    expect(page.locator("#customer-results")).not_to_contain_text("上海远航贸易")

    # The trash, from the navigation, lists it with what hangs on it.
    _open_nav(page)
    page.click("nav.mainnav a:has-text('Trash')")
    expect(page).to_have_url(re.compile(r"/trash$"))
    htmx_settled(page)  # Restore below swaps the list through htmx once it has loaded
    row = page.locator("tr.trash-row", has_text="上海远航贸易")
    expect(row).to_contain_text("2 contacts")
    expect(row).to_contain_text("2 notes")
    expect(row).to_contain_text("30 days")
    expect(row).to_contain_text("Liu Yang")
    screenshot(page, "trash")

    # Restore it (htmx: the list updates in place).
    row.locator("button:has-text('Restore')").click()
    expect(page.locator("#trash-results")).to_contain_text("is back")
    expect(page.locator("tr.trash-row", has_text="上海远航贸易")).to_have_count(0)

    # It is back in the list, with its contacts and notes.
    page.goto("/customers")
    page.click("#customer-results a:has-text('上海远航贸易')")
    expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))
    htmx_settled(page)
    expect(page.locator("#contacts .contact")).to_have_count(2)
    expect(page.locator("#contacts .contact.primary")).to_contain_text("赵敏")
    expect(page.locator("#timeline-items")).to_contain_text("First visit went well")
    expect(page.locator("#timeline-items")).to_contain_text("Sent the price list")

    # Delete a note: a line with Undo takes its place; Undo brings it back.
    note = page.locator("#timeline-items li", has_text="Sent the price list")
    page.once("dialog", lambda dialog: dialog.accept())
    note.locator("button:has-text('Delete')").click()
    placeholder = page.locator("#timeline-items li.trashed-item")
    expect(placeholder).to_contain_text("moved to the trash")
    placeholder.locator("button:has-text('Undo')").click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))
    expect(page.locator("#timeline-items")).to_contain_text("Sent the price list")
    expect(page.locator(".flash-success")).to_contain_text("The note is back.")
