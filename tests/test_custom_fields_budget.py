"""The statement budget of custom fields (issue 10, section 3): the customer list filtered on a
custom field and sorted by one costs no more statements than the plain list, at 3 rows as at
60, and a record page with custom fields costs the same at any size."""
import pytest

from crm.extensions import db
from crm.fields import services
from crm.models import Customer
from tests.conftest import count_queries, hx

WRITES = ("INSERT", "UPDATE", "DELETE")


def _define(app):
    with app.test_request_context():
        services.save_field("customer", None, {"label_en": "Fleet", "key": "fleet", "type": "integer",
                                               "filterable": True, "show_in_list": True})
        field = services.save_field("customer", None, {"label_en": "Products", "key": "products",
                                                       "type": "multi_choice", "filterable": True,
                                                       "show_in_list": True})
        services.save_options(field, [{"label_en": "Alpha"}, {"label_en": "Beta"}])
        services.save_field("customer", None, {"label_en": "Note", "key": "note", "type": "text",
                                               "show_in_list": True})
        db.session.commit()


def _grow(app, owner_id, start, size):
    with app.app_context():
        for i in range(start, size):
            db.session.add(Customer(name=f"Customer {i}", owner_id=owner_id, created_by_id=owner_id,
                                    custom={"fleet": i, "products": ["alpha"] if i % 2 else ["beta"],
                                            "note": f"note {i}"}))
        db.session.commit()


def _count(app, client, path, headers=None):
    client.get(path, headers=headers)  # warm-up
    with app.app_context():
        with count_queries(db.engine) as statements:
            response = client.get(path, headers=headers)
    assert response.status_code == 200
    assert not [s for s in statements if s.lstrip().upper().startswith(WRITES)]
    return len(statements)


PATHS = {
    "plain": "/customers",
    "filtered and sorted": "/customers?cf_fleet_min=1&cf_fleet_max=100000&sort=-cf_fleet",
    "multi choice and text": "/customers?cf_products=alpha&cf_note=note&sort=cf_fleet",
}


@pytest.mark.parametrize("role", ["admin", "sales"])
def test_custom_filters_and_sort_cost_no_more_than_the_plain_list(app, make_user, login, role):
    user = make_user(role)
    client = login(user)
    _define(app)
    _grow(app, user.id, 0, 3)
    small = {name: _count(app, client, path) for name, path in PATHS.items()}
    small["htmx"] = _count(app, client, PATHS["filtered and sorted"], hx("customer-results"))
    _grow(app, user.id, 3, 60)
    large = {name: _count(app, client, path) for name, path in PATHS.items()}
    large["htmx"] = _count(app, client, PATHS["filtered and sorted"], hx("customer-results"))
    assert small == large
    assert large["filtered and sorted"] <= large["plain"]
    assert large["multi choice and text"] <= large["plain"]
