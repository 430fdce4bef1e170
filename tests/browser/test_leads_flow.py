"""A lead's life in the browser, at 1280 and 390 px, in English and Chinese: created from the
menu, nurtured (a behaviour tag, a visit) while the score and its breakdown follow, converted,
landing on the new opportunity."""
import re

import pytest
from playwright.sync_api import expect

from crm.models import ScoringRule
from tests import factories
from tests.browser.conftest import htmx_settled, open_section

TEXT = {"en": {"leads": "Leads", "new": "New lead", "save": "Save", "save_tags": "Save tags",
               "add_note": "Add note", "convert": "Convert"},
        "zh": {"leads": "线索", "new": "新建线索", "save": "保存", "save_tags": "保存标签",
               "add_note": "添加跟进", "convert": "转化"}}


def _seed(app):
    with app.app_context():
        from crm.extensions import db
        group = factories.tag_group("行为 Behaviour", commit=False)
        group.kind = "behaviour"
        demo = factories.tag(group, "参加演示 demo", commit=False)
        db.session.add_all([ScoringRule(kind="base", points=20),
                            ScoringRule(kind="tag", tag=demo, points=20),
                            ScoringRule(kind="note_kind", note_kind="visit", points=10)])
        db.session.commit()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_create_nurture_and_convert_a_lead(app, page, make_user, browser_login, language):
    text = TEXT[language]
    _seed(app)
    manager = make_user("manager", name="Mia", language=language)
    browser_login(page, manager)
    if page.viewport_size["width"] < 900:
        page.click("label.nav-toggle-label")
    page.locator("nav.mainnav").get_by_role("link", name=text["leads"], exact=True).click()
    expect(page).to_have_url(re.compile(r"/leads$"))
    page.get_by_role("link", name=text["new"]).click()
    page.fill("input[name=name]", "王芳")
    page.fill("input[name=company]", "北京星辰科技有限公司")
    page.fill("input[name=phone]", "13800138000")
    page.fill("input[name=email]", "wangfang@example.com")
    page.locator("form.lead-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/leads/\d+$"))
    score = page.locator("#lead-score .score-badge")
    expect(score).to_have_text("20")

    open_section(page, "input[name=tag_id]")
    page.locator("label.check", has_text="参加演示").locator("input").check()
    page.get_by_role("button", name=text["save_tags"]).click()
    expect(score).to_have_text("40")
    expect(page.locator("#lead-score .score-breakdown")).to_contain_text("参加演示 demo")

    page.select_option("select[name=kind]", "visit")
    page.fill("textarea[name=body]", "拜访了王总")
    page.locator("form.note-form button[type=submit]").click()
    expect(score).to_have_text("50")
    expect(page.locator("#lead-score .score-breakdown a[href*='#note-']")).to_have_count(1)
    expect(page.locator(".timeline")).to_contain_text("拜访了王总")

    page.locator(".page-head").get_by_role("link", name=text["convert"]).click()
    expect(page).to_have_url(re.compile(r"/leads/\d+/convert$"))
    page.locator("form.convert-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/opportunities/\d+$"))
    expect(page.locator("body")).to_contain_text("北京星辰科技有限公司")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def _owned_lead(app, seller_id) -> int:
    from crm.extensions import db
    from crm.leads import services
    from crm.models import User
    with app.app_context():
        lead = services.save_lead(db.session.get(User, seller_id), None, {
            "name": "李雷", "company": "上海远航物流有限公司", "phone": "021-5555 0101"})
        db.session.commit()
        return lead.id


@pytest.mark.parametrize("language", ["en", "zh"])
def test_nurture_on_the_lead_page(app, page, make_user, browser_login, language):
    """On the lead page, as customers have them: a behaviour tag, a follow-up of a scored kind
    (htmx: the timeline entry, and the score with its breakdown out of band), a task in the
    task panel; then a profile field edited in place."""
    _seed(app)
    seller = make_user("sales", name="Sam", language=language)
    lead_id = _owned_lead(app, seller.id)
    with app.app_context():
        from crm.extensions import db
        from crm.fields.services import save_field
        save_field("lead", None, {"key": "budget_note", "type": "text", "label_zh": "预算说明",
                                  "label_en": "Budget note"})
        db.session.commit()
    browser_login(page, seller)
    page.goto(f"/leads/{lead_id}")
    htmx_settled(page)
    score = page.locator("#lead-score .score-badge")
    breakdown = page.locator("#lead-score .score-breakdown")
    expect(score).to_have_text("20")

    open_section(page, "input[name=tag_id]")
    page.locator("label.check", has_text="参加演示").locator("input").check()
    page.get_by_role("button", name=TEXT[language]["save_tags"]).click()
    expect(score).to_have_text("40")
    expect(breakdown).to_contain_text("参加演示 demo")

    # A visit, through the customers' timeline form (htmx): no page load.
    page.evaluate("window.__same_page = true")
    form = page.locator("#note-form")
    form.locator("select[name=kind]").select_option("visit")
    form.locator("textarea[name=body]").fill("拜访了李总，谈了报价")
    form.locator("button[type=submit]").click()
    expect(page.locator("#timeline-items .timeline-item").first).to_contain_text("拜访了李总")
    expect(score).to_have_text("50")
    expect(breakdown.locator("a[href*='#note-']")).to_have_count(1)
    expect(form.locator("textarea[name=body]")).to_have_value("")
    assert page.evaluate("window.__same_page === true")

    # A task from the lead page's task panel.
    panel = page.locator("#task-panel")
    panel.locator("details.task-add > summary").click()
    panel.locator("#new-task-title").fill("发送报价单 Send the quote")
    panel.locator("#task-panel-form button[type=submit]").click()
    expect(panel.locator(".task-item")).to_have_count(1)
    expect(panel.locator(".task-item")).to_contain_text("发送报价单")

    # A field in place: the company.
    open_section(page, "#lead-field-company")
    page.locator("#lead-field-company a.field-edit").click()
    editor = page.locator("form#lead-field-company")
    editor.locator("input[name=company]").fill("上海远航国际物流有限公司")
    editor.locator("button[type=submit]").click()
    expect(page.locator("div#lead-field-company")).to_contain_text("上海远航国际物流有限公司")
    expect(page.locator("div#lead-field-company .saved-note")).to_be_visible()
    # A custom field in place (crm/fields), in the same Profile card.
    item = page.locator(f"#cf-lead-{lead_id}-budget_note")
    item.locator(".cf-edit").click()
    editor = page.locator("form.cf-editor")
    editor.locator("input[name=cf_budget_note]").fill("五十万 500k")
    editor.locator("button[type=submit]").click()
    expect(page.locator("form.cf-editor")).to_have_count(0)
    expect(item).to_contain_text("五十万 500k")
    expect(item.locator(".saved-note")).to_be_visible()
    expect(score).to_have_text("50")
    assert page.evaluate("window.__same_page === true")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]

    page.reload()
    expect(page.locator("#timeline-items")).to_contain_text("拜访了李总")
    expect(page.locator("#lead-field-company")).to_contain_text("上海远航国际物流有限公司")
    expect(page.locator(f"#cf-lead-{lead_id}-budget_note")).to_contain_text("五十万 500k")
