"""Next contact (下次联系时间) in the browser, at desktop and phone sizes, in English and
Chinese: a salesperson records a follow-up with its next contact, sees it above the form, and
finds the customer under "To contact today" on /tasks."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Customer
from tests import factories
from tests.browser.conftest import htmx_settled

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_a_follow_up_plans_the_next_contact_for_today(app, page, make_user, browser_login, language):
    me = make_user("sales", name="Wang Fang", language=language, timezone="Asia/Shanghai")
    now = datetime.now(SHANGHAI)
    end_of_day = now.replace(hour=23, minute=59, second=0, microsecond=0)
    if end_of_day - now < timedelta(minutes=3):
        pytest.skip("too close to midnight in Shanghai for a time later today")
    later_today = min(now + timedelta(minutes=30), end_of_day)
    with app.app_context():
        customer_id = factories.customer(me, name="星辰科技").id

    browser_login(page, me)
    page.goto(f"/customers/{customer_id}")
    htmx_settled(page)
    form = page.locator("#note-form")
    form.locator("textarea[name=body]").fill("Called: they want a price for 50 seats")
    form.locator("input[name=next_contact_at]").fill(later_today.strftime("%Y-%m-%dT%H:%M"))
    form.locator("button[type=submit]").click()
    expect(page.locator("#timeline-items")).to_contain_text("50 seats")
    expect(page.locator("#next-contact")).to_be_visible()
    expect(page.locator("#next-contact")).to_contain_text("today" if language == "en" else "今天")
    with app.app_context():
        stored = db.session.get(Customer, customer_id).next_contact_at
        assert stored == later_today.replace(second=0, microsecond=0).astimezone(timezone.utc)

    page.goto("/tasks")
    due = page.locator("#contacts-due")
    expect(due).to_contain_text("To contact today" if language == "en" else "今日待联系")
    expect(due.get_by_role("link", name="星辰科技")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
