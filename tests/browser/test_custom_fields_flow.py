"""Custom fields in the browser (issue 10), at desktop and phone sizes, in English and Chinese:
an admin adds a single-choice field to customers, a salesperson fills it on a new customer,
filters the list on it and edits it in place on the customer's page."""
import re

import pytest
from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Customer
from tests.browser.conftest import htmx_settled, open_section


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_admin_adds_a_choice_field_a_salesperson_fills_filters_and_edits_it(
        page, app, make_user, browser_login, screenshot, language):
    zh = language == "zh_CN"
    admin = make_user("admin", name="Ada Admin", email="ada@example.com", language=language)
    seller = make_user("sales", name="Sam Seller", email="sam@example.com", language=language)
    make_user("sales", name="Other", email="other@example.com")

    # The admin defines 客户来源渠道 / Lead channel, a single choice with two options.
    browser_login(page, admin)
    page.goto("/admin/settings")  # the way there: Settings, then Custom fields of customers
    page.click("a[href$='/admin/fields?type=customer']")
    page.click("a[href*='/admin/fields/new']")
    page.fill("#label_zh", "客户来源渠道")
    page.fill("#label_en", "Lead channel")
    page.select_option("#type", "choice")
    page.check("#show_in_list")
    page.check("#filterable")
    rows = page.locator(".cf-new-option")
    rows.nth(0).locator("input[name=opt_label_zh]").fill("展会")
    rows.nth(0).locator("input[name=opt_label_en]").fill("Trade show")
    rows.nth(1).locator("input[name=opt_label_zh]").fill("官网")
    rows.nth(1).locator("input[name=opt_label_en]").fill("Website")
    page.click("form.cf-definition button[type=submit].primary")
    expect(page).to_have_url(re.compile(r"/admin/fields\?type=customer"))
    expect(page.locator(".cf-table")).to_contain_text("客户来源渠道" if zh else "Lead channel")
    expect(page.locator(".cf-table")).to_contain_text("cf_lead_channel")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"custom-fields-admin-{language}")
    page.context.clear_cookies()

    # The salesperson fills it on a new customer.
    trade, website = ("展会", "官网") if zh else ("Trade show", "Website")
    browser_login(page, seller)
    page.goto("/customers/new")
    page.fill("#name", "星辰物流")
    page.select_option("#cf_lead_channel", label=trade)
    page.click("form.customer-form .form-actions button[type=submit].primary")
    expect(page).to_have_url(re.compile(r"/customers/\d+$"))
    panel = page.locator("#custom-fields")
    expect(panel).to_contain_text(trade)
    with app.app_context():
        customer = db.session.execute(db.select(Customer).where(Customer.name == "星辰物流")).scalar_one()
        assert customer.custom == {"lead_channel": "trade_show"}
        customer_id = customer.id
        other = Customer(name="云帆贸易", owner_id=seller.id, custom={"lead_channel": "website"})
        other.rebuild_search_index()
        db.session.add(other)
        db.session.commit()

    # It filters the list, as soon as it is chosen.
    page.goto("/customers")
    expect(page.locator(".customers-table tbody tr")).to_have_count(2)
    expect(page.locator(".customers-table thead")).to_contain_text("客户来源渠道" if zh else "Lead channel")
    if page.viewport_size["width"] < 1000:
        page.click("label.filters-toggle-label")
    page.select_option("#filter-cf_lead_channel", "trade_show")
    expect(page).to_have_url(re.compile(r"cf_lead_channel=trade_show"))
    expect(page.locator(".customers-table tbody tr")).to_have_count(1)
    expect(page.locator("#customer-results")).to_contain_text("星辰物流")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"custom-fields-list-{language}")

    # And is edited in place on the customer's page.
    page.goto(f"/customers/{customer_id}")
    htmx_settled(page)
    open_section(page, "#custom-fields")  # folded on a phone, as a user taps "More fields"
    item = page.locator("[data-cf=lead_channel]")
    item.locator(".cf-edit").click()
    editor = page.locator("form.cf-editor")
    expect(editor).to_be_visible()
    editor.locator("select").select_option(label=website)
    editor.locator("button[type=submit]").click()
    expect(page.locator("form.cf-editor")).to_have_count(0)
    expect(page.locator("[data-cf=lead_channel]")).to_contain_text(website)
    expect(page.locator("[data-cf=lead_channel] .saved-note")).to_be_visible()
    screenshot(page, f"custom-fields-record-{language}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    with app.app_context():
        assert db.session.get(Customer, customer_id).custom == {"lead_channel": "website"}


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_an_admin_drags_an_option_to_the_top_and_groups_a_field(page, app, make_user, browser_login, language):
    """Options are reordered by dragging their handle (the numbers follow), and a field's group
    is its heading on the customer form."""
    from crm.models import CustomField, CustomFieldOption
    admin = make_user("admin", name="Ada Admin", email="ada@example.com", language=language)
    with app.app_context():
        field = CustomField(record_type="customer", key="channel", label_en="Channel", label_zh="渠道",
                            type="choice")
        field.options = [CustomFieldOption(key=k, label_en=k.title(), label_zh=k, position=n)
                         for n, k in enumerate(("trade", "website", "referral"), start=1)]
        db.session.add(field)
        db.session.commit()
        field_id = field.id
    browser_login(page, admin)
    page.goto(f"/admin/fields/{field_id}/edit")
    rows = page.locator(".cf-options-table tbody tr")
    handle = rows.nth(2).locator(".cf-drag")
    expect(handle).to_be_visible()
    handle.scroll_into_view_if_needed()
    source = handle.bounding_box()
    target = rows.nth(0).bounding_box()
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    page.mouse.down()
    x = source["x"] + source["width"] / 2
    page.mouse.move(x, source["y"] - 6, steps=5)
    page.mouse.move(x, target["y"] + target["height"] / 2, steps=20)
    page.mouse.move(x, target["y"] + 2, steps=10)
    page.mouse.up()
    expect(rows.nth(0).locator("input[name=opt_label_en]")).to_have_value("Referral")
    expect(rows.nth(0).locator(".cf-position")).to_have_value("1")
    page.fill("#group_en", "Contract")
    page.fill("#group_zh", "合同信息")
    page.click("form.cf-definition button[type=submit].primary")
    expect(page).to_have_url(re.compile(r"/admin/fields\?type=customer"))
    with app.app_context():
        options = db.session.execute(db.select(CustomFieldOption).where(
            CustomFieldOption.field_id == field_id).order_by(CustomFieldOption.position)).scalars()
        assert [o.key for o in options] == ["referral", "trade", "website"]
    page.goto("/customers/new")
    expect(page.locator(".custom-fields .cf-group-title")).to_have_text(
        "合同信息" if language == "zh_CN" else "Contract")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_a_salesperson_edits_a_contacts_field_in_place(page, app, make_user, browser_login, language):
    from crm.models import Contact, CustomField
    seller = make_user("sales", name="Sam Seller", email="sam@example.com", language=language)
    with app.app_context():
        db.session.add(CustomField(record_type="contact", key="wechat", label_en="WeChat", label_zh="微信",
                                   type="text"))
        customer = Customer(name="星辰物流", owner_id=seller.id)
        customer.rebuild_search_index()
        db.session.add(customer)
        db.session.flush()
        db.session.add(Contact(customer_id=customer.id, name="李雷", custom={"wechat": "lilei88"}))
        db.session.commit()
        customer_id = customer.id
    browser_login(page, seller)
    page.goto(f"/customers/{customer_id}")
    htmx_settled(page)
    open_section(page, "#contacts")
    item = page.locator("#contacts .cf-item[data-cf=wechat]")
    expect(item).to_contain_text("lilei88")
    item.locator(".cf-edit").click()
    editor = page.locator("#contacts form.cf-editor")
    editor.locator("input[name=cf_wechat]").fill("lilei99")
    editor.locator("button[type=submit]").click()
    expect(page.locator("#contacts .cf-item[data-cf=wechat]")).to_contain_text("lilei99")
    expect(page.locator("#contacts .saved-note")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    with app.app_context():
        assert db.session.execute(db.select(Contact.custom)).scalar_one() == {"wechat": "lilei99"}
