"""Tables and search boxes fit: tables fit their cards at 1280 and 1024 px, in English and Chinese, with the demo data:
no table's card is wider than it shows (a table too wide scrolls inside its own wrapper),
the page never scrolls sideways, placeholders are not cut, and phone numbers, amounts and dates never wrap mid-token."""
import pytest

from crm.demo import load_demo
from crm.extensions import db
from crm.models import Customer, Opportunity, User
from tests.browser.conftest import htmx_settled

PAGES = ["/customers", "/opportunities", "/admin/users", "/admin/pipelines", "/admin/audit",
         "/trash", "/tags", "customer", "opportunity"]

MEASURE = """() => {
  const problems = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push(`page ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
  for (const table of document.querySelectorAll('table.table')) {
    const card = table.closest('.card, section, main');
    if (card && card.scrollWidth > card.clientWidth + 1)
      problems.push(`${table.className}: card ${card.scrollWidth} > ${card.clientWidth}`);
    for (const cell of table.querySelectorAll('td.phone, td.num, td.nowrap, td.updated')) {
      if (getComputedStyle(cell).whiteSpace !== 'nowrap' && cell.textContent.trim())
        problems.push(`${table.className}: ${cell.className} may wrap`);
    }
  }
  for (const input of document.querySelectorAll('input[placeholder]')) {
    if (!input.offsetParent) continue;
    const style = getComputedStyle(input);
    const context = document.createElement('canvas').getContext('2d');
    context.font = style.font;
    const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (context.measureText(input.placeholder).width > room + 1)
      problems.push(`placeholder cut: ${input.name} "${input.placeholder}"`);
  }
  return problems;
}"""


@pytest.fixture
def demo_world(app):
    with app.app_context():
        load_demo(verbose=False)
        admin = User.by_email("admin@demo.local")
        customer_id = db.session.execute(db.select(Customer.id).order_by(Customer.id)).scalars().first()
        opportunity_id = db.session.execute(
            db.select(Opportunity.id).order_by(Opportunity.id)).scalars().first()
        return admin, customer_id, opportunity_id


@pytest.mark.parametrize("width", [1280, 1024])
@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_no_table_is_wider_than_its_card(browser, live_server, app, demo_world, browser_login,
                                         width, language):
    admin, customer_id, opportunity_id = demo_world
    with app.app_context():
        db.session.get(User, admin.id).language = language
        db.session.commit()
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=live_server)
    try:
        page = context.new_page()
        browser_login(page, admin, password="demo-pass-2024")
        problems = {}
        for path in PAGES:
            url = {"customer": f"/customers/{customer_id}",
                   "opportunity": f"/opportunities/{opportunity_id}"}.get(path, path)
            page.goto(url)
            htmx_settled(page)
            found = page.evaluate(MEASURE)
            if found:
                problems[url] = sorted(set(found))
        assert not problems, problems
    finally:
        context.close()
