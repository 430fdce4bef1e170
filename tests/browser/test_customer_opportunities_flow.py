"""A big account's page lists its first 20 opportunities; "All N opportunities" opens the
opportunity list filtered by that customer, which search-as-you-type keeps and "Remove this
filter" lifts: at desktop and phone sizes, nothing wider than the phone."""
import re
from datetime import timedelta

from playwright.sync_api import expect

from crm.extensions import db
from crm.models import utcnow
from tests import factories
from tests.browser.conftest import htmx_settled, open_section

NAME = "上海大客户国际贸易有限公司 Big Account International Trading"


def _seed(app, owner_id) -> int:
    """A customer with 23 opportunities (all open), another with one; the first one's id."""
    with app.app_context():
        stage = factories.stage("discover")
        big = factories.customer(owner_id, name=NAME, commit=False)
        other = factories.customer(owner_id, name="Other Co", commit=False)
        start = utcnow() - timedelta(days=1)
        for i, (title, customer) in enumerate([(f"Big deal {i:02d}", big) for i in range(23)]
                                              + [("Other deal", other)]):
            factories.opportunity(customer, owner_id, stage=stage, title=title, amount="1000.00",
                                  history=False, created_at=start + timedelta(minutes=i),
                                  commit=False)
        db.session.commit()
        return big.id


def _fits(page):
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_all_opportunities_of_a_big_customer(page, app, make_user, browser_login):
    seller = make_user("sales", email="big@example.com", name="Bai Seller")
    customer_id = _seed(app, seller.id)
    browser_login(page, seller)

    page.goto(f"/customers/{customer_id}")
    section = page.locator("#opportunities")
    expect(section.locator("h2")).to_contain_text("(23)")
    expect(section.locator("tbody tr")).to_have_count(20)
    expect(section.locator("tbody tr").first).to_contain_text("Big deal 22")  # the newest first
    _fits(page)

    open_section(page, "#opportunities")
    section.get_by_role("link", name="All 23 opportunities").click()
    expect(page).to_have_url(re.compile(rf"/opportunities\?customer={customer_id}$"))
    results = page.locator("#results")
    expect(results.locator(".filter-customer")).to_contain_text(NAME)
    expect(results).to_contain_text("23 opportunities")
    expect(results).not_to_contain_text("Other deal")
    _fits(page)

    # Search as you type keeps the customer.
    htmx_settled(page)
    page.fill("#filter-q", "deal 07")
    expect(results).to_contain_text("1 opportunity")
    expect(results).to_contain_text("Big deal 07")
    expect(results.locator(".filter-customer")).to_contain_text(NAME)
    expect(page).to_have_url(re.compile(rf"customer={customer_id}"))
    page.fill("#filter-q", "")
    expect(results).to_contain_text("23 opportunities")

    # The name leads back to the customer; "Remove this filter" to every customer's.
    expect(results.locator(".filter-customer a", has_text=NAME)).to_have_attribute(
        "href", f"/customers/{customer_id}")
    results.get_by_role("link", name="Remove this filter").click()
    expect(page).not_to_have_url(re.compile(r"customer="))
    expect(page.locator("#results")).to_contain_text("24 opportunities")
    expect(page.locator("#results")).to_contain_text("Other deal")
    expect(page.locator("#results .filter-customer")).to_have_count(0)
