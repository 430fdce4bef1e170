"""Phone pages are no longer than their content needs: measured at 390 px, in English and
Chinese, with the demo data.

- A list row is a compact card of two or three lines, not a table squeezed into label/value
  pairs: every row of the customer, opportunity and task lists is at most three lines tall.
- A record page puts the timeline and the next task first and folds its other panels into
  sections that open with a tap.
- Each page's height stays under a ceiling; `RECORD_HEIGHTS=1` prints the figures that
  docs/phone-heights.md records."""
import os

import pytest

from crm.demo import load_demo
from crm.extensions import db
from crm.models import Customer, Opportunity, User
from tests.browser.conftest import htmx_settled

PHONE = {"width": 390, "height": 844}

# The largest height (px) each page may have at 390 px with the demo data. The figures in
# docs/phone-heights.md are below these by a margin for fonts and translations.
CEILINGS = {
    "/customers": 4000,
    "/opportunities": 4200,
    "/tasks": 5000,
    "/tags": 5200,
    "/admin/users": 1000,
    "/admin/pipelines": 1000,
    "customer": 3400,
    "opportunity": 2400,
}

# The row selectors of each list, and the most lines a row may take.
ROWS = {"/customers": "tr.customer-row", "/opportunities": "tr.opportunity-row",
        "/tasks": "li.task-item", "/tags": "table.tag-table tbody tr",
        "/admin/users": "table.users-table tbody tr", "/admin/pipelines": "table.pipeline-table tbody tr"}

# How many lines of text the tallest row of a list shows: every line box of the row's text,
# grouped by where it sits (boxes that overlap vertically by half share a line).
ROW_LINES = """(selector) => {
  const rows = [...document.querySelectorAll(selector)].filter(row => row.offsetParent);
  let most = 0, worst = null;
  for (const row of rows) {
    const lines = [];
    const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const box of range.getClientRects()) {
        if (!box.width || !box.height) continue;
        const shared = lines.find(line => Math.min(line.bottom, box.bottom) - Math.max(line.top, box.top)
                                          > Math.min(line.bottom - line.top, box.height) / 2);
        if (!shared) lines.push({top: box.top, bottom: box.bottom});
      }
    }
    if (lines.length > most) { most = lines.length; worst = row.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60); }
  }
  return {rows: rows.length, lines: most, worst: worst};
}"""


@pytest.fixture
def demo_world(app):
    with app.app_context():
        load_demo(verbose=False)
        admin = User.by_email("admin@demo.local")
        # The demo's best-documented records: the customer and the opportunity with the most
        # follow-ups, so the pages measured are as long as a real one gets.
        customer_id = db.session.execute(db.select(Customer.id).order_by(Customer.id)).scalars().first()
        opportunity_id = db.session.execute(
            db.select(Opportunity.id).order_by(Opportunity.id)).scalars().first()
        return admin, customer_id, opportunity_id


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_phone_pages_are_short(browser, live_server, app, demo_world, browser_login, language):
    admin, customer_id, opportunity_id = demo_world
    with app.app_context():
        db.session.get(User, admin.id).language = language
        db.session.commit()
    context = browser.new_context(viewport=PHONE, base_url=live_server, is_mobile=True,
                                  has_touch=True)
    try:
        page = context.new_page()
        browser_login(page, admin, password="demo-pass-2024")
        heights, problems = {}, []
        for path, ceiling in CEILINGS.items():
            url = {"customer": f"/customers/{customer_id}",
                   "opportunity": f"/opportunities/{opportunity_id}"}.get(path, path)
            page.goto(url)
            htmx_settled(page)
            height = page.evaluate("() => document.documentElement.scrollHeight")
            heights[path] = height
            if height > ceiling:
                problems.append(f"{url}: {height} px > {ceiling}")
            if path in ROWS:
                rows = page.evaluate(ROW_LINES, ROWS[path])
                assert rows["rows"], f"{url}: no rows of {ROWS[path]}"
                if rows["lines"] > 3:
                    problems.append(f"{url}: a row takes {rows['lines']} lines: {rows['worst']}")
        if os.environ.get("RECORD_HEIGHTS") == "1":
            print(f"\nphone heights ({language}):", heights)
        assert not problems, problems
    finally:
        context.close()


def test_record_page_shows_the_timeline_and_next_task_first(browser, live_server, app, demo_world,
                                                           browser_login):
    admin, customer_id, opportunity_id = demo_world
    context = browser.new_context(viewport=PHONE, base_url=live_server, is_mobile=True,
                                  has_touch=True)
    try:
        page = context.new_page()
        browser_login(page, admin, password="demo-pass-2024")
        for url in (f"/customers/{customer_id}", f"/opportunities/{opportunity_id}"):
            page.goto(url)
            htmx_settled(page)
            order = page.evaluate("""() => {
              const top = el => el ? el.getBoundingClientRect().top + window.scrollY : null;
              return {timeline: top(document.querySelector('section.timeline')),
                      tasks: top(document.querySelector('#task-panel')),
                      sections: [...document.querySelectorAll('details.phone-section')].map(
                        d => ({open: d.open, top: top(d)}))};
            }""")
            assert order["timeline"] is not None and order["tasks"] is not None, url
            assert order["sections"], f"{url}: no collapsible sections"
            # The other panels come after the next task and the timeline, and start closed.
            assert all(not s["open"] for s in order["sections"]), (url, order)
            assert order["tasks"] < min(s["top"] for s in order["sections"]), (url, order)
            assert order["timeline"] < min(s["top"] for s in order["sections"]), (url, order)
            # A closed section opens with a tap and shows its content.
            section = page.locator("details.phone-section").first
            section.locator("summary").click()
            assert section.evaluate("d => d.open")
    finally:
        context.close()


def test_desktop_record_pages_keep_every_panel_open(browser, live_server, app, demo_world,
                                                    browser_login):
    admin, customer_id, opportunity_id = demo_world
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server)
    try:
        page = context.new_page()
        browser_login(page, admin, password="demo-pass-2024")
        for url in (f"/customers/{customer_id}", f"/opportunities/{opportunity_id}"):
            page.goto(url)
            htmx_settled(page)
            states = page.evaluate(
                "() => [...document.querySelectorAll('details.phone-section')].map(d => d.open)")
            assert states and all(states), (url, states)
    finally:
        context.close()
