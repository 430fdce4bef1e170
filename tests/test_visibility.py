"""Issue 4, roles and visibility: who sees and edits what, as a matrix of route x role, plus the
SQL clauses of crm.permissions as unit tests.

The world (built once per test with direct inserts):
- alice (sales) owns customer A with opportunity A1, and customer S (shared with bob),
  and customer P whose opportunity P1 is shared with bob (P2, its other one, is not);
- bob (sales) owns customer B with opportunity B1;
- carol (sales) owns nothing; a task on A1 is assigned to her;
- an admin and a manager;
- leads (issue 11): alice's lead L with her note and task on it, LU unowned and created by
  alice, bob's lead LB.

Answers: 403 for a record that exists but the user may not see (or may see and not change);
404 only for what does not exist.
"""
from dataclasses import dataclass
from datetime import date

import pytest

from crm.extensions import db
from crm.models import Customer, Note, Opportunity, User, opportunity_shares
from tests import factories
from tests.conftest import hx, session_user_id

ROLES = ("admin", "manager", "alice", "bob", "carol")


@dataclass
class World:
    users: dict
    A: int
    S: int
    P: int
    B: int
    U: int  # unowned, created by alice
    A1: int
    P1: int
    P2: int
    B1: int
    stages: dict
    tag: int
    contact_A: int
    task_carol: int
    note_A: int
    L: int = 0
    LU: int = 0
    LB: int = 0
    note_L: int = 0
    task_L: int = 0


@pytest.fixture
def world(app):
    from crm.pipelines.services import ensure_defaults
    with app.app_context():
        ensure_defaults()
        users = {name: factories.user(role, email=f"{name}@example.com", name=name.capitalize(),
                                      commit=False)
                 for name, role in (("admin", "admin"), ("manager", "manager"), ("alice", "sales"),
                                    ("bob", "sales"), ("carol", "sales"))}
        alice, bob = users["alice"], users["bob"]

        def customer(name, owner, **kw):
            return factories.customer(owner, name=name, created_by=kw.pop("created_by", owner),
                                      commit=False, **kw)

        A = customer("Alpha Trading", alice, phone="13800138000", email="buy@alpha.example",
                     contacts=[{"name": "Wang Wei", "phone": "13900000000", "is_primary": True}])
        S = customer("Shared Steel", alice, shared_with=[bob])
        P = customer("Partly Plastics", alice)
        B = customer("Bob Bakery", bob)
        U = customer("Unowned Union", None, created_by=alice)
        contact = A.contacts[0]
        stages = factories.stages()

        def deal(title, customer, owner, stage, amount):
            return factories.opportunity(customer, owner, stage=stages[stage], title=title,
                                         amount=amount, history=False,
                                         expected_close=date(2031, 1, 1), commit=False)

        A1 = deal("Alpha ERP", A, alice, "discover", "100")
        P1 = deal("Plastics CRM", P, alice, "discover", "200")
        P2 = deal("Plastics secret", P, alice, "proposal", "400")
        B1 = deal("Bakery POS", B, bob, "discover", "800")
        db.session.execute(opportunity_shares.insert().values(opportunity_id=P1.id, user_id=bob.id))
        tag = factories.tag("Tier", "VIP", commit=False)
        task = factories.task(users["carol"], "Call Alpha back", opportunity=A1, customer=A,
                              created_by=users["manager"], commit=False)
        note = factories.note(alice, A, opportunity=A1, kind="call", body="Alpha wants a discount")
        from crm.leads.services import ensure_defaults as ensure_lead_defaults, save_lead
        ensure_lead_defaults()
        L = save_lead(alice, None, {"name": "Wang Fang", "company": "Star Tech"})
        LU = save_lead(alice, None, {"name": "Li Lei", "owner_id": None})
        LB = save_lead(bob, None, {"name": "Han Meimei"})
        note_L = factories.note(alice, None, lead_id=L.id, kind="visit", body="Visited Star",
                                commit=False)
        task_L = factories.task(alice, "Send Star the quote", lead_id=L.id, commit=False)
        db.session.commit()
        return World(users={k: v.id for k, v in users.items()}, A=A.id, S=S.id, P=P.id, B=B.id,
                     U=U.id, A1=A1.id, P1=P1.id, P2=P2.id, B1=B1.id,
                     stages={k: s.id for k, s in stages.items()}, tag=tag.id,
                     contact_A=contact.id, task_carol=task.id, note_A=note.id,
                     L=L.id, LU=LU.id, LB=LB.id, note_L=note_L.id, task_L=task_L.id)


@pytest.fixture
def as_role(client, world, app):
    """Log the client in as one of ROLES."""
    def _as(role):
        with client.session_transaction() as session:
            session["_user_id"] = session_user_id(app, world.users[role])
            session["_fresh"] = True
        return client
    return _as


# --- the matrix -------------------------------------------------------------------------------

def _expect(admin, manager, alice, bob, carol):
    return dict(zip(ROLES, (admin, manager, alice, bob, carol)))


# (name, method, path (format with the world's ids), data, headers, expected status per role)
MATRIX = [
    ("customer own", "get", "/customers/{A}", None, None, _expect(200, 200, 200, 403, 403)),
    ("customer shared", "get", "/customers/{S}", None, None, _expect(200, 200, 200, 200, 403)),
    ("customer of a shared opportunity", "get", "/customers/{P}", None, None,
     _expect(200, 200, 200, 200, 403)),
    ("customer fragment", "get", "/customers/{A}/contacts", None, "contacts",
     _expect(200, 200, 200, 403, 403)),
    ("customer edit form", "get", "/customers/{A}/edit", None, None, _expect(200, 200, 200, 403, 403)),
    ("shared customer edit form", "get", "/customers/{S}/edit", None, None,
     _expect(200, 200, 200, 200, 403)),
    ("read-only customer edit form", "get", "/customers/{P}/edit", None, None,
     _expect(200, 200, 200, 403, 403)),
    ("customer edit post", "post", "/customers/{A}/edit", {"name": "Alpha Trading", "kind": "company"},
     None, _expect(303, 303, 303, 403, 403)),
    ("contact add", "post", "/customers/{A}/contacts", {"name": "Li Lei"}, None,
     _expect(303, 303, 303, 403, 403)),
    ("contact add on read-only customer", "post", "/customers/{P}/contacts", {"name": "Li Lei"},
     "contacts", _expect(200, 200, 200, 403, 403)),
    ("tag inline", "post", "/customers/{A}/tags", {"tag_id": "{tag}"}, "tags",
     _expect(200, 200, 200, 403, 403)),
    ("tag inline on read-only customer", "post", "/customers/{P}/tags", {"tag_id": "{tag}"}, "tags",
     _expect(200, 200, 200, 403, 403)),
    # A record named by a form field, not the URL, that the user may not see is answered as
    # one that does not exist (issue 19): 404 for a note's target.
    ("note add", "post", "/notes", {"kind": "call", "body": "Hi", "customer_id": "{A}"}, None,
     _expect(303, 303, 303, 404, 404)),
    ("note add on an invisible opportunity", "post", "/notes",
     {"kind": "call", "body": "Hi", "opportunity_id": "{P2}"}, None, _expect(303, 303, 303, 404, 404)),
    ("note fragment", "get", "/notes/{note_A}", None, "note", _expect(200, 200, 200, 403, 403)),
    ("opportunity own", "get", "/opportunities/{A1}", None, None, _expect(200, 200, 200, 403, 403)),
    ("opportunity shared", "get", "/opportunities/{P1}", None, None, _expect(200, 200, 200, 200, 403)),
    ("other opportunity of that customer", "get", "/opportunities/{P2}", None, None,
     _expect(200, 200, 200, 403, 403)),
    ("opportunity of a shared customer", "get", "/opportunities/{B1}", None, None,
     _expect(200, 200, 403, 200, 403)),
    ("opportunity section fragment", "get", "/opportunities/{A1}", None, "competitors",
     _expect(200, 200, 200, 403, 403)),
    ("opportunity edit form", "get", "/opportunities/{A1}/edit", None, None,
     _expect(200, 200, 200, 403, 403)),
    ("stage move", "post", "/opportunities/{A1}/stage", {"stage_id": "{confirm}"}, None,
     _expect(303, 303, 303, 403, 403)),
    ("stage move htmx", "post", "/opportunities/{A1}/stage", {"stage_id": "{confirm}"},
     "stage-widget", _expect(200, 200, 200, 403, 403)),
    ("stage move of a shared opportunity", "post", "/opportunities/{P1}/stage",
     {"stage_id": "{confirm}"}, "stage-widget", _expect(200, 200, 200, 200, 403)),
    ("board card", "get", "/pipeline/cards/{A1}", None, "card-{A1}", _expect(200, 200, 200, 403, 403)),
    ("related search", "get", "/opportunities/{A1}/related-search?related_q=alpha", None,
     "related-results", _expect(200, 200, 200, 403, 403)),
    ("share a customer", "post", "/customers/{A}/shares", {"user_id": "{carol}"}, "sharing",
     _expect(200, 200, 200, 403, 403)),
    ("share a shared customer (not its owner)", "post", "/customers/{S}/shares",
     {"user_id": "{carol}"}, "sharing", _expect(200, 200, 200, 403, 403)),
    ("reassign a customer", "post", "/customers/{A}/owner", {"owner_id": "{bob}"}, None,
     _expect(303, 303, 403, 403, 403)),
    ("reassign an opportunity", "post", "/opportunities/{A1}/owner", {"owner_id": "{bob}"}, None,
     _expect(303, 303, 403, 403, 403)),
    ("tags admin", "get", "/tags", None, None, _expect(200, 200, 403, 403, 403)),
    ("pipelines admin", "get", "/admin/pipelines", None, None, _expect(200, 403, 403, 403, 403)),
    ("users admin", "get", "/admin/users", None, None, _expect(200, 403, 403, 403, 403)),
    ("workspace settings", "get", "/admin/settings", None, None, _expect(200, 403, 403, 403, 403)),
    ("workspace settings post", "post", "/admin/settings", {"team_sees_everything": "y"}, None,
     _expect(303, 403, 403, 403, 403)),
    ("customer list", "get", "/customers", None, None, _expect(200, 200, 200, 200, 200)),
    ("opportunity list", "get", "/opportunities", None, None, _expect(200, 200, 200, 200, 200)),
    ("board", "get", "/pipeline", None, None, _expect(200, 200, 200, 200, 200)),
    ("my tasks", "get", "/tasks", None, None, _expect(200, 200, 200, 200, 200)),
    # Duplicates and merge (crm/duplicates): the page for all; merging needs edit rights on
    # every record named (a shared customer is editable by whom it is shared with).
    ("duplicates page", "get", "/duplicates/customer", None, None, _expect(200, 200, 200, 200, 200)),
    ("duplicates refresh", "post", "/duplicates/customer/refresh", {}, None,
     _expect(303, 303, 303, 303, 303)),
    ("merge view", "get", "/duplicates/customer/merge?ids={A}&ids={S}", None, None,
     _expect(200, 200, 200, 403, 403)),
    ("merge view of another's and a shared customer", "get",
     "/duplicates/customer/merge?ids={S}&ids={B}", None, None, _expect(200, 200, 403, 200, 403)),
    ("merge view with a read-only customer", "get", "/duplicates/customer/merge?ids={A}&ids={P}",
     None, None, _expect(200, 200, 200, 403, 403)),
    ("merge post (no survivor chosen)", "post", "/duplicates/customer/merge",
     {"ids": ["{A}", "{S}"]}, None, _expect(422, 422, 422, 403, 403)),
    ("merge post of an invisible customer", "post", "/duplicates/customer/merge",
     {"ids": ["{A}", "{B}"], "survivor": "{A}"}, None, _expect(409, 409, 403, 403, 403)),
    # Leads (issue 11): like customers without shares; a lead one may not see is one that does
    # not exist (404), for its page, its fragments and every post. Its notes and tasks follow
    # the lead (a note's edit stays its author's or an admin's; a task its people's).
    ("lead list", "get", "/leads", None, None, _expect(200, 200, 200, 200, 200)),
    ("lead list results", "get", "/leads?q=wang", None, "lead-results", _expect(200, 200, 200, 200, 200)),
    ("lead export", "get", "/leads/export.csv", None, None, _expect(200, 200, 200, 200, 200)),
    ("lead page", "get", "/leads/{L}", None, None, _expect(200, 200, 200, 404, 404)),
    ("unowned lead page (its creator's)", "get", "/leads/{LU}", None, None,
     _expect(200, 200, 200, 404, 404)),
    ("another's lead page", "get", "/leads/{LB}", None, None, _expect(200, 200, 404, 200, 404)),
    ("lead score fragment", "get", "/leads/{L}", None, "lead-score", _expect(200, 200, 200, 404, 404)),
    ("lead field fragment", "get", "/leads/{L}/fields/company", None, "lead-field-company",
     _expect(200, 200, 200, 404, 404)),
    ("lead field editor", "get", "/leads/{L}/fields/company/edit", None, "lead-field-company",
     _expect(200, 200, 200, 404, 404)),
    ("lead field save", "post", "/leads/{L}/fields/company", {"company": "Star Tech Ltd"},
     "lead-field-company", _expect(200, 200, 200, 404, 404)),
    ("lead edit form", "get", "/leads/{L}/edit", None, None, _expect(200, 200, 200, 404, 404)),
    ("lead edit post", "post", "/leads/{L}/edit", {"name": "Wang Fang", "owner_id": "{alice}"},
     None, _expect(303, 303, 303, 404, 404)),
    ("lead tags", "post", "/leads/{L}/tags", {}, None, _expect(303, 303, 303, 404, 404)),
    ("lead status", "post", "/leads/{L}/status", {"status": "nurturing"}, "lead-main",
     _expect(200, 200, 200, 404, 404)),
    ("lead BANT", "post", "/leads/{L}/bant", {"budget": "yes"}, None, _expect(303, 303, 303, 404, 404)),
    ("note on a lead", "post", "/notes", {"kind": "call", "body": "Hi", "lead_id": "{L}"}, None,
     _expect(303, 303, 303, 404, 404)),
    ("note on a lead, htmx", "post", "/notes", {"kind": "call", "body": "Hi", "lead_id": "{L}"},
     "timeline-items", _expect(200, 200, 200, 404, 404)),
    ("lead note fragment", "get", "/notes/{note_L}", None, "note-{note_L}",
     _expect(200, 200, 200, 403, 403)),
    ("lead note edit form", "get", "/notes/{note_L}/edit", None, None,
     _expect(200, 403, 200, 403, 403)),
    ("lead note edit", "post", "/notes/{note_L}/edit", {"kind": "call", "body": "Called"}, None,
     _expect(303, 403, 303, 403, 403)),
    ("lead note delete", "post", "/notes/{note_L}/delete", {}, None, _expect(303, 403, 303, 403, 403)),
    ("task on a lead", "post", "/tasks/new", {"title": "Call", "lead_id": "{L}", "assignee_id": "{alice}"},
     "task-panel", _expect(200, 200, 200, 422, 422)),
    ("lead task done", "post", "/tasks/{task_L}/toggle", {"done": "1", "panel_lead_id": "{L}"},
     "task-panel", _expect(200, 200, 200, 403, 403)),
    ("lead convert page", "get", "/leads/{L}/convert", None, None, _expect(200, 200, 200, 404, 404)),
    # A salesperson converts when BANT is all yes (it is not); managers and admins decide.
    ("lead convert", "post", "/leads/{L}/convert", {"version": "", "customer_id": "", "stage_id": ""},
     None, _expect(303, 303, 422, 404, 404)),
    ("lead delete", "post", "/leads/{L}/delete", {}, None, _expect(303, 303, 303, 404, 404)),
    ("another's lead delete", "post", "/leads/{LB}/delete", {}, None, _expect(303, 303, 404, 303, 404)),
    ("scoring rules", "get", "/admin/scoring", None, None, _expect(200, 403, 403, 403, 403)),
    ("lead lists admin", "get", "/admin/lead-lists", None, None, _expect(200, 403, 403, 403, 403)),
]


def _fill(value, world: World):
    ids = {**world.users, **world.stages, **{k: v for k, v in vars(world).items() if isinstance(v, int)}}
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value.format(**ids) if isinstance(value, str) else value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name,method,path,data,target,expected", MATRIX, ids=[m[0] for m in MATRIX])
def test_route_by_role(world, as_role, role, name, method, path, data, target, expected):
    client = as_role(role)
    headers = hx(_fill(target, world)) if target else {}
    response = getattr(client, method)(_fill(path, world), data=_fill(data, world) or None,
                                       headers=headers)
    assert response.status_code == expected[role], (name, role, response.status_code)


# --- "team sees everything": see, never edit ----------------------------------------------------

def test_team_sees_everything_grants_sight_not_edit(app, world, as_role, build):
    client = as_role("carol")
    assert client.get(f"/customers/{world.A}").status_code == 403
    build.team_sees_everything()
    page = client.get(f"/customers/{world.A}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Alpha ERP" in html
    assert f"/customers/{world.A}/edit" not in html
    assert client.get(f"/customers/{world.A}/edit").status_code == 403
    assert client.post(f"/customers/{world.A}/tags", data={"tag_id": world.tag}).status_code == 403
    assert client.get(f"/opportunities/{world.A1}").status_code == 200
    assert client.post(f"/opportunities/{world.A1}/stage",
                       data={"stage_id": world.stages["confirm"]}).status_code == 403
    assert "Alpha Trading" in client.get("/customers").get_data(as_text=True)
    build.team_sees_everything(False)
    assert client.get(f"/customers/{world.A}").status_code == 403


def test_settings_page_switches_the_setting(app, world, as_role):
    client = as_role("admin")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'name="team_sees_everything"' in page and "checked" not in page
    assert client.post("/admin/settings", data={"team_sees_everything": "y"}).status_code == 303
    assert "checked" in client.get("/admin/settings").get_data(as_text=True)
    assert as_role("carol").get(f"/customers/{world.A}").status_code == 200
    as_role("admin").post("/admin/settings", data={})
    assert as_role("carol").get(f"/customers/{world.A}").status_code == 403


# --- what lists, searches, pickers and the board show ------------------------------------------

def test_customer_list_shows_only_visible_customers(world, as_role):
    def names(role, query=""):
        html = as_role(role).get(f"/customers?{query}", headers=hx("customer-results")).get_data(as_text=True)
        return {n for n in ("Alpha Trading", "Shared Steel", "Partly Plastics", "Bob Bakery",
                            "Unowned Union") if n in html}

    everything = {"Alpha Trading", "Shared Steel", "Partly Plastics", "Bob Bakery", "Unowned Union"}
    assert names("admin") == names("manager") == everything
    assert names("alice") == {"Alpha Trading", "Shared Steel", "Partly Plastics", "Unowned Union"}
    assert names("bob") == {"Shared Steel", "Partly Plastics", "Bob Bakery"}
    assert names("carol") == set()
    assert names("carol", "q=alpha") == set()  # search too


def test_opportunity_list_and_totals_exclude_invisible(world, as_role):
    html = as_role("bob").get("/opportunities").get_data(as_text=True)
    assert "Plastics CRM" in html and "Bakery POS" in html
    assert "Plastics secret" not in html and "Alpha ERP" not in html
    assert "CN¥1,000.00" in html  # 200 + 800, not the 500 bob may not see
    assert "CN¥1,500.00" in as_role("manager").get("/opportunities").get_data(as_text=True)
    carol = as_role("carol").get("/opportunities").get_data(as_text=True)
    assert "Alpha ERP" not in carol and "CN¥100.00" not in carol


def test_board_cards_totals_and_load_more_exclude_invisible(world, as_role):
    html = as_role("bob").get("/pipeline").get_data(as_text=True)
    assert "Plastics CRM" in html and "Bakery POS" in html
    assert "Alpha ERP" not in html and "Plastics secret" not in html
    assert "CN¥1,000.00" in html and "CN¥1,100.00" not in html
    discover = world.stages["discover"]
    more = as_role("bob").get(f"/pipeline/stages/{discover}?after=2030-01-01&after_id=1",
                              headers=hx(f"more-{discover}")).get_data(as_text=True)
    assert "Alpha ERP" not in more and "Plastics CRM" in more
    page = as_role("carol").get(f"/pipeline/stages/{discover}").get_data(as_text=True)
    assert "Alpha ERP" not in page and "Bakery POS" not in page


def test_customer_pickers_and_related_search_only_offer_visible_records(world, as_role):
    client = as_role("bob")
    picker = client.get("/opportunities/customer-search?customer_q=a",
                        headers=hx("customer-results")).get_data(as_text=True)
    assert "Shared Steel" in picker and "Alpha Trading" not in picker
    related = client.get("/tasks/related?related_q=plastics", headers=hx("related-options")) \
        .get_data(as_text=True)
    assert "Plastics CRM" in related and "Plastics secret" not in related
    assert "Alpha" not in client.get("/tasks/related?related_q=alpha").get_data(as_text=True)
    linkable = client.get(f"/opportunities/{world.B1}/related-search?related_q=plastics",
                          headers=hx("related-results")).get_data(as_text=True)
    assert "Plastics CRM" in linkable and "Plastics secret" not in linkable
    # contact options of a customer I may not see: none
    options = client.get(f"/opportunities/contact-options?customer_id={world.A}").get_data(as_text=True)
    assert "Wang Wei" not in options
    # linking one I may not see is refused like a missing one
    response = client.post(f"/opportunities/{world.B1}/related", data={"related_id": world.A1},
                           headers=hx("related"))
    assert response.status_code == 422


def test_read_only_customer_shows_only_the_shared_opportunity(world, as_role):
    html = as_role("bob").get(f"/customers/{world.P}").get_data(as_text=True)
    assert "Plastics CRM" in html and "Plastics secret" not in html
    assert f"/customers/{world.P}/edit" not in html
    assert as_role("alice").get(f"/customers/{world.P}").get_data(as_text=True).count("Plastics") >= 2


def test_timeline_hides_notes_of_invisible_opportunities(app, world, as_role):
    with app.app_context():
        db.session.add(Note(kind="call", body="Secret pricing talk", author_id=world.users["alice"],
                            customer_id=world.P, opportunity_id=world.P2))
        db.session.add(Note(kind="call", body="Shared progress", author_id=world.users["alice"],
                            customer_id=world.P, opportunity_id=world.P1))
        db.session.commit()
    html = as_role("bob").get(f"/customers/{world.P}").get_data(as_text=True)
    assert "Shared progress" in html and "Secret pricing talk" not in html
    assert "Secret pricing talk" in as_role("alice").get(f"/customers/{world.P}").get_data(as_text=True)


def test_my_task_on_an_invisible_record_stays_mine_without_its_link(world, as_role):
    client = as_role("carol")
    html = client.get("/tasks").get_data(as_text=True)
    assert "Call Alpha back" in html
    assert f"/opportunities/{world.A1}" not in html and f"/customers/{world.A}" not in html
    assert "Alpha ERP" not in html and "Alpha Trading" not in html
    # she can still tick it off, and edit it keeping its related record
    assert client.post(f"/tasks/{world.task_carol}/toggle", data={"done": "1"}).status_code == 303
    form = client.get(f"/tasks/{world.task_carol}/edit").get_data(as_text=True)
    assert "A record you cannot see" in form and "Alpha ERP" not in form
    response = client.post(f"/tasks/{world.task_carol}/edit", data={
        "title": "Call Alpha back", "assignee_id": world.users["carol"],
        "related": f"opportunity:{world.A1}", "next": "/tasks"})
    assert response.status_code == 303
    # but she may not attach a new task to a record she cannot see: refused as one that does
    # not exist (issue 19), naming nothing of it
    response = client.post("/tasks/new", data={"title": "Snoop", "assignee_id": world.users["carol"],
                                               "related": f"customer:{world.A}"})
    assert response.status_code == 422
    assert "That customer no longer exists." in response.get_data(as_text=True)
    assert "Alpha" not in response.get_data(as_text=True)


def test_bulk_tag_skips_invisible_and_read_only_customers(app, world, as_role):
    """The read-only customer is counted as skipped; the invisible one is not even that: it is
    left out as an id that does not exist (issue 19)."""
    response = as_role("bob").post("/customers/bulk-tags", data={
        "customer_id": [str(world.A), str(world.S), str(world.P)], "tag_id": world.tag,
        "action": "add"}, headers=hx("customer-results"))
    html = response.get_data(as_text=True)
    assert "added to 1 customer." in html and "1 customer was skipped" in html
    assert "Alpha Trading" not in html  # the list it returns is bob's
    with app.app_context():
        tagged = {c.id for c in db.session.execute(db.select(Customer)).scalars() if c.tags}
    assert tagged == {world.S}


def test_duplicate_check_says_a_hidden_customer_exists_without_details(world, as_role):
    html = as_role("carol").get("/customers/duplicates?phone=138-0013-8000",
                                headers=hx("duplicates")).get_data(as_text=True)
    assert "A customer you cannot see already uses this phone number." in html
    assert "Alpha Trading" not in html and f"/customers/{world.A}" not in html
    # Who owns it is said (issue 17's 查重: the owner's name, no other field of the record).
    assert "Owner: Alice" in html
    html = as_role("alice").get("/customers/duplicates?phone=13800138000").get_data(as_text=True)
    assert "Alpha Trading" in html and "cannot see" not in html
    # saving: the warning stops the first save, "Save anyway" goes through
    client = as_role("carol")
    data = {"name": "Another Alpha", "kind": "company", "phone": "13800138000",
            "owner_id": world.users["carol"]}
    first = client.post("/customers/new", data=data)
    assert first.status_code == 200 and "cannot see already uses this phone" in first.get_data(as_text=True)
    assert client.post("/customers/new", data={**data, "confirm_duplicate": "1"}).status_code == 303


def test_sales_cannot_give_records_away_but_can_take_their_unowned_ones(app, world, as_role):
    client = as_role("alice")
    response = client.post(f"/customers/{world.A}/edit", data={
        "name": "Alpha Trading", "kind": "company", "owner_id": world.users["bob"]})
    assert response.status_code == 422
    form = client.get(f"/customers/{world.A}/edit").get_data(as_text=True)
    assert ">Bob<" not in form  # not offered either
    response = client.post("/customers/new", data={"name": "Gift", "kind": "company",
                                                   "owner_id": world.users["bob"]})
    assert response.status_code == 422
    assert client.post(f"/customers/{world.U}/owner",
                       data={"owner_id": world.users["alice"]}).status_code == 303
    with app.app_context():
        assert db.session.get(Customer, world.U).owner_id == world.users["alice"]
    # opportunities: the owner select offers only herself
    form = client.get(f"/opportunities/{world.A1}/edit").get_data(as_text=True)
    assert ">Bob<" not in form and ">Alice<" in form
    # a manager reassigns, and the page says so
    manager = as_role("manager")
    assert manager.post(f"/opportunities/{world.A1}/owner",
                        data={"owner_id": world.users["bob"]}).status_code == 303
    with app.app_context():
        assert db.session.get(Opportunity, world.A1).owner_id == world.users["bob"]


def test_sharing_panel_adds_and_removes_users(app, world, as_role):
    client = as_role("alice")
    page = client.get(f"/customers/{world.A}").get_data(as_text=True)
    assert 'id="sharing"' in page and "Not shared with anyone." in page
    assert as_role("carol").get(f"/customers/{world.A}").status_code == 403
    client = as_role("alice")
    response = client.post(f"/customers/{world.A}/shares", data={"user_id": world.users["carol"]},
                           headers=hx("sharing"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and "Carol" in html
    shared_page = as_role("carol").get(f"/customers/{world.A}")
    assert shared_page.status_code == 200
    assert f"/customers/{world.A}/edit" in shared_page.get_data(as_text=True)  # a share grants edit
    assert 'name="user_id"' not in shared_page.get_data(as_text=True)  # but not re-sharing
    assert as_role("carol").get(f"/opportunities/{world.A1}").status_code == 200  # its opportunities
    response = as_role("alice").post(f"/customers/{world.A}/shares/{world.users['carol']}/delete")
    assert response.status_code == 303
    assert as_role("carol").get(f"/customers/{world.A}").status_code == 403
    bad = as_role("alice").post(f"/customers/{world.A}/shares", data={"user_id": "999"},
                                headers=hx("sharing"))
    assert bad.status_code == 422
    assert as_role("alice").post("/customers/99999/shares", data={"user_id": "1"}).status_code == 404


def test_opportunity_page_shows_the_sharing_panel(world, as_role):
    html = as_role("alice").get(f"/opportunities/{world.P1}").get_data(as_text=True)
    assert 'id="sharing"' in html and "Bob" in html
    html = as_role("bob").get(f"/opportunities/{world.P1}").get_data(as_text=True)
    assert 'id="sharing"' in html and f"/opportunities/{world.P1}/shares\"" not in html


def test_board_htmx_move_of_an_invisible_card_is_403(world, as_role):
    response = as_role("carol").post(
        f"/opportunities/{world.A1}/stage",
        data={"stage_id": world.stages["confirm"], "context": "board"}, headers=hx(f"card-{world.A1}"))
    assert response.status_code == 403


# --- the rules and the clauses as units ------------------------------------------------------

def test_clauses_match_the_predicates(app, world):
    from flask_login import login_user

    from crm import permissions as p
    with app.test_request_context():
        customers = db.session.execute(db.select(Customer)).scalars().all()
        opportunities = db.session.execute(db.select(Opportunity)).scalars().all()
        for team in (False, True):
            p.set_team_sees_everything(team)
            db.session.commit()
            for role in ROLES:
                p.clear_cache()
                user = db.session.get(User, world.users[role])
                login_user(user)
                visible_c = set(db.session.execute(
                    db.select(Customer.id).where(p.visible_customers_clause(user))).scalars())
                visible_o = set(db.session.execute(
                    db.select(Opportunity.id).where(p.visible_opportunities_clause(user))).scalars())
                editable_c = set(db.session.execute(
                    db.select(Customer.id).where(p.editable_customers_clause(user))).scalars())
                editable_o = set(db.session.execute(
                    db.select(Opportunity.id).where(p.editable_opportunities_clause(user))).scalars())
                assert visible_c == {c.id for c in customers if p.can_see_customer(user, c)}, (role, team)
                assert visible_o == {o.id for o in opportunities if p.can_see_opportunity(user, o)}, (role, team)
                assert editable_c == {c.id for c in customers if p.can_edit_customer(user, c)}, (role, team)
                assert editable_o == {o.id for o in opportunities if p.can_edit_opportunity(user, o)}, (role, team)
                assert editable_c <= visible_c and editable_o <= visible_o
        p.set_team_sees_everything(False)
        db.session.commit()
        p.clear_cache()
        bob = db.session.get(User, world.users["bob"])
        visible = set(db.session.execute(
            db.select(Customer.id).where(p.visible_customers_clause(bob))).scalars())
        assert visible == {world.S, world.P, world.B}
        visible = set(db.session.execute(
            db.select(Opportunity.id).where(p.visible_opportunities_clause(bob))).scalars())
        assert visible == {world.P1, world.B1}


def test_clause_is_one_statement_whatever_the_rows(app, world):
    """The clauses are EXISTS subqueries: a list costs one statement, not one per row."""
    from crm import permissions as p
    from tests.conftest import count_queries
    with app.test_request_context():
        bob = db.session.get(User, world.users["bob"])
        p.team_sees_everything()  # read once per request
        with count_queries(db.engine) as statements:
            db.session.execute(db.select(Customer).where(p.visible_customers_clause(bob))).all()
            db.session.execute(db.select(Opportunity).where(p.visible_opportunities_clause(bob))).all()
            p.team_sees_everything()
        assert len(statements) == 2
        sql = " ".join(statements).lower()
        assert "exists" in sql and "customer_shares" in sql and "opportunity_shares" in sql


def test_predicates_cost_no_query_per_row(app, world):
    from crm import permissions as p
    from tests.conftest import count_queries
    with app.test_request_context():
        bob = db.session.get(User, world.users["bob"])
        opportunities = db.session.execute(db.select(Opportunity)).scalars().all()
        p.can_edit_opportunity(bob, opportunities[0])
        with count_queries(db.engine) as statements:
            for opportunity in opportunities:
                p.can_edit_opportunity(bob, opportunity)
        assert statements == []


@pytest.mark.parametrize("role,record,new_owner,allowed", [
    ("manager", "A", "bob", True),
    ("admin", "A", None, True),
    ("alice", "A", "alice", True),     # unchanged
    ("alice", "A", "bob", False),      # giving it away
    ("alice", "A", None, False),       # dropping it
    ("alice", "U", "alice", True),     # taking her unowned record
    ("alice", "U", "bob", False),
    ("alice", None, "alice", True),    # a new record: herself
    ("alice", None, None, True),       # or nobody
    ("alice", None, "bob", False),
])
def test_can_set_owner(app, world, role, record, new_owner, allowed):
    from crm.permissions import can_set_owner
    with app.test_request_context():
        user = db.session.get(User, world.users[role])
        target = db.session.get(Customer, getattr(world, record)) if record else None
        owner_id = world.users[new_owner] if new_owner else None
        assert can_set_owner(user, target, owner_id) is allowed


def test_unowned_records_are_their_creators(app, world):
    from crm.permissions import can_edit_customer, can_see_customer, owns
    with app.test_request_context():
        unowned = db.session.get(Customer, world.U)
        alice = db.session.get(User, world.users["alice"])
        bob = db.session.get(User, world.users["bob"])
        assert owns(alice, unowned) and can_edit_customer(alice, unowned)
        assert not can_see_customer(bob, unowned)


def test_sharing_offers_and_accepts_only_salespeople(app, world, as_role):
    """A record is shared with the salespeople the panel offers; a manager or an admin (who
    see every record anyway) posted by hand is refused like any user not offered."""
    for name in ("manager", "admin"):
        response = as_role("alice").post(f"/customers/{world.A}/shares",
                                         data={"user_id": world.users[name]}, headers=hx("sharing"))
        assert response.status_code == 422, name
    with app.app_context():
        assert db.session.get(Customer, world.A).shared_with == []


def test_who_may_change_the_owner_is_checked_before_what_was_posted(world, as_role):
    """Bob may neither reassign Alice's customer nor take it: 403 for a good id, a bad id, an
    inactive user's id and no id at all, never a 422 that reads the form first."""
    for value in (str(world.users["carol"]), "999999", "x", ""):
        response = as_role("bob").post(f"/customers/{world.A}/owner", data={"owner_id": value})
        assert response.status_code == 403, value
    # Those who may still get the form's answer.
    assert as_role("manager").post(f"/customers/{world.A}/owner",
                                   data={"owner_id": "999999"}).status_code == 422


def test_opportunity_page_lists_only_the_related_deals_the_user_may_see(app, world, as_role, build):
    """Bob sees Plastics CRM (shared with him): of its related deals, his own Bakery POS is
    listed and Alice's Plastics secret is not; Alice sees her secret deal but not Bob's; with
    the team seeing everything both see both. (Worked out in the related deals' own load.)"""
    from crm.models import opportunity_links
    with app.app_context():
        db.session.execute(opportunity_links.insert(), [
            {"opportunity_id": world.P1, "related_id": world.P2},
            {"opportunity_id": world.P1, "related_id": world.B1}])
        db.session.commit()

    def related_titles(role):
        html = as_role(role).get(f"/opportunities/{world.P1}").get_data(as_text=True)
        return {t for t in ("Plastics secret", "Bakery POS") if f">{t}<" in html}

    assert related_titles("bob") == {"Bakery POS"}
    assert related_titles("alice") == {"Plastics secret"}
    build.team_sees_everything()
    assert related_titles("bob") == related_titles("alice") == {"Plastics secret", "Bakery POS"}
