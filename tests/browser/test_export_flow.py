"""Export a filtered customer list: the CSV download holds exactly the filtered rows; a big
export goes through a job whose page shows it done, with its file to download. At desktop
and phone sizes."""
import csv
import io
import re
from pathlib import Path

from openpyxl import load_workbook
from playwright.sync_api import expect

from crm.extensions import db
from tests import factories
from tests.browser.conftest import htmx_settled


def _seed(app, owner_id):
    with app.app_context():
        for name in ("北京星辰科技", "北京星光传媒", "上海海纳贸易", "Acme Ltd"):
            factories.customer(owner_id, name=name, commit=False)
        db.session.commit()


def test_export_the_filtered_customer_list(page, app, make_user, browser_login, tmp_path):
    user = make_user("sales", name="Chen Jing", email="chen@example.com")
    _seed(app, user.id)
    browser_login(page, user)
    page.goto("/customers")
    htmx_settled(page)
    page.fill("#q", "北京")
    expect(page.locator("#customer-results .results-count")).to_contain_text("2 customers")
    link = page.locator("#customer-results a.export-csv")
    expect(link).to_have_attribute("href", re.compile(r"/customers/export\.csv\?q="))
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.startswith("customers-")
    path = tmp_path / "customers.csv"
    download.save_as(path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "Name"
    assert sorted(row[0] for row in rows[1:]) == ["北京星光传媒", "北京星辰科技"]


def test_a_big_export_shows_its_job_done(page, app, make_user, browser_login, tmp_path):
    user = make_user("sales", name="Chen Jing", email="chen@example.com")
    _seed(app, user.id)
    before = app.config["EXPORT_JOB_THRESHOLD"]
    app.config["EXPORT_JOB_THRESHOLD"] = 2  # the live server shares the tests' app
    try:
        browser_login(page, user)
        page.goto("/customers")
        htmx_settled(page)
        page.locator("#customer-results a.export-xlsx").click()
        expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
        status = page.locator("#job-status")
        expect(status).to_have_attribute("data-status", "done")
        expect(status.locator(".job-count")).to_contain_text("4 of 4 rows")
        expect(status.locator("progress")).to_have_attribute("value", "100")
        button = status.locator("a.job-download")
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
        with page.expect_download() as info:
            button.click()
        path = Path(tmp_path) / "customers.xlsx"
        info.value.save_as(path)
        sheet = load_workbook(path, read_only=True).worksheets[0]
        names = sorted(row[0] for row in sheet.iter_rows(min_row=2, values_only=True))
        assert names == sorted(["北京星辰科技", "北京星光传媒", "上海海纳贸易", "Acme Ltd"])
    finally:
        app.config["EXPORT_JOB_THRESHOLD"] = before
