"""Create a customer with two contacts, tag it inline, find it by part of its Chinese name,
save the search as a segment and reopen it: at desktop and phone sizes."""
import re

from playwright.sync_api import expect

from crm.extensions import db
from tests import factories
from tests.browser.conftest import htmx_settled, open_section


def _seed_tags(app):
    with app.app_context():
        tier = factories.tag_group("客户等级 Value tier", multiple=False, commit=False)
        industry = factories.tag_group("行业 Industry", multiple=True, commit=False)
        for group, name, color in ((tier, "重要 Important", "#dc2626"),
                                   (tier, "普通 Ordinary", "#64748b"),
                                   (industry, "软件 Software", "#2563eb"),
                                   (industry, "制造 Manufacturing", "#16a34a")):
            factories.tag(group, name, color=color, commit=False)
        db.session.commit()


def _open_nav(page):
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")


def test_customer_flow(page, app, make_user, browser_login, screenshot):
    user = make_user("sales", name="Chen Jing", email="chen@example.com")
    _seed_tags(app)
    browser_login(page, user)

    # Create the customer
    page.goto("/customers")
    page.click("text=+ New customer")
    expect(page).to_have_url(re.compile(r"/customers/new$"))
    page.fill("input[name=name]", "北京星辰科技有限公司")
    page.fill("input[name=phone]", "010 8888 6666")
    page.fill("input[name=industry]", "Software")
    page.fill("input[name=region]", "华北")
    page.click("form.customer-form button[type=submit]:has-text('Save')")
    expect(page).to_have_url(re.compile(r"/customers/\d+$"))
    expect(page.locator("h1")).to_contain_text("北京星辰科技有限公司")
    htmx_settled(page)  # the inline forms below post through htmx once it has loaded

    # Two contacts, added inline without a reload
    page.evaluate("window.__sameDocument = true")
    open_section(page, "#contacts")
    for name, phone, title in (("王伟", "138 0013 8000", "总经理"), ("李娜", "139 1234 5678", "采购")):
        page.click("#contacts summary:has-text('Add contact')")
        page.fill("#new-contact-name", name)
        page.fill("#new-contact-title", title)
        page.fill("#new-contact-phone", phone)
        page.click("#contact-add-form button[type=submit]")
        expect(page.locator("#contacts .contact-list")).to_contain_text(name)
    expect(page.locator("#contacts .contact")).to_have_count(2)
    expect(page.locator("#contacts .contact.primary")).to_contain_text("王伟")
    assert page.evaluate("window.__sameDocument === true")

    # Tag it inline; a single-choice group keeps one tag
    open_section(page, "#tags")
    page.click("#tags summary:has-text('Edit tags')")
    page.click("#tags button.tag-toggle:has-text('重要 Important')")
    expect(page.locator("#tags .tag-groups")).to_contain_text("客户等级 Value tier")
    expect(page.locator("#tags .tag-groups")).to_contain_text("重要 Important")
    page.click("#tags button.tag-toggle:has-text('普通 Ordinary')")
    expect(page.locator("#tags .tag-groups")).to_contain_text("普通 Ordinary")
    expect(page.locator("#tags .tag-groups")).not_to_contain_text("重要 Important")
    page.click("#tags button.tag-toggle:has-text('软件 Software')")
    expect(page.locator("#tags .tag-groups")).to_contain_text("行业 Industry")
    assert page.evaluate("window.__sameDocument === true")

    # A follow-up note appears at the top without a reload
    page.fill("#note-form textarea[name=body]", "首次拜访，介绍了产品")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#timeline-items li").first).to_contain_text("首次拜访")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "customer-page")

    # Find it by typing part of its Chinese name: results update in place, the URL follows
    _open_nav(page)
    page.click("nav.mainnav a:has-text('Customers')")
    expect(page).to_have_url(re.compile(r"/customers$"))
    htmx_settled(page)  # search as you type needs htmx loaded
    page.evaluate("window.__sameDocument = true")
    page.locator("#q").press_sequentially("星辰", delay=50)
    expect(page).to_have_url(re.compile(r"q=%E6%98%9F%E8%BE%B0"))
    expect(page.locator("#customer-results")).to_contain_text("北京星辰科技有限公司")
    expect(page.locator("#customer-results .results-count")).to_contain_text("1 customer")
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("bjxc", delay=50)
    expect(page).to_have_url(re.compile(r"q=bjxc"))
    expect(page.locator("#customer-results")).to_contain_text("北京星辰科技有限公司")
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("星辰", delay=50)
    expect(page).to_have_url(re.compile(r"q=%E6%98%9F%E8%BE%B0$"))
    assert page.evaluate("window.__sameDocument === true")
    screenshot(page, "customers-list")

    # Save the search as a segment
    page.fill("#segment-name", "星辰客户")
    page.click("#segment-form button[type=submit]")
    expect(page.locator("#segments")).to_contain_text("星辰客户")

    # Reopen it from a fresh list
    page.goto("/customers")
    expect(page.locator("#q")).to_have_value("")
    page.click("#segments a:has-text('星辰客户')")
    expect(page).to_have_url(re.compile(r"/customers\?q=%E6%98%9F%E8%BE%B0$"))
    expect(page.locator("#q")).to_have_value("星辰")
    expect(page.locator("#customer-results")).to_contain_text("北京星辰科技有限公司")
    htmx_settled(page)

    # Bulk: select the row and take a tag off it
    page.check("input[data-row-check]")
    page.select_option("#bulk-tag", label="软件 Software")
    page.click("#bulk-form button:has-text('Remove tag')")
    expect(page.locator("#customer-results")).to_contain_text("removed from 1 customer")
    expect(page.locator("#customer-results .customers-table")).not_to_contain_text("软件 Software")


def test_back_button_restores_the_previous_search(page, app, make_user, browser_login):
    user = make_user("sales")
    from crm.models import Customer
    with app.app_context():
        for name, industry in (("北京星辰科技", "Software"), ("上海云帆贸易", "Trade")):
            customer = Customer(name=name, owner_id=user.id, industry=industry)
            customer.rebuild_search_index()
            db.session.add(customer)
        db.session.commit()
    browser_login(page, user)
    page.goto("/customers")
    expect(page.locator(".customers-table tbody tr")).to_have_count(2)
    page.fill("#q", "yunfan")  # one input event: one history entry
    expect(page).to_have_url(re.compile(r"q=yunfan"))
    expect(page.locator(".customers-table tbody tr")).to_have_count(1)
    page.go_back()
    expect(page).to_have_url(re.compile(r"/customers$"))
    expect(page.locator(".customers-table tbody tr")).to_have_count(2)
    page.go_forward()
    expect(page).to_have_url(re.compile(r"q=yunfan"))
    expect(page.locator(".customers-table tbody tr")).to_have_count(1)
    page.go_back()
    expect(page.locator(".customers-table tbody tr")).to_have_count(2)

    # A filter applies as soon as it changes (behind the "Filters and sort" toggle on a phone)
    if page.viewport_size["width"] < 1000:
        page.click("label.filters-toggle-label")
    page.select_option("#filter-industry", "Trade")
    expect(page).to_have_url(re.compile(r"/customers\?industry=Trade$"))
    expect(page.locator(".customers-table tbody tr")).to_have_count(1)
    expect(page.locator("#customer-results")).to_contain_text("上海云帆贸易")
