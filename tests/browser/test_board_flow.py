"""The board in the browser: drag a card at 1280x800 and see both columns' totals change
(and stay after a reload); at 390x844 move a card with its stage select; give a lost
reason inline, or cancel and see the card back where it was."""
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Customer, Opportunity, Stage, utcnow
from tests import factories


def seed(app, owner):
    """Six deals of the default pipeline; returns {title: id} and {stage key: id}."""
    with app.app_context():
        stages = factories.stages()
        stages["confirm"].rotting_days = 14
        customer = factories.customer(owner, name="星辰科技", commit=False)
        specs = [
            ("ERP rollout", "discover", "120000.00", 12, None),
            ("CRM pilot", "discover", "8000.00", 30, None),
            ("Data migration", "confirm", "45000.50", 20, 40),
            ("Training package", "proposal", "15000.00", 5, None),
            ("Support renewal", "negotiation", "30000.00", 3, None),
            ("Cloud hosting", "needs_analysis", "22000.00", 45, None),
        ]
        ids = {}
        for title, key, amount, close_in, idle in specs:
            ids[title] = factories.opportunity(
                customer, owner, stage=stages[key], title=title, amount=amount, history=False,
                expected_close=date.today() + timedelta(days=close_in),
                last_activity_at=utcnow() - timedelta(days=idle or 1), commit=False).id
        factories.task(owner, "Send the quote", opportunity=ids["Training package"],
                       due=utcnow() - timedelta(days=1))
        return ids, {key: stage.id for key, stage in stages.items()}


def column(page, stage_id):
    return page.locator(f'section.board-column[data-stage-id="{stage_id}"]')


def count(page, stage_id):
    return column(page, stage_id).locator(".column-count")


def total(page, stage_id):
    return column(page, stage_id).locator(".total-amount").first


def drag(page, card, target_list):
    """Drag with the mouse in small steps, as SortableJS needs to see the pointer travel."""
    card.scroll_into_view_if_needed()
    target_list.scroll_into_view_if_needed()
    source = card.locator(".card-customer").bounding_box()
    target = target_list.bounding_box()
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    page.mouse.down()
    page.mouse.move(source["x"] + source["width"] / 2 + 10, source["y"] + source["height"] / 2 + 10, steps=5)
    x, y = target["x"] + target["width"] / 2, target["y"] + min(target["height"] - 10, 40)
    page.mouse.move(x, y, steps=20)
    page.mouse.move(x, y + 5, steps=5)
    page.mouse.up()


def open_menu(card):
    """With a mouse the stage select sits behind the card's "⋯" menu; on a phone it shows."""
    button = card.locator("[data-card-menu]")
    if button.is_visible() and button.get_attribute("aria-expanded") != "true":
        button.click()


@pytest.fixture
def seller(make_user):
    return make_user("sales", name="Li Lei", email="li@example.com", language="en")


def test_board_layout_and_marks(app, page, seller, browser_login, screenshot):
    ids, stages = seed(app, seller)
    browser_login(page, seller)
    page.goto("/pipeline")
    expect(page.locator("section.board-column")).to_have_count(8)
    expect(count(page, stages["discover"])).to_have_text("2")
    expect(total(page, stages["discover"])).to_contain_text("128,000.00")
    expect(page.locator(f"#card-{ids['Data migration']} .mark-rotting")).to_be_visible()
    expect(page.locator(f"#card-{ids['Training package']} .mark-overdue")).to_contain_text("Overdue task")
    screenshot(page, "board")
    width = page.viewport_size["width"]
    box = column(page, stages["discover"]).bounding_box()
    if width < 900:
        # one column at a time, about 85% of the screen, scrolling sideways with snap points
        assert 0.8 * width <= box["width"] <= 0.9 * width
        assert page.locator(".board-columns").evaluate("el => getComputedStyle(el).scrollSnapType").startswith("x")
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # the page itself does not scroll sideways
    else:
        # side by side; the columns beyond the screen scroll inside the board
        second = column(page, stages["confirm"]).bounding_box()
        assert abs(second["y"] - box["y"]) < 2 and second["x"] > box["x"]
        assert page.locator(".board-columns").evaluate("el => el.scrollWidth > el.clientWidth")


def test_drag_a_card_and_both_columns_update(app, page, seller, browser_login, screenshot):
    if page.viewport_size["width"] < 900:
        pytest.skip("dragging is the desktop path; the phone uses the stage select")
    ids, stages = seed(app, seller)
    browser_login(page, seller)
    page.goto("/pipeline")
    page.evaluate("window.__noReload = true")
    card = page.locator(f"#card-{ids['ERP rollout']}")
    expect(count(page, stages["discover"])).to_have_text("2")
    expect(count(page, stages["confirm"])).to_have_text("1")

    drag(page, card, column(page, stages["confirm"]).locator(".board-cards"))

    expect(count(page, stages["discover"])).to_have_text("1")
    expect(count(page, stages["confirm"])).to_have_text("2")
    expect(total(page, stages["discover"])).to_contain_text("8,000.00")
    expect(total(page, stages["confirm"])).to_contain_text("165,000.50")
    expect(column(page, stages["confirm"]).locator(".total-weighted")).to_contain_text("33,000.10")  # 20 %
    expect(column(page, stages["confirm"]).locator(f"#card-{ids['ERP rollout']}")).to_be_visible()
    expect(page.locator(f"#card-{ids['ERP rollout']} select[name=stage_id]")).to_have_value(str(stages["confirm"]))
    assert page.evaluate("window.__noReload") is True

    page.reload()
    expect(column(page, stages["confirm"]).locator(f"#card-{ids['ERP rollout']}")).to_be_visible()
    expect(count(page, stages["confirm"])).to_have_text("2")
    with app.app_context():
        assert db.session.get(Opportunity, ids["ERP rollout"]).stage_id == stages["confirm"]

    # a move the server cannot make (the deal was deleted meanwhile): the card goes back
    with app.app_context():
        db.session.delete(db.session.get(Opportunity, ids["CRM pilot"]))
        db.session.commit()
    drag(page, page.locator(f"#card-{ids['CRM pilot']}"), column(page, stages["needs_analysis"]).locator(".board-cards"))
    expect(page.locator("#toast")).to_be_visible()
    expect(column(page, stages["discover"]).locator(f"#card-{ids['CRM pilot']}")).to_be_visible()
    expect(count(page, stages["needs_analysis"])).to_have_text("1")


def test_drag_to_lost_asks_the_reason_and_cancel_puts_it_back(app, page, seller, browser_login):
    if page.viewport_size["width"] < 900:
        pytest.skip("dragging is the desktop path; the phone test uses the select")
    ids, stages = seed(app, seller)
    browser_login(page, seller)
    page.goto("/pipeline")
    lost_cards = column(page, stages["lost"]).locator(".board-cards")
    card_id = f"#card-{ids['Support renewal']}"

    drag(page, page.locator(card_id), lost_cards)
    form = lost_cards.locator(f"{card_id}.lost-form")
    expect(form).to_be_visible()
    expect(form).to_contain_text("why was it lost?")
    expect(count(page, stages["negotiation"])).to_have_text("1")  # nothing saved yet
    form.get_by_label("Lost reason").press("Escape")  # Escape cancels, like the Cancel button
    home = column(page, stages["negotiation"]).locator(".board-cards")
    expect(home.locator(card_id)).to_be_visible()
    expect(page.locator(f"{card_id}.lost-form")).to_have_count(0)
    expect(lost_cards.locator(".board-card")).to_have_count(0)

    drag(page, page.locator(card_id), lost_cards)
    form = lost_cards.locator(f"{card_id}.lost-form")
    form.get_by_label("Lost reason").select_option(label="Competitor")
    form.get_by_label("Note (optional)").fill("Chose a local vendor")
    form.get_by_role("button", name="Mark as lost").click()
    expect(lost_cards.locator(f"{card_id}:not(.lost-form)")).to_be_visible()
    expect(count(page, stages["lost"])).to_have_text("1")
    expect(count(page, stages["negotiation"])).to_have_text("0")
    with app.app_context():
        row = db.session.get(Opportunity, ids["Support renewal"])
        assert row.status == "lost" and row.lost_note == "Chose a local vendor"


def test_move_with_the_stage_select_and_give_a_lost_reason(app, page, seller, browser_login, screenshot):
    """The phone path (and the keyboard's on the desktop): the select on the card."""
    ids, stages = seed(app, seller)
    browser_login(page, seller)
    page.goto("/pipeline")
    card_id = f"#card-{ids['CRM pilot']}"
    card = page.locator(card_id)
    card.scroll_into_view_if_needed()
    open_menu(card)
    card.locator("select[name=stage_id]").select_option(str(stages["proposal"]))
    card.get_by_role("button", name="Move").click()
    proposal = column(page, stages["proposal"])
    expect(proposal.locator(card_id)).to_be_visible()
    expect(count(page, stages["proposal"])).to_have_text("2")
    expect(count(page, stages["discover"])).to_have_text("1")
    expect(total(page, stages["proposal"])).to_contain_text("23,000.00")

    # to the lost stage: the reason is asked for on the card; Cancel leaves it where it was
    card = page.locator(card_id)
    open_menu(card)
    card.locator("select[name=stage_id]").select_option(str(stages["lost"]))
    card.get_by_role("button", name="Move").click()
    form = proposal.locator(f"{card_id}.lost-form")
    expect(form).to_be_visible()
    screenshot(page, "board-lost-reason")
    form.get_by_role("link", name="Cancel").click()
    expect(proposal.locator(f"{card_id}:not(.lost-form)")).to_be_visible()
    expect(page.locator(card_id).locator("select[name=stage_id]")).to_have_value(str(stages["proposal"]))

    card = page.locator(card_id)
    open_menu(card)
    card.locator("select[name=stage_id]").select_option(str(stages["lost"]))
    card.get_by_role("button", name="Move").click()
    form = page.locator(f"{card_id}.lost-form")
    form.get_by_role("button", name="Mark as lost").click()  # no reason yet: the browser asks
    expect(form).to_be_visible()
    form.get_by_label("Lost reason").select_option(label="Price")
    form.get_by_role("button", name="Mark as lost").click()
    expect(column(page, stages["lost"]).locator(f"{card_id}:not(.lost-form)")).to_be_attached()
    expect(count(page, stages["lost"])).to_have_text("1")
    expect(count(page, stages["proposal"])).to_have_text("1")
    with app.app_context():
        row = db.session.get(Opportunity, ids["CRM pilot"])
        assert row.status == "lost" and row.lost_reason.key == "price"


def test_filters_and_load_more(app, page, seller, make_user, browser_login):
    other = make_user("sales", name="Wang Fang", email="wang@example.com")
    ids, stages = seed(app, seller)
    with app.app_context():
        customer = db.session.execute(db.select(Customer)).scalars().first()
        db.session.add_all([
            Opportunity(title=f"Lead {i:02d}", customer_id=customer.id, pipeline_id=customer.id and
                        db.session.get(Stage, stages["discover"]).pipeline_id,
                        stage_id=stages["discover"], status="open", amount=Decimal("100"),
                        expected_close=date.today() + timedelta(days=60 + i), owner_id=other.id)
            for i in range(55)])
        db.session.commit()
    browser_login(page, seller)
    page.goto("/pipeline")
    discover = column(page, stages["discover"])
    expect(count(page, stages["discover"])).to_have_text("57")
    expect(discover.locator(".board-card")).to_have_count(50)
    discover.locator(".load-more").scroll_into_view_if_needed()
    discover.locator(".load-more").click()
    expect(discover.locator(".board-card")).to_have_count(57)
    expect(discover.locator(".load-more")).to_have_count(0)

    if page.viewport_size["width"] < 900:
        page.click("label.filters-toggle-label")  # the filters fold away on a phone
    page.select_option("#filter-owner", "me")
    expect(page).to_have_url(re.compile(r"owner=me"))
    expect(count(page, stages["discover"])).to_have_text("2")
    expect(column(page, stages["discover"]).locator(".board-card")).to_have_count(2)
    page.fill("#filter-to", (date.today() + timedelta(days=15)).isoformat())
    page.locator("#filter-to").dispatch_event("change")
    expect(page).to_have_url(re.compile(r"to=\d{4}-\d\d-\d\d"))
    expect(count(page, stages["discover"])).to_have_text("1")
    page.reload()
    expect(page.locator("#filter-owner")).to_have_value("me")
    expect(page.locator("#filter-owner")).to_be_visible()  # active filters stay unfolded
    expect(count(page, stages["discover"])).to_have_text("1")
