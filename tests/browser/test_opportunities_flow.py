"""An opportunity's life in the browser: create it for a customer, move it with the stage
select, lose it with a reason, add a note without a reload; at desktop and phone sizes."""
import re

from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Customer
from tests.browser.conftest import htmx_settled


def test_create_move_lose_and_follow_up(page, app, live_server, make_user, browser_login, screenshot):
    seller = make_user("sales", email="seller@example.com", name="Sam Seller")
    with app.app_context():
        customer = Customer(name="北京星辰科技", city="北京", owner_id=seller.id)
        customer.rebuild_search_index()
        db.session.add(customer)
        db.session.commit()
    browser_login(page, seller)

    # Create an opportunity, finding the customer by typing its pinyin.
    page.goto("/opportunities")
    page.click("text=New opportunity")
    expect(page).to_have_url(re.compile(r"/opportunities/new"))
    htmx_settled(page)  # typing in the customer search goes nowhere before htmx has loaded
    page.fill("input[name=title]", "ERP 二期")
    page.fill("#customer_q", "xingchen")
    choice = page.locator("#customer-results label.choice", has_text="北京星辰科技")
    expect(choice).to_be_visible()
    choice.click()
    expect(page.locator("#customer-picker input[name=customer_id]:checked")).to_have_count(1)
    page.fill("input[name=amount]", "250000")
    page.select_option("select[name=stage_id]", label="Confirm")
    expect(page.locator("[data-lost-fields]")).to_be_hidden()
    page.fill("input[name='competitors-0-name']", "用友")
    page.click("button:has-text('Create opportunity')")
    expect(page).to_have_url(re.compile(r"/opportunities/\d+$"))
    expect(page.locator("h1")).to_have_text("ERP 二期")
    expect(page.locator("#stage-widget .stage-name")).to_have_text("Confirm")
    expect(page.locator("#competitors")).to_contain_text("用友")
    htmx_settled(page)

    # Move it with the stage select: the widget and the history update in place.
    page.evaluate("window.__noReload = true")
    page.select_option("#stage-select", page.locator("#stage-select option", has_text="Proposal").get_attribute("value"))
    expect(page.locator("#stage-widget .stage-name")).to_have_text("Proposal")
    expect(page.locator("#stage-history tbody tr").first).to_contain_text("Proposal")
    expect(page.locator("#stage-history")).to_contain_text("Confirm")

    # Move it to the lost stage: the reason is asked inline before anything is saved.
    htmx_settled(page)  # the widget swapped in by the last move, processed by htmx
    page.select_option("#stage-select", page.locator("#stage-select option", has_text="Lost to competitor").get_attribute("value"))
    expect(page.locator(".lost-form")).to_be_visible()
    expect(page.locator("#stage-widget .status-pill")).to_have_text("Open")
    page.select_option("#lost-reason", label="Price")
    page.fill("#lost-note", "They chose a cheaper offer")
    page.click("button:has-text('Mark as lost')")
    expect(page.locator("#stage-widget .status-pill")).to_have_text("Lost")
    expect(page.locator("#stage-widget")).to_contain_text("Price")
    expect(page.locator("#stage-widget")).to_contain_text("Reopen")

    # Add a follow-up note: it appears on the timeline without a reload.
    page.fill("#note-form textarea[name=body]", "Called the buyer about next year's budget")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#timeline-items")).to_contain_text("Called the buyer about next year's budget")
    expect(page.locator("#note-form textarea[name=body]")).to_have_value("")
    assert page.evaluate("window.__noReload") is True
    page.locator("#stage-widget").scroll_into_view_if_needed()
    screenshot(page, "opportunity-page")

    # After a reload everything stayed.
    page.reload()
    expect(page.locator("#stage-widget .status-pill")).to_have_text("Lost")
    expect(page.locator("#timeline-items")).to_contain_text("Called the buyer")
    expect(page.locator("#stage-history tbody tr")).to_have_count(3)


def test_list_filters_as_you_type(page, app, live_server, make_user, browser_login):
    from decimal import Decimal

    from crm.models import Pipeline, User
    from crm.opportunities.services import create_opportunity

    seller = make_user("sales", email="lister@example.com", name="Lee Lister")
    with app.app_context():
        user = db.session.get(User, seller.id)
        stages = {s.key: s for s in db.session.execute(db.select(Pipeline)).scalar_one().stages}
        for name, title, amount in (("上海明日贸易", "Warehouse system", "1000"), ("Acme", "CRM seats", "300")):
            customer = Customer(name=name)
            customer.rebuild_search_index()
            db.session.add(customer)
            create_opportunity(title=title, customer=customer, stage=stages["proposal"], user=user,
                               amount=Decimal(amount))
        db.session.commit()
    browser_login(page, seller)
    page.goto("/opportunities")
    expect(page.locator("#results")).to_contain_text("2 opportunities")
    page.fill("#filter-q", "shmr")
    expect(page.locator("#results")).to_contain_text("1 opportunity")
    expect(page.locator("#results")).to_contain_text("Warehouse system")
    expect(page.locator("#results")).not_to_contain_text("CRM seats")
    expect(page).to_have_url(re.compile(r"q=shmr"))
