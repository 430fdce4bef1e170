"""A new customer with its first contact and its tags, from the one form (issue 17, point 4):
saved together in one commit or not at all, the same validation as the contact form and the
tag picker, 422 with everything typed kept, duplicates of the contact's phone and email."""
import re

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm.extensions import db
from crm.models import AuditEntry, Contact, Customer, customer_tags
from tests import factories
from tests.conftest import csrf_token_from, hx, session_user_id


@pytest.fixture
def tags(app):
    """A single-choice group (Value tier: Important, Ordinary) and a multiple-choice one
    (Industry: Software, Manufacturing): {name: id}."""
    with app.app_context():
        tier = factories.tag_group("客户等级 Value tier", multiple=False, commit=False)
        industry = factories.tag_group("行业 Industry", multiple=True, commit=False)
        made = {name: factories.tag(group, name, commit=False)
                for group, name in ((tier, "重要 Important"), (tier, "普通 Ordinary"),
                                    (industry, "软件 Software"), (industry, "制造 Manufacturing"))}
        db.session.commit()
        return {name: tag.id for name, tag in made.items()}


@pytest.fixture
def seller_client(seller, login):
    return login(seller)


def _nothing_saved(app):
    with app.app_context():
        assert db.session.query(Customer).count() == 0
        assert db.session.query(Contact).count() == 0
        assert db.session.execute(db.select(db.func.count()).select_from(customer_tags)).scalar() == 0


def _checked_tag_ids(html: str) -> set[int]:
    return {int(value) for value in re.findall(
        r'<input type="checkbox" name="tag_ids" value="(\d+)" checked>', html)}


class Commits:
    """Counts the commits that write a new customer or contact, or change a customer."""

    def __init__(self):
        self.count = 0

    def __call__(self, session):
        if any(isinstance(obj, (Customer, Contact)) for obj in session.new) or any(
                isinstance(obj, Customer) for obj in session.dirty):
            self.count += 1


def test_a_customer_with_its_contact_and_tags_in_one_post(app, seller, seller_client, tags):
    response = seller_client.post("/customers/new", data={
        "kind": "company", "name": "杭州云帆贸易", "phone": "0571 8888 1234",
        "contact-name": "王伟", "contact-title": "总经理", "contact-phone": "138 0013 8000",
        "contact-email": "Wang.Wei@YunFan.cn",
        "tag_ids": [str(tags["重要 Important"]), str(tags["软件 Software"]),
                    str(tags["制造 Manufacturing"])]})
    assert response.status_code == 303
    with app.app_context():
        customer = db.session.execute(db.select(Customer)).scalar_one()
        assert response.headers["Location"].endswith(f"/customers/{customer.id}")
        [contact] = customer.contacts
        assert (contact.name, contact.title, contact.phone, contact.email, contact.is_primary) == \
            ("王伟", "总经理", "138 0013 8000", "Wang.Wei@YunFan.cn", True)
        assert sorted(tag.name for tag in customer.tags) == [
            "制造 Manufacturing", "软件 Software", "重要 Important"]
        assert customer.owner_id == seller.id and customer.created_by_id == seller.id
        # The search index includes the contact, as when a contact is added on the page.
        assert "wangwei" in customer.search_index and "13800138000" in customer.search_index
        # The audit trail: the customer's and the contact's "create", the tags as an update.
        audit = db.session.execute(db.select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
        assert {(e.entity, e.action, e.field, e.user_id) for e in audit} == {
            ("customers", "create", None, seller.id), ("contacts", "create", None, seller.id),
            ("customers", "update", "tags", seller.id)}
        [tag_entry] = [e for e in audit if e.field == "tags"]
        assert tag_entry.old_value is None and tag_entry.entity_id == customer.id
        assert all(name in tag_entry.new_value
                   for name in ("重要 Important", "软件 Software", "制造 Manufacturing"))
    page = seller_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "王伟" in page and "总经理" in page and "重要 Important" in page and "软件 Software" in page


def test_one_commit_saves_the_customer_its_contact_and_its_tags(app, seller_client, tags):
    counted = Commits()
    event.listen(Session, "before_commit", counted)
    try:
        response = seller_client.post("/customers/new", data={
            "name": "One commit", "contact-name": "李娜", "tag_ids": [str(tags["普通 Ordinary"])]})
    finally:
        event.remove(Session, "before_commit", counted)
    assert response.status_code == 303
    assert counted.count == 1
    with app.app_context():
        customer = db.session.execute(db.select(Customer)).scalar_one()
        assert [c.name for c in customer.contacts] == ["李娜"]
        assert [t.name for t in customer.tags] == ["普通 Ordinary"]


@pytest.mark.parametrize("contact", [
    {},
    {"contact-name": "", "contact-title": "", "contact-phone": "", "contact-email": ""},
    {"contact-name": "   ", "contact-title": "  ", "contact-phone": " ", "contact-email": " "},
])
def test_an_empty_contact_is_no_contact(app, seller_client, contact):
    response = seller_client.post("/customers/new", data={"name": "No contact yet", **contact})
    assert response.status_code == 303
    with app.app_context():
        customer = db.session.execute(db.select(Customer)).scalar_one()
        assert customer.contacts == [] and customer.tags == []
        assert db.session.query(Contact).count() == 0


def test_a_contact_without_a_name_is_an_error_beside_the_contact_name(app, seller_client, tags):
    response = seller_client.post("/customers/new", data={
        "name": "Acme", "contact-phone": "139 1234 5678", "contact-email": "li@acme.com",
        "tag_ids": [str(tags["软件 Software"])]})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'<p class="field-error" id="contact-name-error">Enter the contact(&#39;|\')s name.</p>',
                     html)
    assert 'id="contact-name"' in html and 'aria-describedby="contact-name-error"' in html
    assert 'value="139 1234 5678"' in html and 'value="li@acme.com"' in html
    assert 'value="Acme"' in html
    assert _checked_tag_ids(html) == {tags["软件 Software"]}
    _nothing_saved(app)


def test_an_invalid_contact_email_saves_nothing_and_keeps_the_input(app, seller_client, tags):
    response = seller_client.post("/customers/new", data={
        "kind": "company", "name": "宁波海达", "city": "宁波",
        "contact-name": "陈静", "contact-title": "采购", "contact-phone": "137 0000 1111",
        "contact-email": "not-an-email",
        "tag_ids": [str(tags["重要 Important"]), str(tags["制造 Manufacturing"])]})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert '<p class="field-error" id="contact-email-error">Enter a valid email address.</p>' in html
    for value in ("宁波海达", "宁波", "陈静", "采购", "137 0000 1111", "not-an-email"):
        assert f'value="{value}"' in html
    assert _checked_tag_ids(html) == {tags["重要 Important"], tags["制造 Manufacturing"]}
    assert "Please correct the marked fields." in html
    _nothing_saved(app)


def test_two_tags_of_a_single_choice_group_are_refused(app, seller_client, tags):
    response = seller_client.post("/customers/new", data={
        "name": "Two tiers", "contact-name": "赵磊",
        "tag_ids": [str(tags["重要 Important"]), str(tags["普通 Ordinary"]),
                    str(tags["软件 Software"])]})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert ('<p class="field-error" id="tag_ids-error">客户等级 Value tier takes one tag only: '
            'choose one of its tags.</p>') in html
    assert _checked_tag_ids(html) == {tags["重要 Important"], tags["普通 Ordinary"],
                                      tags["软件 Software"]}
    assert 'value="赵磊"' in html
    _nothing_saved(app)
    # Two tags of the multiple-choice group are fine.
    response = seller_client.post("/customers/new", data={
        "name": "Two industries", "tag_ids": [str(tags["软件 Software"]),
                                              str(tags["制造 Manufacturing"])]})
    assert response.status_code == 303


def test_the_single_choice_message_is_in_chinese(app, make_user, login, tags):
    client = login(make_user("sales", language="zh", email="zh@example.com"))
    response = client.post("/customers/new", data={
        "name": "两个等级", "tag_ids": [str(tags["重要 Important"]), str(tags["普通 Ordinary"])]})
    assert response.status_code == 422
    assert "“客户等级 Value tier”只能选一个标签" in response.get_data(as_text=True)


@pytest.mark.parametrize("bad", ["999999", "abc", ""])
def test_an_unknown_tag_is_refused_as_missing(app, seller_client, tags, bad):
    response = seller_client.post("/customers/new", data={
        "name": "Ghost tag", "contact-name": "孙丽",
        "tag_ids": [str(tags["软件 Software"]), bad]})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "One of the chosen tags no longer exists: choose again." in html
    assert _checked_tag_ids(html) == {tags["软件 Software"]}
    _nothing_saved(app)


def test_a_deleted_tag_is_refused_as_missing(app, seller_client, tags):
    with app.app_context():
        from crm.models import Tag
        from crm.tags.services import delete_tag
        delete_tag(db.session.get(Tag, tags["制造 Manufacturing"]))
        db.session.commit()
    response = seller_client.post("/customers/new", data={
        "name": "Stale form", "tag_ids": [str(tags["制造 Manufacturing"])]})
    assert response.status_code == 422
    assert "One of the chosen tags no longer exists" in response.get_data(as_text=True)
    _nothing_saved(app)


def test_the_first_contacts_phone_or_email_finds_duplicates(app, seller, seller_client, build, tags):
    existing_id = build.customer(seller, name="Old Co", created_by=seller,
                                 contacts=[{"name": "Wang", "phone": "139 1111 2222",
                                            "email": "wang@old.com", "is_primary": True}])
    build.customer(seller, name="Phone Co", phone="021 6666 7777", created_by=seller)
    for contact, expected in (({"contact-phone": "13911112222"}, "Old Co"),
                              ({"contact-email": "WANG@old.com"}, "Old Co"),
                              ({"contact-phone": "+86 21 6666 7777"}, "Phone Co")):
        data = {"name": "Brand New", "contact-name": "张三", **contact,
                "tag_ids": [str(tags["软件 Software"])]}
        response = seller_client.post("/customers/new", data=data)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "Possible duplicates" in html and expected in html
        assert 'name="confirm_duplicate" value="1"' in html
        # everything typed is still in the form
        assert 'value="Brand New"' in html and 'value="张三"' in html
        assert f'value="{next(iter(contact.values()))}"' in html
        assert _checked_tag_ids(html) == {tags["软件 Software"]}
        with app.app_context():
            assert db.session.query(Customer).count() == 2
    # "Save anyway" saves the customer with its contact and tags.
    response = seller_client.post("/customers/new", data={**data, "confirm_duplicate": "1"})
    assert response.status_code == 303
    with app.app_context():
        customer = db.session.execute(db.select(Customer).filter_by(name="Brand New")).scalar_one()
        assert [c.name for c in customer.contacts] == ["张三"]
        assert [t.name for t in customer.tags] == ["软件 Software"]
    assert existing_id


def test_a_hidden_customer_sharing_the_contacts_phone_is_told_not_shown(app, make_user, login, build):
    other = make_user("sales", name="Other", email="other@example.com")
    build.customer(other, name="Secret Co", created_by=other,
                   contacts=[{"name": "X", "phone": "138 5555 6666", "is_primary": True}])
    client = login(make_user("sales", name="Me", email="me@example.com"))
    response = client.post("/customers/new", data={"name": "Mine", "contact-name": "Y",
                                                    "contact-phone": "13855556666"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Secret Co" not in html
    assert "A customer you cannot see" in html


def test_the_live_duplicate_check_reads_the_contacts_phone(app, admin_client, build):
    existing_id = build.customer(name="Live Co", contacts=[{"name": "Z", "email": "z@live.com",
                                                            "is_primary": True}])
    response = admin_client.get("/customers/duplicates?name=&phone=&email=&contact-phone="
                                "&contact-email=Z@live.com", headers=hx("duplicates"))
    assert response.status_code == 200 and f"/customers/{existing_id}" in response.get_data(as_text=True)


def test_the_new_form_has_the_contact_and_the_tags_and_the_edit_form_not(
        app, seller, seller_client, tags, build):
    html = seller_client.get("/customers/new").get_data(as_text=True)
    for name in ("contact-name", "contact-title", "contact-phone", "contact-email"):
        assert re.search(f'<input [^>]*id="{name}" [^>]*name="{name}"', html)
    assert html.count('id="name"') == 1  # the customer's name and the contact's have ids of their own
    # The contact is optional: its name field is not required (no asterisk, no `required`).
    contact_name = re.search(r'<input [^>]*id="contact-name"[^>]*>', html).group(0)
    assert "required" not in contact_name
    assert '<label for="contact-name">Name</label>' in html
    assert "#contact-phone, #contact-email" in html  # the live duplicate check includes them
    assert "客户等级 Value tier" in html and "one of them" in html and "any of them" in html
    assert _checked_tag_ids(html) == set()
    customer_id = build.customer(seller, created_by=seller)
    html = seller_client.get(f"/customers/{customer_id}/edit").get_data(as_text=True)
    assert "contact-name" not in html and 'name="tag_ids"' not in html


def test_without_tag_groups_there_is_no_tags_fieldset(app, seller_client):
    html = seller_client.get("/customers/new").get_data(as_text=True)
    assert 'name="tag_ids"' not in html and 'id="contact-name"' in html


def test_the_form_with_csrf_on(app, seller, tags):
    client = app.test_client()  # CSRF checks on
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, seller.id)
        session["_fresh"] = True
    data = {"name": "With token", "contact-name": "周敏", "tag_ids": [str(tags["普通 Ordinary"])]}
    assert client.post("/customers/new", data=data).status_code == 400
    _nothing_saved(app)
    token = csrf_token_from(client.get("/customers/new").get_data(as_text=True))
    response = client.post("/customers/new", data={**data, "csrf_token": token})
    assert response.status_code == 303
    with app.app_context():
        customer = db.session.execute(db.select(Customer)).scalar_one()
        assert [c.name for c in customer.contacts] == ["周敏"]
        assert [t.name for t in customer.tags] == ["普通 Ordinary"]


def test_the_services_refuse_two_tags_of_one_group_and_write_nothing(app_ctx, tags, seller):
    from crm.customers import services
    from crm.models import Tag
    from crm.rules import RuleError

    tier = [db.session.get(Tag, tags["重要 Important"]), db.session.get(Tag, tags["普通 Ordinary"])]
    with pytest.raises(RuleError) as refused:
        services.check_tags(tier)
    assert refused.value.field == "tag_ids"
    assert not db.session.new and not db.session.dirty
    services.check_tags([tier[0], db.session.get(Tag, tags["软件 Software"])])
    # set_tags without refuse_several keeps its rule: the last one wins.
    customer = factories.customer(seller, name="Last wins", commit=False)
    services.set_tags(customer, tier)
    assert customer.tags == [tier[1]]
