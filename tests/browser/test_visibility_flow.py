"""Record visibility in the browser, at desktop and phone sizes: a salesperson does not see a
colleague's customer; an admin shares it with them from the customer page; now they do."""
import re

from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Customer
from tests.browser.conftest import open_section


def test_sharing_makes_a_customer_visible(page, browser, live_server, app, make_user,
                                          browser_login, screenshot):
    li = make_user("sales", name="Li Lei", email="li@example.com")
    wang = make_user("sales", name="Wang Fang", email="wang@example.com")
    admin = make_user("admin", name="Ada Admin", email="ada@example.com")
    with app.app_context():
        customer = Customer(name="Hidden Harbour Ltd", owner_id=wang.id, created_by_id=wang.id)
        customer.rebuild_search_index()
        db.session.add(customer)
        db.session.commit()
        customer_id = customer.id

    # Li does not see Wang's customer: not in the list, not by its address.
    browser_login(page, li)
    page.goto("/customers")
    expect(page.locator("#customer-results")).not_to_contain_text("Hidden Harbour")
    response = page.goto(f"/customers/{customer_id}")
    assert response.status == 403

    # The admin shares it with Li from the customer page.
    admin_context = browser.new_context(viewport=page.viewport_size, base_url=live_server,
                                        locale="en-US")
    try:
        admin_page = admin_context.new_page()
        browser_login(admin_page, admin)
        admin_page.goto(f"/customers/{customer_id}")
        open_section(admin_page, "#sharing")
        panel = admin_page.locator("#sharing")
        expect(panel).to_contain_text("Not shared with anyone.")
        panel.locator("select[name=user_id]").select_option(label="Li Lei")
        panel.locator("button:has-text('Share')").click()
        expect(admin_page.locator("#sharing .sharing-list")).to_contain_text("Li Lei")
        expect(admin_page.locator("#sharing")).to_contain_text("Shared with Li Lei.")
        admin_page.locator("#sharing").scroll_into_view_if_needed()
        screenshot(admin_page, "sharing")
    finally:
        admin_context.close()

    # Now Li sees it, and may edit it (a share grants edit), but not share it further.
    page.goto("/customers")
    expect(page.locator("#customer-results")).to_contain_text("Hidden Harbour")
    page.click("text=Hidden Harbour Ltd")
    expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))
    expect(page.locator("h1")).to_contain_text("Hidden Harbour Ltd")
    expect(page.locator(f"a[href='/customers/{customer_id}/edit']")).to_be_visible()
    open_section(page, "#sharing")
    expect(page.locator("#sharing")).to_contain_text("Wang Fang")
    expect(page.locator("#sharing select[name=user_id]")).to_have_count(0)
