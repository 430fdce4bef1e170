"""An admin shapes the sales pipeline: adds a stage, reorders it (buttons, and dragging on the
desktop), and removes a stage that holds an opportunity by choosing where it goes."""
import re
from decimal import Decimal

from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Customer, Opportunity, Pipeline, Stage
from tests.browser.conftest import htmx_settled


def _stage_names(page):
    return [name.strip() for name in page.locator("#stage-list .stage-name").all_inner_texts()]


def test_admin_adds_reorders_and_removes_stages(page, app, make_user, browser_login, screenshot):
    admin = make_user("admin", name="Ada Admin")
    with app.app_context():
        proposal = db.session.execute(db.select(Stage).where(Stage.key == "proposal")).scalar_one()
        db.session.add(Opportunity(title="ERP rollout", customer=Customer(name="Acme"),
                                   pipeline_id=proposal.pipeline_id, stage_id=proposal.id,
                                   amount=Decimal("50000"), status="open"))
        db.session.commit()
        opportunity_id = db.session.execute(db.select(Opportunity.id)).scalar_one()

    browser_login(page, admin)
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")
    page.click("nav.mainnav >> text=Pipelines")
    expect(page).to_have_url(re.compile(r"/admin/pipelines$"))
    page.click("text=Sales pipeline")
    expect(page.locator("h1")).to_have_text("Sales pipeline")
    expect(page.locator("#stage-list .stage-row")).to_have_count(8)
    htmx_settled(page)  # the stage forms below post through htmx once it has loaded

    # add a stage: a bad probability is refused next to the field, input kept
    page.click("#stage-add summary")
    page.fill("#new-name", "Demo")
    page.fill("#new-probability", "140")
    page.click("#stage-add button[type=submit]")
    expect(page.locator("#stage-add .field-error")).to_contain_text("0 to 100")
    expect(page.locator("#new-name")).to_have_value("Demo")
    page.fill("#new-probability", "40")
    page.fill("#new-rotting_days", "10")
    page.fill("#new-playbook", "Book the demo | 2\nSend the recording")
    page.click("#stage-add button[type=submit]")
    demo = page.locator("#stage-list .stage-row", has_text="Demo")
    expect(demo).to_have_count(1)
    expect(demo).to_contain_text("40%")
    expect(demo).to_contain_text("Playbook: 2 tasks")
    names = _stage_names(page)
    assert names.index("Demo") == names.index("Negotiation") + 1

    # reorder with the up/down buttons
    page.click("button[aria-label='Move Demo up']")
    expect(page.locator("#stage-list .stage-name").nth(4)).to_have_text("Demo")
    page.click("button[aria-label='Move Demo up']")
    expect(page.locator("#stage-list .stage-name").nth(3)).to_have_text("Demo")
    page.click("button[aria-label='Move Demo down']")
    expect(page.locator("#stage-list .stage-name").nth(4)).to_have_text("Demo")
    page.reload()
    assert _stage_names(page).index("Demo") == 4

    if page.viewport_size["width"] >= 900:
        # drag Demo by its handle above Discover; the order is saved on drop
        handle = page.locator("#stage-list .stage-row", has_text="Demo").locator(".drag-handle")
        expect(handle).to_be_visible()
        target = page.locator("#stage-list .stage-row").first
        page.evaluate("window.scrollTo(0, 0)")  # both rows on screen, none under the sticky bar
        box_from, box_to = handle.bounding_box(), target.bounding_box()
        with page.expect_response(lambda r: r.url.endswith("/stages/order") and r.status == 200):
            page.mouse.move(box_from["x"] + box_from["width"] / 2, box_from["y"] + box_from["height"] / 2)
            page.mouse.down()
            end_y = box_to["y"] + box_to["height"] / 3
            for step in range(1, 11):
                page.mouse.move(box_from["x"] + 10, box_from["y"] + (end_y - box_from["y"]) * step / 10)
                page.wait_for_timeout(40)
            page.wait_for_timeout(250)  # let the rows settle, then nudge so the drop point is final
            page.mouse.move(box_from["x"] + 12, end_y - 2)
            page.wait_for_timeout(100)
            page.mouse.up()
        expect(page.locator("#stage-list .stage-name").first).to_have_text("Demo")
        page.reload()
        expect(page.locator("#stage-list .stage-name").first).to_have_text("Demo")

    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "pipelines-admin")

    # remove Proposal, which holds an opportunity: choose where it goes
    proposal_row = page.locator("#stage-list .stage-row", has_text="Proposal")
    expect(proposal_row).to_contain_text("1 opportunity")
    proposal_row.locator("text=Remove").click()
    removing = page.locator("#stage-list .stage-row.removing")
    expect(removing).to_contain_text("This stage holds 1 opportunity")
    removing.locator("select[name=destination_id]").select_option(label="Negotiation (Open, 0 opportunities)")
    removing.locator("button[type=submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("its opportunity is now in Negotiation")
    expect(page.locator("#stage-list .stage-row", has_text="Proposal")).to_have_count(0)
    expect(page.locator("#stage-list .stage-row", has_text="Negotiation")).to_contain_text("1 opportunity")

    with app.app_context():
        opportunity = db.session.get(Opportunity, opportunity_id)
        assert opportunity.stage.key == "negotiation"
        pipeline = db.session.execute(db.select(Pipeline)).scalar_one()
        assert len(pipeline.stages) == 8
