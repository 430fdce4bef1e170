"""Two people edit the same customer in two browsers: the second save is refused with both
values side by side, the input kept; "Apply my values" saves it over the first one. At desktop
and phone sizes."""
import re

from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Customer, Opportunity, Stage
from tests.browser.conftest import htmx_settled
from tests.browser.test_board_flow import open_menu


def test_second_save_shows_the_conflict_and_applies_mine(page, browser, live_server, viewport, app,
                                                          make_user, browser_login, screenshot):
    ada = make_user("admin", email="ada@example.com", name="Ada Admin")
    max_ = make_user("manager", email="max@example.com", name="Max Manager")
    with app.app_context():
        customer = Customer(name="北京星辰科技", phone="010 1111 1111", owner_id=ada.id)
        customer.rebuild_search_index()
        db.session.add(customer)
        db.session.commit()
        customer_id = customer.id
    edit_url = f"/customers/{customer_id}/edit"

    # Two browsers (two users) open the same edit form.
    browser_login(page, ada)
    page.goto(edit_url)
    other_context = browser.new_context(viewport=page.viewport_size, base_url=live_server,
                                        locale="en-US", is_mobile=page.viewport_size["width"] < 900,
                                        has_touch=page.viewport_size["width"] < 900)
    other_context.set_default_timeout(10_000)
    try:
        other = other_context.new_page()
        other_errors = []
        other.on("pageerror", lambda exc: other_errors.append(str(exc)))
        browser_login(other, max_)
        other.goto(edit_url)

        # The first one saves a new phone number.
        page.fill("input[name=phone]", "010 2222 2222")
        page.click("form.customer-form button.primary:has-text('Save')")
        expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))

        # The second one, still on the old form, saves another phone and a city.
        other.fill("input[name=phone]", "010 3333 3333")
        other.fill("input[name=city]", "北京")
        other.click("form.customer-form button.primary:has-text('Save')")
        conflict = other.locator(".conflict")
        expect(conflict).to_be_visible()
        expect(conflict).to_contain_text("Someone else saved this customer")
        expect(conflict).to_contain_text("Saved by")
        phone_row = conflict.locator('[data-conflict-field="phone"]')
        expect(phone_row.locator(".conflict-mine")).to_contain_text("010 3333 3333")
        expect(phone_row.locator(".conflict-saved")).to_contain_text("010 2222 2222")
        expect(conflict.locator('[data-conflict-field="city"]')).to_have_count(1)
        # The input is kept, and "Use this value" (JavaScript) is offered per field.
        expect(other.locator("input[name=phone]")).to_have_value("010 3333 3333")
        expect(other.locator("input[name=city]")).to_have_value("北京")
        expect(phone_row.locator("[data-conflict-use]")).to_be_visible()
        width = other.viewport_size["width"]
        for part in (conflict, conflict.locator("a:has-text('Discard mine')")):
            box = part.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width  # nothing runs off a phone
        screenshot(other, "conflict")

        # Taking the saved city back, then applying mine: my phone wins, their city stays empty.
        conflict.locator('[data-conflict-field="city"] [data-conflict-use]').click()
        expect(other.locator("input[name=city]")).to_have_value("")
        other.click("button:has-text('Apply my values')")
        expect(other).to_have_url(re.compile(rf"/customers/{customer_id}$"))
        expect(other.locator("main")).to_contain_text("010 3333 3333")
        assert not other_errors, other_errors
    finally:
        other_context.close()

    with app.app_context():
        stored = db.session.get(Customer, customer_id)
        assert (stored.phone, stored.city, stored.version) == ("010 3333 3333", None, 3)

    # The first browser's old form is now stale too: it is told, nothing is overwritten.
    page.goto(edit_url)
    expect(page.locator("input[name=phone]")).to_have_value("010 3333 3333")


def test_a_stale_move_on_the_board_puts_the_card_in_its_real_column(page, app, make_user,
                                                                    browser_login):
    from decimal import Decimal

    from crm.models import Pipeline, User
    from crm.opportunities.services import create_opportunity, move_to_stage

    ada = make_user("admin", email="ada@example.com", name="Ada Admin")
    max_ = make_user("manager", email="max@example.com", name="Max Manager")
    with app.app_context():
        pipeline = db.session.execute(db.select(Pipeline).where(Pipeline.key == "default")).scalar_one()
        stages = {s.key: s for s in pipeline.stages}
        customer = Customer(name="上海云图", owner_id=ada.id)
        db.session.add(customer)
        db.session.flush()
        opportunity = create_opportunity(title="ERP rollout", customer=customer,
                                         stage=stages["discover"], user=db.session.get(User, ada.id),
                                         amount=Decimal("1000"))
        db.session.commit()
        opportunity_id = opportunity.id
        stage_ids = {key: stage.id for key, stage in stages.items()}

    browser_login(page, ada)
    page.goto("/pipeline")
    card = page.locator(f"#card-{opportunity_id}")
    expect(page.locator(f'.board-cards[data-stage-id="{stage_ids["discover"]}"] #card-{opportunity_id}')).to_have_count(1)

    # Meanwhile Max moves it to Negotiation.
    with app.app_context():
        opportunity = db.session.get(Opportunity, opportunity_id)
        move_to_stage(opportunity, db.session.get(Stage, stage_ids["negotiation"]),
                      db.session.get(User, max_.id))
        db.session.commit()

    # Ada, looking at the old board, moves it to Proposal: refused, the card goes where it is.
    htmx_settled(page)
    card.scroll_into_view_if_needed()
    open_menu(card)  # with a mouse the select sits behind the card's menu
    card.locator("select[name=stage_id]").select_option(str(stage_ids["proposal"]))
    card.locator("button:has-text('Move')").click()
    real_column = page.locator(f'.board-cards[data-stage-id="{stage_ids["negotiation"]}"]')
    expect(real_column.locator(f"#card-{opportunity_id}")).to_have_count(1)
    expect(page.locator("#toast")).to_contain_text("Max Manager changed ERP rollout")
    expect(page.locator(f'.board-cards[data-stage-id="{stage_ids["proposal"]}"] #card-{opportunity_id}')).to_have_count(0)
    with app.app_context():
        assert db.session.get(Opportunity, opportunity_id).stage_id == stage_ids["negotiation"]

    # Moving it again, from what the card now shows, works.
    card = page.locator(f"#card-{opportunity_id}")
    open_menu(card)
    card.locator("select[name=stage_id]").select_option(str(stage_ids["proposal"]))
    card.locator("button:has-text('Move')").click()
    expect(page.locator(f'.board-cards[data-stage-id="{stage_ids["proposal"]}"] #card-{opportunity_id}')).to_have_count(1)
    with app.app_context():
        assert db.session.get(Opportunity, opportunity_id).stage_id == stage_ids["proposal"]
