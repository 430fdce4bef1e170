"""Duplicates and merge: normalisation, blocking, scoring, merge moving every kind of child,
undo, the conflict rule, and the routes' permissions."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.duplicates import blocking, services
from crm.duplicates.refresh import refresh
from crm.duplicates.normalise import email_key, name_key, name_pinyin, phone_key
from crm.extensions import db as _db
from crm.models import AuditEntry, Contact, Customer, Merge, Note, Opportunity, Task
from crm.rules import RuleError
from crm.trash.filters import INCLUDE_DELETED
from tests import factories
from tests.conftest import csrf_token_from


# --- rules: normalisation, blocking, scoring ----------------------------------------------

@pytest.mark.parametrize("raw, key", [
    ("北京星辰科技有限公司", "星辰科技"), ("北京星辰科技", "星辰科技"),
    ("星辰科技股份有限公司", "星辰科技"), ("ＡＣＭＥ  Co., Ltd.", "acme"), ("Acme Inc.", "acme"),
    ("北京", "北京"), ("上海市 海洋 公司", "海洋"), ("", ""),
])
def test_name_key(raw, key):
    assert name_key(raw) == key


def test_pinyin_phone_email_keys():
    assert name_pinyin("北京星辰科技有限公司") == "xingchenkeji"
    assert phone_key("+86 138-0013-8000") == phone_key("13800138000") == "00138000"
    assert phone_key("12-34") is None
    assert email_key("  A@B.com ") == "a@b.com" and email_key("") is None


def test_pairs_by_name_phone_email_highest_first():
    entries = [blocking.entry(1, "北京星辰科技有限公司"), blocking.entry(2, "北京星辰科技"),
               blocking.entry(3, "海洋贸易", phones=["138-0013-8000"]),
               blocking.entry(4, "Ocean", phones=["13800138000"]),
               blocking.entry(5, "Alpha", emails=["X@y.com"]), blocking.entry(6, "Beta", emails=["x@Y.com"]),
               blocking.entry(7, "星辰科枝"), blocking.entry(8, "完全不同")]
    pairs = blocking.find_pairs(entries)
    keys = {(p.low_id, p.high_id): p for p in pairs}
    assert keys[(1, 2)].score == 100 and keys[(1, 2)].reasons == {"name"}
    assert keys[(3, 4)].reasons == {"phone"} and keys[(5, 6)].reasons == {"email"}
    assert (7, 8) not in keys and (1, 8) not in keys
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)


def test_blocking_compares_only_within_blocks(monkeypatch):
    calls = []
    real = blocking.name_score
    monkeypatch.setattr(blocking, "name_score", lambda a, b: calls.append(1) or real(a, b))
    entries = [blocking.entry(i, f"公司{chr(0x4e00 + i * 37)}{chr(0x4e00 + i * 53)}") for i in range(400)]
    blocking.find_pairs(entries)
    assert len(calls) < 400 * 399 / 2 / 4  # far fewer than every pair


def test_big_blocks_use_a_window(monkeypatch):
    monkeypatch.setattr(blocking, "MAX_BLOCK", 10)
    entries = [blocking.entry(i, f"Zeta{i:04d}") for i in range(100)]
    calls = []
    real = blocking.name_score
    monkeypatch.setattr(blocking, "name_score", lambda a, b: calls.append(1) or real(a, b))
    blocking.find_pairs(entries)
    assert len(calls) <= 2 * 100 * blocking.WINDOW


# --- merge and undo ------------------------------------------------------------------------

def _world(seller):
    tag_a = factories.tag("行业", "制造", commit=False)
    tag_b = factories.tag("行业", "零售", commit=False)
    other_user = factories.user("sales", email="o@example.com", name="Other", commit=False)
    keep = factories.customer(seller, name="北京星辰科技有限公司", phone="010-1", tags=[tag_a],
                              contacts=[{"name": "王芳", "is_primary": True}], commit=False)
    gone = factories.customer(seller, name="北京星辰科技", phone="010-2", email="x@xc.cn",
                              tags=[tag_a, tag_b], shared_with=[other_user],
                              contacts=[{"name": "李雷", "is_primary": True}],
                              custom={"vip": "yes"}, commit=False)
    _db.session.commit()
    factories.note(seller, gone)
    factories.task(seller, customer=gone)
    factories.opportunity(gone, seller)
    return keep, gone, tag_b, other_user


def _children(customer_id):
    opts = {INCLUDE_DELETED: True}
    return {name: sorted(_db.session.scalars(select(model.id).where(model.customer_id == customer_id)
                                              .execution_options(**opts)))
            for name, model in (("contacts", Contact), ("notes", Note), ("tasks", Task),
                                ("opportunities", Opportunity))}


def test_merge_moves_every_child_and_undo_puts_it_back(db, seller):
    keep, gone, tag_b, other_user = _world(seller)
    keep_id, gone_id = keep.id, gone.id
    before_keep, before_gone = _children(keep_id), _children(gone_id)
    kind = services.KINDS["customer"]
    record = services.merge(kind, keep, [gone], {"email": gone_id, "phone": keep_id},
                            {keep_id: keep.version, gone_id: gone.version}, seller,
                            custom_choices={"vip": gone_id})
    _db.session.commit()
    survivor = _db.session.get(Customer, keep_id)
    assert survivor.email == "x@xc.cn" and survivor.phone == "010-1"
    assert survivor.custom == {"vip": "yes"}
    after = _children(keep_id)
    for name in after:
        assert after[name] == sorted(before_keep[name] + before_gone[name])
    assert sum(1 for c in survivor.contacts if c.is_primary) == 1
    assert {t.id for t in survivor.tags} >= {tag_b.id}
    assert other_user.id in {u.id for u in survivor.shared_with}
    merged = _db.session.execute(select(Customer).where(Customer.id == gone_id)
                                 .execution_options(**{INCLUDE_DELETED: True})).scalar_one()
    assert merged.deleted_at is not None
    audit = _db.session.scalars(select(AuditEntry).where(AuditEntry.action == "merge")).all()
    assert {(a.entity_id, a.field) for a in audit} == {(gone_id, "merged_into"), (keep_id, "merged")}

    services.undo(record, seller)
    _db.session.commit()
    assert _children(keep_id) == before_keep and _children(gone_id) == before_gone
    survivor = _db.session.get(Customer, keep_id)
    assert survivor.email is None and survivor.custom == {}
    assert [t.name for t in survivor.tags] == ["制造"]
    assert survivor.shared_with == []
    gone = _db.session.get(Customer, gone_id)
    assert gone is not None and gone.deleted_at is None
    assert {t.id for t in gone.tags} >= {tag_b.id} and gone.primary_contact.name == "李雷"
    assert gone.primary_contact.is_primary
    with pytest.raises(RuleError):
        services.undo(_db.session.get(Merge, record.id), seller)


def test_merge_refuses_a_changed_record(db, seller):
    keep, gone, *_ = _world(seller)
    versions = {keep.id: keep.version, gone.id: gone.version - 1 if gone.version > 1 else 99}
    with pytest.raises(RuleError, match="changed"):
        services.merge(services.KINDS["customer"], keep, [gone], {}, versions, seller)


def test_merge_needs_edit_rights_on_all(db, seller, make_user):
    other = factories.user("sales", email="z@example.com", name="Zed")
    keep = factories.customer(seller, name="甲")
    theirs = factories.customer(other, name="甲乙")
    with pytest.raises(RuleError):
        services.merge(services.KINDS["customer"], keep, [theirs], {},
                       {keep.id: 1, theirs.id: 1}, seller)


def test_undo_after_30_days_is_refused(db, seller):
    keep, gone, *_ = _world(seller)
    record = services.merge(services.KINDS["customer"], keep, [gone], {},
                            {keep.id: keep.version, gone.id: gone.version}, seller)
    _db.session.commit()
    with pytest.raises(RuleError, match="30"):
        services.undo(record, seller, now=record.created_at + timedelta(days=31))


def test_merge_contacts_moves_their_notes(db, seller):
    customer = factories.customer(seller, name="甲", contacts=[{"name": "王芳", "phone": "13800138000"},
                                                                {"name": "王 芳", "phone": "138 0013 8000"}])
    first, second = customer.contacts
    note = factories.note(seller, customer, contact=second)
    record = services.merge(services.KINDS["contact"], first, [second], {},
                            {first.id: first.version, second.id: second.version}, seller)
    _db.session.commit()
    assert _db.session.get(Note, note.id).contact_id == first.id
    services.undo(record, seller)
    _db.session.commit()
    assert _db.session.get(Note, note.id).contact_id == second.id


# --- HTTP -----------------------------------------------------------------------------------

def test_duplicates_page_lists_pairs_i_may_see(client, login, seller, make_user, build, app):
    other = make_user("sales", email="x@example.com", name="Xu")
    build.customer(seller, name="北京星辰科技有限公司")
    build.customer(seller, name="北京星辰科技")
    build.customer(other, name="上海海洋有限公司")
    build.customer(other, name="上海海洋")
    login(seller)
    assert "Not searched yet" in client.get("/duplicates/customer").get_data(as_text=True)
    with app.app_context():
        assert refresh("customer") == 2
        _db.session.commit()
    html = client.get("/duplicates/customer").get_data(as_text=True)
    assert "北京星辰科技有限公司" in html and "上海海洋" not in html
    assert client.get("/duplicates/lead-nope").status_code == 404
    assert 'href="/duplicates/customer"' in client.get("/customers").get_data(as_text=True)


def test_routes_need_login(client):
    for url in ("/duplicates/customer", "/duplicates/customer/merge?ids=1&ids=2"):
        assert client.get(url).status_code in (302, 303, 401)
    assert client.post("/duplicates/merges/1/undo").status_code in (302, 303, 400, 401)


def test_merge_over_http_and_undo(client, login, seller, build, app):
    a = build.customer(seller, name="北京星辰科技有限公司", phone="010-1")
    b = build.customer(seller, name="北京星辰科技", email="x@xc.cn")
    login(seller)
    page = client.get(f"/duplicates/customer/merge?ids={a}&ids={b}")
    assert page.status_code == 200
    token = csrf_token_from(page.get_data(as_text=True))
    form = {"csrf_token": token, "ids": [a, b], f"version_{a}": 1, f"version_{b}": 1,
            "survivor": a, "field_email": b}
    stale = dict(form, **{f"version_{b}": 7})
    refused = client.post("/duplicates/customer/merge", data=stale)
    assert refused.status_code == 409 and "changed by someone else" in refused.get_data(as_text=True)
    done = client.post("/duplicates/customer/merge", data=form)
    assert done.status_code == 302
    with app.app_context():
        assert _db.session.get(Customer, a).email == "x@xc.cn"
        merge_id = _db.session.scalars(select(Merge.id)).one()
    listing = client.get("/duplicates/customer").get_data(as_text=True)
    assert f"/duplicates/merges/{merge_id}/undo" in listing
    undone = client.post(f"/duplicates/merges/{merge_id}/undo", data={"csrf_token": token})
    assert undone.status_code == 302
    with app.app_context():
        assert _db.session.get(Customer, b).deleted_at is None
        assert _db.session.get(Customer, a).email is None


def test_no_survivor_is_422(client, login, seller, build):
    a = build.customer(seller, name="甲")
    b = build.customer(seller, name="甲乙")
    login(seller)
    token = csrf_token_from(client.get(f"/duplicates/customer/merge?ids={a}&ids={b}").get_data(as_text=True))
    response = client.post("/duplicates/customer/merge", data={"csrf_token": token, "ids": [a, b]})
    assert response.status_code == 422 and "Choose the record to keep" in response.get_data(as_text=True)


def test_merge_view_and_undo_permissions(client, login, seller, make_user, build, app):
    other = make_user("sales", email="x@example.com", name="Xu")
    mine = build.customer(seller, name="甲")
    theirs = build.customer(other, name="甲乙")
    theirs2 = build.customer(other, name="甲乙丙")
    login(seller)
    assert client.get(f"/duplicates/customer/merge?ids={mine}&ids={theirs}").status_code == 403
    assert client.get(f"/duplicates/customer/merge?ids={mine}&ids=999999").status_code == 404
    with app.app_context():
        record = services.merge(services.KINDS["customer"], _db.session.get(Customer, theirs),
                                [_db.session.get(Customer, theirs2)], {},
                                {theirs: 1, theirs2: 1}, _db.session.get(type(other), other.id))
        _db.session.commit()
        merge_id = record.id
    token = csrf_token_from(client.get("/duplicates/customer").get_data(as_text=True)) \
        if "csrf" in client.get("/customers").get_data(as_text=True) else ""
    assert client.post(f"/duplicates/merges/{merge_id}/undo", data={"csrf_token": token}).status_code == 403
    assert client.post("/duplicates/merges/999999/undo", data={"csrf_token": token}).status_code == 404


def test_refresh_button_runs_a_job(client, login, seller, build, app):
    build.customer(seller, name="北京星辰科技有限公司")
    build.customer(seller, name="北京星辰科技")
    login(seller)
    token = csrf_token_from(client.get("/duplicates/customer").get_data(as_text=True))
    response = client.post("/duplicates/customer/refresh", data={"csrf_token": token})
    assert response.status_code in (302, 303) and "/jobs/" in response.headers["Location"]
    job_page = client.get(response.headers["Location"])
    assert job_page.status_code == 200 and "Find duplicate customers" in job_page.get_data(as_text=True)
    html = client.get("/duplicates/customer").get_data(as_text=True)
    assert "北京星辰科技有限公司" in html and "Not searched yet" not in html
    assert client.post("/duplicates/nope/refresh", data={"csrf_token": token}).status_code == 404


def test_merged_records_leave_the_page_and_come_back_on_undo(db, seller):
    from crm.duplicates.queries import pairs_context
    keep, gone, *_ = _world(seller)
    refresh("customer")
    _db.session.commit()
    assert len(pairs_context("customer", seller)["pairs"]) == 1
    record = services.merge(services.KINDS["customer"], keep, [gone], {},
                            {keep.id: keep.version, gone.id: gone.version}, seller)
    _db.session.commit()
    assert pairs_context("customer", seller)["pairs"] == []
    services.undo(record, seller)
    _db.session.commit()
    assert len(pairs_context("customer", seller)["pairs"]) == 1


def test_page_statements_do_not_grow(client, login, seller, build, app):
    from tests.conftest import count_queries
    login(seller)

    def statements():
        with app.app_context():
            refresh("customer")
            _db.session.commit()
            with count_queries(_db.engine) as seen:
                assert client.get("/duplicates/customer").status_code == 200
        return len(seen)
    for n in range(3):
        build.customer(seller, name=f"星辰科技{n}号有限公司")
    statements()  # warm the caches of a first request
    few = statements()
    for n in range(30):
        build.customer(seller, name=f"海洋贸易{n}号", phone=f"1380013{n:04d}")
    assert statements() == few


def test_trash_says_merged_into(client, login, seller, build, app):
    a = build.customer(seller, name="北京星辰科技有限公司")
    b = build.customer(seller, name="北京星辰科技")
    with app.app_context():
        user = _db.session.get(type(seller), seller.id)
        services.merge(services.KINDS["customer"], _db.session.get(Customer, a),
                       [_db.session.get(Customer, b)], {}, {a: 1, b: 1}, user)
        _db.session.commit()
    login(seller)
    html = client.get("/trash").get_data(as_text=True)
    assert "merged into 北京星辰科技有限公司" in html


def test_merge_view_shows_custom_fields_the_user_may_see(client, login, seller, build, app):
    from crm.fields.queries import forget_definitions
    from crm.models import CustomField
    with app.app_context():
        _db.session.add_all([
            CustomField(record_type="customer", key="vip", label_zh="重点", label_en="Key account",
                        type="text"),
            CustomField(record_type="customer", key="margin", label_zh="毛利", label_en="Secret margin",
                        type="text", restricted=True)])
        _db.session.commit()
        forget_definitions()
    a = build.customer(seller, name="甲", custom={"vip": "yes", "margin": "40%"})
    b = build.customer(seller, name="甲乙", custom={"vip": "no"})
    login(seller)
    html = client.get(f"/duplicates/customer/merge?ids={a}&ids={b}").get_data(as_text=True)
    assert "Key account" in html and 'name="custom_vip"' in html
    assert "Secret margin" not in html and "40%" not in html
    with app.app_context():
        forget_definitions()
