"""Forms that take a record id, fed the id of a record the salesperson may not see: the answer
refuses it like a missing one and holds no name of the hidden record (customer, its contacts,
its opportunities, its tasks). Alice is the salesperson; Bob Bakery and its deal are Bob's."""
import pytest

from crm.extensions import db
from crm.models import Task
from tests.conftest import hx
from tests.test_visibility import as_role, world  # noqa: F401  (fixtures)

HIDDEN_CONTACT = "Secret Zhao Baker"
HIDDEN_TASK = "Bake the secret cake"


@pytest.fixture
def hidden(build, world):  # noqa: F811
    """Bob's customer gets a contact and a task; the names Alice must never read."""
    return {"contact": build.contact(world.B, name=HIDDEN_CONTACT, phone="13700000001",
                                     is_primary=True),
            "task": build.task(world.users["bob"], HIDDEN_TASK, customer=world.B,
                               opportunity=world.B1)}


def hides(response):
    html = response.get_data(as_text=True)
    for name in ("Bob Bakery", "Bakery POS", HIDDEN_CONTACT, HIDDEN_TASK, "13700000001"):
        assert name not in html, (name, response.status_code)
    assert response.status_code < 500
    return response


def test_new_opportunity_with_a_hidden_customer(world, hidden, as_role):  # noqa: F811
    client = as_role("alice")
    response = hides(client.post("/opportunities/new", data={
        "title": "Probe", "customer_id": str(world.B), "contact_id": str(hidden["contact"]),
        "stage_id": str(world.stages["discover"]), "amount": "1", "currency": "CNY"}))
    assert response.status_code == 422
    assert "This customer does not exist." in response.get_data(as_text=True)
    # The same answer as for an id that exists nowhere.
    missing = client.post("/opportunities/new", data={
        "title": "Probe", "customer_id": "999999", "stage_id": str(world.stages["discover"]),
        "amount": "1", "currency": "CNY"})
    assert missing.status_code == 422


def test_new_opportunity_prefilled_and_the_contact_options(world, hidden, as_role):  # noqa: F811
    client = as_role("alice")
    hides(client.get(f"/opportunities/new?customer_id={world.B}"))
    hides(client.get(f"/opportunities/contact-options?customer_id={world.B}", headers=hx()))
    hides(client.get(f"/opportunities/contact-options?customer_id={world.B}"
                     f"&contact_id={hidden['contact']}", headers=hx()))
    hides(client.get("/opportunities/customer-search?customer_q=bakery", headers=hx()))


def test_editing_my_opportunity_onto_a_hidden_customer(world, hidden, as_role):  # noqa: F811
    client = as_role("alice")
    response = hides(client.post(f"/opportunities/{world.A1}/edit", data={
        "title": "Alpha ERP", "customer_id": str(world.B), "contact_id": str(hidden["contact"]),
        "stage_id": str(world.stages["discover"]), "amount": "100", "currency": "CNY",
        "version": "1"}))
    assert response.status_code == 422


def test_my_customer_with_a_hidden_contact(world, hidden, as_role):  # noqa: F811
    client = as_role("alice")
    response = hides(client.post("/opportunities/new", data={
        "title": "Probe", "customer_id": str(world.A), "contact_id": str(hidden["contact"]),
        "stage_id": str(world.stages["discover"]), "amount": "1", "currency": "CNY"}))
    assert response.status_code == 422
    # A note on my customer, pinned to the hidden contact: refused.
    response = hides(client.post("/notes", data={
        "customer_id": str(world.A), "opportunity_id": str(world.A1),
        "contact_id": str(hidden["contact"]), "kind": "call", "body": "probe"}))
    assert response.status_code == 404


def test_a_note_on_a_hidden_record(world, hidden, as_role):  # noqa: F811
    client = as_role("alice")
    for data in ({"customer_id": str(world.B)}, {"opportunity_id": str(world.B1)},
                 {"contact_id": str(hidden["contact"])}):
        response = hides(client.post("/notes", data={"kind": "call", "body": "probe", **data}))
        assert response.status_code == 404  # as for a record that does not exist


def test_linking_a_hidden_related_deal(world, hidden, as_role):  # noqa: F811
    client = as_role("alice")
    response = hides(client.post(f"/opportunities/{world.A1}/related",
                                 data={"related_id": str(world.B1)}, headers=hx("related")))
    assert response.status_code == 422
    hides(client.post(f"/opportunities/{world.A1}/related", data={"related_id": str(world.B1)}))
    hides(client.get(f"/opportunities/{world.A1}/related-search?related_q=bakery", headers=hx()))


def test_a_task_on_a_hidden_record_and_the_task_panel(world, hidden, as_role):  # noqa: F811
    client = as_role("alice")
    for related in (f"customer:{world.B}", f"opportunity:{world.B1}"):
        response = hides(client.post("/tasks/new", data={"title": "Probe", "related": related,
                                                         "assignee_id": str(world.users["alice"])}))
        assert response.status_code == 422  # as for a record that does not exist
    hides(client.get(f"/tasks/new?customer_id={world.B}"))
    hides(client.get(f"/tasks/new?opportunity_id={world.B1}"))
    hides(client.get(f"/tasks/related?related=customer:{world.B}&related_q=bakery", headers=hx()))
    # The panel that answers an htmx form lists the tasks of the record the form names: for a
    # hidden one, none.
    response = hides(client.post("/tasks/new", data={
        "title": "", "customer_id": str(world.B), "opportunity_id": str(world.B1)},
        headers=hx("task-panel")))
    assert response.status_code == 422
    hides(client.post("/tasks/new", data={
        "title": "Mine", "customer_id": str(world.B), "opportunity_id": str(world.B1),
        "assignee_id": str(world.users["alice"])}, headers=hx("task-panel")))
    with client.application.app_context():
        mine = Task(title="My own call", assignee_id=world.users["alice"], customer_id=world.A,
                    created_by_id=world.users["alice"])
        db.session.add(mine)
        db.session.commit()
        mine_id = mine.id
        db.session.remove()
    for panel in ({"panel_customer_id": str(world.B)}, {"panel_opportunity_id": str(world.B1)}):
        hides(client.post(f"/tasks/{mine_id}/toggle", data={"done": "1", **panel},
                          headers=hx("task-panel")))
        hides(client.post(f"/tasks/{mine_id}/delete", data=panel, headers=hx("task-panel")))


def test_sharing_and_owner_of_hidden_records(world, hidden, as_role):  # noqa: F811
    client = as_role("alice")
    for path in (f"/customers/{world.B}/shares", f"/opportunities/{world.B1}/shares"):
        response = hides(client.post(path, data={"user_id": str(world.users["carol"])}))
        assert response.status_code in (403, 404), path
    for path in (f"/customers/{world.B}/owner", f"/opportunities/{world.B1}/owner"):
        response = hides(client.post(path, data={"owner_id": str(world.users["alice"])}))
        assert response.status_code in (403, 404), path
    # My own customer given to someone by a salesperson: refused without a word of Bob's.
    response = hides(client.post(f"/customers/{world.A}/edit", data={
        "name": "Alpha Trading", "owner_id": str(world.users["bob"]), "kind": "company"}))
    assert response.status_code in (403, 422)


def test_contact_routes_of_a_hidden_customer(world, hidden, as_role):  # noqa: F811
    client = as_role("alice")
    hides(client.get(f"/customers/{world.B}/contacts"))
    hides(client.post(f"/customers/{world.B}/contacts", data={"name": "Probe"}))
    hides(client.get(f"/customers/{world.B}/contacts/{hidden['contact']}/edit"))
    # My customer's URL with the hidden contact's id.
    hides(client.get(f"/customers/{world.A}/contacts/{hidden['contact']}/edit"))
    hides(client.post(f"/customers/{world.A}/contacts/{hidden['contact']}/edit",
                      data={"name": "Probe"}))
    hides(client.post(f"/customers/{world.A}/contacts/{hidden['contact']}/delete"))
