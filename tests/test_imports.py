"""Import (crm/imports/): the rules (encodings, delimiters, header suggestions, value
transforms, matching), the HTTP flow (upload → map → preview → job → result, rejects, undo),
the job's lifecycle (a crash mid-way resumes after the last committed chunk, or rolls back
all or nothing), permissions, bad files that change nothing, and the round trip with the
customers export."""
import csv
import re
import io
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from crm.extensions import db as _db
from crm.imports import matching, run, services, transforms, writing
from crm.imports.kinds import CUSTOMERS, suggest
from crm.imports.readers import (Layout, data_rows, detect_delimiter, detect_encoding,
                                 inspect_file, read_header)
from crm.models import (AuditEntry, Contact, Customer, CustomField, ImportBatch, Job, Opportunity,
                        StageChange, Tag)
from crm.trash.services import restore
from tests.import_helpers import csv_bytes, import_id_of, map_columns, run_file, upload

HEADER = ["客户名称", "联系电话", "邮箱", "标签", "所属行业", "联系人"]
ROWS = [["北京星辰科技有限公司", "138-0013-8000", "info@xingchen.cn", "重点，制造", "制造", "王芳"],
        ["上海云帆贸易", "021-5555 1234", "", "贸易、进口", "贸易", ""],
        ["", "13900000000", "no-name@x.cn", "", "", ""],          # no name: rejected
        ["深圳海湾电子", "", "not-an-email", "", "电子", ""]]     # bad email: rejected


def _count(app, model) -> int:
    with app.app_context():
        return _db.session.execute(select(func.count(model.id))).scalar_one()


def _imp(app, import_id) -> ImportBatch:
    with app.app_context():
        imp = _db.session.get(ImportBatch, import_id)
        _db.session.expunge(imp)
        return imp


@pytest.fixture
def other_seller(make_user):
    return make_user("sales", email="other@example.com", name="Olga Other")


@pytest.fixture
def manager(make_user):
    return make_user("manager", email="manager@example.com", name="Mia Manager")


# --- rules: reading files ------------------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    ("客户名称,电话\n星辰,1".encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + "客户名称,电话\n星辰,1".encode("utf-8"), "utf-8"),
    ("客户名称,电话\n北京星辰科技有限公司,1".encode("gbk"), "gb18030"),
    ("客户名称,电话\n北京星辰科技,€".encode("gb18030"), "gb18030"),
    (b"name,phone\nAcme,1", "utf-8"),
])
def test_the_encoding_is_detected(data, expected):
    assert detect_encoding(data) == expected


def test_a_sample_cut_inside_a_character_is_still_utf8():
    data = "客户名称".encode("utf-8") * 100
    assert detect_encoding(data[:-1]) == "utf-8"


@pytest.mark.parametrize("text, delimiter", [("a,b,c\n1,2,3", ","), ("a;b;c\n1;2;3", ";"),
                                             ("a\tb\tc\n1\t2\t3", "\t"), ("a|b\n1|2", "|")])
def test_the_delimiter_is_detected(text, delimiter):
    assert detect_delimiter(text) == delimiter


def test_rows_of_a_gbk_csv_with_a_semicolon_and_quoted_newlines(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes('名称;备注\n"星辰";"第一行\n第二行"\n\n云帆;b\n'.encode("gbk"))
    layout = inspect_file(path, "x.csv")
    assert (layout.fmt, layout.encoding, layout.delimiter) == ("csv", "gb18030", ";")
    assert read_header(path, layout) == ["名称", "备注"]
    assert list(data_rows(path, layout)) == [(1, ["星辰", "第一行\n第二行"]), (3, ["云帆", "b"])]


def _xlsx(rows, sheets=None) -> bytes:
    book = Workbook()
    book.active.title = "客户"
    for row in rows:
        book.active.append(row)
    for name in sheets or ():
        book.create_sheet(name).append(["名称"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_is_read_in_read_only_mode_with_its_dates_and_numbers(tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(_xlsx([["客户名称", "签约日期", "金额"], ["星辰", date(2026, 3, 5), 1200.0]],
                           sheets=["其他"]))
    layout = inspect_file(path, "x.xlsx")
    assert layout.fmt == "xlsx" and layout.sheets == ("客户", "其他") and layout.sheet == "客户"
    assert read_header(path, layout) == ["客户名称", "签约日期", "金额"]
    assert list(data_rows(path, layout)) == [(1, ["星辰", "2026-03-05", "1200"])]
    other = Layout("xlsx", sheet="其他")
    assert read_header(path, other) == ["名称"]


# --- rules: values ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2026年3月5日", date(2026, 3, 5)), ("2026/3/5", date(2026, 3, 5)), ("2026-03-05", date(2026, 3, 5)),
    ("2026.3.5", date(2026, 3, 5)), ("20260305", date(2026, 3, 5)), ("05/03/2026", date(2026, 3, 5)),
    ("3/25/2026", date(2026, 3, 25)), ("Mar 5, 2026", date(2026, 3, 5)),
    ("5 March 2026", date(2026, 3, 5)), ("2026-03-05 14:30", date(2026, 3, 5)),
    ("２０２６年３月５日", date(2026, 3, 5)), ("", None)])
def test_dates_in_chinese_and_english_formats(text, expected):
    assert transforms.day(text) == expected


@pytest.mark.parametrize("text", ["2026-02-30", "yesterday", "13/13/2026"])
def test_a_date_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        transforms.day(text)


@pytest.mark.parametrize("text, expected", [
    ("¥1,234.50", Decimal("1234.50")), ("$1,234", Decimal("1234.00")), ("1.2万", Decimal("12000.00")),
    ("3亿", Decimal("300000000.00")), ("12元", Decimal("12.00")), ("￥８８", Decimal("88.00")),
    ("-5", Decimal("-5.00")), ("CNY 100", Decimal("100.00")), ("", None)])
def test_amounts_with_currency_signs_separators_and_wan(text, expected):
    assert transforms.amount(text) == expected


@pytest.mark.parametrize("text", ["abc", "1,23,4", "1.2.3"])
def test_an_amount_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        transforms.amount(text)


def test_tags_split_on_every_separator_without_repeats():
    assert transforms.tags("重点, 制造，进口、VIP;vip；外贸") == ["重点", "制造", "进口", "VIP", "外贸"]


def test_header_suggestions_in_chinese_and_english(app_ctx):
    header = ["客户名称", "联系电话", "邮箱", "标签", "负责人", "Company Name", "E-mail", "备注", "???"]
    assert suggest(CUSTOMERS, header) == {"0": "name", "1": "phone", "2": "email", "3": "tags",
                                          "4": "owner", "7": "description"}
    assert suggest(CUSTOMERS, ["Customer", "Phone", "Email", "Tags"]) == {
        "0": "name", "1": "phone", "2": "email", "3": "tags"}


def test_the_exports_headers_are_suggested_in_both_languages(app_ctx):
    assert suggest(CUSTOMERS, ["名称", "类型", "行业", "联系人电话"])["1"] == "kind"
    assert suggest(CUSTOMERS, ["Name", "Type", "Size (employees)", "Primary contact"]) == {
        "0": "name", "1": "kind", "2": "size", "3": "contact"}


@pytest.mark.parametrize("a, b", [("北京星辰科技有限公司", "北京星辰科技"), ("北京 星辰 科技", "北京星辰科技公司"),
                                  ("ＡＢＣ Co., Ltd.", "abc"), ("Acme Inc.", "ACME"),
                                  ("星辰科技股份有限公司", "星辰科技")])
def test_normalised_names_match(a, b):
    assert matching.name_key(a) == matching.name_key(b)


def test_phones_match_without_the_country_code_and_separators():
    assert matching.phone_key("+86 138-0013-8000") == matching.phone_key("13800138000")
    assert matching.phone_key("12") == ""


# --- the HTTP flow ---------------------------------------------------------------------------

def test_a_gbk_csv_imports_with_its_bad_rows_rejected_then_fixed(app, client, login, seller):
    login(seller)
    import_id = run_file(client, csv_bytes([HEADER] + ROWS, "gbk"))
    imp = _imp(app, import_id)
    assert imp.status == "done" and imp.encoding == "gb18030"
    assert imp.counts["created"] == 2 and imp.counts["rejected"] == 2
    with app.app_context():
        customer = _db.session.execute(select(Customer).where(Customer.name == "北京星辰科技有限公司")).scalar_one()
        assert customer.owner_id == seller.id and customer.industry == "制造"
        assert {t.name for t in customer.tags} == {"重点", "制造"}
        assert [c.name for c in customer.contacts] == ["王芳"] and customer.contacts[0].is_primary
        assert "xcjkyxgs" in customer.search_index or "beijing" in customer.search_index
    page = client.get(f"/import/{import_id}").get_data(as_text=True)
    assert "2</strong> created" in page and "2</strong> rejected" in page
    rejects = client.get(f"/import/{import_id}/rejected.csv")
    rows = list(csv.reader(io.StringIO(rejects.get_data().decode("gb18030"))))
    assert rows[0] == HEADER + ["Reason rejected"]
    assert [row[:6] for row in rows[1:]] == [ROWS[2], ROWS[3]]
    assert "Name is required" in rows[1][6] and "Email" in rows[2][6]
    # Fixed and imported again: the remembered mapping applies, nothing is created twice.
    rows[1][0], rows[2][2] = "杭州新星网络", "hello@haiwan.cn"
    fixed = csv_bytes(rows, "gbk")
    again = run_file(client, fixed)
    assert _imp(app, again).counts["created"] == 2 and _imp(app, again).counts["rejected"] == 0
    assert _count(app, Customer) == 4
    assert run_file(client, csv_bytes([HEADER] + ROWS, "gbk")) and _count(app, Customer) == 4


def test_the_preview_shows_rows_as_saved_and_the_whole_files_counts(app, client, login, seller, build):
    build.customer(seller, name="上海云帆贸易有限公司")
    login(seller)
    import_id = import_id_of(upload(client, csv_bytes([HEADER] + ROWS + [ROWS[0]], "gbk")))
    mapping = {0: "name", 1: "phone", 2: "email", 3: "tags", 4: "industry", 5: "contact"}
    assert map_columns(client, import_id, mapping).status_code == 303
    page = client.get(f"/import/{import_id}/preview").get_data(as_text=True)
    assert "The whole file: 5 rows" in page
    assert '<strong>1</strong> new' in page and '<strong>1</strong> update' in page
    assert '<strong>1</strong> duplicate' in page and '<strong>2</strong> rejected' in page
    assert "重点, 制造" in page and "Name is required." in page
    assert _count(app, Customer) == 1  # nothing written


def test_a_field_mapped_twice_or_a_required_field_unmapped_is_refused(app, client, login, seller):
    login(seller)
    import_id = import_id_of(upload(client, csv_bytes([HEADER] + ROWS, "gbk")))
    response = map_columns(client, import_id, {0: "name", 1: "name"})
    assert response.status_code == 422 and "one column only" in response.get_data(as_text=True)
    response = map_columns(client, import_id, {1: "phone"})
    assert response.status_code == 422 and "Map a column to Name" in response.get_data(as_text=True)
    # The choices are kept as posted.
    assert 'value="phone" selected' in response.get_data(as_text=True)


def test_the_user_can_correct_the_encoding_and_read_the_file_again(app, client, login, seller):
    """Big5 bytes also decode as GB18030 (garbled): the page shows what was detected, and the
    user chooses Big5 and reads the header again."""
    login(seller)
    data = csv_bytes([["名稱", "電話"], ["星辰", "1"]], "big5")
    import_id = import_id_of(upload(client, data))
    page = client.get(f"/import/{import_id}/map").get_data(as_text=True)
    assert "Read as GB18030 / GBK (detected)" in page
    response = client.post(f"/import/{import_id}/map", data={
        "encoding": "big5", "delimiter": ",", "on_match": "update", "mode": "valid", "reread": "1"})
    assert response.status_code == 303
    imp = _imp(app, import_id)
    assert imp.encoding == "big5" and imp.header == ["名稱", "電話"]
    assert "Read as Big5" in client.get(f"/import/{import_id}/map").get_data(as_text=True)


def test_every_import_mapping_is_remembered_per_layout(app, client, login, seller):
    login(seller)
    data = csv_bytes([["Firma", "Tel"], ["Acme", "12345"]])
    import_id = import_id_of(upload(client, data))
    map_columns(client, import_id, {0: "name", 1: "phone"})
    second = import_id_of(upload(client, data))
    page = client.get(f"/import/{second}/map").get_data(as_text=True)
    assert 'value="name" selected' in page and 'value="phone" selected' in page


@pytest.mark.parametrize("on_match, created, name", [("update", 0, "星辰 (new)"), ("skip", 0, "星辰"),
                                                     ("create", 1, "星辰")])
def test_a_match_updates_skips_or_creates(app, client, login, seller, build, on_match, created, name):
    build.customer(seller, name="星辰", email="a@x.cn")
    login(seller)
    import_id = run_file(client, csv_bytes([["客户名称", "邮箱"], ["星辰 (new)", "A@X.cn"]]),
                         on_match=on_match)
    assert _count(app, Customer) == 1 + created
    with app.app_context():
        names = set(_db.session.execute(select(Customer.name)).scalars())
    assert name in names
    if on_match == "update":
        with app.app_context():
            entries = _db.session.execute(select(AuditEntry.field, AuditEntry.old_value, AuditEntry.new_value)
                                          .where(AuditEntry.entity == "customers")).all()
        assert ("name", "星辰", "星辰 (new)") in entries
        assert ("import", None, _imp(app, import_id).batch) in entries


def test_matching_order_external_id_then_email_then_phone_then_name(app, client, login, seller):
    login(seller)
    first = csv_bytes([["外部编号", "客户名称", "邮箱", "电话"], ["C-1", "星辰科技有限公司", "a@x.cn", "13800138000"]])
    run_file(client, first)
    second = csv_bytes([["外部编号", "客户名称", "邮箱", "电话"],
                        ["C-1", "完全不同的名字", "", ""],          # external id
                        ["", "另一个", "a@x.cn", ""],                # email
                        ["", "再一个", "", "+86 138 0013 8000"],     # phone
                        ["", "星辰科技", "", ""]])                   # normalised name
    import_id = run_file(client, second, on_match="skip")
    assert _imp(app, import_id).counts["skipped"] == 4 and _count(app, Customer) == 1


def test_contacts_link_to_customers_by_name_or_external_id(app, client, login, seller, build):
    login(seller)
    run_file(client, csv_bytes([["客户编号", "客户名称"], ["K1", "星辰科技有限公司"]]))
    data = csv_bytes([["客户名称", "客户编号", "姓名", "职位", "手机"],
                      ["星辰科技", "", "王芳", "经理", "13800000001"],
                      ["", "K1", "李雷", "", "13800000002"],
                      ["没有的客户", "", "韩梅梅", "", ""]])
    import_id = run_file(client, data, kind="contacts")
    counts = _imp(app, import_id).counts
    assert counts["created"] == 2 and counts["rejected"] == 1
    with app.app_context():
        customer = _db.session.execute(select(Customer)).scalar_one()
        assert [c.name for c in customer.contacts] == ["王芳", "李雷"]
        assert customer.contacts[0].is_primary and not customer.contacts[1].is_primary
        assert "13800000002" in customer.search_index
    assert run_file(client, data, kind="contacts") and _count(app, Contact) == 2


def test_opportunities_by_pipeline_and_stage_name_with_history(app, client, login, manager, build):
    customer_id = build.customer(manager, name="星辰科技")
    login(manager)
    data = csv_bytes([["商机名称", "客户名称", "阶段", "金额", "负责人", "创建日期", "成交日期"],
                      ["ERP", "星辰科技有限公司", "Signed", "¥1.5万", "Mia Manager", "2026/1/5", "2026年3月5日"],
                      ["CRM", "星辰科技", "Proposal", "$2,000", "", "", ""],
                      ["Bad", "星辰科技", "No such stage", "", "", "", ""]])
    import_id = run_file(client, data, kind="opportunities")
    counts = _imp(app, import_id).counts
    assert counts["created"] == 2 and counts["rejected"] == 1
    with app.app_context():
        won = _db.session.execute(select(Opportunity).where(Opportunity.title == "ERP")).scalar_one()
        assert won.customer_id == customer_id and won.status == "won" and won.amount == Decimal("15000.00")
        assert won.closed_at.date() == date(2026, 3, 5) and won.created_at.date() == date(2026, 1, 5)
        history = _db.session.execute(select(StageChange).where(StageChange.opportunity_id == won.id)
                                      .order_by(StageChange.changed_at)).scalars().all()
        assert [(h.from_stage_label, h.to_name) for h in history] == [(None, "Negotiation"),
                                                                      ("Negotiation", "Signed")]
    page = client.get("/opportunities").get_data(as_text=True)
    assert "ERP" in page and "CRM" in page


def test_custom_fields_are_mapped_and_parsed(app, client, login, manager, db):
    from crm.fields.services import save_field, save_options
    tier = save_field("customer", None, {"key": "tier", "label_zh": "合作层级", "label_en": "Tier",
                                         "type": "choice"})  # "level" is built in (pools)
    save_options(tier, [{"key": "a", "label_zh": "重要", "label_en": "Important"},
                         {"key": "b", "label_zh": "普通", "label_en": "Ordinary"}])
    save_field("customer", None, {"key": "signed", "label_zh": "签约日期", "label_en": "Signed on",
                                  "type": "date"})
    save_field("customer", None, {"key": "revenue", "label_zh": "年收入", "label_en": "Revenue",
                                  "type": "money"})
    db.session.commit()
    login(manager)
    data = csv_bytes([["客户名称", "合作层级", "签约日期", "年收入"], ["星辰", "重要", "2026年3月5日", "¥1.2万"],
                      ["云帆", "没有这个", "", ""]])
    import_id = run_file(client, data)
    assert _imp(app, import_id).counts == {**_imp(app, import_id).counts, "created": 1, "rejected": 1}
    with app.app_context():
        customer = _db.session.execute(select(Customer)).scalar_one()
        option = _db.session.execute(select(CustomField).where(CustomField.key == "tier")).scalar_one().options[0]
        assert customer.custom == {"tier": option.key, "signed": "2026-03-05",
                                   "revenue": {"amount": "12000", "currency": "CNY"}}


# --- the job: all or nothing, crashes, resume -------------------------------------------------------

def test_all_or_nothing_writes_nothing_when_a_row_is_rejected(app, client, login, seller):
    login(seller)
    import_id = run_file(client, csv_bytes([HEADER] + ROWS, "gbk"), mode="all")
    imp = _imp(app, import_id)
    assert imp.status == "failed" and imp.counts["rejected"] == 2 and imp.counts["created"] == 0
    assert _count(app, Customer) == 0 and _count(app, Tag) == 0
    page = client.get(f"/import/{import_id}").get_data(as_text=True)
    assert "nothing was imported (rolled back)" in page
    rejects = client.get(f"/import/{import_id}/rejected.csv").get_data().decode("gb18030")
    assert rejects.count("\n") == 3


def test_all_or_nothing_imports_a_valid_file_in_one_transaction(app, client, login, seller):
    login(seller)
    import_id = run_file(client, csv_bytes([HEADER] + ROWS[:2], "gbk"), mode="all")
    assert _imp(app, import_id).status == "done" and _count(app, Customer) == 2


def _crash_on_chunk(monkeypatch, crash_at: int):
    """The writer dies (as a killed worker would) when it reaches chunk `crash_at`."""
    seen = {"chunks": 0}
    write = writing.Writer.write

    def dying(self, plans):
        if self.dry:  # the preview's scan
            return write(self, plans)
        seen["chunks"] += 1
        if seen["chunks"] == crash_at:
            write(self, plans)
            raise SystemError("worker killed")
        return write(self, plans)

    monkeypatch.setattr(writing.Writer, "write", dying)
    monkeypatch.setattr(run, "CHUNK", 2)


def test_a_crash_mid_way_keeps_whole_chunks_and_the_import_resumes(app, client, login, seller, monkeypatch):
    login(seller)
    rows = [[f"客户{n:02d}", f"1380000{n:04d}"] for n in range(7)]
    data = csv_bytes([["客户名称", "电话"]] + rows)
    _crash_on_chunk(monkeypatch, crash_at=2)
    import_id = run_file(client, data)
    imp = _imp(app, import_id)
    assert imp.status in ("running", "failed") and imp.last_row == 2
    assert _count(app, Customer) == 2  # the first chunk, never half of the second
    page = client.get(f"/import/{import_id}").get_data(as_text=True)
    assert "stopped after row 2" in page and "Resume from row 3" in page
    monkeypatch.undo()
    monkeypatch.setattr(run, "CHUNK", 2)
    assert client.post(f"/import/{import_id}/run").status_code == 303
    imp = _imp(app, import_id)
    assert imp.status == "done" and imp.counts["created"] == 7 and _count(app, Customer) == 7
    with app.app_context():
        assert len(_db.session.execute(select(Job).where(Job.kind == "import")).all()) == 2


def test_a_crash_in_all_or_nothing_rolls_everything_back(app, client, login, seller, monkeypatch):
    login(seller)
    rows = [[f"客户{n:02d}", f"1380000{n:04d}"] for n in range(7)]
    _crash_on_chunk(monkeypatch, crash_at=3)
    import_id = run_file(client, csv_bytes([["客户名称", "电话"]] + rows), mode="all")
    assert _count(app, Customer) == 0
    page = client.get(f"/import/{import_id}").get_data(as_text=True)
    assert "nothing was imported (rolled back)" in page and "Resume" not in page


def test_a_job_killed_without_a_word_is_shown_stopped(app, client, login, seller):
    """kill -9: the job stays "running" with an old heartbeat; the reaper fails it and the
    import's page says it stopped, resumable from its last committed row."""
    from datetime import timedelta

    from crm.models import utcnow
    login(seller)
    import_id = run_file(client, csv_bytes([["客户名称"], ["星辰"]]))
    with app.app_context():
        imp = _db.session.get(ImportBatch, import_id)
        job = _db.session.get(Job, imp.job_id)
        imp.status, imp.last_row = "running", 1
        job.status, job.heartbeat_at = "running", utcnow() - timedelta(hours=1)
        _db.session.commit()
    page = client.get(f"/import/{import_id}").get_data(as_text=True)
    assert "stopped after row 1" in page and "Resume from row 2" in page


# --- undo -----------------------------------------------------------------------------------

def test_undo_moves_what_the_import_created_to_the_trash_as_one_batch(app, client, login, seller, build):
    build.customer(seller, name="已有客户", email="old@x.cn")
    login(seller)
    import_id = run_file(client, csv_bytes([["客户名称", "邮箱", "联系人"], ["星辰", "", "王芳"],
                                            ["云帆", "", ""], ["已有客户 new", "old@x.cn", ""]]))
    assert _count(app, Customer) == 3
    response = client.post(f"/import/{import_id}/undo")
    assert response.status_code == 303
    assert _count(app, Customer) == 1  # the updated one stays
    imp = _imp(app, import_id)
    assert imp.status == "undone"
    trash = client.get("/trash").get_data(as_text=True)
    assert "星辰" in trash and "云帆" in trash
    assert client.post(f"/import/{import_id}/undo").status_code == 303  # twice: refused, no 500
    with app.app_context():
        restore(imp.batch, None)
        _db.session.commit()
    assert _count(app, Customer) == 3 and _count(app, Contact) == 1


# --- permissions --------------------------------------------------------------------------------

def test_a_salesperson_imports_into_their_own_ownership_only(app, client, login, seller, other_seller, build):
    build.customer(other_seller, name="别人的客户", email="theirs@x.cn")
    login(seller)
    data = csv_bytes([["客户名称", "邮箱", "负责人"], ["我的", "", ""], ["给别人", "", "Olga Other"],
                      ["别人的客户", "theirs@x.cn", ""]])
    import_id = run_file(client, data)
    counts = _imp(app, import_id).counts
    assert counts["created"] == 1 and counts["rejected"] == 2
    rejects = client.get(f"/import/{import_id}/rejected.csv").get_data().decode("utf-8-sig")
    assert "Only managers and admins" in rejects and "belongs to someone else" in rejects


def test_a_manager_imports_for_anyone(app, client, login, manager, seller):
    login(manager)
    run_file(client, csv_bytes([["客户名称", "负责人"], ["星辰", "seller@example.com"]]))
    with app.app_context():
        assert _db.session.execute(select(Customer.owner_id)).scalar_one() == seller.id


def test_another_users_import_is_not_shown(app, client, login, seller, other_seller):
    login(seller)
    import_id = run_file(client, csv_bytes([["客户名称"], ["星辰"]]))
    login(other_seller)
    for url in (f"/import/{import_id}", f"/import/{import_id}/rejected.csv", f"/import/{import_id}/map"):
        assert client.get(url).status_code == 403
    assert client.post(f"/import/{import_id}/undo").status_code == 403
    assert _count(app, Customer) == 1


def test_the_lists_link_to_the_import(app, client, login, seller):
    login(seller)
    assert 'href="/import?kind=customers"' in client.get("/customers").get_data(as_text=True)


# --- bad files ----------------------------------------------------------------------------------

def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (60 * 1024 * 1024))
    return buffer.getvalue()


BAD_FILES = {
    "a PNG named .csv": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "x.csv", "image"),
    "a zip bomb named .xlsx": (None, "x.xlsx", "zip bomb"),
    "an empty file": (b"", "x.csv", "empty"),
    "no header row": (b"1,2,3\n4,5,6\n", "x.csv", "no column names"),
    "2 million columns": (b"a," * 2_000_000 + b"a\n", "x.csv", "longer than a million"),
    "a very long line": (b"name\n" + b"x" * (3 * 1024 * 1024) + b"\n", "x.csv", "longer than a million"),
    "NUL bytes": (b"name,phone\nab\x00c,1\n", "x.csv", "NUL"),
    "not a workbook named .xlsx": (b"name,phone\n", "x.xlsx", "not an Excel workbook"),
    "only blank lines": (b"\n\n\n", "x.csv", "no rows"),
    "a zip that is no workbook": (None, "x.xlsx", "not an Excel workbook"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_gets_a_clear_message_and_changes_nothing(app, client, login, seller, case):
    data, name, message = BAD_FILES[case]
    if case == "a zip bomb named .xlsx":
        data = _zip_bomb()
    elif case == "a zip that is no workbook":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("readme.txt", "hello")
        data = buffer.getvalue()
    login(seller)
    directory = Path(app.instance_path) / services.IMPORTS_DIR
    files_before = set(directory.iterdir()) if directory.exists() else set()
    response = upload(client, data, name)
    body = response.get_data(as_text=True)
    assert response.status_code == 422, (case, response.status_code)
    assert message in body, (case, body[body.find('role="alert"'):][:300])
    assert _count(app, ImportBatch) == 0
    assert (set(directory.iterdir()) if directory.exists() else set()) == files_before


def test_mixed_encodings_are_refused_at_the_preview_and_nothing_is_written(app, client, login, seller):
    login(seller)
    data = "客户名称,电话\n".encode("utf-8") + "星辰科技,1\n".encode("utf-8") * 8000 + \
        "云帆,2\n".encode("gbk")
    import_id = import_id_of(upload(client, data))
    assert map_columns(client, import_id, {0: "name", 1: "phone"}).status_code == 303
    response = client.get(f"/import/{import_id}/preview")
    assert response.status_code == 422
    assert re.search(r"Line \d+ is not UTF-8", response.get_data(as_text=True))
    assert _count(app, Customer) == 0
    # Mixed within the first lines: refused at the upload.
    response = upload(client, "客户名称,电话\n星辰,1\n".encode("utf-8") + "云帆,2\n".encode("gbk"))
    assert response.status_code == 422 and "mixes encodings" in response.get_data(as_text=True)


def test_no_file_and_a_file_too_large_are_refused(app, client, login, seller, monkeypatch):
    login(seller)
    response = client.post("/import", data={"kind": "customers"}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose a CSV or Excel file" in response.get_data(as_text=True)
    monkeypatch.setattr("crm.imports.routes.MAX_UPLOAD", 1000)
    response = upload(client, b"name\n" + b"x\n" * 1000)
    assert response.status_code == 422 and "larger than 50 MB" in response.get_data(as_text=True)


# --- round trip ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_changes_nothing(app, client, login, manager, seller, build, fmt):
    build.tag(name="重点")
    tags = build.tag(name="VIP")
    build.customer(seller, name="北京星辰科技有限公司", industry="制造", phone="010-5555 0000",
                   email="info@xc.cn", kind="company", size="51-200", tags=[tags],
                   contacts=[{"name": "王芳", "phone": "138", "email": "wf@xc.cn", "is_primary": True}])
    build.customer(manager, name="张三", kind="individual", region="华东", description="多行\n备注")
    build.customer(None, name="上海云帆", website="https://yf.cn", address="上海")
    login(manager)
    exported = client.get(f"/customers/export.{fmt}").get_data()
    with app.app_context():
        before = _db.session.execute(select(Customer.id, Customer.version, Customer.updated_at)
                                     .order_by(Customer.id)).all()
        audit_before = _db.session.execute(select(func.count(AuditEntry.id))).scalar_one()
    import_id = run_file(client, exported, name=f"customers.{fmt}")
    counts = _imp(app, import_id).counts
    assert counts["unchanged"] == 3 and counts["created"] == 0 and counts["updated"] == 0, counts
    with app.app_context():
        after = _db.session.execute(select(Customer.id, Customer.version, Customer.updated_at)
                                    .order_by(Customer.id)).all()
        audit_after = _db.session.execute(select(func.count(AuditEntry.id))).scalar_one()
    assert before == after and audit_before == audit_after


# --- the Maven data set ---------------------------------------------------------------------------

MAVEN = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "maven-crm"
if not MAVEN.is_dir():
    MAVEN = Path("/work/shared/datasets/maven-crm")


@pytest.mark.skipif(not MAVEN.is_dir(), reason="the Maven data set is not beside the repository")
def test_the_maven_data_set_imports_completely_and_twice_creates_nothing(app, admin, db):
    from crm.imports.maven import import_maven
    report = import_maven(MAVEN)
    assert any("created 8800" in line and "rejected 0" in line for line in report), report
    assert any("'GTXPro' read as 'GTX Pro' (1480 rows)" in line for line in report)
    assert any("'technolgy' read as 'technology'" in line for line in report)
    assert any("1425 deals without an account" in line for line in report)
    won = db.session.execute(select(func.sum(Opportunity.amount)).where(Opportunity.status == "won")).scalar_one()
    with open(MAVEN / "sales_pipeline.csv", newline="") as handle:
        expected = sum(Decimal(r["close_value"] or 0) for r in csv.DictReader(handle) if r["deal_stage"] == "Won")
    assert won == expected
    assert db.session.execute(select(func.count(Customer.id))).scalar_one() == 86
    assert db.session.execute(select(func.count(CustomField.id))).scalar_one() == 1
    again = import_maven(MAVEN)
    assert any("unchanged 8800" in line for line in again), again
    assert db.session.execute(select(func.count(Opportunity.id))).scalar_one() == 8800
