"""Import of leads (crm/imports, kind "leads"): the same upload → map → preview → run flow as
customers, header suggestions, matching (email, phone or mobile, name within the company),
the lead source "import", the score computed in bulk, permissions, undo, and the round trip
with the lead list's export."""
import pytest
from sqlalchemy import event, func, select

from crm.extensions import db as _db
from crm.imports.kinds import LEADS, suggest
from crm.leads import services as lead_services
from crm.models import AuditEntry, ImportBatch, Lead, LeadSource, ScoringRule
from crm.trash.services import restore
from tests.import_helpers import csv_bytes, import_id_of, map_columns, run_file, upload

HEADER = ["姓名", "公司", "职位", "手机", "邮箱", "微信", "地区", "来源", "状态"]
ROWS = [["王芳", "北京星辰科技有限公司", "采购经理", "138 0013 8000", "wf@xc.cn", "wf_wx", "北京",
         "展会", "已联系"],
        ["李雷", "上海云帆", "", "13900000001", "", "", "上海", "", ""],
        ["", "无名公司", "", "13900000002", "", "", "", "", ""],             # no name: rejected
        ["韩梅", "深圳海湾", "", "", "not-an-email", "", "", "", ""],        # bad email: rejected
        ["赵四", "广州", "", "", "", "", "", "电视购物", ""],                 # unknown source
        ["钱五", "杭州", "", "", "", "", "", "", "已转化"]]                   # not an open status


@pytest.fixture
def scored(db):
    """The lead sources and a base score of 20 points."""
    lead_services.ensure_defaults()
    db.session.add(ScoringRule(kind="base", points=20))
    db.session.commit()


def _leads(app):
    with app.app_context():
        return {lead.name: (lead.company, lead.title, lead.mobile, lead.email, lead.wechat,
                            lead.region, lead.source.key if lead.source else None, lead.status,
                            lead.score, lead.owner_id)
                for lead in _db.session.execute(select(Lead)).scalars()}


def _imp(app, import_id) -> ImportBatch:
    with app.app_context():
        imp = _db.session.get(ImportBatch, import_id)
        _db.session.expunge(imp)
        return imp


def test_lead_headers_are_suggested_in_chinese_and_english(app_ctx):
    assert suggest(LEADS, HEADER) == {"0": "name", "1": "company", "2": "title", "3": "mobile",
                                      "4": "email", "5": "wechat", "6": "region", "7": "source",
                                      "8": "status"}
    assert suggest(LEADS, ["Name", "Company", "Phone", "Mobile", "WeChat", "Owner"]) == {
        "0": "name", "1": "company", "2": "phone", "3": "mobile", "4": "wechat", "5": "owner"}


def test_leads_import_scored_and_sourced_import_with_bad_rows_rejected(app, client, login, seller,
                                                                       scored):
    login(seller)
    import_id = run_file(client, csv_bytes([HEADER, *ROWS], encoding="gbk"), name="线索.csv",
                         kind="leads")
    counts = _imp(app, import_id).counts
    assert counts["created"] == 2 and counts["rejected"] == 4, counts
    leads = _leads(app)
    assert leads["王芳"] == ("北京星辰科技有限公司", "采购经理", "138 0013 8000", "wf@xc.cn", "wf_wx",
                           "北京", "trade_show", "contacted", 20, seller.id)
    assert leads["李雷"][6:9] == ("import", "new", 20)  # no source: "import"; scored
    rejects = client.get(f"/import/{import_id}/rejected.csv").get_data().decode("gb18030")
    assert "电视购物" in rejects and "已转化" in rejects and "not-an-email" in rejects
    with app.app_context():
        lead = _db.session.execute(select(Lead).where(Lead.name == "王芳")).scalar_one()
        assert "wangfang" in lead.search_index and lead.score_parts[0]["kind"] == "base"
        entries = _db.session.execute(select(func.count(AuditEntry.id)).where(
            AuditEntry.entity == "leads", AuditEntry.field == "import")).scalar_one()
        assert entries == 2


def test_the_leads_scores_are_computed_in_bulk(app, client, login, seller, scored):
    """The run's statements do not grow with its rows: 3 and 30 leads cost the same."""
    login(seller)

    def statements(rows):
        data = csv_bytes([["姓名", "公司"], *rows])
        import_id = import_id_of(upload(client, data, name="l.csv", kind="leads"))
        map_columns(client, import_id, {0: "name", 1: "company"})
        client.get(f"/import/{import_id}/preview")
        seen = []
        with app.app_context():
            engine = _db.engine

            def count(conn, cursor, statement, *args):
                seen.append(statement)
            event.listen(engine, "before_cursor_execute", count)
            try:
                client.post(f"/import/{import_id}/run")
            finally:
                event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    few = statements([[f"甲{i}", "一号公司"] for i in range(3)])
    many = statements([[f"乙{i}", "二号公司"] for i in range(30)])
    assert few == many
    assert _leads(app)["乙29"][8] == 20


def test_a_lead_matches_on_email_then_phone_or_mobile_then_name_within_its_company(
        app, client, login, seller, scored):
    login(seller)
    lead_services.save_lead(seller, None, {"name": "王芳", "company": "星辰", "email": "wf@xc.cn"})
    lead_services.save_lead(seller, None, {"name": "李雷", "company": "云帆", "mobile": "13900000001"})
    lead_services.save_lead(seller, None, {"name": "韩梅", "company": "海湾"})
    _db.session.commit()
    data = csv_bytes([["姓名", "公司", "邮箱", "电话", "职位"],
                      ["王芳 (new)", "", "WF@xc.cn", "", "经理"],      # email
                      ["李雷", "", "", "+86 139 0000 0001", "总监"],   # phone = its mobile
                      ["韩梅", "海湾有限公司", "", "", "工程师"],         # name within the company
                      ["韩梅", "别的公司", "", "", ""]])                # another company: new
    import_id = run_file(client, data, name="l.csv", kind="leads")
    counts = _imp(app, import_id).counts
    assert counts["updated"] == 3 and counts["created"] == 1, counts
    leads = _leads(app)
    assert leads["王芳 (new)"][1] == "经理" and leads["李雷"][1] == "总监"
    with app.app_context():
        assert _db.session.execute(select(func.count(Lead.id))).scalar_one() == 4
    again = run_file(client, data, name="l.csv", kind="leads", on_match="skip")
    assert _imp(app, again).counts["skipped"] == 4


def test_a_converted_lead_is_read_only_to_an_import(app, client, login, seller, scored):
    login(seller)
    lead = lead_services.save_lead(seller, None, {"name": "王芳", "email": "wf@xc.cn"})
    lead.status = "converted"
    _db.session.commit()
    import_id = run_file(client, csv_bytes([["姓名", "邮箱", "职位"], ["王芳", "wf@xc.cn", "经理"]]),
                         name="l.csv", kind="leads")
    assert _imp(app, import_id).counts["skipped"] == 1
    assert _leads(app)["王芳"][1] is None


def test_a_salesperson_imports_leads_of_their_own_only(app, client, login, seller, make_user,
                                                        scored):
    other = make_user("sales", email="other@example.com", name="Olga Other")
    lead_services.save_lead(other, None, {"name": "别人的", "email": "theirs@x.cn"})
    _db.session.commit()
    login(seller)
    data = csv_bytes([["姓名", "邮箱", "负责人"], ["我的", "", ""], ["给别人", "", "Olga Other"],
                      ["别人的", "theirs@x.cn", ""]])
    counts = _imp(app, run_file(client, data, name="l.csv", kind="leads")).counts
    assert counts["created"] == 1 and counts["rejected"] == 2, counts


def test_undo_moves_the_imported_leads_to_the_trash_and_restore_brings_them_back(
        app, client, login, seller, scored):
    login(seller)
    import_id = run_file(client, csv_bytes([["姓名", "公司"], ["王芳", "星辰"], ["李雷", "云帆"]]),
                         name="l.csv", kind="leads")
    assert len(_leads(app)) == 2
    assert client.post(f"/import/{import_id}/undo").status_code == 303
    assert _leads(app) == {}
    with app.app_context():
        restore(_imp(app, import_id).batch, None)
        _db.session.commit()
    assert set(_leads(app)) == {"王芳", "李雷"}


def test_the_lead_export_imports_back_unchanged(app, client, login, manager_user, scored):
    login(manager_user)
    source = _db.session.execute(select(LeadSource).where(LeadSource.key == "referral")).scalar_one()
    lead_services.save_lead(manager_user, None, {"name": "王芳", "company": "星辰", "title": "经理",
                                                 "mobile": "138", "wechat": "wf", "region": "北京",
                                                 "source_id": source.id})
    lead_services.save_lead(manager_user, None, {"name": "Li Lei", "email": "li@x.cn"})
    _db.session.commit()
    for fmt in ("csv", "xlsx"):
        exported = client.get(f"/leads/export.{fmt}").get_data()
        with app.app_context():
            before = _db.session.execute(select(Lead.id, Lead.version, Lead.updated_at)
                                         .order_by(Lead.id)).all()
        import_id = run_file(client, exported, name=f"leads.{fmt}", kind="leads")
        counts = _imp(app, import_id).counts
        assert counts["unchanged"] == 2 and counts["created"] == 0, (fmt, counts)
        with app.app_context():
            after = _db.session.execute(select(Lead.id, Lead.version, Lead.updated_at)
                                        .order_by(Lead.id)).all()
        assert before == after


@pytest.fixture
def manager_user(make_user):
    return make_user("manager", email="manager@example.com", name="Mia Manager")



def test_the_lead_list_links_to_the_lead_import(app, client, login, seller):
    login(seller)
    assert 'href="/import?kind=leads"' in client.get("/leads").get_data(as_text=True)
    page = client.get("/import?kind=leads").get_data(as_text=True)
    assert '<option selected value="leads">' in page or 'value="leads" selected' in page
