"""A manager organises tags at /tags: a new group and tag, a new colour, a merge."""
import re

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import htmx_settled


def _seed_behaviour_tags(app):
    """Two tags that mean the same thing, on overlapping customers."""
    with app.app_context():
        group = factories.tag_group("Behaviour", multiple=True, commit=False)
        asked = factories.tag(group, "Asked price", color="#f59e0b", commit=False)
        enquiry = factories.tag(group, "Price enquiry", color="#eab308", commit=False)
        factories.customer(name="北京星辰科技有限公司", tags=[asked, enquiry], commit=False)
        factories.customer(name="Acme Corporation", tags=[enquiry])


def _open_tags_from_the_menu(page):
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")
    page.locator("nav.mainnav").get_by_role("link", name="Tags").click()
    expect(page).to_have_url(re.compile(r"/tags$"))
    htmx_settled(page)  # the inline forms post through htmx once it has loaded


def test_manager_creates_a_group_and_tag_recolours_and_merges(app, page, make_user, browser_login,
                                                               screenshot):
    _seed_behaviour_tags(app)
    manager = make_user("manager", name="Mia Manager")
    browser_login(page, manager)
    _open_tags_from_the_menu(page)

    # a new single-choice group
    page.fill("#new-group input[name=name]", "Industry")
    page.select_option("#new-group select[name=choice]", "single")
    page.click("#new-group button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("The group Industry was created")
    industry = page.locator("section.tag-group", has=page.get_by_role("heading", name="Industry"))
    expect(industry.locator(".pill")).to_have_text("Single choice")

    # a tag in it, added inline
    industry.get_by_label("New tag in Industry").fill("SaaS")
    industry.get_by_role("button", name="Add tag").click()
    saas_row = industry.locator("tr.tag-row", has_text="SaaS")
    expect(saas_row).to_be_visible()
    expect(industry.get_by_label("New tag in Industry")).to_have_value("")

    # a duplicate name is refused next to the field, the input kept
    industry.get_by_label("New tag in Industry").fill("saas")
    industry.get_by_role("button", name="Add tag").click()
    expect(industry.locator(".field-error")).to_contain_text("already has a tag with this name")
    expect(industry.get_by_label("New tag in Industry")).to_have_value("saas")

    # recolour inline: the colour saves on change, the row comes back in the new colour
    # (once htmx has finished swapping and processing the rows above)
    htmx_settled(page)
    saas_row.locator("input[type=color]").fill("#dc2626")
    expect(industry.locator("tr.tag-row", has_text="SaaS").locator(".color-code")).to_have_text("#dc2626")
    expect(industry.locator("tr.tag-row", has_text="SaaS").locator(".tag")).to_have_attribute(
        "style", re.compile("#dc2626"))
    page.reload()
    expect(page.locator("tr.tag-row", has_text="SaaS").locator(".color-code")).to_have_text("#dc2626")

    # merge "Price enquiry" into "Asked price": a preview first, then the merge
    behaviour = page.locator("section.tag-group", has=page.get_by_role("heading", name="Behaviour"))
    enquiry_row = behaviour.locator("tr.tag-row", has_text="Price enquiry")
    expect(enquiry_row.locator("td.num")).to_have_text("2")
    enquiry_row.get_by_role("link", name="Merge…").click()
    expect(page).to_have_url(re.compile(r"/tags/\d+/merge"))
    htmx_settled(page)  # the select's change goes nowhere before htmx has processed the page
    page.select_option("select[name=target_id]", label="Asked price")
    preview = page.locator("#merge-preview")
    expect(preview).to_contain_text("1 customer will get Asked price.")
    expect(preview).to_contain_text("1 customer already has Asked price.")
    preview.get_by_role("button", name="Merge").click()
    expect(page).to_have_url(re.compile(r"/tags#group-\d+$"))
    expect(page.locator(".flash-success")).to_contain_text(
        "Price enquiry was merged into Asked price: 2 customers carried it (1 already had Asked price).")
    behaviour = page.locator("section.tag-group", has=page.get_by_role("heading", name="Behaviour"))
    expect(behaviour.locator("tr.tag-row", has_text="Price enquiry")).to_have_count(0)
    expect(behaviour.locator("tr.tag-row", has_text="Asked price").locator("td.num")).to_have_text("2")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "tags")

    # nothing overflows sideways on a phone
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1
