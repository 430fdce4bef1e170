"""Import a GBK CSV with bad rows from the customer list's Import link: map (suggested from
the Chinese headers), preview, import; download the rejected rows, fix them and import that
file again. At desktop and phone sizes, in English and Chinese."""
import csv
import io
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Customer
from tests.browser.conftest import htmx_settled

HEADER = ["客户名称", "联系电话", "邮箱", "标签", "所属行业"]
ROWS = [["北京星辰科技有限公司", "138-0013-8000", "info@xingchen.cn", "重点，制造", "制造"],
        ["上海云帆贸易", "021-5555 1234", "", "贸易", "贸易"],
        ["", "13900000000", "no-name@x.cn", "", ""],
        ["深圳海湾电子", "", "not-an-email", "", "电子"]]
TEXT = {"en": {"rejected": "Reason rejected", "count": "2 rejected"},
        "zh_CN": {"rejected": "拒绝原因", "count": "2 拒绝"}}


def _gbk(rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("gbk")


def _fits(page):
    """Nothing wider than the viewport (a phone scrolls down, never sideways)."""
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, width


def _customers(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count(Customer.id))).scalar_one()


def _import(page, path):
    page.set_input_files("input[name=file]", str(path))
    page.locator("form.import-upload button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/import/\d+/map$"))
    _fits(page)
    page.locator("form.import-map section:last-child button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/import/\d+/preview$"))
    page.locator("form.import-run button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/import/\d+$"))
    status = page.locator("#import-status")
    expect(status).to_have_attribute("data-status", "done")
    _fits(page)
    return status


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_import_a_gbk_csv_fix_the_rejects_and_import_them(page, app, make_user, browser_login,
                                                           tmp_path, language):
    user = make_user("sales", name="Chen Jing", email="chen@example.com", language=language)
    browser_login(page, user)
    page.goto("/customers")
    htmx_settled(page)
    page.locator("a.import-link").first.click()
    expect(page).to_have_url(re.compile(r"/import\?kind=customers$"))
    _fits(page)
    path = tmp_path / "客户.csv"
    path.write_bytes(_gbk([HEADER] + ROWS))

    page.set_input_files("input[name=file]", str(path))
    page.locator("form.import-upload button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/import/\d+/map$"))
    expect(page.locator(".import-file")).to_contain_text("GB18030")
    expect(page.locator("#col_0")).to_have_value("name")
    expect(page.locator("#col_1")).to_have_value("phone")
    expect(page.locator("#col_3")).to_have_value("tags")
    _fits(page)
    page.locator("form.import-map section:last-child button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/import/\d+/preview$"))
    expect(page.locator(".count-new strong")).to_have_text("2")
    expect(page.locator(".count-rejected strong")).to_have_text("2")
    expect(page.locator("tr.import-reject")).to_have_count(2)
    assert _customers(app) == 0  # the preview writes nothing
    page.locator("form.import-run button[type=submit]").click()
    status = page.locator("#import-status")
    expect(status).to_have_attribute("data-status", "done")
    expect(status.locator(".count-new strong")).to_have_text("2")
    expect(status.locator(".count-rejected strong")).to_have_text("2")
    _fits(page)
    assert _customers(app) == 2

    with page.expect_download() as info:
        status.locator("a.import-rejects").click()
    rejects = tmp_path / info.value.suggested_filename
    info.value.save_as(rejects)
    rows = list(csv.reader(io.StringIO(rejects.read_bytes().decode("gb18030"))))
    assert rows[0] == HEADER + [TEXT[language]["rejected"]]
    assert [row[:5] for row in rows[1:]] == ROWS[2:]
    rows[1][0], rows[2][2] = "杭州新星网络", "hello@haiwan.cn"
    fixed = tmp_path / "fixed.csv"
    fixed.write_bytes(_gbk(rows))

    page.goto("/import")
    status = _import(page, fixed)
    expect(status.locator(".count-new strong")).to_have_text("2")
    expect(status.locator(".count-rejected strong")).to_have_text("0")
    assert _customers(app) == 4
    page.goto("/customers")
    expect(page.locator("body")).to_contain_text("杭州新星网络")
