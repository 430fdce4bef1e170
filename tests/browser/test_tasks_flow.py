"""Tasks in the browser, at desktop and phone sizes: the overdue badge in the navigation,
ticking a task off inline (the badge and the sections update without a reload), adding one."""
import re
from datetime import timedelta

from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Customer, Task, utcnow
from crm.search import search_keys


def _open_nav(page):
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")


def test_tick_off_an_overdue_task_and_add_one(app, page, make_user, browser_login, screenshot):
    me = make_user("sales", name="Wang Fang", language="en", timezone="Asia/Shanghai")
    with app.app_context():
        customer = Customer(name="星辰科技", search_index=search_keys("星辰科技"),
                            owner_id=me.id)
        db.session.add(customer)
        db.session.flush()
        db.session.add_all([
            Task(title="Call Mr Li about the quote", due_at=utcnow() - timedelta(days=1),
                 assignee_id=me.id, created_by_id=me.id, customer_id=customer.id),
            Task(title="Send the revised proposal", due_at=utcnow() - timedelta(hours=2),
                 assignee_id=me.id, created_by_id=me.id),
            Task(title="Prepare the demo", due_at=utcnow() + timedelta(days=3),
                 assignee_id=me.id, created_by_id=me.id),
        ])
        db.session.commit()

    browser_login(page, me)
    page.goto("/tasks")
    badge = page.locator("#overdue-badge")
    expect(badge).to_have_text("2")
    overdue = page.locator("#tasks-overdue")
    expect(overdue.locator(".task-item")).to_have_count(2)
    expect(overdue).to_contain_text("Call Mr Li about the quote")
    expect(overdue).to_contain_text("星辰科技")
    screenshot(page, "tasks")

    # Tick one off: it moves to Done and the badge drops, without a reload.
    page.evaluate("window.__noReload = true")
    overdue.get_by_role("checkbox", name="Mark “Call Mr Li about the quote” done").click()
    expect(badge).to_have_text("1")
    expect(overdue.locator(".task-item")).to_have_count(1)
    expect(page.locator("#tasks-done")).to_contain_text("Call Mr Li about the quote")
    assert page.evaluate("window.__noReload") is True

    # Tick the other: the badge hides at zero.
    overdue.get_by_role("checkbox", name="Mark “Send the revised proposal” done").click()
    expect(page.locator("#tasks-overdue")).to_contain_text("Nothing overdue.")
    expect(badge).to_be_hidden()
    expect(badge).to_have_text("0")

    # Add a task from the /tasks page, related to the customer found by pinyin.
    form = page.locator("#task-form")
    form.locator("input[name=title]").fill("Visit the Beijing office")
    form.locator("input[name=due_at]").fill("2030-05-06T10:00")
    form.locator("summary").click()
    form.locator("input[name=related_q]").fill("xingchen")
    form.get_by_label("星辰科技").check()
    form.get_by_role("button", name="Add task", exact=True).click()
    upcoming = page.locator("#tasks-upcoming")
    expect(upcoming).to_contain_text("Visit the Beijing office")
    expect(upcoming.locator(".task-item", has_text="Visit the Beijing office")).to_contain_text("星辰科技")
    expect(page.locator("#task-form input[name=title]")).to_have_value("")
    assert page.evaluate("window.__noReload") is True

    # Reload: everything stayed, and the due time shows in Shanghai time (10:00).
    page.reload()
    expect(page.locator("#tasks-done")).to_contain_text("Send the revised proposal")
    expect(page.locator("#tasks-upcoming .task-item", has_text="Visit the Beijing office")).to_contain_text("10:00")
    with app.app_context():
        task = db.session.execute(db.select(Task).filter_by(title="Visit the Beijing office")).scalar_one()
        assert task.due_at.hour == 2 and task.customer_id is not None  # 10:00 Shanghai = 02:00 UTC

    # The navigation link leads here too.
    _open_nav(page)
    page.locator(".mainnav a", has_text="Tasks").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))


def test_empty_title_keeps_the_input(app, page, make_user, browser_login):
    me = make_user("sales", language="en")
    browser_login(page, me)
    page.goto("/tasks")
    form = page.locator("#task-form")
    form.locator("input[name=due_at]").fill("2030-05-06T10:00")
    form.get_by_role("button", name="Add task", exact=True).click()
    expect(page.locator("#task-form .field-error")).to_contain_text("Say what needs doing.")
    expect(page.locator("#task-form input[name=due_at]")).to_have_value("2030-05-06T10:00")


def test_the_task_panel_on_a_customer_page(app, page, make_user, browser_login):
    me = make_user("sales", name="Zhao Min", language="en", timezone="Asia/Shanghai")
    if not app.view_functions.get("customers.show"):
        import pytest
        pytest.skip("the customers area is not installed")
    with app.app_context():
        customer = Customer(name="华为技术", search_index=search_keys("华为技术"), owner_id=me.id)
        db.session.add(customer)
        db.session.commit()
        customer_id = customer.id

    browser_login(page, me)
    page.goto(f"/customers/{customer_id}")
    panel = page.locator("#task-panel")
    expect(panel).to_contain_text("No open tasks.")
    badge = page.locator("#overdue-badge")
    expect(badge).to_be_hidden()

    # Add a task that is already overdue: the panel lists it and the badge shows 1.
    panel.locator("summary").click()
    panel.locator("input[name=title]").fill("Chase the signed contract")
    panel.locator("input[name=due_at]").fill("2020-01-02T09:00")
    panel.get_by_role("button", name="Add task").click()
    item = page.locator("#task-panel .task-item", has_text="Chase the signed contract")
    expect(item).to_contain_text("Overdue")
    expect(badge).to_have_text("1")

    # Tick it off: it leaves the panel, the badge drops and the timeline shows it, no reload.
    page.evaluate("window.__noReload = true")
    item.get_by_role("checkbox").click()
    expect(page.locator("#task-panel")).to_contain_text("No open tasks.")
    expect(badge).to_have_text("0")
    expect(page.locator("#timeline-items")).to_contain_text("Chase the signed contract")
    assert page.evaluate("window.__noReload") is True
    page.reload()
    expect(page.locator("#timeline-items")).to_contain_text("Chase the signed contract")
