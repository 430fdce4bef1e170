"""Capture (issue 11 parts 3, 4 and 7): assignment rules (a fixed owner, round-robin skipping
inactive users, the pool; the owner's contact task), the round-robin race with threads, the
public web form /f/<key> (a lead, or a note on the open lead with the same email or phone;
spam guards: honeypot, signed fill time, rate limit per address; framing only from the
admin's origins), its bad input (413, 404, 400 refilled, 429, escaping, no 500), and who may
manage forms and rules (a matrix of route x role)."""
import re
import threading
from collections import Counter
from datetime import timedelta

import pytest

from crm.extensions import db
from crm.leads import services as lead_services
from crm.leads.assignment import assign_new_lead, save_rule, take_turn
from crm.models import (AssignmentRule, AuditEntry, CustomField, Lead, LeadSource, Note,
                        OwnerChange, Task, User, WebForm, utcnow)
from crm.rules import RuleError
from crm.webforms import services
from crm.webforms.throttle import limiter
from tests import factories
from tests.conftest import session_user_id


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    limiter.reset()
    yield
    limiter.reset()


@pytest.fixture
def world(app):
    """admin, manager, alice and bob (sales), a round-robin rule among alice and bob and a form
    with name, company, phone, email and message using it."""
    with app.app_context():
        lead_services.ensure_defaults()
        users = {name: factories.user(role, email=f"{name}@example.com", name=name.capitalize(),
                                      commit=False)
                 for name, role in (("admin", "admin"), ("manager", "manager"), ("alice", "sales"),
                                    ("bob", "sales"))}
        db.session.flush()
        rule = save_rule(None, name="Sales team", mode="round_robin", owner=None,
                         members=[users["alice"], users["bob"]], contact_hours=4)
        web_form = services.save_form(None, {
            "name": "Contact us", "language": "en", "campaign": "Expo 2026",
            "fields": ["company", "phone", "email", "message"], "rule_id": rule.id,
            "frame_origins": "https://www.example.com\nhttps://shop.example.com:8443"},
            custom_inputs=set())
        db.session.commit()
        return {"users": {k: v.id for k, v in users.items()}, "rule": rule.id,
                "form": web_form.id, "key": web_form.key}


def _token(app, form_id, seconds_ago=10):
    with app.app_context():
        return services.issue_token(db.session.get(WebForm, form_id),
                                    now=utcnow() - timedelta(seconds=seconds_ago))


def _post(client, app, world, **data):
    data.setdefault("token", _token(app, world["form"]))
    return client.post(f"/f/{world['key']}", data=data)


def _login(client, app, user_id):
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, user_id)
        session["_fresh"] = True
    return client


# --- assignment rules ------------------------------------------------------------------------

def _new_lead(name="王芳"):
    return lead_services.save_lead(None, None, {"name": name, "owner_id": None})


def test_fixed_owner_gets_the_lead_and_a_contact_task(db):
    owner = factories.user("sales", name="Olga", language="zh_CN", commit=False)
    db.session.flush()
    rule = save_rule(None, name="Olga", mode="owner", owner=owner, members=[], contact_hours=6)
    now = utcnow()
    lead = _new_lead()
    assert assign_new_lead(lead, rule, now) is owner
    db.session.commit()
    task = db.session.execute(db.select(Task).where(Task.lead_id == lead.id)).scalar_one()
    assert lead.owner_id == owner.id and task.assignee_id == owner.id
    assert task.due_at == now + timedelta(hours=6)
    assert task.title == "6 小时内联系 王芳"  # in the owner's language
    history = db.session.execute(db.select(OwnerChange).where(
        OwnerChange.record_kind == "lead", OwnerChange.record_id == lead.id)).scalars().all()
    assert [(h.how, h.from_user_id, h.to_user_id, h.reason) for h in history] == [
        ("assigned", None, owner.id, "Olga")]  # once: the session listener does not add a second
    assert lead.owner_since == now


def test_inactive_fixed_owner_and_pool_leave_the_lead_unowned(db):
    owner = factories.user("sales", commit=False)
    db.session.flush()
    rule = save_rule(None, name="Fixed", mode="owner", owner=owner, members=[], contact_hours=6)
    pool = save_rule(None, name="Pool", mode="pool", owner=None, members=[], contact_hours=6)
    owner.active = False
    for which in (rule, pool, None):
        lead = _new_lead()
        assert assign_new_lead(lead, which) is None
        assert lead.owner_id is None
    db.session.commit()
    assert db.session.execute(db.select(db.func.count(Task.id))).scalar() == 0


def test_round_robin_takes_turns_by_user_id_and_skips_inactive_users(db):
    a, b, c = (factories.user("sales", name=n, commit=False) for n in "ABC")
    db.session.flush()
    rule = save_rule(None, name="RR", mode="round_robin", owner=None, members=[c, a, b],
                     contact_hours=2)
    owners = [assign_new_lead(_new_lead(), rule).name for _ in range(4)]
    assert owners == ["A", "B", "C", "A"]
    b.active = False
    owners = [assign_new_lead(_new_lead(), rule).name for _ in range(4)]
    assert set(owners) == {"A", "C"} and owners[0] != owners[1] and owners[1] != owners[2]
    a.active = c.active = False
    assert assign_new_lead(_new_lead(), rule) is None


def test_rule_checks(db):
    user = factories.user("sales", commit=False)
    gone = factories.user("sales", active=False, commit=False)
    db.session.flush()
    cases = [({"name": "", "mode": "pool"}, "name"),
             ({"name": "x", "mode": "bogus"}, "mode"),
             ({"name": "x", "mode": "owner", "owner": gone}, "owner_id"),
             ({"name": "x", "mode": "round_robin", "members": [gone]}, "member_ids"),
             ({"name": "x", "mode": "pool", "contact_hours": 0}, "contact_hours"),
             ({"name": "x", "mode": "pool", "contact_hours": 721}, "contact_hours")]
    for values, field in cases:
        kwargs = {"owner": None, "members": [], "contact_hours": 24, **values}
        with pytest.raises(RuleError) as error:
            save_rule(None, **kwargs)
        assert error.value.field == field
    assert save_rule(None, name="ok", mode="round_robin", owner=None, members=[user, gone],
                     contact_hours=24).members == [user, gone]


def test_round_robin_is_fair_under_concurrent_submissions(app):
    """Eight leads assigned at once by eight threads, each in its own transaction: the turns
    are 1..8 (no two threads read the same turn) and each of four members gets exactly two."""
    with app.app_context():
        members = [factories.user("sales", name=f"M{i}", commit=False) for i in range(4)]
        db.session.flush()
        rule_id = save_rule(None, name="RR", mode="round_robin", owner=None, members=members,
                            contact_hours=1).id
        db.session.commit()
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    owners, errors = [], []

    def submit():
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                rule = db.session.get(AssignmentRule, rule_id)
                lead = _new_lead("并发")  # the lead and its turn in one transaction
                owner = assign_new_lead(lead, rule)
                db.session.commit()
                owners.append(owner.name)
                db.session.remove()
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=submit) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert Counter(owners) == {f"M{i}": 2 for i in range(4)}
    with app.app_context():
        assert db.session.get(AssignmentRule, rule_id).turn == threads_count
        assert db.session.execute(db.select(db.func.count(Task.id))).scalar() == threads_count


def test_take_turn_is_one_update(db):
    rule = save_rule(None, name="RR", mode="pool", owner=None, members=[], contact_hours=1)
    assert [take_turn(rule.id) for _ in range(3)] == [1, 2, 3]


# --- the form's own rules --------------------------------------------------------------------

@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", "ftp://example.com/",
                                 "/thanks", "https://", "https://exa mple.com/", "http:/x"])
def test_redirect_must_be_http_or_https(app_ctx, url):
    with pytest.raises(RuleError) as error:
        services.check_redirect_url(url)
    assert error.value.field == "redirect_url"


def test_redirect_and_origins_accepted(app_ctx):
    assert services.check_redirect_url(" https://example.com/thanks?x=1 ") == "https://example.com/thanks?x=1"
    assert services.check_redirect_url("") is None
    assert services.parse_origins("https://www.Example.com/\nhttp://localhost:8080 https://www.example.com") == [
        "https://www.example.com", "http://localhost:8080"]
    for bad in ("https://a.com/path", "https://a.com;script-src", "*", "a.com", "https://*.a.com",
                "javascript://a"):
        with pytest.raises(RuleError):
            services.parse_origins(bad)


def test_token_checks(app, world):
    with app.app_context():
        web_form = db.session.get(WebForm, world["form"])
        other = services.save_form(None, {"name": "Other", "language": "zh_CN", "fields": []},
                                   custom_inputs=set())
        now = utcnow()
        services.check_token(web_form, services.issue_token(web_form, now - timedelta(seconds=5)), now)
        for token, reason in ((services.issue_token(web_form, now), "too_fast"),
                              (services.issue_token(web_form, now - timedelta(days=2)), "expired"),
                              (services.issue_token(other, now - timedelta(seconds=5)), "forged"),
                              ("x" + services.issue_token(web_form, now - timedelta(seconds=5)), "forged"),
                              ("", "forged"), (None, "forged")):
            with pytest.raises(services.TokenError) as error:
                services.check_token(web_form, token, now)
            assert error.value.reason == reason


# --- the public form -------------------------------------------------------------------------

def test_public_form_needs_no_login_and_frames_only_from_the_listed_origins(client, world):
    response = client.get(f"/f/{world['key']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="website"' in html and 'name="token"' in html and "mainnav" not in html
    assert "csrf_token" not in html
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors https://www.example.com https://shop.example.com:8443;" in policy
    assert "X-Frame-Options" not in response.headers
    # Everywhere else the app stays unframable.
    other = client.get("/login")
    assert other.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]


def test_a_submission_makes_an_assigned_scored_audited_lead_with_a_task(client, app, world):
    response = _post(client, app, world, name="王芳", company="北京星辰科技", phone="138 0013 8000",
                     email="WF@example.com", message="想了解报价")
    assert response.status_code == 303 and response.headers["Location"].endswith("?sent=1")
    thanks = client.get(response.headers["Location"])
    assert "We received your details" in thanks.get_data(as_text=True)
    with app.app_context():
        lead = db.session.execute(db.select(Lead)).scalar_one()
        assert (lead.name, lead.status, lead.campaign, lead.created_by_id) == (
            "王芳", "new", "Expo 2026", None)
        assert db.session.get(LeadSource, lead.source_id).key == "web_form"
        assert lead.owner_id == world["users"]["alice"]  # the first turn, by user id
        assert lead.score_parts is not None
        assert db.session.execute(db.select(Note.body).where(Note.lead_id == lead.id)).scalar() == "想了解报价"
        task = db.session.execute(db.select(Task).where(Task.lead_id == lead.id)).scalar_one()
        assert task.assignee_id == world["users"]["alice"] and "4" in task.title
        assert db.session.execute(db.select(AuditEntry).where(
            AuditEntry.entity == "leads", AuditEntry.entity_id == lead.id)).first() is not None
        lead_id = lead.id
    _login(client, app, world["users"]["alice"])
    assert "王芳" in client.get("/leads").get_data(as_text=True)
    assert "Contact 王芳 within 4 hours" in client.get("/tasks").get_data(as_text=True)
    _login(client, app, world["users"]["bob"])
    assert client.get(f"/leads/{lead_id}").status_code == 404


def test_same_email_or_phone_as_an_open_lead_adds_a_note(client, app, world):
    _post(client, app, world, name="王芳", phone="+86 138-0013-8000", email="a@example.com")
    assert _post(client, app, world, name="Wang Fang", phone="13800138000",
                 message="second time").status_code == 303
    assert _post(client, app, world, name="W", email="A@Example.com").status_code == 303
    with app.app_context():
        leads = db.session.execute(db.select(Lead)).scalars().all()
        assert len(leads) == 1
        notes = db.session.execute(db.select(Note.body).where(Note.lead_id == leads[0].id)
                                   .order_by(Note.id)).scalars().all()
        assert len(notes) == 2 and "second time" in notes[0] and "Wang Fang" in notes[0]
        assert db.session.execute(db.select(db.func.count(Task.id))).scalar() == 1
        # A disqualified lead is closed: the next submission is a new lead (bob's turn).
        leads[0].status = "disqualified"
        db.session.commit()
    _post(client, app, world, name="王芳", phone="13800138000")
    with app.app_context():
        owners = db.session.execute(db.select(Lead.owner_id).order_by(Lead.id)).scalars().all()
        assert owners == [world["users"]["alice"], world["users"]["bob"]]


def test_redirect_after_submission(client, app, world):
    with app.app_context():
        web_form = db.session.get(WebForm, world["form"])
        web_form.redirect_url = "https://www.example.com/thanks"
        db.session.commit()
    response = _post(client, app, world, name="Li", email="li@example.com")
    assert response.status_code == 303 and response.headers["Location"] == "https://www.example.com/thanks"
    policy = client.get(f"/f/{world['key']}").headers["Content-Security-Policy"]
    assert "form-action 'self' https://www.example.com" in policy


def test_custom_fields_on_the_form(client, app, world):
    with app.app_context():
        db.session.add(CustomField(record_type="lead", key="budget_band", label_en="Budget band",
                                   label_zh="预算", type="integer", position=1))
        db.session.add(CustomField(record_type="lead", key="rep", label_en="Rep", label_zh="销售",
                                   type="user", position=2))
        db.session.commit()
        assert [n for n, _ in services_field_choices()] [-1] == "cf_budget_band"  # no user field
        web_form = db.session.get(WebForm, world["form"])
        web_form.fields = [*web_form.fields, "cf_budget_band"]
        db.session.commit()
    html = client.get(f"/f/{world['key']}").get_data(as_text=True)
    assert 'name="cf_budget_band"' in html and 'name="cf_rep"' not in html
    bad = _post(client, app, world, name="Li", email="li@example.com", cf_budget_band="lots")
    assert bad.status_code == 422
    assert _post(client, app, world, name="Li", email="li@example.com", cf_budget_band="5",
                 cf_rep=str(world["users"]["bob"])).status_code == 303
    with app.app_context():
        assert db.session.execute(db.select(Lead.custom)).scalar() == {"budget_band": 5}


def services_field_choices():
    from crm.webforms.queries import field_choices
    return field_choices("en")


# --- bad input (part 7) ----------------------------------------------------------------------

def _lead_count(app):
    with app.app_context():
        return db.session.execute(db.select(db.func.count(Lead.id))).scalar()


def test_missing_forged_and_closed_keys_are_404(client, app, world):
    for key in ("nope", "x" * 65, world["key"] + "x", world["key"][:-1]):
        for method in (client.get, client.post):
            response = method(f"/f/{key}", data={"name": "x"})
            assert response.status_code == 404
            assert "does not exist" in response.get_data(as_text=True)
    with app.app_context():
        db.session.get(WebForm, world["form"]).active = False
        db.session.commit()
    assert client.get(f"/f/{world['key']}").status_code == 404
    assert _post(client, app, world, name="Li", email="li@example.com").status_code == 404
    assert _lead_count(app) == 0


def test_oversized_body_is_refused_before_parsing(client, app, world):
    response = _post(client, app, world, name="Li", email="li@example.com", message="x" * 70_000)
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert _lead_count(app) == 0


def test_unknown_fields_are_ignored(client, app, world):
    assert _post(client, app, world, name="Li", email="li@example.com", owner_id=world["users"]["bob"],
                 status="qualified", score="99", source_id="1", wechat="not-asked",
                 custom="{}", id="7").status_code == 303
    with app.app_context():
        lead = db.session.execute(db.select(Lead)).scalar_one()
        assert lead.status == "new" and lead.wechat is None
        assert lead.owner_id == world["users"]["alice"]


def test_html_and_htmx_attributes_are_stored_as_text_and_escaped(client, app, world):
    evil = '<script>alert(1)</script><img src=x onerror=alert(2) hx-get="/admin/users" hx-trigger="load">'
    assert _post(client, app, world, name=evil, company=evil, email="x@example.com",
                 message=evil).status_code == 303
    with app.app_context():
        lead = db.session.execute(db.select(Lead)).scalar_one()
        assert lead.name == evil[:200] and lead.company == evil[:200]
    _login(client, app, world["users"]["alice"])
    for path in (f"/leads/{lead.id}", "/leads", "/tasks"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in html and 'hx-get="/admin/users"' not in html
        assert "&lt;script&gt;" in html
    # Refilled on a 422 (no phone or email) the values are escaped too.
    client.get("/logout")
    page = _post(client, app, world, name=evil).get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


def test_honeypot_stores_nothing_and_says_thanks(client, app, world):
    response = _post(client, app, world, name="Bot", email="bot@example.com", website="http://spam")
    assert response.status_code == 303 and response.headers["Location"].endswith("?sent=1")
    assert _lead_count(app) == 0


@pytest.mark.parametrize("which", ["expired", "forged", "too_fast", "missing"])
def test_bad_timing_token_is_a_400_with_the_form_refilled(client, app, world, which):
    token = {"expired": _token(app, world["form"], seconds_ago=3 * 24 * 3600),
             "forged": "eyJmIjoxLCJ0IjowfQ.forged", "too_fast": _token(app, world["form"], 0),
             "missing": ""}[which]
    response = client.post(f"/f/{world['key']}", data={"name": "李雷", "email": "li@example.com",
                                                      "token": token})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'value="李雷"' in html and 'value="li@example.com"' in html
    assert "Please send it again" in html or "Please check and send it again" in html
    assert _lead_count(app) == 0
    # The page carries a fresh token: sending it (a moment later) works.
    with app.app_context():
        web_form = db.session.get(WebForm, world["form"])
        fresh = re.search(r'id="token" name="token" type="hidden" value="([^"]+)"', html)
        assert fresh is not None
        services.check_token(web_form, fresh.group(1), utcnow() + timedelta(seconds=5))


def test_validation_errors_keep_the_input(client, app, world):
    response = _post(client, app, world, name="", company="星辰", email="not-an-email")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter your name." in html and "Enter a valid email." in html and 'value="星辰"' in html
    response = _post(client, app, world, name="Li")
    assert response.status_code == 422 and "Leave a phone number or an email" in response.get_data(as_text=True)
    assert _lead_count(app) == 0


def test_garbage_never_500(client, app, world):
    url = f"/f/{world['key']}"
    for data in ({"name": "a\x00b", "email": "x@example.com", "token": _token(app, world["form"])},
                 {"name": ["a", "b"], "token": ["x", "y"]}, {}, {"token": "%" * 300}):
        assert client.post(url, data=data).status_code in (400, 422)
    assert client.post(url, data=b"\xff\xfe\x00garbage",
                       content_type="application/x-www-form-urlencoded").status_code in (400, 422)
    assert client.post(url, data="{}", content_type="application/json").status_code in (400, 422)
    assert client.put(url).status_code in (302, 405)  # PUT is no public method: to the login
    assert _lead_count(app) == 0


def test_a_flood_from_one_address_is_429(client, app, world):
    app.config["WEBFORM_RATE_LIMIT"] = "3 per minute"
    try:
        statuses = [_post(client, app, world, name=f"P{i}", email=f"p{i}@example.com").status_code
                    for i in range(5)]
        assert statuses == [303, 303, 303, 429, 429]
        page = _post(client, app, world, name="P9", email="p9@example.com")
        assert page.status_code == 429 and "Too many forms" in page.get_data(as_text=True)
        assert "frame-ancestors https://www.example.com" in page.headers["Content-Security-Policy"]
        # Another address is not held back; reading the form is not counted.
        assert client.get(f"/f/{world['key']}").status_code == 200
        assert _post(client, app, world, name="Q", email="q@example.com",
                     ).status_code == 429
        other = client.post(f"/f/{world['key']}", data={
            "name": "Q", "email": "q@example.com", "token": _token(app, world["form"])},
            environ_base={"REMOTE_ADDR": "10.0.0.9"})
        assert other.status_code == 303
    finally:
        app.config["WEBFORM_RATE_LIMIT"] = "10 per minute;100 per day"
    assert _lead_count(app) == 4


# --- admins: forms and rules -----------------------------------------------------------------

ROLES = ("admin", "manager", "alice", "anonymous")
MATRIX = [
    ("forms list", "get", "/admin/forms", None, (200, 403, 403, 302)),
    ("new form page", "get", "/admin/forms/new", None, (200, 403, 403, 302)),
    ("edit form page", "get", "/admin/forms/{form}", None, (200, 403, 403, 302)),
    ("create a form", "post", "/admin/forms/new",
     {"name": "Expo", "language": "zh_CN", "fields": ["email"]}, (303, 403, 403, 302)),
    ("rules list", "get", "/admin/assignment", None, (200, 403, 403, 302)),
    ("new rule page", "get", "/admin/assignment/new", None, (200, 403, 403, 302)),
    ("edit rule page", "get", "/admin/assignment/{rule}", None, (200, 403, 403, 302)),
    ("create a rule", "post", "/admin/assignment/new",
     {"name": "Pool", "mode": "pool", "contact_hours": "24"}, (303, 403, 403, 302)),
    ("the public form", "get", "/f/{key}", None, (200, 200, 200, 200)),
    ("a missing form", "get", "/admin/forms/999", None, (404, 403, 403, 302)),
]


@pytest.mark.parametrize("name,method,path,data,expected", MATRIX, ids=[m[0] for m in MATRIX])
def test_who_manages_forms_and_rules(client, app, world, name, method, path, data, expected):
    for role, status in zip(ROLES, expected):
        browser = app.test_client()  # CSRF is off while `client` is in use
        if role != "anonymous":
            _login(browser, app, world["users"][role])
        response = getattr(browser, method)(path.format(**world), data=data)
        assert response.status_code == status, (role, response.status_code)


def test_admin_creates_a_form_with_checked_values(client, app, world):
    _login(client, app, world["users"]["admin"])
    with app.app_context():
        source_id = db.session.execute(db.select(LeadSource.id).where(LeadSource.key == "trade_show")).scalar()
    base = {"name": "Expo", "language": "zh_CN", "fields": ["company", "mobile"],
            "rule_id": str(world["rule"]), "source_id": str(source_id), "campaign": "Expo",
            "active": "y"}
    for extra, message in (({"redirect_url": "javascript:alert(1)"}, "starting with http"),
                           ({"frame_origins": "https://a.com/x"}, "is not an origin"),
                           ({"fields": ["password"]}, "not a valid choice"),
                           ({"language": "fr"}, "Not a valid choice")):
        response = client.post("/admin/forms/new", data={**base, **extra})
        assert response.status_code == 422 and message in response.get_data(as_text=True)
        assert 'value="Expo"' in response.get_data(as_text=True)
    response = client.post("/admin/forms/new", data={**base, "frame_origins": "https://a.com"})
    assert response.status_code == 303
    with app.app_context():
        web_form = db.session.execute(db.select(WebForm).where(WebForm.name == "Expo")).scalar_one()
        assert web_form.fields == ["name", "company", "mobile"] and web_form.language == "zh_CN"
        assert web_form.source_id == source_id and web_form.origins == ["https://a.com"]
        assert len(web_form.key) >= 32
        key = web_form.key
    listing = client.get("/admin/forms").get_data(as_text=True)
    assert f"/f/{key}" in listing and "&lt;iframe" in listing
    page = client.get(f"/f/{key}").get_data(as_text=True)
    assert 'lang="zh-CN"' in page and "提交" in page


def test_admin_rule_form_messages(client, app, world):
    _login(client, app, world["users"]["admin"])
    response = client.post("/admin/assignment/new", data={"name": "Fixed", "mode": "owner",
                                                          "contact_hours": "24"})
    assert response.status_code == 422 and "Choose an active user." in response.get_data(as_text=True)
    response = client.post("/admin/assignment/new", data={"name": "RR", "mode": "round_robin",
                                                          "contact_hours": "abc"})
    assert response.status_code == 422
    response = client.post(f"/admin/assignment/{world['rule']}", data={
        "name": "Sales team", "mode": "round_robin", "contact_hours": "8",
        "member_ids": [str(world["users"]["bob"]), "999"]})
    assert response.status_code == 303
    with app.app_context():
        rule = db.session.get(AssignmentRule, world["rule"])
        assert [u.name for u in rule.members] == ["Bob"] and rule.contact_hours == 8
        assert db.session.get(User, world["users"]["bob"]) is not None
