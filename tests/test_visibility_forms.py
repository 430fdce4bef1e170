"""Issue 19, point 2: a form (or a fragment, or a prefill URL) that takes a record id answers a
record the user may not see exactly as one that does not exist: the same status, the same
message, the same page, and nothing of the hidden record in it (its name, its contacts, its
deals, its tasks), nor the name or address of a user the user may not choose.

The world: Alice (sales, the one asking) owns a customer, its contact, a deal and a task of
her own. Bob (sales) owns a customer Alice may not see, with two contacts, a deal, tasks and
a note; Ursula, a deactivated user, is nobody's choice. Each case is asked twice: once with
the hidden record's id, once with an id that exists nowhere; the answers must match (their
status, and their bodies once the two ids are written alike).

Ids given in the URL (/customers/<id>, /opportunities/<id>...) keep the rule of
crm.permissions (403 when it exists and is hidden, 404 when missing); those answers are only
checked to say nothing of the record (the last test).
"""
import difflib
import re
from dataclasses import dataclass

import pytest

from crm.extensions import db
from crm.models import Customer, Note, Opportunity, Task
from tests import factories
from tests.conftest import hx, session_user_id

# The hidden records and the users Alice may not choose have ids of their own, far from the
# others, so that the two answers of a case can be compared with the ids written alike.
HIDDEN = {"customer": 424201, "opportunity": 424202, "contact": 424203, "contact2": 424204,
          "bob": 424210, "ursula": 424211}
MISSING = {"customer": 979701, "opportunity": 979702, "contact": 979703, "contact2": 979704,
           "bob": 979710, "ursula": 979711}

# Everything of Bob's hidden customer, and the private details of the users involved.
SECRETS = (
    "Zephyrine Holdings",          # the hidden customer
    "13712345678", "zephyrine.example",  # its phone, its email's domain
    "Quillon Aberforth",           # its contacts
    "Marisol Vantablack",
    "Obsidian Lantern Deal",       # its opportunity
    "Covert follow-up call",       # its task
    "Secret deal task",            # the task of its opportunity
    "Whispered hidden note",       # its note
    "Ursula Dormant",              # a deactivated user: nobody's choice
    "ursula-private@", "bob-private@",  # the users' email addresses
)


@dataclass
class World:
    alice: int
    customer: int      # Alice's own
    contact: int
    opportunity: int
    task: int
    pipeline: int
    stage: int
    tag: int


@pytest.fixture
def world(app):
    from crm.pipelines.services import ensure_defaults
    with app.app_context():
        ensure_defaults()
        alice = factories.user("sales", email="alice@example.com", name="Alice", commit=False)
        bob = factories.user("sales", id=HIDDEN["bob"], email="bob-private@example.com",
                             name="Bob", commit=False)
        factories.user("sales", id=HIDDEN["ursula"], email="ursula-private@example.com",
                       name="Ursula Dormant", active=False, commit=False)
        stage = factories.stage("discover")  # the first open stage of the default pipeline

        mine = factories.customer(alice, name="Alder Visible Works", created_by=alice,
                                  contacts=[{"name": "Vera Visible", "is_primary": True}],
                                  commit=False)
        hidden = factories.customer(
            bob, id=HIDDEN["customer"], name="Zephyrine Holdings", phone="13712345678",
            email="buy@zephyrine.example", created_by=bob, commit=False,
            contacts=[{"id": HIDDEN["contact"], "name": "Quillon Aberforth", "is_primary": True,
                       "phone": "13912340001"},
                      {"id": HIDDEN["contact2"], "name": "Marisol Vantablack"}])

        def deal(title, customer, owner, **kw):
            return factories.opportunity(customer, owner, stage=stage, title=title, amount="100",
                                         history=False, commit=False, **kw)

        own_deal = deal("Visible Venture", mine, alice)
        hidden_deal = deal("Obsidian Lantern Deal", hidden, bob, id=HIDDEN["opportunity"])
        own_task = factories.task(alice, "Alice own task", customer=mine, commit=False)
        factories.task(bob, "Covert follow-up call", customer=hidden, commit=False)
        factories.task(bob, "Secret deal task", customer=hidden, opportunity=hidden_deal,
                       commit=False)
        factories.note(bob, hidden, opportunity=hidden_deal, kind="call",
                       body="Whispered hidden note", commit=False)
        tag = factories.tag("Tier", "VIP")
        return World(alice=alice.id, customer=mine.id, contact=mine.contacts[0].id,
                     opportunity=own_deal.id, task=own_task.id, pipeline=stage.pipeline_id,
                     stage=stage.id, tag=tag.id)


@pytest.fixture
def alice(client, app, world):
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, world.alice)
        session["_fresh"] = True
    return client


@dataclass
class Case:
    name: str
    method: str
    path: str              # formatted with the ids ({customer}, {own_customer}...)
    data: object = None    # a dict, or a function of the World giving one
    target: str | None = None   # HX-Target of an htmx request; None: without JavaScript
    status: int = 200      # what an id that exists nowhere gets


def _opportunity_form(w: World, **fields) -> dict:
    data = {"title": "Probe", "customer_id": str(w.customer), "pipeline_id": str(w.pipeline),
            "stage_id": str(w.stage), "owner_id": str(w.alice), "currency": "CNY", "amount": "0",
            "competitors-0-name": "", "competitors-0-notes": ""}
    data.update(fields)
    return data


def _task_form(w: World, **fields) -> dict:
    data = {"title": "Probe", "assignee_id": str(w.alice), "related": ""}
    data.update(fields)
    return data


CASES = [
    # --- the opportunity form and its fragments ---------------------------------------------
    Case("opportunity new: customer", "POST", "/opportunities/new",
         lambda w: _opportunity_form(w, customer_id="{customer}"), status=422),
    Case("opportunity new: customer, htmx", "POST", "/opportunities/new",
         lambda w: _opportunity_form(w, customer_id="{customer}"), target="main", status=422),
    Case("opportunity new: customer and its contact", "POST", "/opportunities/new",
         lambda w: _opportunity_form(w, customer_id="{customer}", contact_id="{contact}"), status=422),
    Case("opportunity new: find a customer keeps the chosen one", "POST", "/opportunities/new",
         lambda w: _opportunity_form(w, customer_id="{customer}", action="find_customer",
                                     customer_q="Alder"), status=200),
    Case("opportunity new: a contact of another customer", "POST", "/opportunities/new",
         lambda w: _opportunity_form(w, contact_id="{contact}"), status=422),
    Case("opportunity new: owner (deactivated user)", "POST", "/opportunities/new",
         lambda w: _opportunity_form(w, owner_id="{ursula}"), status=422),
    Case("opportunity new: owner (someone sales may not choose)", "POST", "/opportunities/new",
         lambda w: _opportunity_form(w, owner_id="{bob}"), status=422),
    Case("opportunity new: ?customer_id= prefill", "GET",
         "/opportunities/new?customer_id={customer}", status=200),
    Case("opportunity contact options", "GET",
         "/opportunities/contact-options?customer_id={customer}&contact_id={contact}",
         target="contact-field", status=200),
    Case("opportunity contact options: a contact of another customer", "GET",
         "/opportunities/contact-options?customer_id={own_customer}&contact_id={contact}",
         target="contact-field", status=200),
    Case("opportunity edit: customer", "POST", "/opportunities/{own_opportunity}/edit",
         lambda w: _opportunity_form(w, customer_id="{customer}", version="1"), status=422),
    Case("opportunity edit: contact", "POST", "/opportunities/{own_opportunity}/edit",
         lambda w: _opportunity_form(w, contact_id="{contact2}", version="1"), status=422),
    Case("opportunity edit: owner", "POST", "/opportunities/{own_opportunity}/edit",
         lambda w: _opportunity_form(w, owner_id="{ursula}", version="1"), status=422),
    Case("related deal: link", "POST", "/opportunities/{own_opportunity}/related",
         {"related_id": "{opportunity}"}, target="related", status=422),
    Case("related deal: link without JavaScript", "POST", "/opportunities/{own_opportunity}/related",
         {"related_id": "{opportunity}"}, status=422),
    Case("opportunity list: ?customer=", "GET", "/opportunities?customer={customer}", status=200),
    Case("opportunity list: ?owner= (deactivated user)", "GET", "/opportunities?owner={ursula}",
         status=200),
    Case("board: ?owner= (deactivated user)", "GET", "/pipeline?owner={ursula}", status=200),
    Case("customer list: ?owner= (deactivated user)", "GET", "/customers?owner={ursula}",
         status=200),
    Case("tasks list: ?assignee= (deactivated user)", "GET", "/tasks?assignee={ursula}",
         status=403),
    # --- tasks: the related record, the panel's record, the assignee -------------------------
    Case("task new: related customer", "POST", "/tasks/new",
         lambda w: _task_form(w, related="customer:{customer}"), status=422),
    Case("task new: related opportunity", "POST", "/tasks/new",
         lambda w: _task_form(w, related="opportunity:{opportunity}"), status=422),
    Case("task new on /tasks (htmx): related customer", "POST", "/tasks/new",
         lambda w: _task_form(w, related="customer:{customer}"), target="tasks-main", status=422),
    Case("task panel: customer", "POST", "/tasks/new",
         lambda w: _task_form(w, related=None, customer_id="{customer}"), target="task-panel",
         status=422),
    Case("task panel: customer, refused for its title", "POST", "/tasks/new",
         lambda w: _task_form(w, related=None, title="", customer_id="{customer}"),
         target="task-panel", status=422),
    Case("task panel: opportunity, refused for its title", "POST", "/tasks/new",
         lambda w: _task_form(w, related=None, title="", customer_id="{customer}",
                              opportunity_id="{opportunity}"), target="task-panel", status=422),
    Case("task panel without JavaScript: customer", "POST", "/tasks/new",
         lambda w: _task_form(w, related=None, customer_id="{customer}"), status=422),
    Case("task new: ?customer_id= prefill", "GET", "/tasks/new?customer_id={customer}", status=200),
    Case("task new: ?opportunity_id= prefill", "GET", "/tasks/new?opportunity_id={opportunity}",
         status=200),
    Case("task related options: customer", "GET", "/tasks/related?related=customer:{customer}",
         target="related-options", status=200),
    Case("task related options: opportunity", "GET",
         "/tasks/related?related=opportunity:{opportunity}&related_q=Zephyrine",
         target="related-options", status=200),
    Case("task edit: related customer", "POST", "/tasks/{own_task}/edit",
         lambda w: _task_form(w, related="customer:{customer}"), status=422),
    Case("task edit: related opportunity", "POST", "/tasks/{own_task}/edit",
         lambda w: _task_form(w, related="opportunity:{opportunity}"), status=422),
    Case("task new: assignee (deactivated user)", "POST", "/tasks/new",
         lambda w: _task_form(w, assignee_id="{ursula}"), status=422),
    Case("task toggle: the panel's customer", "POST", "/tasks/{own_task}/toggle",
         {"done": "1", "panel_customer_id": "{customer}"}, target="task-panel", status=200),
    Case("task toggle: the panel's opportunity", "POST", "/tasks/{own_task}/toggle",
         {"done": "1", "panel_customer_id": "{customer}", "panel_opportunity_id": "{opportunity}"},
         target="task-panel", status=200),
    Case("tasks list: ?customer=", "GET", "/tasks?customer={customer}", status=200),
    Case("tasks list: ?opportunity=", "GET", "/tasks?opportunity={opportunity}", status=200),
    # --- notes: the customer, the contact, the opportunity -----------------------------------
    Case("note: customer", "POST", "/notes",
         {"kind": "call", "body": "Probe", "customer_id": "{customer}"}, status=404),
    Case("note: customer, htmx", "POST", "/notes",
         {"kind": "call", "body": "Probe", "customer_id": "{customer}"}, target="timeline-items",
         status=404),
    Case("note: customer, refused for its text", "POST", "/notes",
         {"kind": "call", "body": "", "customer_id": "{customer}"}, target="timeline-items",
         status=404),
    Case("note: opportunity", "POST", "/notes",
         {"kind": "call", "body": "Probe", "opportunity_id": "{opportunity}"}, status=404),
    Case("note: contact", "POST", "/notes",
         {"kind": "call", "body": "Probe", "contact_id": "{contact}"}, status=404),
    Case("note: my customer with a contact of another", "POST", "/notes",
         {"kind": "call", "body": "Probe", "customer_id": "{own_customer}", "contact_id": "{contact}"},
         target="timeline-items", status=404),
    Case("note: my opportunity with a contact of another", "POST", "/notes",
         {"kind": "call", "body": "Probe", "opportunity_id": "{own_opportunity}",
          "contact_id": "{contact}"}, target="timeline-items", status=404),
    # --- sharing and owners --------------------------------------------------------------------
    Case("share with: a deactivated user", "POST", "/customers/{own_customer}/shares",
         {"user_id": "{ursula}"}, target="sharing", status=422),
    Case("share with, without JavaScript: a deactivated user", "POST",
         "/opportunities/{own_opportunity}/shares", {"user_id": "{ursula}"}, status=422),
    Case("stop sharing: a user it is not shared with", "POST",
         "/customers/{own_customer}/shares/{ursula}/delete", target="sharing", status=404),
    Case("stop sharing an opportunity: a user it is not shared with", "POST",
         "/opportunities/{own_opportunity}/shares/{bob}/delete", target="sharing", status=404),
    Case("reassign: a deactivated user", "POST", "/customers/{own_customer}/owner",
         {"owner_id": "{ursula}"}, status=403),
    Case("customer new: owner (deactivated user)", "POST", "/customers/new",
         {"name": "Probe Co", "kind": "company", "owner_id": "{ursula}"}, status=422),
    Case("customer edit: owner (deactivated user)", "POST", "/customers/{own_customer}/edit",
         {"name": "Alder Visible Works", "kind": "company", "owner_id": "{ursula}"}, status=422),
    Case("customer edit: owner (someone sales may not choose)", "POST",
         "/customers/{own_customer}/edit",
         {"name": "Alder Visible Works", "kind": "company", "owner_id": "{bob}"}, status=422),
    # --- customers chosen in the list ----------------------------------------------------------
    Case("bulk tags: a customer", "POST", "/customers/bulk-tags",
         {"customer_id": ["{customer}"], "tag_id": "{tag}", "action": "add"},
         target="customer-results", status=200),
    Case("bulk tags: a customer, refused for its tag", "POST", "/customers/bulk-tags",
         {"customer_id": ["{customer}"], "action": "add"}, status=422),
]


def _ids(w: World, ids: dict) -> dict:
    return {**ids, "own_customer": w.customer, "own_opportunity": w.opportunity, "own_task": w.task,
            "own_contact": w.contact, "tag": w.tag}


def _fill(value, ids: dict):
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value.format(**ids) if isinstance(value, str) else value


def _ask(client, w: World, case: Case, ids: dict):
    ids = _ids(w, ids)
    data = case.data(w) if callable(case.data) else case.data
    headers = hx(case.target) if case.target else {}
    response = getattr(client, case.method.lower())(
        _fill(case.path, ids), data=_fill(data, ids) if data is not None else None, headers=headers)
    return response.status_code, response.get_data(as_text=True)


def _alike(body: str) -> str:
    """The body with the probed ids written alike (hidden or missing: both answers show Bob
    among the users anyone may see) and the CSRF token (signed with the time) left out."""
    for ids in (HIDDEN, MISSING):
        for name, value in ids.items():
            body = re.sub(rf"(?<!\d){value}(?!\d)", f"<{name}>", body)
    tokens = set(re.findall(r'name="csrf_token"[^>]*value="([^"]+)"', body))
    tokens |= set(re.findall(r'"X-CSRFToken": "([^"]+)"', body))
    for token in tokens:
        body = body.replace(token, "<csrf>")
    return body


def _difference(hidden: str, missing: str) -> str:
    """The first lines where the two answers differ (hidden: -, missing: +)."""
    lines = difflib.unified_diff(hidden.splitlines(), missing.splitlines(), lineterm="", n=0)
    return "\n".join(line[:200] for line in list(lines)[2:14])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_hidden_id_is_answered_as_a_missing_one(alice, world, case):
    hidden_status, hidden_body = _ask(alice, world, case, HIDDEN)
    leaked = [secret for secret in SECRETS if secret in hidden_body]
    assert not leaked, f"{case.name}: the answer shows {leaked}"
    missing_status, missing_body = _ask(alice, world, case, MISSING)
    assert missing_status == case.status, (case.name, missing_status)
    assert hidden_status == missing_status, (case.name, hidden_status, missing_status)
    hidden_body, missing_body = _alike(hidden_body), _alike(missing_body)
    assert hidden_body == missing_body, f"{case.name}:\n" + _difference(hidden_body, missing_body)


def test_refused_hidden_ids_change_nothing(app, alice, world):
    """None of the probes above saved anything about the hidden records."""
    for case in CASES:
        _ask(alice, world, case, HIDDEN)
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(Note)
                                  .where(Note.body == "Probe")).scalar() == 0
        assert db.session.execute(db.select(db.func.count()).select_from(Task)
                                  .where(Task.title == "Probe")).scalar() == 0
        assert db.session.execute(db.select(db.func.count()).select_from(Opportunity)
                                  .where(Opportunity.title == "Probe")).scalar() == 0
        hidden = db.session.get(Customer, HIDDEN["customer"])
        assert hidden.tags == [] and hidden.shared_with == []
        own = db.session.get(Opportunity, world.opportunity)
        assert own.customer_id == world.customer and own.owner_id == world.alice
        assert own.related == []
        assert db.session.get(Task, world.task).customer_id == world.customer


@pytest.mark.parametrize("q", ["Zephyrine", "13712345678", "Quillon", "Obsidian"])
def test_no_search_or_picker_offers_the_hidden_records(alice, world, q):
    """What is typed into a picker (the customer search of the opportunity form, the task's
    related record, a deal to link) or a list's search finds nothing hidden, by name, phone
    or contact; the answer only repeats what was typed."""
    secrets = [secret for secret in SECRETS if secret != q]
    for path, target in ((f"/opportunities/customer-search?customer_q={q}", "customer-results"),
                         (f"/tasks/related?related_q={q}", "related-options"),
                         (f"/opportunities/{world.opportunity}/related-search?related_q={q}",
                          "related-results"),
                         (f"/customers?q={q}", "customer-results"),
                         (f"/opportunities?q={q}", None)):
        body = alice.get(path, headers=hx(target) if target else {}).get_data(as_text=True)
        leaked = [secret for secret in secrets if secret in body]
        assert not leaked, (path, leaked)


URL_CASES = [
    ("GET", "/customers/{customer}", None, None, 403),
    ("GET", "/customers/{customer}/contacts", None, "contacts", 403),
    ("GET", "/customers/{customer}/edit", None, None, 403),
    ("POST", "/customers/{customer}/contacts", {"name": "Probe"}, "contacts", 403),
    ("GET", "/customers/{customer}/contacts/{contact}/edit", None, None, 403),
    # My customer's URL with another customer's contact: not one of its contacts.
    ("GET", "/customers/{own_customer}/contacts/{contact}/edit", None, None, 404),
    ("POST", "/customers/{own_customer}/contacts/{contact}/delete", None, "contacts", 404),
    ("POST", "/customers/{customer}/tags", {"tag_id": "{tag}"}, "tags", 403),
    ("POST", "/customers/{customer}/shares", {"user_id": "{bob}"}, "sharing", 403),
    ("POST", "/customers/{customer}/owner", {"owner_id": "{bob}"}, None, 403),
    ("GET", "/opportunities/{opportunity}", None, None, 403),
    ("GET", "/opportunities/{opportunity}", None, "competitors", 403),
    ("GET", "/opportunities/{opportunity}/edit", None, None, 403),
    ("GET", "/opportunities/{opportunity}/related-search?related_q=a", None, "related-results", 403),
    ("POST", "/opportunities/{opportunity}/related", {"related_id": "{own_opportunity}"}, "related",
     403),
    ("POST", "/opportunities/{opportunity}/shares", {"user_id": "{bob}"}, "sharing", 403),
    ("POST", "/opportunities/{opportunity}/stage", {"stage_id": "1"}, "stage-widget", 403),
    ("GET", "/pipeline/cards/{opportunity}", None, "card-{opportunity}", 403),
    ("GET", "/audit/customers/{customer}", None, None, 403),
    ("GET", "/audit/opportunities/{opportunity}", None, None, 403),
    ("GET", "/audit/contacts/{contact}", None, None, 403),
]


@pytest.mark.parametrize("method,path,data,target,status", URL_CASES,
                         ids=[f"{c[0]} {c[1]} {c[3] or ''}".strip() for c in URL_CASES])
def test_a_hidden_record_in_the_url_is_refused_without_its_details(alice, world, method, path,
                                                                     data, target, status):
    """A record addressed by the URL keeps crm.permissions' answers (403 hidden, 404 missing),
    and neither says anything of it."""
    ids = _ids(world, HIDDEN)
    headers = hx(_fill(target, ids)) if target else {}
    response = getattr(alice, method.lower())(_fill(path, ids), data=_fill(data, ids),
                                              headers=headers)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert not [secret for secret in SECRETS if secret in body]


def test_my_task_on_a_hidden_record_keeps_it_without_naming_it(app, alice, world):
    """A task assigned to Alice on Bob's hidden deal stays hers: its edit form and the form's
    search keep the deal as the chosen record (named as one she cannot see) and saving keeps
    it; any other form offers nothing of it."""
    with app.app_context():
        task = Task(title="Alice on a hidden deal", assignee_id=world.alice,
                    customer_id=HIDDEN["customer"], opportunity_id=HIDDEN["opportunity"],
                    created_by_id=HIDDEN["bob"])
        db.session.add(task)
        db.session.commit()
        task_id = task.id
    kept = f'value="opportunity:{HIDDEN["opportunity"]}" checked> A record you cannot see'
    form = alice.get(f"/tasks/{task_id}/edit").get_data(as_text=True)
    assert kept in form and f"/tasks/related?picker=task-related&amp;task={task_id}" in form
    assert not [secret for secret in SECRETS if secret in form]
    search = alice.get(f"/tasks/related?picker=task-related&task={task_id}"
                       f"&related=opportunity:{HIDDEN['opportunity']}&related_q=Visible",
                       headers=hx("task-related-options")).get_data(as_text=True)
    assert kept in search and "Visible Venture" in search
    assert not [secret for secret in SECRETS if secret in search]
    # Without the task (another form), the hidden deal is no choice at all.
    other = alice.get(f"/tasks/related?related=opportunity:{HIDDEN['opportunity']}",
                      headers=hx("related-options")).get_data(as_text=True)
    assert "cannot see" not in other and str(HIDDEN["opportunity"]) not in other
    response = alice.post(f"/tasks/{task_id}/edit", data={
        "title": "Alice on a hidden deal, renamed", "assignee_id": world.alice,
        "related": f"opportunity:{HIDDEN['opportunity']}", "next": "/tasks"})
    assert response.status_code == 303
    with app.app_context():
        saved = db.session.get(Task, task_id)
        assert saved.opportunity_id == HIDDEN["opportunity"]
        assert saved.title == "Alice on a hidden deal, renamed"
    # Someone else's task is not a key to its record.
    bobs = alice.get(f"/tasks/related?task={task_id + 999}&related=opportunity:{HIDDEN['opportunity']}")
    assert bobs.status_code == 404
