"""The audit trail in the browser, at desktop and phone sizes: a salesperson edits a customer's
phone and sees the change in its History section; an admin opens the audit log and filters it
by user."""
import re

from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Customer
from tests.browser.conftest import htmx_settled


def _open_nav(page):
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")


def test_history_shows_an_edit_and_the_admin_filters_the_log(page, app, make_user, browser_login,
                                                              screenshot):
    seller = make_user("sales", name="Chen Jing", email="chen@example.com")
    other = make_user("sales", name="Li Na", email="lina@example.com")
    admin = make_user("admin", name="Ada Admin", email="ada@example.com")
    with app.app_context():
        customer = Customer(name="北京星辰科技有限公司", phone="010 8888 6666", owner_id=seller.id,
                            created_by_id=seller.id)
        theirs = Customer(name="Shanghai Harbour Trading", owner_id=other.id, created_by_id=other.id)
        db.session.add_all([customer, theirs])
        db.session.commit()
        customer_id, theirs_id = customer.id, theirs.id

    # Chen edits the phone number
    browser_login(page, seller)
    page.goto(f"/customers/{customer_id}/edit")
    page.fill("input[name=phone]", "010 6666 1234")
    page.click("form.customer-form button[type=submit]:has-text('Save')")
    expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))

    # The History section loads when scrolled into view and shows old → new, by whom
    history = page.locator(f"#audit-customers-{customer_id}")
    history.scroll_into_view_if_needed()
    change = history.locator(".audit-item").first
    expect(change).to_contain_text("Phone")
    expect(change.locator(".audit-old")).to_have_text("010 8888 6666")
    expect(change.locator(".audit-new")).to_have_text("010 6666 1234")
    expect(change).to_contain_text("Chen Jing")
    expect(history.locator(".audit-item").last).to_contain_text("Created")
    box = history.bounding_box()
    assert box["width"] <= page.viewport_size["width"]
    screenshot(page, "customer-history")

    # Li edits her own customer; the admin filters the log by user
    page.context.clear_cookies()
    browser_login(page, other)
    page.goto(f"/customers/{theirs_id}/edit")
    page.fill("input[name=city]", "上海")
    page.click("form.customer-form button[type=submit]:has-text('Save')")
    expect(page).to_have_url(re.compile(rf"/customers/{theirs_id}$"))

    page.context.clear_cookies()
    browser_login(page, admin)
    _open_nav(page)
    page.click("nav.mainnav >> text=Audit log")
    expect(page).to_have_url(re.compile(r"/admin/audit$"))
    htmx_settled(page)  # the filters swap the results through htmx once it has loaded
    rows = page.locator("#audit-results tbody tr")
    expect(rows).to_have_count(4)  # two creates, two edits
    page.select_option("select[name=user]", label="Chen Jing")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("010 6666 1234")
    expect(rows.first).to_contain_text("北京星辰科技有限公司")
    expect(page).to_have_url(re.compile(rf"user={seller.id}"))
    page.select_option("select[name=user]", label="Li Na")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("上海")
    screenshot(page, "audit-log")
    # The filtered URL works as a page of its own (bookmark, reload)
    page.reload()
    expect(page.locator("select[name=user]")).to_have_value(str(other.id))
    expect(rows).to_have_count(1)
