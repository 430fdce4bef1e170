"""A big account's task panel lists its first 20 open tasks with their true number; "All N
open tasks" opens /tasks filtered by that customer (everyone's tasks of it, its name linked),
which ticking a task off keeps and "Remove this filter" lifts: at desktop and phone sizes,
nothing wider than the phone."""
import re
from datetime import timedelta

from playwright.sync_api import expect

from crm.models import utcnow
from tests import factories
from tests.browser.conftest import htmx_settled

NAME = "深圳大客户电子科技股份有限公司 Big Account Electronics Technology Holdings"


def _seed(app, seller_id, colleague_id) -> int:
    """A customer with 23 open tasks (6 overdue, some of them a colleague's) and one done,
    another customer with one task of the seller's; the first one's id."""
    with app.app_context():
        big = factories.customer(seller_id, name=NAME, commit=False)
        other = factories.customer(seller_id, name="Other Co", commit=False)
        start = utcnow() - timedelta(hours=5, minutes=30)
        for i in range(23):
            factories.task(colleague_id if i % 4 == 3 else seller_id,
                           f"Follow up {i:02d} on the long-running framework agreement renewal",
                           customer=big, due=start + timedelta(hours=i), created_by=seller_id,
                           commit=False)
        factories.task(seller_id, "Signed the NDA", customer=big, done=True,
                       done_at=utcnow() - timedelta(days=40), commit=False)
        factories.task(seller_id, "Other customer's call", customer=other,
                       due=utcnow() + timedelta(days=1))
        return big.id


def _fits(page):
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_all_open_tasks_of_a_big_customer(page, app, make_user, browser_login):
    seller = make_user("sales", email="tasks-big@example.com", name="Bai Seller")
    colleague = make_user("sales", email="tasks-colleague@example.com", name="Chen Colleague")
    customer_id = _seed(app, seller.id, colleague.id)
    browser_login(page, seller)

    page.goto(f"/customers/{customer_id}")
    panel = page.locator("#task-panel")
    expect(panel.locator("#task-panel-title .pill")).to_have_text("23")
    expect(panel.locator(".task-item")).to_have_count(20)
    expect(panel.locator(".task-item").first).to_contain_text("Follow up 00")  # overdue first
    expect(panel).not_to_contain_text("Follow up 20")
    _fits(page)

    panel.get_by_role("link", name="All 23 open tasks").click()
    expect(page).to_have_url(re.compile(rf"/tasks\?customer={customer_id}$"))
    sections = page.locator("#task-sections")
    expect(sections.locator(".task-filter-record")).to_contain_text(NAME)
    expect(sections.locator(".task-item:not(.done)")).to_have_count(23)
    expect(sections).to_contain_text("Chen Colleague")  # everyone's tasks of the customer
    expect(page.locator("#tasks-done")).to_contain_text("Signed the NDA")
    expect(sections).not_to_contain_text("Other customer's call")
    expect(page.locator("#tasks-overdue .task-item")).to_have_count(6)
    _fits(page)

    # Ticking one off (htmx) redraws the sections with the customer still chosen.
    htmx_settled(page)
    page.locator("#tasks-overdue").get_by_role(
        "checkbox", name=re.compile("Mark “Follow up 00 .*” done")).click()
    expect(page.locator("#tasks-overdue .task-item")).to_have_count(5)
    expect(page.locator("#tasks-done")).to_contain_text("Follow up 00")
    expect(page.locator("#task-sections .task-filter-record")).to_contain_text(NAME)
    expect(page.locator("#task-sections")).not_to_contain_text("Other customer's call")
    _fits(page)

    # The name leads back to the customer (one task fewer); "Remove this filter" to my tasks.
    expect(page.locator(".task-filter-record a", has_text=NAME)).to_have_attribute(
        "href", f"/customers/{customer_id}")
    page.locator(".task-filter-record").get_by_role("link", name="Remove this filter").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(page.locator("#task-sections")).to_contain_text("Other customer's call")
    expect(page.locator("#task-sections")).not_to_contain_text("Chen Colleague")
    expect(page.locator("#task-sections .task-filter-record")).to_have_count(0)
    _fits(page)

    page.goto(f"/customers/{customer_id}")
    expect(page.locator("#task-panel #task-panel-title .pill")).to_have_text("22")
    expect(page.locator("#task-panel").get_by_role("link", name="All 22 open tasks")).to_be_visible()
