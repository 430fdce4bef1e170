"""Duplicates and merge beyond customers: leads as a MergeKind (pairs on phone/mobile, email,
name within the company; notes, tasks and tags move; the score follows; converted leads are
never paired or merged; visibility), the contacts' merge reached from the customer page (the
chooser of any two of its contacts), and the customer page's "likely duplicate" hint."""
from sqlalchemy import select

from crm.duplicates import services
from crm.duplicates.refresh import refresh
from crm.extensions import db as _db
from crm.leads import services as lead_services
from crm.models import (Contact, Customer, DuplicatePair, Lead, Merge, Note, ScoringRule, Task,
                        User, lead_tags)
from tests import factories
from tests.conftest import csrf_token_from


def _leads(seller):
    lead_services.ensure_defaults()
    _db.session.add(ScoringRule(kind="base", points=10))
    _db.session.add(ScoringRule(kind="note_kind", note_kind="call", points=5))
    _db.session.commit()
    keep = lead_services.save_lead(seller, None, {"name": "王芳", "company": "北京星辰科技有限公司",
                                                  "mobile": "138 0013 8000"})
    gone = lead_services.save_lead(seller, None, {"name": "王芳", "company": "北京星辰科技",
                                                  "email": "wf@xc.cn", "phone": "13800138000"})
    other = lead_services.save_lead(seller, None, {"name": "王芳", "company": "上海云帆"})
    _db.session.commit()
    return keep, gone, other


def test_lead_pairs_on_phone_or_mobile_and_name_within_the_company(db, seller):
    keep, gone, other = _leads(seller)
    converted = lead_services.save_lead(seller, None, {"name": "王芳", "company": "北京星辰科技"})
    converted.status = "converted"
    _db.session.commit()
    assert refresh("lead") == 1
    pair = _db.session.scalars(select(DuplicatePair).where(DuplicatePair.entity == "lead")).one()
    assert (pair.low_id, pair.high_id) == (keep.id, gone.id) and "phone" in pair.reasons


def test_merging_leads_moves_notes_tasks_tags_rescores_and_undoes(db, seller):
    keep, gone, _other = _leads(seller)
    group = factories.tag_group("行为 Behaviour", commit=False)
    group.kind = "behaviour"
    tag = factories.tag(group, "询价 price", commit=False)
    lead_services.set_tags(seller, gone, [tag])
    note = lead_services.add_note(seller, gone, kind="call", body="电话")
    task = Task(title="回电", assignee_id=seller.id, created_by_id=seller.id, lead_id=gone.id)
    _db.session.add(task)
    _db.session.commit()
    assert keep.score == 10 and gone.score == 15
    kind = services.KINDS["lead"]
    record = services.merge(kind, keep, [gone], {"email": gone.id, "company": gone.id},
                            {keep.id: keep.version, gone.id: gone.version}, seller)
    _db.session.commit()
    survivor = _db.session.get(Lead, keep.id)
    assert survivor.email == "wf@xc.cn" and survivor.company == "北京星辰科技"
    assert _db.session.get(Note, note.id).lead_id == keep.id
    assert _db.session.get(Task, task.id).lead_id == keep.id
    assert set(_db.session.scalars(select(lead_tags.c.tag_id).where(lead_tags.c.lead_id == keep.id))) == {tag.id}
    assert survivor.score == 15  # the moved call counts for the lead kept
    assert "wf@xc.cn" in survivor.search_index
    assert _db.session.get(Lead, gone.id).deleted_at is not None  # in the trash
    services.undo(_db.session.get(Merge, record.id), seller)
    _db.session.commit()
    survivor = _db.session.get(Lead, keep.id)
    assert survivor.email is None and survivor.score == 10
    assert _db.session.get(Note, note.id).lead_id == gone.id
    assert _db.session.get(Lead, gone.id).score == 15


def test_lead_merge_over_http_its_page_and_permissions(app, client, login, seller, make_user):
    other_user = make_user("sales", email="o@example.com", name="Olga Other")
    with app.app_context():
        me, them = _db.session.get(User, seller.id), _db.session.get(User, other_user.id)
        keep, gone, _other = _leads(me)
        theirs = lead_services.save_lead(them, None, {"name": "王芳", "mobile": "13800138000"})
        converted = lead_services.save_lead(me, None, {"name": "王 芳", "company": "北京星辰"})
        converted.status = "converted"
        _db.session.commit()
        refresh("lead")
        _db.session.commit()
        keep_id, gone_id, theirs_id, converted_id = keep.id, gone.id, theirs.id, converted.id
    login(seller)
    html = client.get("/duplicates/lead").get_data(as_text=True)
    assert "Likely duplicate leads" in html and "北京星辰科技" in html
    assert f"ids={keep_id}&amp;ids={gone_id}" in html
    assert f"ids={theirs_id}" not in html  # another salesperson's lead: not theirs to see here
    assert client.get(f"/duplicates/lead/merge?ids={keep_id}&ids={theirs_id}").status_code == 403
    assert client.get(f"/duplicates/lead/merge?ids={keep_id}&ids={converted_id}").status_code == 403
    page = client.get(f"/duplicates/lead/merge?ids={keep_id}&ids={gone_id}")
    assert page.status_code == 200 and "WeChat" in page.get_data(as_text=True)
    form = {"csrf_token": csrf_token_from(page.get_data(as_text=True)), "ids": [keep_id, gone_id],
            f"version_{keep_id}": 1, f"version_{gone_id}": 1, "survivor": keep_id,
            "field_email": gone_id}
    assert client.post("/duplicates/lead/merge", data=form).status_code == 302
    with app.app_context():
        assert _db.session.get(Lead, keep_id).email == "wf@xc.cn"
    assert 'href="/duplicates/lead"' in client.get("/leads").get_data(as_text=True)


def test_the_contacts_of_a_customer_are_merged_from_its_page(app, client, login, seller, build):
    customer_id = build.customer(seller, name="星辰", contacts=[
        {"name": "王芳", "phone": "138", "is_primary": True}, {"name": "王 芳", "email": "wf@xc.cn"},
        {"name": "李雷"}])
    single = build.customer(seller, name="云帆", contacts=[{"name": "张三"}])
    login(seller)
    page = client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert f'href="/duplicates/contact?customer={customer_id}"' in page
    assert "merge-contacts-link" not in client.get(f"/customers/{single}").get_data(as_text=True)
    chooser = client.get(f"/duplicates/contact?customer={customer_id}").get_data(as_text=True)
    assert 'id="contact-chooser"' in chooser and "李雷" in chooser
    with app.app_context():
        ids = {c.name: c.id for c in _db.session.scalars(select(Contact))}
    one = client.get(f"/duplicates/contact/merge?customer={customer_id}&ids={ids['王芳']}")
    assert one.status_code == 302 and f"customer={customer_id}" in one.headers["Location"]
    assert "Choose two or more contacts" in client.get(one.headers["Location"]).get_data(as_text=True)
    view = client.get(f"/duplicates/contact/merge?customer={customer_id}&ids={ids['王芳']}&ids={ids['王 芳']}")
    assert view.status_code == 200
    form = {"csrf_token": csrf_token_from(view.get_data(as_text=True)),
            "ids": [ids["王芳"], ids["王 芳"]], f"version_{ids['王芳']}": 1,
            f"version_{ids['王 芳']}": 1, "survivor": ids["王芳"], "field_email": ids["王 芳"]}
    assert client.post("/duplicates/contact/merge", data=form).status_code == 302
    with app.app_context():
        assert _db.session.get(Contact, ids["王芳"]).email == "wf@xc.cn"
        assert _db.session.get(Contact, ids["王 芳"]) is None  # in the trash
    assert client.get("/duplicates/contact?customer=999999").status_code == 404


def test_a_hidden_customers_contacts_cannot_be_chosen(app, client, login, seller, make_user, build):
    other = make_user("sales", email="o@example.com", name="Olga Other")
    hidden = build.customer(other, name="别人的", contacts=[{"name": "甲"}, {"name": "乙"}])
    login(seller)
    assert client.get(f"/duplicates/contact?customer={hidden}").status_code == 404


def test_the_customer_page_hints_at_a_likely_duplicate(app, client, login, seller, make_user, build):
    other = make_user("sales", email="o@example.com", name="Olga Other")
    a = build.customer(seller, name="北京星辰科技有限公司")
    b = build.customer(seller, name="北京星辰科技")
    hidden = build.customer(other, name="北京星辰科技公司")
    lone = build.customer(seller, name="完全不同的名字")
    with app.app_context():
        refresh("customer")
        _db.session.commit()
    login(seller)
    page = client.get(f"/customers/{a}").get_data(as_text=True)
    assert f'hx-get="/duplicates/customer/{a}/hint"' in page
    hint = client.get(f"/duplicates/customer/{a}/hint", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Likely duplicate" in hint and "北京星辰科技" in hint
    assert f"/duplicates/customer/merge?ids={a}&amp;ids={b}" in hint
    assert f"/customers/{hidden}" not in hint and "北京星辰科技公司" not in hint
    assert "Likely duplicate" not in client.get(f"/duplicates/customer/{lone}/hint").get_data(as_text=True)
    assert client.get(f"/duplicates/customer/{hidden}/hint").status_code == 404
    with app.app_context():  # the other in the trash: no hint
        _db.session.get(Customer, b).deleted_at = _db.session.get(Customer, b).created_at
        _db.session.commit()
    assert "Likely duplicate" not in client.get(f"/duplicates/customer/{a}/hint").get_data(as_text=True)
