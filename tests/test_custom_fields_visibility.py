"""Restricted custom fields ("visible to managers and admins only", issue 10) on every route
that shows records, for each role of the visibility matrix (tests/test_visibility.py's world):
pages, forms, fragments, inline edit, lists and their filters, sort, and the history."""
import pytest

from crm.extensions import db
from crm.fields import services
from crm.models import Contact, Customer, Opportunity
from tests.conftest import hx
from tests import test_visibility

# The visibility matrix's world and its logins, as fixtures of this module too.
world = test_visibility.world
as_role = test_visibility.as_role

SEES = {"admin": True, "manager": True, "alice": False}
MARK = "0.4242"  # the restricted value, as stored and as shown


@pytest.fixture
def fields(app, world):
    with app.test_request_context():
        for record_type, key in (("customer", "margin"), ("opportunity", "deal_margin"),
                                 ("contact", "private_phone")):
            services.save_field(record_type, None, {
                "label_en": f"Secret {key}", "key": key, "type": "decimal" if key != "private_phone" else "text",
                "restricted": True, "show_in_list": True, "filterable": True})
        services.save_field("customer", None, {"label_en": "Open note", "key": "open_note",
                                               "type": "text", "show_in_list": True})
        customer = db.session.get(Customer, world.A)
        customer.custom = {"margin": MARK, "open_note": "visible to all"}
        db.session.get(Opportunity, world.A1).custom = {"deal_margin": MARK}
        db.session.get(Contact, world.contact_A).custom = {"private_phone": MARK}
        db.session.commit()


ROUTES = [
    ("customer page", "/customers/{A}", None),
    ("customer edit form", "/customers/{A}/edit", None),
    ("customer contacts fragment", "/customers/{A}/contacts", "contacts"),
    ("contact edit form", "/customers/{A}/contacts/{contact_A}/edit", None),
    ("customer list", "/customers", None),
    ("customer list filtered", "/customers?cf_margin_min=0.1&sort=-cf_margin", None),
    ("customer results fragment", "/customers?cf_margin_min=0.1", "customer-results"),
    ("opportunity page", "/opportunities/{A1}", None),
    ("opportunity edit form", "/opportunities/{A1}/edit", None),
    ("opportunity list", "/opportunities", None),
    ("opportunity list filtered", "/opportunities?cf_deal_margin_min=0.1&sort=cf_deal_margin", None),
    ("customer history", "/audit/customers/{A}", None),
    ("opportunity history", "/audit/opportunities/{A1}", None),
]


def _url(path, world):
    return path.format(A=world.A, A1=world.A1, contact_A=world.contact_A)


@pytest.mark.parametrize("role", list(SEES))
@pytest.mark.parametrize("name,path,target", ROUTES, ids=[r[0] for r in ROUTES])
def test_restricted_fields_show_only_to_managers_and_admins(app, world, fields, as_role, role,
                                                             name, path, target):
    client = as_role(role)
    if "history" in name:  # a change of the field, as a manager makes it
        manager = as_role("manager")
        record_type, record, key = (("customer", world.A, "margin") if "customer" in name
                                    else ("opportunity", world.A1, "deal_margin"))
        manager.post(f"/fields/{record_type}/{record}/{key}", headers=hx(), data={f"cf_{key}": "0.5"})
        client = as_role(role)
    response = client.get(_url(path, world), headers=hx(target) if target else None)
    assert response.status_code == 200, (name, role)
    body = response.get_data(as_text=True)
    # (the URL asked for comes back in the language switch's "next": not a field shown)
    shown = "Secret " in body or MARK in body or any(
        f'name="cf_{key}' in body or f'data-cf-column="{key}"' in body
        for key in ("margin", "deal_margin", "private_phone"))
    assert shown == SEES[role], (name, role)
    if name.startswith("customer list") or name == "customer page":
        assert "visible to all" in body or "Open note" in body


@pytest.mark.parametrize("role", list(SEES))
def test_a_salespersons_filter_on_a_restricted_field_is_ignored(app, world, fields, as_role, role):
    body = as_role(role).get("/customers?cf_margin_min=0.9").get_data(as_text=True)
    # No customer has a margin of 0.9 or more: the filter applies for managers only.
    assert ("Alpha Trading" in body) == (not SEES[role])


@pytest.mark.parametrize("role", list(SEES))
def test_inline_edit_of_a_restricted_field(app, world, fields, as_role, role):
    client = as_role(role)
    expected = 200 if SEES[role] else 404
    assert client.get(f"/fields/customer/{world.A}/margin", headers=hx()).status_code == expected
    assert client.get(f"/fields/customer/{world.A}/margin/edit", headers=hx()).status_code == expected
    response = client.post(f"/fields/customer/{world.A}/margin", headers=hx(), data={"cf_margin": "0.1"})
    assert response.status_code == expected
    with app.app_context():
        assert db.session.get(Customer, world.A).custom["margin"] == ("0.1" if SEES[role] else MARK)


def test_inline_edit_follows_the_records_rules(app, world, fields, as_role):
    """bob may not see customer A; carol neither: 403 as on its page, before the field."""
    for role in ("bob", "carol"):
        client = as_role(role)
        assert client.get(f"/fields/customer/{world.A}/open_note/edit", headers=hx()).status_code == 403
        assert client.post(f"/fields/customer/{world.A}/open_note", headers=hx(),
                           data={"cf_open_note": "x"}).status_code == 403
    # a read-only customer (P, through bob's shared opportunity) is not editable in place
    assert as_role("bob").post(f"/fields/customer/{world.P}/open_note", headers=hx(),
                               data={"cf_open_note": "x"}).status_code == 403


def test_restricted_values_are_not_in_the_search_keys(app, world, fields, as_role):
    with app.test_request_context():
        customer = db.session.get(Customer, world.A)
        customer.rebuild_search_index()
        assert MARK not in customer.search_index and "visibletoall" in customer.search_index
