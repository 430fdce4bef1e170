"""Custom fields (issue 10) over HTTP: define, fill, show, edit in place, filter, sort, change
type, delete and restore a field, and the restricted-field permission."""
import re

import pytest

from crm.extensions import db
from crm.models import AuditEntry, Customer, CustomField, CustomFieldOption
from tests.conftest import hx


def define(client, record_type="customer", **values):
    data = {"label_zh": "", "label_en": "Field", "type": "text", "key": ""}
    data.update(values)
    options = data.pop("options", [])
    for option in options:
        zh, en = option if isinstance(option, tuple) else ("", option)
        data.setdefault("opt_id", []).append("")
        data.setdefault("opt_label_zh", []).append(zh)
        data.setdefault("opt_label_en", []).append(en)
        data.setdefault("opt_colour", []).append("#336699")
        data.setdefault("opt_position", []).append(str(len(data["opt_id"])))
    for flag in ("required", "show_in_list", "filterable", "restricted"):
        if data.get(flag) is False:
            data.pop(flag)
        elif data.get(flag) is True:
            data[flag] = "y"
    return client.post(f"/admin/fields/new?type={record_type}", data=data)


def field_of(app, key, record_type="customer"):
    with app.app_context():
        field = db.session.execute(db.select(CustomField).where(
            CustomField.key == key, CustomField.record_type == record_type)).scalar_one()
        db.session.expunge(field)
        return field


def custom_of(app, customer_id):
    with app.app_context():
        return db.session.get(Customer, customer_id).custom


def test_an_admin_defines_a_field_with_a_key_from_its_label(admin_client, app):
    response = define(admin_client, label_zh="客户来源渠道", label_en="", type="text")
    assert response.status_code in (302, 303)
    assert field_of(app, "ke_hu_lai_yuan_qu_dao").label("en") == "客户来源渠道"
    page = admin_client.get("/admin/fields?type=customer").get_data(as_text=True)
    assert "cf_ke_hu_lai_yuan_qu_dao" in page


@pytest.mark.parametrize("key", ["name", "owner_id", "select", "order", "9lives", "Bad-Key"])
def test_keys_that_clash_are_refused(admin_client, key):
    response = define(admin_client, label_en="Anything", key=key)
    assert response.status_code == 422
    assert "field-error" in response.get_data(as_text=True)


def test_a_salesperson_may_not_define_fields(client, login, seller):
    login(seller)
    assert client.get("/admin/fields").status_code == 403
    assert define(client, label_en="Mine").status_code == 403


def test_fill_show_and_audit_a_choice_field(admin_client, app, build, admin):
    define(admin_client, label_en="Channel", label_zh="渠道", type="choice", key="channel",
           options=[("网站", "Website"), ("展会", "Trade show")], show_in_list=True, filterable=True)
    page = admin_client.get("/customers/new").get_data(as_text=True)
    assert 'name="cf_channel"' in page
    response = admin_client.post("/customers/new", data={
        "kind": "company", "name": "星辰", "owner_id": str(admin.id), "cf_channel": "trade_show",
        "confirm_duplicate": "1"})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:3000]
    customer_id = int(re.search(r"/customers/(\d+)", response.headers["Location"]).group(1))
    assert custom_of(app, customer_id) == {"channel": "trade_show"}
    show = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert "Trade show" in show
    # edit in place
    editor = admin_client.get(f"/fields/customer/{customer_id}/channel/edit", headers=hx())
    assert editor.status_code == 200
    version = re.search(r'name="version" type="hidden" value="(\d+)"', editor.get_data(as_text=True)).group(1)
    saved = admin_client.post(f"/fields/customer/{customer_id}/channel", headers=hx(),
                              data={"version": version, "cf_channel": "website"})
    assert saved.status_code == 200 and "Website" in saved.get_data(as_text=True)
    assert custom_of(app, customer_id) == {"channel": "website"}
    with app.app_context():
        entry = db.session.execute(db.select(AuditEntry).where(
            AuditEntry.entity == "customers", AuditEntry.action == "update")).scalars().all()
        assert [(e.field, e.old_value, e.new_value) for e in entry] == [
            ("cf_channel:Channel", "Trade show", "Website")]
    history = admin_client.get(f"/audit/customers/{customer_id}").get_data(as_text=True)
    assert "Channel" in history and "cf_channel" not in history
    # a stale second save: 409 with both values
    stale = admin_client.post(f"/fields/customer/{customer_id}/channel", headers=hx(),
                              data={"version": version, "cf_channel": "trade_show"})
    assert stale.status_code == 409
    body = stale.get_data(as_text=True)
    assert "Website" in body and "Trade show" in body and "data-conflict" in body
    assert custom_of(app, customer_id) == {"channel": "website"}


@pytest.mark.parametrize("kind, raw", [
    ("integer", "12abc"), ("date", "2026-02-30"), ("choice", "nope"), ("text", "x" * 1_000_000),
    ("money", "1" + "0" * 40), ("decimal", "1e5"), ("email", "not-an-email"), ("url", "ht tp://x"),
], ids=lambda value: str(value)[:12])
def test_bad_input_is_refused_beside_the_field_and_nothing_is_saved(admin_client, app, admin, kind, raw):
    define(admin_client, label_en="Value", type=kind, key="value", options=["One"])
    response = admin_client.post("/customers/new", data={
        "kind": "company", "name": "Bad input Ltd", "owner_id": str(admin.id), "cf_value": raw,
        "confirm_duplicate": "1"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert re.search(r'id="cf_value-error"', body)
    with app.app_context():
        assert db.session.execute(db.select(Customer)).first() is None


def test_filter_and_sort_the_list_on_a_custom_field(admin_client, app, admin, build):
    define(admin_client, label_en="Fleet size", type="integer", key="fleet", show_in_list=True,
           filterable=True)
    ids = {}
    for name, fleet in (("Small", 3), ("Big", 300), ("Mid", 40), ("None", None)):
        ids[name] = build.customer(admin, name=name, custom={"fleet": fleet} if fleet else {})
    page = admin_client.get("/customers?cf_fleet_min=10&sort=cf_fleet").get_data(as_text=True)
    assert page.index(">Mid<") < page.index(">Big<")
    assert ">Small<" not in page and ">None<" not in page
    page = admin_client.get("/customers?sort=-cf_fleet").get_data(as_text=True)
    assert page.index(">Big<") < page.index(">Mid<") < page.index(">Small<") < page.index(">None<")
    page = admin_client.get("/customers?cf_fleet=__empty__").get_data(as_text=True)
    assert ">None<" in page and ">Big<" not in page
    # the "Filters and sort" badge counts a custom range once, with the sort beside it
    page = admin_client.get("/customers?cf_fleet_min=10&cf_fleet_max=500&sort=cf_fleet").get_data(as_text=True)
    badge = page.split('class="filters-toggle-label', 1)[1].split("</label>", 1)[0]
    assert 'class="badge badge-primary">2<' in badge
    # a segment keeps the filter
    admin_client.post("/customers/segments", data={"name": "Fleets", "query": "cf_fleet_min=10"})
    with app.app_context():
        from crm.models import Segment
        assert db.session.execute(db.select(Segment.query)).scalar_one() == "cf_fleet_min=10"


def test_multi_choice_filter_any_and_all(admin_client, app, admin, build):
    define(admin_client, label_en="Products", type="multi_choice", key="products", filterable=True,
           options=["Alpha", "Beta", "Gamma"])
    build.customer(admin, name="AB", custom={"products": ["alpha", "beta"]})
    build.customer(admin, name="B only", custom={"products": ["beta"]})
    build.customer(admin, name="G only", custom={"products": ["gamma"]})
    page = admin_client.get("/customers?cf_products=alpha&cf_products=beta").get_data(as_text=True)
    assert ">AB<" in page and ">B only<" in page and ">G only<" not in page
    page = admin_client.get("/customers?cf_products=alpha&cf_products=beta&cf_products_match=all").get_data(as_text=True)
    assert ">AB<" in page and ">B only<" not in page


def test_change_type_only_when_every_value_converts(admin_client, app, admin, build):
    define(admin_client, label_en="Count", type="text", key="count_text")
    field = field_of(app, "count_text")
    first = build.customer(admin, name="One", custom={"count_text": "12"})
    build.customer(admin, name="Two", custom={"count_text": "many"})
    response = admin_client.post(f"/admin/fields/{field.id}/edit", data={
        "label_en": "Count", "type": "integer", "key": "count_text"})
    assert response.status_code == 422
    assert "1 stored values would not convert" in response.get_data(as_text=True)
    assert field_of(app, "count_text").type == "text"
    with app.app_context():
        customer = db.session.execute(db.select(Customer).where(Customer.name == "Two")).scalar_one()
        customer.custom = {}
        db.session.commit()
    response = admin_client.post(f"/admin/fields/{field.id}/edit", data={
        "label_en": "Count", "type": "integer", "key": "count_text"})
    assert response.status_code in (302, 303)
    assert field_of(app, "count_text").type == "integer"
    assert custom_of(app, first) == {"count_text": 12}


def test_delete_asks_with_the_count_then_trash_and_restore_keep_values(admin_client, app, admin, build):
    define(admin_client, label_en="Contract no", type="text", key="contract_no")
    field = field_of(app, "contract_no")
    customer_id = build.customer(admin, name="Holder", custom={"contract_no": "HT-1"})
    confirm = admin_client.post(f"/admin/fields/{field.id}/delete")
    assert confirm.status_code == 200 and "1 record holds a value" in confirm.get_data(as_text=True)
    assert field_of(app, "contract_no").deleted_at is None
    admin_client.post(f"/admin/fields/{field.id}/delete", data={"confirm": "1"})
    assert field_of(app, "contract_no").deleted_at is not None
    assert "HT-1" not in admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    admin_client.post(f"/admin/fields/{field.id}/restore")
    assert "HT-1" in admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    admin_client.post(f"/admin/fields/{field.id}/delete", data={"confirm": "1"})
    admin_client.post(f"/admin/fields/{field.id}/purge")
    assert custom_of(app, customer_id) == {}


def test_a_deleted_field_waits_on_the_trash_page_for_admins_and_is_restored_there(
        admin_client, client, login, seller, app, admin, build):
    define(admin_client, label_en="Contract no", type="text", key="contract_no")
    field = field_of(app, "contract_no")
    customer_id = build.customer(admin, name="Holder", custom={"contract_no": "HT-7"})
    admin_client.post(f"/admin/fields/{field.id}/delete", data={"confirm": "1"})
    trash = admin_client.get("/trash").get_data(as_text=True)
    section = trash.split('id="trash-fields"', 1)[1].split("</section>", 1)[0]
    assert "Contract no" in section and "cf_contract_no" in section and "30 days" in section
    assert 'id="trash-fields"' not in admin_client.get("/trash?kind=customer").get_data(as_text=True)
    restored = admin_client.post(f"/admin/fields/{field.id}/restore", data={"next": "trash"})
    assert restored.status_code == 303 and restored.headers["Location"].endswith("/trash")
    assert field_of(app, "contract_no").deleted_at is None
    assert "HT-7" in admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    admin_client.post(f"/admin/fields/{field.id}/delete", data={"confirm": "1"})
    purged = admin_client.post(f"/admin/fields/{field.id}/purge", data={"next": "trash"},
                               headers={"HX-Request": "true"})
    assert purged.headers.get("HX-Redirect", "").endswith("/trash")
    assert custom_of(app, customer_id) == {}
    assert 'id="trash-fields"' not in admin_client.get("/trash").get_data(as_text=True)
    define(admin_client, label_en="Second", type="text", key="second")
    second = field_of(app, "second")
    admin_client.post(f"/admin/fields/{second.id}/delete", data={"confirm": "1"})
    login(seller)  # the same test client, now a salesperson: no section, no restore
    assert 'id="trash-fields"' not in client.get("/trash").get_data(as_text=True)
    assert client.post(f"/admin/fields/{second.id}/restore", data={"next": "trash"}).status_code == 403
    assert field_of(app, "second").deleted_at is not None


def test_trash_and_restore_of_a_customer_keep_its_values(admin_client, app, admin, build):
    define(admin_client, label_en="Contract no", type="text", key="contract_no")
    customer_id = build.customer(admin, name="Holder", custom={"contract_no": "HT-9"})
    admin_client.post(f"/customers/{customer_id}/delete")
    with app.app_context():
        from crm.trash.services import restore
        from crm.trash.filters import INCLUDE_DELETED
        customer = db.session.execute(db.select(Customer).execution_options(
            **{INCLUDE_DELETED: True})).scalar_one()
        restore(customer.deleted_batch, admin)
        db.session.commit()
    assert custom_of(app, customer_id) == {"contract_no": "HT-9"}


def test_search_finds_text_custom_values(admin_client, app, admin):
    define(admin_client, label_en="Contract no", type="text", key="contract_no")
    admin_client.post("/customers/new", data={"kind": "company", "name": "星辰", "owner_id": str(admin.id),
                                              "cf_contract_no": "HT-2026-0042", "confirm_duplicate": "1"})
    page = admin_client.get("/customers?q=ht-2026-0042").get_data(as_text=True)
    assert ">星辰<" in page


def test_restricted_fields_are_hidden_from_salespeople(admin_client, client, login, app, admin, seller, build):
    define(admin_client, label_en="Margin", type="decimal", key="margin", restricted=True,
           show_in_list=True, filterable=True)
    customer_id = build.customer(seller, name="Seller's", custom={"margin": "0.35"})
    admin_client.get("/admin/fields")  # (the flash of the saved field)
    login(seller)
    assert "Margin" not in client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert "cf_margin" not in client.get(f"/customers/{customer_id}/edit").get_data(as_text=True)
    listing = client.get("/customers?cf_margin_min=0.9").get_data(as_text=True)
    assert ">Seller&#39;s<" in listing or "Seller's" in listing  # the filter is ignored
    assert "Margin" not in listing
    assert client.get(f"/fields/customer/{customer_id}/margin", headers=hx()).status_code == 404
    assert client.post(f"/fields/customer/{customer_id}/margin", headers=hx(),
                       data={"cf_margin": "0.1"}).status_code == 404
    # saving the form leaves the hidden value alone
    client.post(f"/customers/{customer_id}/edit", data={"kind": "company", "name": "Seller's",
                                                        "owner_id": str(seller.id)})
    assert custom_of(app, customer_id) == {"margin": "0.35"}


def test_opportunities_have_custom_fields_on_form_page_and_list(admin_client, app, admin, build):
    define(admin_client, record_type="opportunity", label_en="Decision date", label_zh="决策日期",
           type="date", key="decision", show_in_list=True, filterable=True)
    customer_id = build.customer(admin, name="星辰")
    form = admin_client.get(f"/opportunities/new?customer_id={customer_id}").get_data(as_text=True)
    assert 'name="cf_decision"' in form
    early = build.opportunity(customer_id, admin, title="Early deal", custom={"decision": "2026-01-10"})
    late = build.opportunity(customer_id, admin, title="Late deal", custom={"decision": "2026-06-01"})
    page = admin_client.get(f"/opportunities/{early}").get_data(as_text=True)
    assert "Decision date" in page and "Jan 10, 2026" in page
    listing = admin_client.get("/opportunities?cf_decision_min=2026-03-01").get_data(as_text=True)
    assert "Late deal" in listing and "Early deal" not in listing
    listing = admin_client.get("/opportunities?sort=-cf_decision").get_data(as_text=True)
    assert listing.index("Late deal") < listing.index("Early deal")
    editor = admin_client.get(f"/fields/opportunity/{late}/decision/edit", headers=hx())
    version = re.search(r'name="version" type="hidden" value="(\d+)"', editor.get_data(as_text=True)).group(1)
    refused = admin_client.post(f"/fields/opportunity/{late}/decision", headers=hx(),
                                data={"version": version, "cf_decision": "2026-02-30"})
    assert refused.status_code == 422 and "field-error" in refused.get_data(as_text=True)
    saved = admin_client.post(f"/fields/opportunity/{late}/decision", headers=hx(),
                              data={"version": version, "cf_decision": "2026-07-01"})
    assert saved.status_code == 200
    with app.app_context():
        from crm.models import Opportunity
        assert db.session.get(Opportunity, late).custom == {"decision": "2026-07-01"}


def test_contacts_have_custom_fields(admin_client, app, admin, build):
    define(admin_client, record_type="contact", label_en="WeChat", type="text", key="wechat")
    customer_id = build.customer(admin, name="星辰")
    page = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert 'name="cf_wechat"' in page
    response = admin_client.post(f"/customers/{customer_id}/contacts", data={
        "name": "王芳", "cf_wechat": "wangfang88"})
    assert response.status_code in (302, 303)
    with app.app_context():
        from crm.models import Contact
        contact = db.session.execute(db.select(Contact)).scalar_one()
        assert contact.custom == {"wechat": "wangfang88"}
    page = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert "cf-contact-values" in page and "wangfang88" in page
    # the customer's search finds its contact's text fields
    assert ">星辰<" in admin_client.get("/customers?q=wangfang88").get_data(as_text=True)


def test_purge_trash_deletes_fields_deleted_30_days_ago(admin_client, app, admin, build):
    from datetime import timedelta

    from crm.models import utcnow
    from crm.trash.cli import purge_trash_command
    define(admin_client, label_en="Old", type="text", key="old_field")
    define(admin_client, label_en="Recent", type="text", key="recent_field")
    customer_id = build.customer(admin, name="Holder", custom={"old_field": "a", "recent_field": "b"})
    with app.app_context():
        for key, days in (("old_field", 31), ("recent_field", 2)):
            field = db.session.execute(db.select(CustomField).where(CustomField.key == key)).scalar_one()
            field.deleted_at = utcnow() - timedelta(days=days)
        db.session.commit()
    result = app.test_cli_runner().invoke(purge_trash_command)
    assert "and 1 custom field(s)" in result.output
    assert custom_of(app, customer_id) == {"recent_field": "b"}
    with app.app_context():
        assert [f.key for f in db.session.execute(db.select(CustomField)).scalars()] == ["recent_field"]


def test_options_in_use_are_retired_not_deleted_and_keys_lock_once_used(admin_client, app, admin, build):
    define(admin_client, label_en="Size", type="choice", key="size_band", options=["Small", "Large"])
    field = field_of(app, "size_band")
    build.customer(admin, name="Holder", custom={"size_band": "small"})
    with app.app_context():
        options = db.session.execute(db.select(CustomFieldOption).order_by(CustomFieldOption.id)).scalars().all()
        small_id = options[0].id
    # the editor posts only "Large": "Small" is in use, so it stays, retired
    response = admin_client.post(f"/admin/fields/{field.id}/edit", data={
        "label_en": "Size", "type": "choice", "key": "size_band", "opt_id": [str(options[1].id)],
        "opt_label_zh": [""], "opt_label_en": ["Large"], "opt_colour": ["#123456"], "opt_position": ["1"]})
    assert response.status_code in (302, 303)
    with app.app_context():
        small = db.session.get(CustomFieldOption, small_id)
        assert small is not None and small.retired
        assert db.session.execute(db.select(CustomFieldOption).where(
            CustomFieldOption.key == "large")).scalar_one().colour == "#123456"
    assert "Small" not in admin_client.get("/customers/new").get_data(as_text=True).split('name="cf_size_band"')[1][:400]
    refused = admin_client.post(f"/admin/fields/{field.id}/edit", data={
        "label_en": "Size", "type": "choice", "key": "size"})
    assert refused.status_code == 422
    assert field_of(app, "size_band").key == "size_band"


def test_moving_fields_changes_the_form_order(admin_client, app):
    define(admin_client, label_en="First", key="first_one")
    define(admin_client, label_en="Second", key="second_one")
    second = field_of(app, "second_one")
    admin_client.post(f"/admin/fields/{second.id}/move", data={"direction": "up"})
    form = admin_client.get("/customers/new").get_data(as_text=True)
    assert form.index('name="cf_second_one"') < form.index('name="cf_first_one"')


def test_required_fields_and_kept_input(admin_client, app, admin):
    define(admin_client, label_en="Contract no", key="contract_no", required=True)
    define(admin_client, label_en="Fleet", key="fleet", type="integer")
    response = admin_client.post("/customers/new", data={
        "kind": "company", "name": "Kept Ltd", "owner_id": str(admin.id), "cf_fleet": "12x",
        "confirm_duplicate": "1"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Contract no is required." in body and 'value="12x"' in body and 'value="Kept Ltd"' in body


def test_a_stale_customer_form_shows_both_values_of_a_custom_field(admin_client, app, admin, build):
    define(admin_client, label_en="Contract no", key="contract_no")
    customer_id = build.customer(admin, name="Holder", custom={"contract_no": "HT-1"})
    form = admin_client.get(f"/customers/{customer_id}/edit").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', form).group(1)
    data = {"kind": "company", "name": "Holder", "owner_id": str(admin.id), "version": version}
    first = admin_client.post(f"/customers/{customer_id}/edit", data={**data, "cf_contract_no": "HT-2"})
    assert first.status_code in (302, 303)
    second = admin_client.post(f"/customers/{customer_id}/edit", data={**data, "cf_contract_no": "HT-3"})
    assert second.status_code == 409
    body = second.get_data(as_text=True)
    assert 'data-conflict-field="cf_contract_no"' in body and "HT-2" in body and "HT-3" in body
    assert custom_of(app, customer_id) == {"contract_no": "HT-2"}


def _indexes(app):
    from sqlalchemy import text
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            sql = "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_cf_customers_fleet_ix%'"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_cf_customers_fleet_ix%'"
        return set(db.session.execute(text(sql)).scalars())


def test_filterable_fields_get_an_expression_index_that_goes_with_them(admin_client, app):
    """(The tests' cleanup deletes rows, not indexes: this test's key is its own.)"""
    define(admin_client, label_en="Fleet", key="fleet_ix", type="integer", filterable=True)
    define(admin_client, label_en="Note", key="note", type="text")
    pg = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    assert _indexes(app) == {"ix_cf_customers_fleet_ix"}
    field = field_of(app, "fleet_ix")
    admin_client.post(f"/admin/fields/{field.id}/edit", data={
        "label_en": "Fleet", "type": "integer", "key": "fleet_ix", "filterable": "y", "show_in_list": "y"})
    assert _indexes(app) == ({"ix_cf_customers_fleet_ix", "ix_cf_customers_fleet_ix_d"} if pg
                             else {"ix_cf_customers_fleet_ix"})
    admin_client.post(f"/admin/fields/{field.id}/delete", data={"confirm": "1"})
    assert _indexes(app) == set()
    admin_client.post(f"/admin/fields/{field.id}/restore")
    assert "ix_cf_customers_fleet_ix" in _indexes(app)
    admin_client.post(f"/admin/fields/{field.id}/delete", data={"confirm": "1"})
    admin_client.post(f"/admin/fields/{field.id}/purge")
    assert _indexes(app) == set()


def test_definitions_changed_by_another_process_are_read_again(admin_client, app):
    """Each process keeps the definitions with their stamp; a change made elsewhere (another
    gunicorn worker: here a bare UPDATE, which clears no cache) moves the stamp."""
    from sqlalchemy import text

    from crm.models import utcnow
    define(admin_client, label_en="Before", key="renamed")
    assert "Before" in admin_client.get("/customers/new").get_data(as_text=True)
    with app.app_context():
        db.session.execute(text("UPDATE custom_fields SET label_en = 'After', updated_at = :now"),
                           {"now": utcnow()})
        db.session.commit()
    page = admin_client.get("/customers/new").get_data(as_text=True)
    assert "After" in page and "Before" not in page


@pytest.mark.parametrize("query", [
    "cf_fleet_min=abc", "cf_fleet_max=1" + "0" * 40, "cf_day_min=2026-02-30", "cf_day_max=tomorrow",
    "cf_stamp_min=2026-13-01", "cf_stamp_max=2026-01-01", "cf_band=nope", "cf_band=__any__",
    "cf_tags=zzz&cf_tags_match=all", "cf_yes=maybe", "cf_who=999999", "cf_who=abc",
    "cf_price_min=-5&cf_price_max=1e5", "cf_share_min=0.5", "cf_note=%25_%5C", "sort=cf_nope",
    "sort=-cf_tags", "sort=cf_stamp", "sort=-cf_price", "cf_unknown=1",
], ids=lambda q: q[:30])
def test_odd_filter_values_are_ignored_never_a_500(admin_client, query):
    for key, kind in (("fleet", "integer"), ("day", "date"), ("stamp", "datetime"), ("band", "choice"),
                      ("tags", "multi_choice"), ("yes", "boolean"), ("who", "user"), ("price", "money"),
                      ("share", "decimal"), ("note", "text")):
        define(admin_client, label_en=key, key=key, type=kind, filterable=True, show_in_list=True,
               options=["One", "Two"])
    assert admin_client.get(f"/customers?{query}").status_code == 200
    assert admin_client.get(f"/customers?{query}", headers=hx("customer-results")).status_code == 200


def test_filters_of_every_kind_find_the_right_customers(admin_client, admin, build):
    for key, kind in (("day", "date"), ("stamp", "datetime"), ("band", "choice"), ("yes", "boolean"),
                      ("who", "user"), ("price", "money"), ("share", "decimal"), ("note", "text")):
        define(admin_client, label_en=key, key=key, type=kind, filterable=True, show_in_list=True,
               options=["One", "Two"])
    build.customer(admin, name="Cust A", custom={
        "day": "2026-03-01", "stamp": "2026-03-01T02:00:00Z", "band": "one", "yes": True,
        "who": admin.id, "price": {"amount": "1500.5", "currency": "CNY"}, "share": "0.25",
        "note": "Big Fleet owner"})
    build.customer(admin, name="Cust B", custom={
        "day": "2026-05-01", "stamp": "2026-05-01T02:00:00Z", "band": "two", "yes": False,
        "price": {"amount": "99", "currency": "USD"}, "share": "0.75"})

    def names(query):
        page = admin_client.get(f"/customers?{query}").get_data(as_text=True)
        return {name for name in ("Cust A", "Cust B") if f">{name}<" in page}

    assert names("cf_day_min=2026-04-01") == {"Cust B"}
    assert names("cf_day_max=2026-03-01") == {"Cust A"}
    # a day of the user's zone (Shanghai): 2026-03-01 02:00 UTC is 10:00 there
    assert names("cf_stamp_min=2026-03-01&cf_stamp_max=2026-03-01") == {"Cust A"}
    assert names("cf_band=two") == {"Cust B"}
    assert names("cf_yes=yes") == {"Cust A"} and names("cf_yes=no") == {"Cust B"}
    assert names(f"cf_who={admin.id}") == {"Cust A"} and names("cf_who=__empty__") == {"Cust B"}
    assert names("cf_price_min=1000") == {"Cust A"} and names("cf_price_max=100") == {"Cust B"}
    # amounts compare within one currency when the filter names it
    assert names("cf_price_currency=USD") == {"Cust B"} and names("cf_price_min=50&cf_price_currency=CNY") == {"Cust A"}
    assert names("cf_price_max=100&cf_price_currency=CNY") == set()
    assert names("cf_price_currency=XXX") == {"Cust A", "Cust B"}  # not a currency: ignored
    assert names("cf_share_min=0.5") == {"Cust B"}
    assert names("cf_note=fleet") == {"Cust A"} and names("cf_note=__any__") == {"Cust A"}
    page = admin_client.get("/customers?sort=-cf_price").get_data(as_text=True)
    assert page.index(">Cust A<") < page.index(">Cust B<")
    page = admin_client.get("/customers?sort=cf_share").get_data(as_text=True)
    assert page.index(">Cust A<") < page.index(">Cust B<")


def test_search_keys_follow_the_fields_restriction_and_life(admin_client, app, admin):
    define(admin_client, label_en="Contract no", type="text", key="contract_no")
    admin_client.post("/customers/new", data={"kind": "company", "name": "星辰", "owner_id": str(admin.id),
                                              "cf_contract_no": "HT-77-Q", "confirm_duplicate": "1"})
    field = field_of(app, "contract_no")

    def found():
        return ">星辰<" in admin_client.get("/customers?q=ht-77-q").get_data(as_text=True)

    assert found()
    admin_client.post(f"/admin/fields/{field.id}/edit", data={
        "label_en": "Contract no", "type": "text", "key": "contract_no", "restricted": "y"})
    assert not found()  # a restricted value is in nobody's search keys
    admin_client.post(f"/admin/fields/{field.id}/edit", data={
        "label_en": "Contract no", "type": "text", "key": "contract_no"})
    assert found()
    admin_client.post(f"/admin/fields/{field.id}/delete", data={"confirm": "1"})
    assert not found()
    admin_client.post(f"/admin/fields/{field.id}/restore")
    assert found()


def test_fields_of_a_group_are_shown_together_under_its_heading(admin_client, app, admin, build):
    define(admin_client, label_en="Contract no", key="contract_no", group_en="Contract", group_zh="合同信息")
    define(admin_client, label_en="Fleet size", key="fleet", type="integer")
    define(admin_client, label_en="Signed on", key="signed_on", type="date", group_en="Contract")
    assert field_of(app, "contract_no").group("zh") == "合同信息"
    assert field_of(app, "signed_on").group("zh") == "Contract"  # falls back to the English one
    form = admin_client.get("/customers/new").get_data(as_text=True)
    headings = re.findall(r'class="cf-group-title[^"]*">([^<]+)<', form)
    assert headings == ["Contract", "Other fields"], headings
    # the group's fields stand together, where its first field is in the admin's order
    assert form.index('name="cf_contract_no"') < form.index('name="cf_signed_on"') < form.index('name="cf_fleet"')
    customer_id = build.customer(admin, name="Grouped", custom={"contract_no": "HT-1", "fleet": 4})
    page = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert page.index(">Contract<") < page.index('data-cf="contract_no"') < page.index(
        'data-cf="signed_on"') < page.index(">Other fields<") < page.index('data-cf="fleet"')
    # a group too long is refused beside its input, the rest kept
    response = define(admin_client, label_en="Long", key="long_group", group_en="x" * 101)
    assert response.status_code == 422 and 'value="Long"' in response.get_data(as_text=True)


def test_a_contacts_field_is_edited_in_place_in_its_customers_contact_list(
        admin_client, client, login, app, admin, seller, build):
    from crm.models import Contact
    define(admin_client, "contact", label_en="WeChat", type="text", key="wechat")
    customer_id = build.customer(admin, name="Holder")
    with app.app_context():
        contact = Contact(customer_id=customer_id, name="Li Lei", custom={"wechat": "lilei88"})
        db.session.add(contact)
        db.session.commit()
        contact_id = contact.id
    page = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert f'id="cf-contact-{contact_id}-wechat"' in page and "lilei88" in page
    assert f"/fields/contact/{contact_id}/wechat/edit" in page
    editor = admin_client.get(f"/fields/contact/{contact_id}/wechat/edit", headers=hx())
    assert editor.status_code == 200
    version = re.search(r'name="version" type="hidden" value="(\d+)"', editor.get_data(as_text=True)).group(1)
    refused = admin_client.post(f"/fields/contact/{contact_id}/wechat", headers=hx(),
                                data={"version": version, "cf_wechat": "x" * 300})
    assert refused.status_code == 422 and "field-error" in refused.get_data(as_text=True)
    saved = admin_client.post(f"/fields/contact/{contact_id}/wechat", headers=hx(),
                              data={"version": version, "cf_wechat": "lilei99"})
    assert saved.status_code == 200 and "lilei99" in saved.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Contact, contact_id).custom == {"wechat": "lilei99"}
        entry = db.session.execute(db.select(AuditEntry).where(
            AuditEntry.entity == "contacts", AuditEntry.field == "cf_wechat:WeChat")).scalar_one()
        assert (entry.old_value, entry.new_value) == ("lilei88", "lilei99")
    stale = admin_client.post(f"/fields/contact/{contact_id}/wechat", headers=hx(),
                              data={"version": version, "cf_wechat": "other"})
    assert stale.status_code == 409
    plain = admin_client.post(f"/fields/contact/{contact_id}/wechat",
                              data={"version": str(int(version) + 1), "cf_wechat": "lilei77"})
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"/customers/{customer_id}#contact-{contact_id}")
    login(seller)  # a salesperson who may not see the admin's customer: as if it did not exist
    assert client.get(f"/fields/contact/{contact_id}/wechat/edit", headers=hx()).status_code in (403, 404)
    assert client.post(f"/fields/contact/{contact_id}/wechat", headers=hx(),
                       data={"version": "9", "cf_wechat": "hacked"}).status_code in (403, 404)
    with app.app_context():
        assert db.session.get(Contact, contact_id).custom == {"wechat": "lilei77"}
