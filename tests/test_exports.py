"""Exports (crm/exports/) of the customer, opportunity and task lists: exactly the rows of
the list's filter that the user may see; CSV in UTF-8 with a BOM or GB18030, XLSX that
openpyxl opens; headers in the user's language; money as decimals, times in the user's zone;
the formula-injection guard; a big export through a job whose file only its owner downloads;
statements that do not grow with the rows."""
import csv
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from crm.exports.columns import guard
from crm.extensions import db as _db
from crm.models import Customer, Job
from crm.trash.services import trash
from tests.conftest import count_queries


@pytest.fixture
def other_seller(make_user):
    return make_user("sales", email="other@example.com", name="Olga Other")


def _csv(response, encoding="utf-8-sig") -> list[list[str]]:
    assert response.status_code == 200, response.status_code
    return list(csv.reader(io.StringIO(response.get_data().decode(encoding))))


def _xlsx(response) -> list[tuple]:
    assert response.status_code == 200, response.status_code
    book = load_workbook(io.BytesIO(response.get_data()), read_only=True)
    return [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def _names(rows, column=0) -> set:
    return {row[column] for row in rows[1:]}


# --- customers ----------------------------------------------------------------------------------

def test_a_salesperson_exports_only_their_customers_and_only_the_filtered_ones(
        client, login, seller, other_seller, build):
    build.customer(seller, name="北京星辰科技", industry="制造")
    build.customer(seller, name="Acme Ltd", industry="Retail")
    build.customer(other_seller, name="Secret 机密 Co", industry="制造")
    login(seller)
    rows = _csv(client.get("/customers/export.csv"))
    assert rows[0][:3] == ["Name", "Type", "Industry"]
    assert _names(rows) == {"北京星辰科技", "Acme Ltd"}
    assert _names(_csv(client.get("/customers/export.csv?industry=制造"))) == {"北京星辰科技"}
    assert _names(_csv(client.get("/customers/export.csv?q=bjxc"))) == {"北京星辰科技"}  # pinyin
    assert _names(_xlsx(client.get("/customers/export.xlsx?industry=Retail"))) == {"Acme Ltd"}


def test_the_export_follows_the_list_sort_and_leaves_out_the_trash(client, login, seller, build, app):
    ids = [build.customer(seller, name=name) for name in ("Charlie", "alpha", "Bravo")]
    with app.app_context():
        trash(_db.session.get(Customer, ids[2]), None)
        _db.session.commit()
    login(seller)
    rows = _csv(client.get("/customers/export.csv?sort=name"))
    assert [row[0] for row in rows[1:]] == ["alpha", "Charlie"]


def test_csv_has_a_bom_and_gb18030_is_an_option(client, login, seller, build):
    build.customer(seller, name="北京星辰科技", contacts=[{"name": "王小明", "phone": "138 0000 0000"}])
    login(seller)
    response = client.get("/customers/export.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    assert "customers-" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf") and "北京星辰科技".encode() in body
    response = client.get("/customers/export.csv?encoding=gb18030")
    body = response.get_data()
    assert not body.startswith(b"\xef\xbb\xbf")
    assert "gb18030" in response.headers["Content-Type"]
    rows = list(csv.reader(io.StringIO(body.decode("gb18030"))))
    assert rows[1][0] == "北京星辰科技" and "王小明" in rows[1]
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_headers_are_in_the_users_language_or_the_field_names(client, login, make_user, build):
    chinese = make_user("sales", email="zh@example.com", name="张三", language="zh_CN")
    build.customer(chinese, name="北京星辰科技", kind="individual")
    login(chinese)
    rows = _csv(client.get("/customers/export.csv"))
    assert rows[0][:3] == ["姓名", "类型", "行业"] and rows[1][1] == "个人"
    rows = _csv(client.get("/customers/export.csv?headers=keys"))
    assert rows[0][:4] == ["name", "kind", "industry", "region"]
    assert rows[0][-2:] == ["created_at", "updated_at"]


def test_times_are_in_the_users_zone(client, login, seller, build):
    # Sam Seller is in Shanghai (UTC+8).
    build.customer(seller, name="Acme", created_at=datetime(2026, 1, 2, 20, 30, tzinfo=timezone.utc))
    login(seller)
    rows = _csv(client.get("/customers/export.csv?headers=keys"))
    assert rows[1][rows[0].index("created_at")] == "2026-01-03 04:30"
    sheet = _xlsx(client.get("/customers/export.xlsx?headers=keys"))
    assert sheet[1][sheet[0].index("created_at")] == datetime(2026, 1, 3, 4, 30)


def test_the_formula_guard(client, login, seller, build):
    assert guard("=1+1") == "'=1+1" and guard("@SUM(A1)") == "'@SUM(A1)"
    assert guard("+86 138") == "'+86 138" and guard("-2") == "'-2" and guard("\tx") == "'\tx"
    assert guard("\rx") == "'\rx" and guard("Acme") == "Acme" and guard("a=b") == "a=b"
    build.customer(seller, name="=HYPERLINK(\"http://evil\",\"x\")", city="@SUM(1)",
                   description="-1+2")
    login(seller)
    rows = _csv(client.get("/customers/export.csv?headers=keys"))
    row = dict(zip(rows[0], rows[1]))
    assert row["name"] == "'=HYPERLINK(\"http://evil\",\"x\")"
    assert row["city"] == "'@SUM(1)" and row["description"] == "'-1+2"
    book = load_workbook(io.BytesIO(client.get("/customers/export.xlsx?headers=keys").get_data()))
    sheet = book.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    name_cell = sheet.cell(row=2, column=header.index("name") + 1)
    assert name_cell.data_type == "s" and name_cell.value.startswith("'=")


def test_statements_do_not_grow_with_the_rows(client, login, seller, build, app):
    def statements(n):
        build.customers(n, seller, contacts=["张三"], name="客户 {n:03d}")
        login(seller)
        with app.app_context(), count_queries(_db.engine) as seen:
            response = client.get("/customers/export.csv")
            assert response.status_code == 200 and len(_csv(response)) > n
        with app.app_context():
            _db.session.execute(Customer.__table__.delete())
            _db.session.commit()
        return len(seen)

    statements(3)  # the first export reads what later ones find cached (the locale...)
    assert statements(3) == statements(40)


# --- a big export goes through a job ------------------------------------------------------------

@pytest.fixture
def low_threshold(app):
    before = app.config["EXPORT_JOB_THRESHOLD"]
    app.config["EXPORT_JOB_THRESHOLD"] = 3
    yield 3
    app.config["EXPORT_JOB_THRESHOLD"] = before


def test_a_big_export_runs_as_a_job_and_only_its_owner_downloads_it(
        client, login, seller, other_seller, admin, build, app, low_threshold):
    build.customers(5, seller, name="Mine {n:02d}", industry="制造")
    build.customers(2, seller, name="Other industry {n}", industry="Retail")
    build.customers(4, other_seller, name="Hidden {n}", industry="制造")
    login(seller)
    assert len(_csv(client.get("/customers/export.csv?industry=Retail"))) == 3  # small: at once
    response = client.get("/customers/export.xlsx?industry=制造")
    assert response.status_code == 303
    job_url = response.headers["Location"]
    assert job_url.startswith("/jobs/")
    with app.app_context():
        job = _db.session.execute(_db.select(Job)).scalar_one()
        assert job.kind == "export" and job.user_id == seller.id
        assert job.status == "done" and job.done == job.total == 5
        assert job.params["query"] == "industry=%E5%88%B6%E9%80%A0"
    page = client.get(job_url).get_data(as_text=True)
    assert "Done" in page and "5 of 5 rows" in page and "every 1s" not in page
    assert "Export: Customers (Excel)" in page
    assert f'href="{job_url}/download"' in page
    download = client.get(f"{job_url}/download")
    assert "attachment" in download.headers["Content-Disposition"]
    assert ".xlsx" in download.headers["Content-Disposition"]
    assert _names(_xlsx(download)) == {f"Mine {n:02d}" for n in range(5)}
    login(other_seller)
    assert client.get(job_url).status_code == 403
    assert client.get(f"{job_url}/download").status_code == 403
    login(admin)  # an admin sees the job, not the file (it holds what its owner may see)
    page = client.get(job_url).get_data(as_text=True)
    assert "Done" in page and "/download" not in page
    assert client.get(f"{job_url}/download").status_code == 403


def test_a_job_file_that_is_gone_is_a_404(client, login, seller, build, app, low_threshold):
    build.customers(4, seller)
    login(seller)
    job_url = client.get("/customers/export.csv").headers["Location"]
    with app.app_context():
        job = _db.session.execute(_db.select(Job)).scalar_one()
        path = f"{app.instance_path}/{job.file['path']}"
        job.result = {**job.result, "file": {**job.file, "path": "../../etc/passwd"}}
        _db.session.commit()
    assert client.get(f"{job_url}/download").status_code == 404
    import os
    os.unlink(path)


def test_the_list_pages_link_their_exports_with_their_filter(client, login, seller, build):
    build.customer(seller, name="Acme", industry="制造")
    login(seller)
    html = client.get("/customers?industry=Retail&page=2").get_data(as_text=True)
    assert 'href="/customers/export.csv?industry=Retail"' in html
    assert 'href="/customers/export.xlsx?industry=Retail"' in html
    assert "Export CSV" in html and "Export Excel" in html
    html = client.get("/opportunities?status=open&page=3").get_data(as_text=True)
    assert 'href="/opportunities/export.csv?status=open"' in html
    html = client.get("/tasks").get_data(as_text=True)
    assert 'href="/tasks/export.csv"' in html and 'href="/tasks/export.xlsx"' in html


def test_an_unknown_list_or_format_is_a_404(client, login, seller):
    login(seller)
    assert client.get("/notes/export.csv").status_code == 404
    assert client.get("/customers/export.pdf").status_code == 404


# --- opportunities ------------------------------------------------------------------------------

def test_opportunities_export_the_filter_with_money_as_decimals(
        client, login, seller, other_seller, build):
    mine = build.customer(seller, name="Mine Co")
    build.opportunity(mine, seller, title="Big deal", amount="1234.50", history=False,
                      expected_close=datetime(2026, 3, 1).date())
    build.opportunity(mine, seller, title="Won deal", amount="99", stage="signed", history=False)
    build.opportunity(None, other_seller, title="Hidden deal", customer_name="Hidden Co",
                      history=False)
    login(seller)
    rows = _csv(client.get("/opportunities/export.csv?headers=keys"))
    assert _names(rows) == {"Big deal", "Won deal"}
    rows = _csv(client.get("/opportunities/export.csv?headers=keys&status=open"))
    row = dict(zip(rows[0], rows[1]))
    assert len(rows) == 2 and row["title"] == "Big deal" and row["customer"] == "Mine Co"
    assert row["amount"] == "1234.50" and row["currency"] == "CNY"
    assert row["expected_close"] == "2026-03-01" and row["status"] == "Open"
    sheet = _xlsx(client.get("/opportunities/export.xlsx?headers=keys&status=open"))
    values = dict(zip(sheet[0], sheet[1]))
    assert Decimal(str(values["amount"])) == Decimal("1234.50")
    assert values["expected_close"] == datetime(2026, 3, 1)


# --- tasks --------------------------------------------------------------------------------------

def test_tasks_export_what_the_task_list_shows(client, login, seller, other_seller, manager_user, build):
    now = datetime.now(timezone.utc)
    hidden_customer = build.customer(other_seller, name="Hidden Co")
    build.task(seller, "Call Acme", due=now + timedelta(days=1))
    build.task(seller, "Mine about a hidden customer", customer=hidden_customer)
    build.task(seller, "Done lately", done=True, done_at=now - timedelta(days=2))
    build.task(seller, "Done long ago", done=True, done_at=now - timedelta(days=90))
    build.task(other_seller, "Not mine", due=now)
    login(seller)
    rows = _csv(client.get("/tasks/export.csv?headers=keys"))
    by_title = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
    assert set(by_title) == {"Call Acme", "Mine about a hidden customer", "Done lately"}
    assert by_title["Mine about a hidden customer"]["customer"] == ""  # hidden, as on /tasks
    assert by_title["Done lately"]["done"] == "Yes" and by_title["Call Acme"]["done"] == "No"
    assert [row[0] for row in rows[1:]][-1] == "Done lately"  # open ones first
    assert client.get(f"/tasks/export.csv?assignee={other_seller.id}").status_code == 403
    login(manager_user)
    rows = _csv(client.get("/tasks/export.csv?assignee=all"))
    assert "Not mine" in _names(rows) and "Hidden Co" in {row[6] for row in rows[1:]}


@pytest.fixture
def manager_user(make_user):
    return make_user("manager", email="manager@example.com", name="Mona Manager")


def test_old_export_files_are_deleted_and_the_job_page_says_so(
        client, login, seller, build, app, low_threshold):
    import os
    import time
    build.customers(4, seller)
    login(seller)
    job_url = client.get("/customers/export.csv").headers["Location"]
    with app.app_context():
        job = _db.session.execute(_db.select(Job)).scalar_one()
        path = os.path.join(app.instance_path, job.file["path"])
    assert client.get(f"{job_url}/download").status_code == 200
    result = app.test_cli_runner().invoke(args=["crm", "run-schedules", "--only", "purge-exports"])
    assert result.exit_code == 0 and "removed 0 export file(s)" in result.output
    old = time.time() - (app.config["EXPORT_KEEP_DAYS"] + 1) * 86400
    os.utime(path, (old, old))
    result = app.test_cli_runner().invoke(args=["crm", "run-schedules", "--only", "purge-exports"])
    assert result.exit_code == 0 and "removed 1 export file(s)" in result.output
    assert not os.path.exists(path)
    html = client.get(job_url).get_data(as_text=True)
    assert "The file was deleted" in html and "/download" not in html
    assert client.get(f"{job_url}/download").status_code == 404


# --- custom fields --------------------------------------------------------------------------

def test_custom_fields_export_as_their_own_columns_and_restricted_ones_only_to_managers(
        app, client, login, make_user, seller, build):
    from tests.test_custom_fields import define
    admin = make_user("admin", email="boss@example.com")
    login(admin)
    assert define(client, label_en="Fleet size", key="fleet", type="integer").status_code in (302, 303)
    assert define(client, label_en="Margin", key="margin", type="decimal",
                  restricted=True).status_code in (302, 303)
    customer_id = build.customer(seller, name="Fleet Co")
    with app.app_context():
        customer = _db.session.get(Customer, customer_id)
        customer.custom = {"fleet": 42, "margin": "0.35"}
        _db.session.commit()
    rows = _csv(client.get("/customers/export.csv?headers=keys"))
    assert "cf_fleet" in rows[0] and "cf_margin" in rows[0]
    row = dict(zip(rows[0], rows[1]))
    assert row["cf_fleet"] == "42" and row["cf_margin"] == "0.35"
    login(seller)
    rows = _csv(client.get("/customers/export.csv?headers=keys"))
    assert "cf_fleet" in rows[0] and "cf_margin" not in rows[0]
    assert "0.35" not in ",".join(rows[1])
    labelled = _csv(client.get("/customers/export.csv"))
    assert "Fleet size" in labelled[0]
