"""Customers and contacts: the form, duplicates, the customer page, contacts inline, permissions."""
import re
from decimal import Decimal

import pytest

from crm.extensions import db
from crm.models import Contact, Customer, Note, Opportunity, Pipeline
from tests import factories
from tests.conftest import hx, session_user_id


def get_customer(app, customer_id):
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        # touch what the assertions read, then detach
        _ = customer.contacts, customer.tags, customer.owner
        for tag in customer.tags:
            _ = tag.group
        db.session.expunge_all()
        return customer


# --- Login and permissions -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/customers", "/customers/new", "/customers/1", "/customers/1/edit"])
def test_customer_pages_need_login(client, make_user, path):
    make_user("admin")
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_htmx_request_without_login_is_sent_to_login(client, make_user):
    make_user("admin")
    response = client.get("/customers?q=x", headers=hx("customer-results"))
    assert "/login" in response.headers["HX-Redirect"]


def test_sales_cannot_edit_someone_elses_customer(app, client, make_user, login, build):
    owner = make_user("sales", name="Owner")
    other = make_user("sales", name="Other")
    customer_id = build.customer(owner, created_by=owner,
                                 contacts=[{"name": "王伟", "phone": "13800000001",
                                            "is_primary": True}])
    with app.app_context():
        contact_id = db.session.execute(db.select(Contact.id)).scalar_one()
    tag_id = build.tag()
    login(other)
    assert client.get(f"/customers/{customer_id}").status_code == 403  # issue 4: not theirs
    with app.app_context():
        from crm.permissions import set_team_sees_everything
        set_team_sees_everything(True)
        db.session.commit()
    # When the team sees everything, they see the customer, but without edit controls.
    page = client.get(f"/customers/{customer_id}")
    assert page.status_code == 200
    assert f"/customers/{customer_id}/edit" not in page.get_data(as_text=True)
    forbidden = [
        ("get", f"/customers/{customer_id}/edit", {}),
        ("post", f"/customers/{customer_id}/edit", {"name": "Hijacked"}),
        ("post", f"/customers/{customer_id}/delete", {}),
        ("post", f"/customers/{customer_id}/tags", {"tag_id": tag_id}),
        ("post", f"/customers/{customer_id}/contacts", {"name": "Intruder"}),
        ("get", f"/customers/{customer_id}/contacts/{contact_id}/edit", {}),
        ("post", f"/customers/{customer_id}/contacts/{contact_id}/edit", {"name": "X"}),
        ("post", f"/customers/{customer_id}/contacts/{contact_id}/delete", {}),
    ]
    for method, path, data in forbidden:
        for headers in ({}, hx("contacts")):
            response = getattr(client, method)(path, data=data, headers=headers)
            assert response.status_code == 403, (method, path, headers)
    customer = get_customer(app, customer_id)
    assert customer.name == "北京星辰科技" and [c.name for c in customer.contacts] == ["王伟"]
    assert customer.tags == []


def test_manager_edits_any_customer_and_sales_edit_unowned(app, client, make_user, login, build):
    owner = make_user("sales")
    customer_id = build.customer(owner, name="Acme", created_by=owner)
    seller = make_user("sales")
    # issue 4: an unowned customer is the salesperson's own when they created it.
    unowned_id = build.customer(name="Nobody's", created_by=seller)
    login(make_user("manager"))
    assert client.get(f"/customers/{customer_id}/edit").status_code == 200
    login(seller)
    assert client.get(f"/customers/{unowned_id}/edit").status_code == 200


def test_unknown_customer_is_404(client, admin_client):
    assert admin_client.get("/customers/999").status_code == 404
    assert admin_client.get("/customers/999/edit").status_code == 404


# --- Creating and editing -------------------------------------------------------------------


def test_new_customer_form_defaults_owner_to_me(client, make_user, login):
    user = make_user("sales", name="Li Na")
    make_user("sales", name="Zhang San")
    login(user)
    html = client.get("/customers/new").get_data(as_text=True)
    assert 'name="name"' in html and 'name="confirm_duplicate"' not in html
    assert f'<option selected value="{user.id}">Li Na</option>' in html


def test_create_customer_saves_every_field_and_redirects(app, client, make_user, login):
    user = make_user("sales", name="Li Na")
    login(user)
    response = client.post("/customers/new", data={
        "kind": "company", "name": "  上海云帆贸易  ", "industry": "Trade", "region": "华东",
        "city": "上海", "size": "51-200", "source": "Trade show", "phone": "021 5555 1234",
        "email": "Info@YunFan.cn", "website": "yunfan.cn", "address": "浦东新区 1 号",
        "owner_id": str(user.id), "description": "Imports machinery."})
    assert response.status_code == 303
    with app.app_context():
        customer = db.session.execute(db.select(Customer)).scalar_one()
        assert response.headers["Location"].endswith(f"/customers/{customer.id}")
        assert customer.name == "上海云帆贸易"
        assert (customer.industry, customer.region, customer.city, customer.size) == \
            ("Trade", "华东", "上海", "51-200")
        assert customer.website == "https://yunfan.cn"
        assert customer.owner_id == user.id and customer.created_by_id == user.id
        assert "shanghaiyunfanmaoyi" in customer.search_index and "shyfmy" in customer.search_index
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "上海云帆贸易" in page and "Imports machinery." in page and "Li Na" in page


def test_owner_defaults_to_the_creator_unless_nobody_is_chosen(app, client, make_user, login):
    user = make_user("sales")
    login(user)
    assert client.post("/customers/new", data={"name": "Minimal"}).status_code == 303
    assert client.post("/customers/new", data={"name": "Pool", "owner_id": ""}).status_code == 303
    with app.app_context():
        owners = dict(db.session.execute(db.select(Customer.name, Customer.owner_id)).all())
        assert owners == {"Minimal": user.id, "Pool": None}
        assert db.session.execute(db.select(Customer.kind).filter_by(name="Minimal")).scalar_one() == "company"


def test_create_without_name_is_422_with_errors_and_input_kept(client, admin_client):
    response = admin_client.post("/customers/new", data={
        "kind": "company", "name": "   ", "phone": "138 0000 0000", "email": "not-an-email",
        "city": "杭州"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter the customer" in html
    assert "Enter a valid email address." in html
    assert 'value="138 0000 0000"' in html and 'value="杭州"' in html and 'value="not-an-email"' in html
    assert "<form" in html
    with admin_client.application.app_context():
        assert db.session.query(Customer).count() == 0


def test_create_rejects_unknown_owner_and_size(client, admin_client):
    response = admin_client.post("/customers/new", data={
        "kind": "company", "name": "Acme", "owner_id": "9999", "size": "huge"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose an owner from the list." in html and "Choose a size from the list." in html


@pytest.mark.parametrize("field, existing, typed", [
    ("name", {"name": "北京星辰科技"}, {"name": "北京星辰科技"}),
    ("name", {"name": "Acme Ltd"}, {"name": "acme ltd"}),
    ("phone", {"name": "Old", "phone": "+86 138-0013-8000"}, {"name": "New", "phone": "13800138000"}),
    ("email", {"name": "Old", "email": "Sales@Acme.com"}, {"name": "New", "email": "sales@acme.com"}),
])
def test_duplicates_are_shown_before_saving(
        app, client, admin_client, field, existing, typed, build):
    existing_id = build.customer(**existing)
    response = admin_client.post("/customers/new", data={"kind": "company", **typed})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Possible duplicates" in html
    assert f'href="/customers/{existing_id}"' in html
    assert 'name="confirm_duplicate" value="1"' in html
    # the user's input is still in the form
    for value in typed.values():
        assert f'value="{value}"' in html
    with app.app_context():
        assert db.session.query(Customer).count() == 1
    # "Save anyway"
    response = admin_client.post("/customers/new", data={"kind": "company", "confirm_duplicate": "1", **typed})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.query(Customer).count() == 2


def test_a_contacts_phone_or_email_counts_as_duplicate(app, client, admin_client, build):
    existing_id = build.customer(name="Acme",
                                 contacts=[{"name": "Wang Wei", "phone": "139 1111 2222",
                                            "email": "wang@acme.com", "is_primary": True}])
    for data in ({"name": "Other", "phone": "13911112222"}, {"name": "Other", "email": "WANG@acme.com"}):
        html = admin_client.post("/customers/new", data={"kind": "company", **data}).get_data(as_text=True)
        assert "Possible duplicates" in html and f"/customers/{existing_id}" in html


@pytest.mark.parametrize("existing, typed", [
    ("北京星辰科技有限公司", "星辰科技"),      # the typed name inside an existing one
    ("星辰科技", "北京星辰科技有限公司"),      # an existing name inside the typed one
])
def test_a_name_inside_another_counts_as_duplicate(
        app, client, admin_client, existing, typed, build):
    existing_id = build.customer(name=existing)
    html = admin_client.post("/customers/new", data={"kind": "company", "name": typed}).get_data(as_text=True)
    assert "Possible duplicates" in html and f"/customers/{existing_id}" in html


def test_short_names_only_match_exactly(app, client, admin_client, build):
    build.customer(name="ABC Trading")
    assert admin_client.post("/customers/new", data={"name": "ABC"}).status_code == 303


def test_no_duplicate_warning_for_a_new_name(app, client, admin_client, build):
    build.customer(name="Acme", phone="13800138000")
    response = admin_client.post("/customers/new", data={"kind": "company", "name": "Beta Corp",
                                                         "phone": "021-1234"})
    assert response.status_code == 303


def test_live_duplicate_check_fragment(app, client, admin_client, build):
    existing_id = build.customer(name="北京星辰科技")
    response = admin_client.get("/customers/duplicates?name=北京星辰科技&phone=&email=",
                                headers=hx("duplicates"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f"/customers/{existing_id}" in html and "Save anyway" not in html
    # Editing the customer itself does not warn about itself
    html = admin_client.get(f"/customers/duplicates?name=北京星辰科技&exclude={existing_id}").get_data(as_text=True)
    assert "Possible duplicates" not in html


def test_edit_customer_updates_profile_and_search_index(app, client, make_user, login, build):
    user = make_user("sales")
    customer_id = build.customer(user, name="Old name", created_by=user)
    login(user)
    form = client.get(f"/customers/{customer_id}/edit").get_data(as_text=True)
    assert 'value="Old name"' in form
    response = client.post(f"/customers/{customer_id}/edit", data={
        "kind": "individual", "name": "杭州明月", "owner_id": str(user.id), "email": "a@b.cn"})
    assert response.status_code == 303
    customer = get_customer(app, customer_id)
    assert customer.name == "杭州明月" and customer.kind == "individual"
    assert "hangzhoumingyue" in customer.search_index and "old" not in customer.search_index
    bad = client.post(f"/customers/{customer_id}/edit", data={"kind": "company", "name": ""})
    assert bad.status_code == 422


def test_edit_same_name_as_itself_is_not_a_duplicate(app, client, admin_client, build):
    customer_id = build.customer(name="Acme")
    response = admin_client.post(f"/customers/{customer_id}/edit", data={"kind": "company", "name": "Acme"})
    assert response.status_code == 303


def test_delete_customer(app, client, make_user, login, build):
    user = make_user("sales")
    customer_id = build.customer(user, contacts=[{"name": "A", "is_primary": True}])
    with app.app_context():
        stage = db.session.execute(db.select(Pipeline)).scalar_one().stages[0]
        db.session.add(Opportunity(title="Deal", customer_id=customer_id, pipeline_id=stage.pipeline_id,
                                   stage_id=stage.id))
        contact_id = db.session.execute(db.select(Contact.id)).scalar_one()
        db.session.add(Note(kind="call", body="x", customer_id=customer_id, contact_id=contact_id))
        db.session.commit()
    login(user)
    response = client.post(f"/customers/{customer_id}/delete")
    assert response.status_code == 303 and response.headers["Location"].endswith("/customers")
    with app.app_context():
        assert db.session.query(Customer).count() == 0 and db.session.query(Contact).count() == 0
        assert db.session.query(Opportunity).count() == 0 and db.session.query(Note).count() == 0
    assert client.get(f"/customers/{customer_id}/delete").status_code == 405


# --- The customer page ----------------------------------------------------------------------


def test_customer_page_shows_profile_tags_by_group_contacts_notes_and_opportunities(
        app, client, admin_client, build):
    industry = build.tag("行业 Industry", "制造 Manufacturing")
    tier = build.tag("客户等级 Value tier", "重要 Important", multiple=False)
    customer_id = build.customer(tags=[industry, tier], industry="Manufacturing",
                                 contacts=[{"name": "王伟", "phone": "13800000001",
                                            "email": "wang@xc.cn", "is_primary": True}])
    with app.app_context():
        stage = db.session.execute(db.select(Pipeline)).scalar_one().stages[0]
        db.session.add(Opportunity(title="ERP rollout", customer_id=customer_id, pipeline_id=stage.pipeline_id,
                                   stage_id=stage.id, amount=Decimal("120000.00"), currency="CNY"))
        db.session.add(Note(kind="call", body="Called about the ERP rollout", customer_id=customer_id))
        db.session.commit()
    response = admin_client.get(f"/customers/{customer_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" in html and "北京星辰科技" in html
    assert "行业 Industry" in html and "制造 Manufacturing" in html
    assert "客户等级 Value tier" in html and "重要 Important" in html
    assert "王伟" in html and "tel:13800000001" in html
    assert "Called about the ERP rollout" in html and 'id="note-form"' in html
    assert "ERP rollout" in html and "Discover" in html and "120,000.00" in html


def test_customer_page_queries_do_not_grow_with_contacts_tags_and_notes(
        app, client, admin, login, build):
    from tests.conftest import count_queries

    customer_id = build.customer(tags=[build.tag("G1", "T1"), build.tag("G2", "T2")],
                                 contacts=[{"name": "A", "is_primary": True}])

    def add(count):
        with app.app_context():
            customer = db.session.get(Customer, customer_id)
            for n in range(count):
                customer.contacts.append(Contact(name=f"C{n}"))
                db.session.add(Note(kind="call", body=f"n{n}", customer_id=customer_id, author_id=admin.id))
            stage = db.session.execute(db.select(Pipeline)).scalar_one().stages[n % 3]
            db.session.add(Opportunity(title=f"O{count}", customer_id=customer_id,
                                       pipeline_id=stage.pipeline_id, stage_id=stage.id))
            db.session.commit()

    def queries():
        login(admin)
        with app.app_context():
            with count_queries(db.engine) as statements:
                assert client.get(f"/customers/{customer_id}").status_code == 200
        return len(statements)

    add(2)
    queries()
    few = queries()
    add(30)
    assert queries() == few


def add_opportunities(app, customer_id, titles, *, won=(), owner_id=None):
    """Opportunities of the customer with these titles, each created a minute after the one
    before (the last is the newest); those in `won` are won (closed)."""
    from datetime import timedelta

    from crm.models import utcnow
    with app.app_context():
        stages = factories.stages()
        start = utcnow() - timedelta(days=1)
        for i, title in enumerate(titles):
            factories.opportunity(
                customer_id, owner_id, title=title, amount="100.00", history=False,
                stage=stages["signed" if title in won else "discover"],
                created_at=start + timedelta(minutes=i), closed_at=start if title in won else None,
                commit=False)
        db.session.commit()


def opportunities_section(html: str) -> str:
    section = html[html.index('id="opportunities"'):]
    return section[:section.index("</section>")]


def test_customer_page_shows_the_first_20_opportunities_and_links_to_all(
        app, client, admin_client, build):
    """A big account's page stays short: open ones first, then the newest, 20 of them; the
    heading counts them all and "All N opportunities" leads to the list of this customer's."""
    from crm.customers.queries import OPPORTUNITIES_SHOWN
    assert OPPORTUNITIES_SHOWN == 20
    customer_id = build.customer()
    titles = [f"Deal {i:02d}" for i in range(23)]
    add_opportunities(app, customer_id, titles, won=("Deal 21", "Deal 22"))  # the newest two won
    section = opportunities_section(admin_client.get(f"/customers/{customer_id}").get_data(as_text=True))
    assert "Opportunities <span class=\"muted\">(23)</span>" in section
    assert section.count("<tr") == 21  # the header row and 20 opportunities
    shown = [t for t in titles if f">{t}</a>" in section]
    assert shown == [f"Deal {i:02d}" for i in range(1, 21)]  # open ones, not the oldest, no won one
    assert section.index("Deal 20") < section.index("Deal 19") < section.index("Deal 01")
    assert f'href="/opportunities?customer={customer_id}">All 23 opportunities</a>' in section

    # One in the trash is neither shown nor counted.
    with app.app_context():
        from crm.models import utcnow
        db.session.execute(db.update(Opportunity).where(Opportunity.title == "Deal 20")
                           .values(deleted_at=utcnow()))
        db.session.commit()
    section = opportunities_section(admin_client.get(f"/customers/{customer_id}").get_data(as_text=True))
    assert "(22)" in section and "All 22 opportunities" in section
    assert [t for t in titles if f">{t}</a>" in section] == [f"Deal {i:02d}" for i in range(20)]

    # A big number is written as the language writes numbers, in the heading and the link.
    add_opportunities(app, customer_id, [f"More {i}" for i in range(1000)])
    section = opportunities_section(admin_client.get(f"/customers/{customer_id}").get_data(as_text=True))
    assert "(1,022)" in section and "All 1,022 opportunities" in section
    assert section.count("<tr") == 21


@pytest.mark.parametrize("count", [0, 3, 20])
def test_customer_page_without_more_opportunities_has_no_link(
        app, client, admin_client, count, build):
    customer_id = build.customer()
    add_opportunities(app, customer_id, [f"Deal {i:02d}" for i in range(count)])
    section = opportunities_section(admin_client.get(f"/customers/{customer_id}").get_data(as_text=True))
    assert f"({count})" in section and section.count("<tr") == (count + 1 if count else 0)
    assert "/opportunities?customer=" not in section and "All " not in section
    if not count:
        assert "No opportunities yet." in section


def test_customer_page_counts_only_the_opportunities_the_user_may_see(
        app, client, make_user, login, build):
    """A salesperson who sees a colleague's customer through one deal of theirs sees that deal
    only: it is the count, and no link to the others."""
    seller = make_user("sales", email="seller@example.com")
    colleague = make_user("sales", email="colleague@example.com")
    customer_id = build.customer(colleague)
    add_opportunities(app, customer_id, [f"Theirs {i:02d}" for i in range(25)], owner_id=colleague.id)
    add_opportunities(app, customer_id, ["Mine"], owner_id=seller.id)
    login(seller)
    section = opportunities_section(client.get(f"/customers/{customer_id}").get_data(as_text=True))
    assert "(1)" in section and ">Mine</a>" in section and "Theirs" not in section
    assert "/opportunities?customer=" not in section
    login(colleague)
    section = opportunities_section(client.get(f"/customers/{customer_id}").get_data(as_text=True))
    assert "(26)" in section and "All 26 opportunities" in section


def test_new_note_on_customer_page_comes_back_as_a_fragment(app, client, admin_client, build):
    customer_id = build.customer()
    response = admin_client.post("/notes", data={"kind": "visit", "body": "Visited the plant",
                                                 "customer_id": str(customer_id)},
                                 headers=hx("timeline-items"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Visited the plant" in html and "<html" not in html
    assert "Visited the plant" in admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)


# --- Contacts inline ------------------------------------------------------------------------


def test_add_contacts_inline_first_is_primary_and_search_follows(app, client, admin_client, build):
    customer_id = build.customer(name="Acme")
    response = admin_client.post(f"/customers/{customer_id}/contacts",
                                 data={"name": "张伟", "title": "CTO", "phone": "139 2222 3333",
                                       "email": "zhang@acme.com"}, headers=hx("contacts"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="contacts"' in html and "张伟" in html and "CTO" in html
    response = admin_client.post(f"/customers/{customer_id}/contacts",
                                 data={"name": "李娜", "phone": "", "email": ""}, headers=hx("contacts"))
    assert "李娜" in response.get_data(as_text=True)
    customer = get_customer(app, customer_id)
    assert [(c.name, c.is_primary) for c in customer.contacts] == [("张伟", True), ("李娜", False)]
    assert "zhangwei" in customer.search_index and "13922223333" in customer.search_index
    assert "lina" in customer.search_index


def test_only_one_primary_contact(app, client, admin_client, build):
    customer_id = build.customer(contacts=[{"name": "A", "is_primary": True}, {"name": "B"}])
    with app.app_context():
        b_id = db.session.execute(db.select(Contact.id).filter_by(name="B")).scalar_one()
    response = admin_client.post(f"/customers/{customer_id}/contacts/{b_id}/edit",
                                 data={"name": "B", "is_primary": "y"}, headers=hx("contacts"))
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    response = admin_client.post(f"/customers/{customer_id}/contacts",
                                 data={"name": "C", "is_primary": "y"}, headers=hx("contacts"))
    customer = get_customer(app, customer_id)
    assert [(c.name, c.is_primary) for c in customer.contacts] == [("C", True), ("A", False), ("B", False)]


def test_add_contact_without_name_is_422_with_input_kept(app, client, admin_client, build):
    customer_id = build.customer()
    response = admin_client.post(f"/customers/{customer_id}/contacts",
                                 data={"name": "", "phone": "13700000000", "email": "bad"},
                                 headers=hx("contacts"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter the contact" in html and "Enter a valid email address." in html
    assert 'value="13700000000"' in html and "<html" not in html
    # Without JavaScript: the whole page, 422, the form open with the errors
    response = admin_client.post(f"/customers/{customer_id}/contacts", data={"name": "", "phone": "137"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "Enter the contact" in html and "<details class=\"contact-add\" open>" in html


def test_contact_without_javascript_redirects_back(app, client, admin_client, build):
    customer_id = build.customer()
    response = admin_client.post(f"/customers/{customer_id}/contacts", data={"name": "Zhao"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/customers/{customer_id}#contacts")


def test_edit_contact_inline_fragment_and_full_page(app, client, admin_client, build):
    customer_id = build.customer(contacts=[{"name": "A", "phone": "111", "is_primary": True}])
    with app.app_context():
        contact_id = db.session.execute(db.select(Contact.id)).scalar_one()
    url = f"/customers/{customer_id}/contacts/{contact_id}/edit"
    fragment = admin_client.get(url, headers=hx(f"contact-{contact_id}"))
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in html
    assert f'id="contact-{contact_id}"' in html and 'value="A"' in html
    page = admin_client.get(url)
    assert page.status_code == 200 and "<html" in page.get_data(as_text=True)
    bad = admin_client.post(url, data={"name": "", "phone": "222"}, headers=hx(f"contact-{contact_id}"))
    assert bad.status_code == 422 and bad.headers["HX-Retarget"] == f"#contact-{contact_id}"
    assert 'value="222"' in bad.get_data(as_text=True)
    ok = admin_client.post(url, data={"name": "A. Wang", "title": "CEO", "phone": "333",
                                      "is_primary": "y"}, headers=hx(f"contact-{contact_id}"))
    assert ok.status_code == 200 and "A. Wang" in ok.get_data(as_text=True)
    customer = get_customer(app, customer_id)
    assert customer.contacts[0].title == "CEO" and "a.wang" in customer.search_index


def test_delete_contact_moves_primary_to_the_next(app, client, admin_client, build):
    customer_id = build.customer(contacts=[{"name": "A", "phone": "111", "is_primary": True},
                                           {"name": "B", "phone": "222"}])
    with app.app_context():
        a_id = db.session.execute(db.select(Contact.id).filter_by(name="A")).scalar_one()
    response = admin_client.post(f"/customers/{customer_id}/contacts/{a_id}/delete", headers=hx("contacts"))
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    customer = get_customer(app, customer_id)
    assert [(c.name, c.is_primary) for c in customer.contacts] == [("B", True)]
    assert "111" not in customer.search_index


def test_contact_of_another_customer_is_404(app, client, admin_client, build):
    first = build.customer(name="First", contacts=[{"name": "A", "is_primary": True}])
    second = build.customer(name="Second")
    with app.app_context():
        contact_id = db.session.execute(db.select(Contact.id)).scalar_one()
    assert first
    assert admin_client.get(f"/customers/{second}/contacts/{contact_id}/edit").status_code == 404
    assert admin_client.post(f"/customers/{second}/contacts/{contact_id}/delete").status_code == 404


def test_contacts_list_fragment_for_cancel(app, client, admin_client, build):
    customer_id = build.customer(contacts=[{"name": "A", "is_primary": True}])
    response = admin_client.get(f"/customers/{customer_id}/contacts", headers=hx("contacts"))
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    assert admin_client.get(f"/customers/{customer_id}/contacts").status_code == 302


def test_forms_need_the_csrf_token(app, admin):
    from tests.conftest import csrf_token_from

    client = app.test_client()  # CSRF checks on
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, admin.id)
        session["_fresh"] = True
    assert client.post("/customers/new", data={"name": "No token"}).status_code == 400
    token = csrf_token_from(client.get("/customers/new").get_data(as_text=True))
    response = client.post("/customers/new", data={"name": "With token", "csrf_token": token})
    assert response.status_code == 303
    customer_id = int(response.headers["Location"].rsplit("/", 1)[1])
    # htmx sends the token in a header
    page = client.get(f"/customers/{customer_id}").get_data(as_text=True)
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post(f"/customers/{customer_id}/contacts", data={"name": "Wang"},
                           headers={**hx("contacts"), "X-CSRFToken": header_token})
    assert response.status_code == 200 and "Wang" in response.get_data(as_text=True)


def test_contact_edit_page_of_its_own_is_a_plain_form(app, client, make_user, login):
    """Opened as a page (no htmx), the contact form posts normally: there is no #contacts there."""
    from crm.extensions import db as _db
    from crm.models import Contact, Customer
    user = make_user("sales")
    login(user)
    with app.app_context():
        customer = Customer(name="Plain Form Co", owner_id=user.id, created_by_id=user.id)
        customer.contacts.append(Contact(name="Li Na", is_primary=True))
        _db.session.add(customer)
        _db.session.commit()
        customer_id, contact_id = customer.id, customer.contacts[0].id
    html = client.get(f"/customers/{customer_id}/contacts/{contact_id}/edit").get_data(as_text=True)
    form = html.split('id="contact-', 1)[1].split("</form>", 1)[0]
    assert 'hx-target="#contacts"' not in form and 'method="post"' in form
    fragment = client.get(f"/customers/{customer_id}/contacts/{contact_id}/edit",
                          headers={"HX-Request": "true", "HX-Target": f"contact-{contact_id}"})
    assert 'hx-target="#contacts"' in fragment.get_data(as_text=True)
