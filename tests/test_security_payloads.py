"""Hostile input at the HTTP level: SQL-injection strings and junk in every search, filter and
picker parameter, junk in form posts, oversized requests and fields, open redirects, CSRF on
every state-changing route (read from the url_map, so new routes are covered), and no
database write on a GET."""
import inspect
import importlib
import re
import secrets
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from sqlalchemy import func, inspect as sa_inspect, literal, select, union_all
from wtforms import Form, HiddenField, StringField
from wtforms.fields.core import UnboundField
from wtforms.validators import Length, Regexp

from crm.extensions import db as _db
from crm.models import (Competitor, Contact, Customer, LostReason, Note, Opportunity, Pipeline,
                        Segment, Stage, Tag, TagGroup, Task, User, utcnow)
from tests import factories
from tests.conftest import TEST_PASSWORD, count_queries, csrf_token_from, hx, session_user_id

JUNK = [
    "' OR 1=1 --", "1; DROP TABLE customers", "\" OR \"\"=\"", "' UNION SELECT password_hash FROM users --",
    "%", "_", "\\", "%%", "%_\\", "x" * 10_000, "abc", "-1", "0", "-99999999999999999999",
    str(2 ** 63), str(2 ** 64), "1e309", "NaN", "Infinity", "-0", "1.5", "2026-13-45", "0000-00-00",
    "99999-01-01", "\x00", "a\x00b", "%00", "日本語 🙂 Ω", "\u202e\ufeff", "<script>x</script>", "{{7*7}}",
    "../../etc/passwd", "", " ", "[]", "me", "all", "none",
]

# GET endpoints and the parameters each reads (per parameter, each payload on its own).
GET_PARAMS = {
    "/customers": ["q", "tag", "match", "owner", "industry", "region", "sort", "page"],
    "/customers/duplicates": ["name", "phone", "email", "exclude"],
    "/customers/new": ["name"],
    "/opportunities": ["q", "pipeline", "stage", "owner", "status", "close_from", "close_to",
                       "amount_min", "amount_max", "tag", "sort", "page"],
    "/opportunities/new": ["customer_id", "pipeline_id"],
    "/opportunities/customer-search": ["customer_q"],
    "/opportunities/contact-options": ["customer_id", "contact_id"],
    "/opportunities/competitor-row": ["index"],
    "/opportunities/{opportunity}": ["related_q"],
    "/opportunities/{opportunity}/related-search": ["related_q"],
    "/pipeline": ["pipeline", "owner", "from", "to"],
    "/pipeline/stages/{stage}": ["after", "after_id", "owner", "from", "to"],
    "/tasks": ["assignee", "page"],
    "/tasks/new": ["customer_id", "opportunity_id", "next"],
    "/tasks/related": ["related", "related_q", "picker"],
    "/tasks/{task}/edit": ["next"],
    "/tags/{tag}/merge": ["target_id"],
}
# htmx fragments of the same endpoints, which parse the same parameters on another path.
HX_TARGETS = {"/customers": "customer-results", "/pipeline": "board", "/tasks": "task-sections",
              "/pipeline/stages/{stage}": "more-{stage}"}
# Names tried together on every GET route of the url_map (routes added later included).
GENERIC_PARAMS = sorted({name for names in GET_PARAMS.values() for name in names}
                        | {"id", "next", "back", "limit", "offset", "order", "user", "entity",
                           "action", "since", "until", "days", "kind"})
OK_STATUSES = {200, 303, 302, 400, 403, 404, 405, 413, 422}


# --- data ----------------------------------------------------------------------------

def seed(app, admin) -> dict:
    """One of everything, owned by the admin; returns the ids keyed by route placeholder."""
    with app.app_context():
        pipeline = _db.session.execute(_db.select(Pipeline).order_by(Pipeline.id)).scalars().first()
        stages = list(pipeline.stages)
        open_stage = stages[0]
        group = factories.tag_group(f"Level {secrets.token_hex(3)}", multiple=True, commit=False)
        tag = factories.tag(group, "VIP", color="#ff0000", commit=False)
        other_tag = factories.tag(group, "Gold", color="#00ff00", commit=False)
        customer = factories.customer(
            admin, name="Acme", industry="IT", region="East", phone="010-1234",
            email="a@acme.example", created_by=admin, tags=[tag],
            contacts=[{"name": "Wang", "phone": "139", "is_primary": True}], commit=False)
        contact = customer.contacts[0]
        opportunity = factories.opportunity(customer, admin, stage=open_stage, title="Deal",
                                            contact_id=contact.id, amount="1000", history=False,
                                            commit=False)
        other = factories.opportunity(customer, admin, stage=open_stage, title="Other deal",
                                      amount="5", history=False, commit=False)
        competitor = Competitor(opportunity_id=opportunity.id, name="Rival", notes="cheap")
        note = factories.note(admin, customer, opportunity=opportunity, body="Called",
                              commit=False)
        task = factories.task(admin, "Call back", customer=customer, opportunity=opportunity,
                              due=utcnow() + timedelta(days=1), commit=False)
        segment = Segment(name="VIPs", query=f"tag={tag.id}", user_id=admin.id)
        _db.session.add_all([competitor, segment])
        _db.session.flush()
        reason = _db.session.execute(_db.select(LostReason).order_by(LostReason.id)).scalars().first()
        ids = {"customer": customer.id, "contact": contact.id, "opportunity": opportunity.id,
               "related": other.id, "competitor": competitor.id, "note": note.id, "task": task.id,
               "segment": segment.id, "tag": tag.id, "other_tag": other_tag.id, "group": group.id,
               "pipeline": pipeline.id, "stage": open_stage.id, "reason": reason.id,
               "user": admin.id}
        _db.session.commit()
        return ids


ROW_MODELS = (User, Customer, Contact, Opportunity, Note, Task, Tag, TagGroup, Segment, Pipeline,
              Stage, LostReason, Competitor)


def row_counts(app) -> dict:
    with app.app_context():
        names = set(sa_inspect(_db.engine).get_table_names())
        assert {m.__tablename__ for m in ROW_MODELS} <= names, "a table is gone"
        counts = {m.__tablename__: _db.session.execute(_db.select(func.count()).select_from(m)).scalar()
                  for m in ROW_MODELS}
        _db.session.remove()
        return counts


ARG_FOR = {"record_id": "customer", "entity_id": "customer", "customer_id": "customer", "contact_id": "contact", "opportunity_id": "opportunity",
           "related_id": "related", "competitor_id": "competitor", "note_id": "note", "task_id": "task",
           "segment_id": "segment", "tag_id": "tag", "group_id": "group", "pipeline_id": "pipeline",
           "stage_id": "stage", "reason_id": "reason", "user_id": "user"}


def rule_path(rule, ids: dict) -> str:
    """A concrete URL for a url_map rule, its <int:x_id> parts filled with seeded ids."""
    path = rule.rule.replace("<entity>", "customers")
    for name in rule.arguments:
        path = re.sub(r"<(?:\w+:)?%s>" % name, str(ids.get(ARG_FOR.get(name, ""), 1)), path)
    return path


class Answer:
    """A response's status, or the exception the app let through (TESTING propagates them)."""

    def __init__(self, client, method, url, **kwargs):
        self.headers = {}
        try:
            response = getattr(client, method)(url, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every escape is a failure to report
            self.status_code = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
            from crm.extensions import db
            db.session.rollback()
            return
        self.status_code = response.status_code
        self.headers = response.headers
        self.text = response.get_data(as_text=True)

    def get_data(self, as_text=True):
        return self.text


def fill(template: str, ids: dict) -> str:
    return template.format(**ids)


def assert_no_500(failures: list):
    assert not failures, f"{len(failures)} answers of 500 or unexpected statuses, e.g. {failures[:8]}"


@pytest.fixture
def seeded(app, admin_client, admin):
    return seed(app, admin)


# --- 2. SQL injection and junk in GET parameters ---------------------------------------

@pytest.mark.parametrize("endpoint", list(GET_PARAMS))
def test_junk_in_search_and_filter_parameters_never_gives_a_500(app, admin_client, seeded, endpoint):
    before = row_counts(app)
    path = fill(endpoint, seeded)
    failures = []
    for name in GET_PARAMS[endpoint]:
        for payload in JUNK:
            for headers in ({}, hx(fill(HX_TARGETS[endpoint], seeded)) if endpoint in HX_TARGETS else None):
                if headers is None:
                    continue
                url = f"{path}?{urlencode({name: payload})}"
                response = Answer(admin_client, "get", url, headers=headers)
                if response.status_code not in OK_STATUSES:
                    failures.append((url[:120], headers.get("HX-Target"), response.status_code))
    # Several parameters at once, each given twice (lists where one value is expected).
    for payload in JUNK:
        query = urlencode([(name, payload) for name in GET_PARAMS[endpoint] for _ in (1, 2)])
        response = Answer(admin_client, "get", f"{path}?{query}")
        if response.status_code not in OK_STATUSES:
            failures.append((f"{path}?{query}"[:120], "all", response.status_code))
    assert_no_500(failures)
    assert row_counts(app) == before


def test_injection_strings_find_nothing_rather_than_everything(app, admin_client, seeded):
    """A search for "' OR 1=1 --" or a bare wildcard matches no record: the strings are data."""
    customer_link = f'href="/customers/{seeded["customer"]}"'
    deal_link = f'href="/opportunities/{seeded["opportunity"]}"'
    for payload in ("' OR 1=1 --", "%", "_", "\\", "\" OR \"\"=\"", "%%", "*"):
        query = urlencode({"q": payload})
        assert customer_link not in admin_client.get(f"/customers?{query}").get_data(as_text=True), payload
        assert deal_link not in admin_client.get(f"/opportunities?{query}").get_data(as_text=True), payload
        html = admin_client.get(f"/opportunities/customer-search?{urlencode({'customer_q': payload})}")
        assert "Acme" not in html.get_data(as_text=True), payload
    # The same searches with plain words do find them (the test looks in the right place).
    assert customer_link in admin_client.get("/customers?q=acme").get_data(as_text=True)
    assert deal_link in admin_client.get("/opportunities?q=deal").get_data(as_text=True)


def test_junk_in_every_get_route_of_the_url_map(app, admin_client, seeded):
    """All GET rules (those added after this test was written too), all parameters at once."""
    before = row_counts(app)
    failures = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        path = rule_path(rule, seeded)
        for payload in JUNK:
            query = urlencode({name: payload for name in GENERIC_PARAMS})
            response = Answer(admin_client, "get", f"{path}?{query}")
            if response.status_code not in OK_STATUSES:
                failures.append((rule.rule, repr(payload[:20]), response.status_code))
    assert_no_500(failures)
    assert row_counts(app) == before


@pytest.mark.parametrize("segment", ["abc", "-1", str(2 ** 63), str(2 ** 64), "99999999999999999999",
                                     "1%00", "%27%20OR%201=1", "0"])
def test_junk_and_huge_ids_in_paths_are_not_found(app, admin_client, seeded, segment):
    failures = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.arguments or rule.endpoint == "static":
            continue
        for name in rule.arguments:
            path = re.sub(r"<(?:\w+:)?%s>" % name, segment, rule.rule)
            path = rule_path(type("R", (), {"rule": path, "arguments": rule.arguments - {name}})(), seeded)
            response = Answer(admin_client, "get", path)
            if response.status_code not in {404, 400, 403}:
                failures.append((path, response.status_code))
    assert_no_500(failures)


def test_junk_in_htmx_headers(app, admin_client, seeded):
    """HX-Current-URL and HX-Target come from the browser too."""
    failures = []
    for value in JUNK[:20] + ["http://evil.example/pipeline?owner=' OR 1=1", "/pipeline?from=2026-13-45&owner=x"]:
        for path in ("/pipeline", f"/pipeline/cards/{seeded['opportunity']}", "/customers", "/tasks",
                     f"/opportunities/{seeded['opportunity']}", f"/customers/{seeded['customer']}"):
            headers = {"HX-Request": "true", "HX-Current-URL": value.replace("\x00", ""),
                       "HX-Target": value.replace("\x00", "")[:200]}
            response = Answer(admin_client, "get", path, headers=headers)
            if response.status_code not in OK_STATUSES:
                failures.append((path, value[:30], response.status_code))
            headers["HX-Target"] = f"card-{seeded['opportunity']}"
            response = Answer(admin_client, "get", path, headers=headers)
            if response.status_code not in OK_STATUSES:
                failures.append((path, value[:30], "card", response.status_code))
    assert_no_500(failures)


# --- 2b. junk in form posts -------------------------------------------------------------

FORM_JUNK = {
    "amount": ["1e309", "NaN", "Infinity", "-1", "1e20", "abc", "1.234", "99999999999999999999"],
    "budget": ["1e309", "NaN", "-Infinity", "abc"],
    "expected_close": ["2026-13-45", "0000-00-00", "abc", "99999-01-01"],
    "due_at": ["2026-13-45T25:61", "abc", "9999-12-31T23:59"],
    "happened_at": ["2026-13-45T25:61", "abc", "0001-01-01T00:00"],
    "probability_override": ["abc", str(2 ** 63), "1e309", "-5", "101"],
    "probability": ["abc", str(2 ** 63), "-5"],
    "rotting_days": ["abc", str(2 ** 63), "0"],
}
ID_FIELDS = ["customer_id", "contact_id", "opportunity_id", "pipeline_id", "stage_id", "owner_id",
             "assignee_id", "lost_reason_id", "tag_id", "target_id", "related_id", "destination_id",
             "panel_customer_id", "panel_opportunity_id", "exclude"]
ID_JUNK = ["abc", "-1", str(2 ** 63), "99999999999999999999", "1.5", "' OR 1=1 --", "\x00"]


def valid_form(ids: dict) -> dict:
    """Plausible values for every field name any form uses; each test spoils some."""
    return {
        "name": "Name", "title": "Title", "body": "Body", "kind": "company", "email": "a@b.example",
        "phone": "123", "customer_id": str(ids["customer"]), "contact_id": str(ids["contact"]),
        "opportunity_id": str(ids["opportunity"]), "pipeline_id": str(ids["pipeline"]),
        "stage_id": str(ids["stage"]), "owner_id": str(ids["user"]), "assignee_id": str(ids["user"]),
        "lost_reason_id": str(ids["reason"]), "tag_id": str(ids["tag"]), "target_id": str(ids["other_tag"]),
        "related_id": str(ids["related"]), "amount": "100", "currency": "CNY", "expected_close": "2026-01-31",
        "due_at": "2026-01-31T10:00", "happened_at": "2026-01-01T10:00", "probability": "10",
        "color": "#123456", "choice": "multiple", "direction": "up", "action": "add",
        "customer_id_list": "", "related": f"customer:{ids['customer']}", "done": "1",
        "language": "en", "timezone": "UTC", "role": "sales", "password": TEST_PASSWORD + "x",
        "query": "tag=1", "start_from": "basic", "status": "open",
    }


def _junk_forms(ids: dict) -> list[dict]:
    """Forms to post: every id field junk at once, each id field junk alone, and each numeric
    or date field's junk values (all such fields at once, ids valid)."""
    forms = []
    for value in ID_JUNK:
        forms.append({**valid_form(ids), **{name: value for name in ID_FIELDS}})
    for name in ID_FIELDS:
        forms.append({**valid_form(ids), name: str(2 ** 63)})
    for index in range(max(len(values) for values in FORM_JUNK.values())):
        forms.append({**valid_form(ids), **{name: values[index % len(values)]
                                            for name, values in FORM_JUNK.items()}})
    return forms



@pytest.mark.parametrize("prefix", ["/customers", "/notes", "/opportunities", "/tasks", "/tags",
                                    "/admin", "/account", "/other"])
def test_junk_in_posted_forms_gives_4xx_not_500(app, admin_client, seeded, prefix):
    """Each POST route of the url_map gets plausible forms with fields spoiled."""
    failures = []
    known = ("/customers", "/notes", "/opportunities", "/tasks", "/tags", "/admin", "/account")
    routes = [r for r in app.url_map.iter_rules() if "POST" in r.methods
              and r.endpoint not in ("auth.login", "auth.setup", "auth.logout")
              and (r.rule.startswith(prefix) if prefix != "/other" else not r.rule.startswith(known))]
    for rule in routes:
        for data in _junk_forms(seeded):
            ids = seed_again_if_gone(app, seeded)
            response = Answer(admin_client, "post", rule_path(rule, ids), data=data)
            if not isinstance(response.status_code, int) or response.status_code >= 500:
                spoiled = {k: v[:25] for k, v in data.items() if v != valid_form(ids).get(k)}
                failures.append((rule.rule, spoiled, response.status_code))
    assert_no_500(failures)
    row_counts(app)  # every table still there


SEEDED_ROWS = (("customer", Customer), ("opportunity", Opportunity), ("tag", Tag), ("task", Task),
               ("note", Note), ("contact", Contact), ("stage", Stage), ("other_tag", Tag),
               ("related", Opportunity), ("reason", LostReason), ("pipeline", Pipeline),
               ("group", TagGroup))


def seed_again_if_gone(app, ids: dict) -> dict:
    """Posts may delete the seeded rows (delete routes with valid ids): fill them in again.

    One ORM statement (a UNION of one SELECT per row, run before every post) finds the rows
    still there; the trash filter hides rows in the trash from it, as from `session.get`."""
    with app.app_context():
        found = set(_db.session.execute(union_all(*(
            select(literal(key).label("key"), model.id).where(model.id == ids[key])
            for key, model in SEEDED_ROWS))).scalars())
        missing = found != {key for key, _ in SEEDED_ROWS}
        _db.session.remove()
    if not missing:
        return ids
    with app.app_context():
        from crm.pipelines.services import ensure_defaults
        ensure_defaults()
        _db.session.commit()
    ids.update(seed(app, SimpleNamespace(id=ids["user"])))
    return ids


@pytest.mark.parametrize("values", [
    {"amount": "1e309"}, {"amount": "NaN"}, {"amount": "Infinity"}, {"budget": "-Infinity"},
    {"expected_close": "2026-13-45"}, {"customer_id": "abc"}, {"pipeline_id": "abc"},
    {"stage_id": "abc"}, {"owner_id": "abc"}, {"probability_override": str(2 ** 63)},
    {"contact_id": "abc"}, {"lost_reason_id": "abc"}, {"currency": "XXXX"},
])
def test_opportunity_form_rejects_junk_with_422(app, admin_client, seeded, values):
    data = valid_form(seeded)
    data.update(values)
    for url in ("/opportunities/new", f"/opportunities/{seeded['opportunity']}/edit"):
        response = admin_client.post(url, data=data)
        assert response.status_code in (400, 404, 422), (url, values, response.status_code)


@pytest.mark.parametrize("values", [
    {"due_at": "2026-13-45T25:61"}, {"assignee_id": "abc"}, {"related": "customer:abc"},
    {"related": "opportunity:" + str(2 ** 63)},
])
def test_task_form_rejects_junk_with_422(app, admin_client, seeded, values):
    data = valid_form(seeded)
    data.update(values)
    response = admin_client.post("/tasks/new", data=data)
    assert response.status_code in (400, 404, 422), (values, response.status_code)


@pytest.mark.parametrize("color", ['red', '#12345', '#1234567', '#12345g', '#123456"', '";x:"',
                                   '#123456;background:url(//evil.example)', 'javascript:1',
                                   '#123456"><script>window.__xss=1</script>'])
def test_colours_must_be_rrggbb(app, admin_client, seeded, color):
    """A colour lands in a style attribute: only #rrggbb is accepted anywhere."""
    posts = [(f"/tags/groups/{seeded['group']}/tags", {"name": "New", "color": color}),
             (f"/tags/{seeded['tag']}/edit", {"name": "VIP", "color": color}),
             (f"/tags/{seeded['tag']}/color", {"color": color}),
             (f"/admin/pipelines/{seeded['pipeline']}/stages",
              {"name": "Stage X", "probability": "10", "kind": "open", "color": color}),
             (f"/admin/pipelines/stages/{seeded['stage']}/edit",
              {"name": "Stage Y", "probability": "10", "kind": "open", "color": color})]
    for url, data in posts:
        response = admin_client.post(url, data=data)
        assert response.status_code in (400, 422), (url, response.status_code)
    with app.app_context():
        colours = [c for (c,) in _db.session.execute(_db.select(Tag.color))] + \
                  [c for (c,) in _db.session.execute(_db.select(Stage.color))]
        assert all(re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in colours), colours


# --- 3. sizes -------------------------------------------------------------------------------

def test_oversized_post_gets_413_with_the_translated_error_page(app, admin_client, seeded, make_user, login):
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024
    big = "x" * (16 * 1024 * 1024 + 10)
    response = admin_client.post("/notes", data={"body": big, "customer_id": str(seeded["customer"])})
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "<html" in html and "413" in html
    chinese = make_user("sales", language="zh_CN")
    client = login(chinese)
    response = client.post("/customers/new", data={"name": "x", "description": big})
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert 'lang="zh' in html and re.search(r"[\u4e00-\u9fff]", html), html[:500]
    with app.app_context():
        assert _db.session.execute(_db.select(func.count()).select_from(Note)).scalar() == 1


def _text_fields():
    """(module, form, field, max length) of every text input of every form of the app."""
    found = []
    for area in ("auth", "admin", "customers", "tags", "opportunities", "pipelines", "tasks", "notes"):
        module = importlib.import_module(f"crm.{area}.forms")
        for form_name, form_class in vars(module).items():
            if not (inspect.isclass(form_class) and issubclass(form_class, Form)
                    and form_class.__module__ == module.__name__):
                continue
            for field_name, unbound in inspect.getmembers(form_class, lambda v: isinstance(v, UnboundField)):
                if not issubclass(unbound.field_class, StringField) or issubclass(unbound.field_class, HiddenField):
                    continue
                validators = unbound.kwargs.get("validators") or (unbound.args[1] if len(unbound.args) > 1 else [])
                limits = [v.max for v in validators if isinstance(v, Length) and v.max and v.max > 0]
                anchored = [v for v in validators if isinstance(v, Regexp)
                            and v.regex.pattern.startswith("^") and v.regex.pattern.endswith("$")]
                found.append((area, form_name, field_name, limits[0] if limits else None, bool(anchored)))
    return found


def test_every_text_field_has_a_length_limit():
    fields = _text_fields()
    assert len(fields) > 40
    unlimited = [f"{area}.{form}.{name}" for area, form, name, limit, anchored in fields
                 if limit is None and not anchored]
    assert not unlimited, f"text fields without a Length(max=...): {unlimited}"


TOO_LONG_POSTS = [
    # (url template, field, max, other fields)
    ("/customers/new", "name", 200, {}), ("/customers/new", "industry", 100, {"name": "n"}),
    ("/customers/new", "address", 500, {"name": "n"}), ("/customers/new", "description", 10000, {"name": "n"}),
    ("/customers/new", "website", 255, {"name": "n"}),
    ("/customers/{customer}/contacts", "name", 120, {}), ("/customers/{customer}/contacts", "title", 120, {"name": "n"}),
    ("/customers/segments", "name", 120, {"query": ""}),
    ("/notes", "body", 10000, {"customer_id": "{customer}"}),
    ("/tags/groups", "name", 80, {"choice": "multiple"}),
    ("/tags/groups/{group}/tags", "name", 80, {"color": "#123456"}),
    ("/opportunities/new", "title", 200, {}), ("/opportunities/new", "needs", 10000, {"title": "t"}),
    ("/opportunities/new", "description", 20000, {"title": "t"}),
    ("/opportunities/{opportunity}/competitors", "name", 200, {}),
    ("/opportunities/{opportunity}/competitors", "notes", 2000, {"name": "n"}),
    ("/tasks/new", "title", 200, {}),
    ("/admin/pipelines", "name", 120, {"start_from": "basic"}),
    ("/admin/pipelines/{pipeline}/stages", "name", 120, {"probability": "10", "kind": "open", "color": "#123456"}),
    ("/admin/pipelines/{pipeline}/stages", "playbook", 5000,
     {"name": "n", "probability": "10", "kind": "open", "color": "#123456"}),
    ("/admin/pipelines/lost-reasons", "name", 120, {}),
    ("/admin/users/new", "name", 120, {"email": "n@example.com", "password": TEST_PASSWORD}),
    ("/account", "name", 120, {"language": "en", "timezone": "UTC"}),
]


@pytest.mark.parametrize("url,field,limit,others", TOO_LONG_POSTS,
                         ids=[f"{u}:{f}" for u, f, _, _ in TOO_LONG_POSTS])
def test_overly_long_text_is_refused_with_422(app, admin_client, seeded, url, field, limit, others):
    before = row_counts(app)
    data = valid_form(seeded)
    data.update({k: fill(v, seeded) for k, v in others.items()})
    data[field] = "y" * (limit + 1)
    response = admin_client.post(fill(url, seeded), data=data)
    assert response.status_code == 422, response.status_code
    assert row_counts(app) == before


def test_a_refused_note_without_javascript_says_why(app, admin_client, seeded):
    """Its page again (422), the error beside the field (tests/test_nojs_notes.py)."""
    for body, error in (("", "Write what was said or done."), ("y" * 10_001, "10000")):
        response = admin_client.post("/notes", data={"body": body, "customer_id": str(seeded["customer"])})
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert "<html" in html and error in html


# --- 4. open redirects ---------------------------------------------------------------------

EVIL = ["https://evil.example", "//evil.example", "/\\evil.example", "\\\\evil.example", "http:evil.example",
        "https:evil.example", "/\t/evil.example", "/%2F/evil.example", "///evil.example",
        "http://localhost@evil.example/", "javascript:alert(1)", "\\/evil.example",
        "https://localhost//evil.example", "http://localhost//evil.example/x", " //evil.example"]


def stays_on_site(response) -> bool:
    """The Location (or HX-Redirect) resolves, as a browser would, to this site."""
    target = response.headers.get("Location") or response.headers.get("HX-Redirect")
    if not target:
        return True
    # Browsers drop tabs and newlines, treat a backslash as a slash and decode nothing else.
    cleaned = re.sub(r"[\t\r\n]", "", target).replace("\\", "/").strip()
    resolved = urlsplit(urljoin("http://localhost/somewhere/page", cleaned))
    return resolved.scheme in ("http", "https") and resolved.netloc == "localhost" \
        and not resolved.path.startswith("//")


@pytest.mark.parametrize("evil", EVIL)
def test_login_next_never_leaves_the_site(app, client, admin, evil):
    response = client.post(f"/login?{urlencode({'next': evil})}",
                           data={"email": admin.email, "password": TEST_PASSWORD})
    assert response.status_code in (302, 303)
    assert stays_on_site(response), response.headers["Location"]
    response = client.get(f"/login?{urlencode({'next': evil})}")  # already logged in
    assert stays_on_site(response), response.headers.get("Location")


@pytest.mark.parametrize("evil", EVIL)
def test_every_redirecting_route_stays_on_the_site(app, admin, login, admin_client, seeded, evil):
    """Language switch `next`, the stage route's Referer, the task routes' `next` and Referer,
    and every other POST route given `next`/`back` and a Referer from elsewhere."""
    failures = []
    ids = seeded
    checks = [
        ("post", "/account/language", {"language": "en", "next": evil}, {}),
        ("post", f"/opportunities/{ids['opportunity']}/stage", {"stage_id": str(ids["stage"])}, {"Referer": evil}),
        ("post", "/tasks/new", {"title": "T", "assignee_id": str(ids["user"]), "next": evil}, {"Referer": evil}),
        ("post", f"/tasks/{ids['task']}/edit", {"title": "T", "assignee_id": str(ids["user"]), "next": evil},
         {"Referer": evil}),
        ("post", f"/tasks/{ids['task']}/toggle", {"done": "1", "next": evil}, {"Referer": evil}),
        ("get", f"/tasks/new?{urlencode({'next': evil})}", None, {"Referer": evil}),
    ]
    for method, url, data, headers in checks:
        response = Answer(admin_client, method, url, data=data, headers=headers)
        if not isinstance(response.status_code, int) or response.status_code >= 500 \
                or not stays_on_site(response):
            failures.append((url, response.status_code, response.headers.get("Location")))
        if method == "get":
            # A form that carries `next` along must not carry the evil one.
            html = response.get_data(as_text=True)
            match = re.search(r'name="next"[^>]*value="([^"]*)"', html) or \
                re.search(r'value="([^"]*)"[^>]*name="next"', html)
            if match and match.group(1).replace("&#34;", '"') == evil:
                failures.append((url, "kept next", match.group(1)))
    # Every POST route, fed `next`, `back` and a foreign Referer (trash/undo routes included).
    for rule in app.url_map.iter_rules():
        # (the routes that log out are fed theirs last, below)
        if "POST" not in rule.methods or rule.endpoint in (
                "auth.logout", "auth.login", "auth.setup", "auth.revoke_sessions",
                "auth.end_session"):
            continue
        ids = seed_again_if_gone(app, ids)
        data = valid_form(ids)
        data.update(next=evil, back=evil)
        response = Answer(admin_client, "post", rule_path(rule, ids), data=data, headers={"Referer": evil})
        if not isinstance(response.status_code, int) or response.status_code >= 500 \
                or not stays_on_site(response):
            failures.append((rule.rule, response.status_code, response.headers.get("Location")))
    # Undo from the trash goes back to `next`: only on this site.
    if "trash.restore_batch" in app.view_functions:
        ids = seed_again_if_gone(app, ids)
        admin_client.post(f"/customers/{ids['customer']}/delete")
        with app.app_context():
            batch = _db.session.execute(
                _db.select(Customer.deleted_batch).where(Customer.id == ids["customer"])
                .execution_options(include_deleted=True)).scalar()
            _db.session.remove()
        assert batch, "the customer did not go to the trash"
        response = Answer(admin_client, "post", f"/trash/{batch}/restore", data={"next": evil},
                          headers={"Referer": evil})
        if response.status_code != 303 or not stays_on_site(response):
            failures.append(("restore", response.status_code, response.headers.get("Location")))
    assert not failures, failures
    response = admin_client.post("/logout", data={"next": evil}, headers={"Referer": evil})
    assert stays_on_site(response)
    login(admin)
    response = admin_client.post("/account/sessions/revoke", data={"next": evil},
                                 headers={"Referer": evil})
    assert response.status_code == 303 and stays_on_site(response)


# --- 5. CSRF on every state-changing route -------------------------------------------------

def _post_rules():
    from crm import create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True, "SECRET_KEY": "x"})
    return sorted((r.rule, r.endpoint) for r in app.url_map.iter_rules()
                  if r.methods & {"POST", "PUT", "PATCH", "DELETE"})


# Posted to without a session by design, and guarded otherwise: the public web form (its signed
# fill-time token, a honeypot and a rate limit; tests/test_webforms.py).
CSRF_EXEMPT = {"webforms_public.show"}
POST_RULES = [rule for rule in _post_rules() if rule[1] not in CSRF_EXEMPT]


def test_the_post_rules_are_enumerated():
    endpoints = {endpoint for _, endpoint in POST_RULES}
    assert {"auth.login", "notes.create", "customers.create", "opportunities.change_stage",
            "tasks.toggle", "pipelines.reorder_stages"} <= endpoints
    assert len(POST_RULES) > 50


@pytest.mark.parametrize("rule,endpoint", POST_RULES, ids=[e for _, e in POST_RULES])
def test_every_state_change_refuses_a_post_without_a_csrf_token(app, admin, rule, endpoint):
    assert app.config["WTF_CSRF_ENABLED"]
    ids = seed(app, admin)
    before = row_counts(app)
    client = app.test_client()
    if endpoint != "auth.setup":
        with client.session_transaction() as session:
            session["_user_id"] = session_user_id(app, admin.id)
            session["_fresh"] = True
    path = rule_path(next(r for r in app.url_map.iter_rules() if r.rule == rule and r.endpoint == endpoint), ids)
    data = valid_form(ids)
    data.update(email=admin.email, password=TEST_PASSWORD)
    for headers in ({}, {"HX-Request": "true"}, {"HX-Request": "true", "X-CSRFToken": "forged"}):
        response = client.post(path, data=data, headers=headers)
        assert response.status_code in (400, 404), (headers, response.status_code)
        # 404 only where the route refuses to exist (setup, once there are users).
        if response.status_code == 404:
            assert endpoint == "auth.setup"
    assert row_counts(app) == before
    # The token of another session does not work either.
    other = app.test_client()
    html = other.get("/login").get_data(as_text=True)
    response = client.post(path, data={**data, "csrf_token": csrf_token_from(html)},
                           headers={"X-CSRFToken": csrf_token_from(html)})
    assert response.status_code in (400, 404)
    assert row_counts(app) == before


def test_a_post_with_the_token_in_the_header_is_accepted(app, admin, login):
    """The htmx way: X-CSRFToken from <body hx-headers>, no hidden field."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, admin.id)
        session["_fresh"] = True
    html = client.get("/customers/new").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": ?"([^"]+)"', html.replace("&#34;", '"')).group(1)
    response = client.post("/customers/new", data={"name": "Via header", "kind": "company"},
                           headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code in (200, 303), response.status_code
    with app.app_context():
        assert _db.session.execute(_db.select(Customer).filter_by(name="Via header")).scalar_one()


# --- 6. no database write on a GET ----------------------------------------------------------

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|TRUNCATE)\b", re.I)


def test_no_database_write_on_any_get(app, make_user, admin):
    """Every GET route (pages and fragments) as a logged-in user, and as one logged in through the
    form with "remember me" whose session cookie is gone: not one INSERT, UPDATE or DELETE."""
    ids = seed(app, admin)
    sales = make_user("sales", email="s@example.com")
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        response = client.post("/login", data={"email": admin.email, "password": TEST_PASSWORD,
                                               "remember": "y"})
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    assert response.status_code in (302, 303)
    assert client.get_cookie("remember_token") is not None
    paths = [rule_path(rule, ids) for rule in app.url_map.iter_rules()
             if "GET" in rule.methods and rule.endpoint not in ("static",)]
    paths += ["/customers?q=acme&tag=1&sort=name", "/opportunities?q=deal&status=open",
              f"/pipeline?pipeline={ids['pipeline']}&owner=me", "/tasks?assignee=all",
              "/tasks/related?related_q=acme", "/opportunities/customer-search?customer_q=ac",
              "/customers/duplicates?name=Acme"]
    writes = []
    sales_client, sales_cookie_id = app.test_client(), session_user_id(app, sales.id)
    with app.app_context():
        engine = _db.engine
    with count_queries(engine) as statements:
        for path in paths:
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(path, headers=headers)
                assert response.status_code < 500, (path, response.status_code)
        # The session cookie gone, "remember me" logs the user back in on a GET.
        client.delete_cookie("session")
        assert client.get("/customers").status_code == 200
        assert client.get("/tasks").status_code == 200
        with sales_client.session_transaction() as session:
            session["_user_id"] = sales_cookie_id
            session["_fresh"] = True
        for path in paths[:40]:
            sales_client.get(path)
        writes = [s for s in statements if WRITE.match(s)]
    assert not writes, writes[:5]
    assert len(statements) > len(paths)  # the listener did see the requests
