"""Import leads from the lead list's Import link: a GBK CSV whose Chinese headers are mapped
by suggestion, a preview with the bad row, the run, the leads on the list scored and sourced
"import", then Undo. At desktop and phone sizes, in English and Chinese."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from crm.extensions import db
from crm.leads.services import ensure_defaults
from crm.models import Lead, ScoringRule
from tests.browser.conftest import htmx_settled
from tests.browser.test_import_flow import _fits, _gbk

HEADER = ["姓名", "公司", "手机", "邮箱", "来源"]
ROWS = [["王芳", "北京星辰科技有限公司", "13800138000", "wf@xingchen.cn", "展会"],
        ["李雷", "上海云帆", "13900000001", "", ""],
        ["", "无名公司", "13900000002", "", ""]]


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_import_leads_and_undo(page, app, make_user, browser_login, tmp_path, language):
    user = make_user("sales", name="Chen Jing", email=f"chen-l-{language}@example.com",
                     language=language)
    with app.app_context():
        ensure_defaults()
        db.session.add(ScoringRule(kind="base", points=30))
        db.session.commit()
    browser_login(page, user)
    page.goto("/leads")
    htmx_settled(page)
    page.locator("a.import-link").first.click()
    expect(page).to_have_url(re.compile(r"/import\?kind=leads$"))
    _fits(page)
    path = tmp_path / "线索.csv"
    path.write_bytes(_gbk([HEADER] + ROWS))
    page.set_input_files("input[name=file]", str(path))
    page.locator("form.import-upload button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/import/\d+/map$"))
    for index, key in enumerate(("name", "company", "mobile", "email", "source")):
        expect(page.locator(f"#col_{index}")).to_have_value(key)
    _fits(page)
    page.locator("form.import-map section:last-child button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/import/\d+/preview$"))
    expect(page.locator(".count-new strong")).to_have_text("2")
    _fits(page)
    page.locator("form.import-run button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/import/\d+$"))
    expect(page.locator("#import-status")).to_have_attribute("data-status", "done")
    with app.app_context():
        leads = {lead.name: lead for lead in db.session.execute(select(Lead)).scalars()}
        assert set(leads) == {"王芳", "李雷"}
        assert leads["王芳"].source.key == "trade_show" and leads["李雷"].source.key == "import"
        assert leads["李雷"].score == 30
    page.goto("/leads")
    expect(page.locator("body")).to_contain_text("王芳")
    page.go_back()
    page.locator("button.import-undo").click()
    expect(page.locator("#import-status")).to_have_attribute("data-status", "undone")
    _fits(page)
    page.goto("/leads")
    expect(page.locator("body")).not_to_contain_text("王芳")
