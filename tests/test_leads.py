"""Leads (issue 11): the score with its breakdown and silence once per period (time injected),
BANT, disqualify and reopen, conversion (fuzzy customer match, one transaction, a stale
conversion is a conflict and creates nothing twice), and visibility."""
from datetime import datetime, timedelta, timezone

import pytest

from crm.concurrency import Conflict
from crm.leads import convert as lead_convert
from crm.leads import services
from crm.models import (Contact, Customer, DisqualifyReason, Lead, LeadSource, Note,
                        Opportunity, ScoringRule, TagGroup)
from crm.permissions import can_convert_lead, can_see_lead, visible_leads_clause
from crm.rules import RuleError
from tests import factories

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def rules(db):
    group = factories.tag_group("行为 Behaviour", commit=False)
    group.kind = "behaviour"
    demo = factories.tag(group, "参加演示 demo", commit=False)
    price = factories.tag(group, "询价 price", commit=False)
    db.session.add_all([ScoringRule(kind="base", points=20),
                        ScoringRule(kind="tag", tag=demo, points=20),
                        ScoringRule(kind="tag", tag=price, points=15),
                        ScoringRule(kind="note_kind", note_kind="visit", points=10),
                        ScoringRule(kind="silence", days=30, points=10)])
    services.ensure_defaults()
    db.session.commit()
    return {"demo": demo, "price": price}


def _lead(user, **fields):
    lead = services.save_lead(user, None, {"name": "王芳", "company": "北京星辰科技有限公司",
                                           "phone": "13800138000", **fields}, now=NOW)
    from crm.extensions import db
    db.session.commit()
    return lead


def test_score_breakdown_tags_notes_and_cap(db, rules):
    seller = factories.user("sales")
    lead = _lead(seller)
    assert lead.score == 20 and [p["kind"] for p in lead.score_parts] == ["base"]
    services.set_tags(seller, lead, [rules["demo"], rules["price"]], now=NOW)
    note = services.add_note(seller, lead, kind="visit", body="拜访", now=NOW)
    db.session.commit()
    assert lead.score == 65
    assert {(p["kind"], p["points"], p["ref"]) for p in lead.score_parts} == {
        ("base", 20, None), ("tag", 20, rules["demo"].id), ("tag", 15, rules["price"].id),
        ("note", 10, note.id)}
    assert lead.status == "contacted"
    for _ in range(6):
        services.add_note(seller, lead, kind="visit", body="again", now=NOW)
    assert lead.score == 100  # capped


def test_silence_subtracts_once_per_period(db, rules):
    seller = factories.user("sales")
    lead = _lead(seller)
    services.add_note(seller, lead, kind="call", body="hello", now=NOW)
    from crm.leads.scoring import recompute
    recompute(now=NOW + timedelta(days=29))
    db.session.commit()
    assert db.session.get(Lead, lead.id).score == 20
    for _ in range(3):  # the job runs again and again within one period: once
        recompute(now=NOW + timedelta(days=31))
    db.session.commit()
    assert db.session.get(Lead, lead.id).score == 10
    recompute(now=NOW + timedelta(days=61))
    assert db.session.get(Lead, lead.id).score == 0  # two periods, capped at 0


def test_tags_must_be_behaviour_and_name_required(db, rules):
    seller = factories.user("sales")
    lead = _lead(seller)
    profile = factories.tag("行业 Industry", "制造")
    with pytest.raises(RuleError) as error:
        services.set_tags(seller, lead, [profile])
    assert error.value.field == "tag_ids"
    with pytest.raises(RuleError) as error:
        services.save_lead(seller, None, {"name": "  "})
    assert error.value.field == "name"


def test_disqualify_needs_reason_and_can_reopen(db, rules):
    seller = factories.user("sales")
    lead = _lead(seller)
    with pytest.raises(RuleError):
        services.disqualify(seller, lead, None)
    reason = db.session.execute(db.select(DisqualifyReason)).scalars().first()
    services.disqualify(seller, lead, reason, "no money")
    assert lead.status == "disqualified"
    services.reopen(seller, lead)
    assert lead.status == "nurturing" and lead.disqualify_reason is None
    assert db.session.execute(db.select(LeadSource.key)).scalars().all()


def test_convert_needs_bant_or_manager(db, rules):
    seller = factories.user("sales")
    manager = factories.user("manager")
    lead = _lead(seller)
    assert not can_convert_lead(seller, lead)
    assert can_convert_lead(manager, lead)
    services.set_bant(seller, lead, {k: "yes" for k in ("budget", "authority", "need",
                                                        "timeline")})
    assert lead.status == "qualified" and can_convert_lead(seller, lead)


def test_convert_matches_fuzzy_name_links_and_moves_notes(db, rules):
    seller = factories.user("sales")
    existing = factories.customer(seller, name="星辰科技")
    lead = _lead(seller)
    services.set_tags(seller, lead, [rules["demo"]], now=NOW)
    services.add_note(seller, lead, kind="visit", body="拜访", now=NOW)
    db.session.commit()
    assert existing in lead_convert.matching_customers(lead)
    manager = factories.user("manager")
    from crm.pipelines.services import ensure_defaults
    ensure_defaults()
    stage = factories.stages()["discover"]
    lead_convert.convert(manager, lead, lead.version, customer=existing, stage=stage)
    db.session.commit()
    assert lead.status == "converted" and lead.customer_id == existing.id
    assert lead.opportunity.customer_id == existing.id
    assert lead.contact.name == "王芳"
    note = db.session.execute(db.select(Note).where(Note.lead_id == lead.id)).scalar_one()
    assert note.customer_id == existing.id and note.opportunity_id == lead.opportunity_id
    assert rules["demo"] in existing.tags
    with pytest.raises(RuleError):  # read-only now
        services.save_lead(seller, lead, {"name": "x"})


def test_stale_conversion_is_a_conflict_and_creates_nothing_twice(db, rules):
    seller = factories.user("sales")
    manager = factories.user("manager")
    lead = _lead(seller)
    loaded = lead.version
    lead_convert.convert(manager, lead, loaded)
    db.session.commit()
    customers = db.session.execute(db.select(db.func.count(Customer.id))).scalar()
    with pytest.raises(Conflict):
        lead_convert.convert(manager, lead, loaded)
    db.session.rollback()
    assert db.session.execute(db.select(db.func.count(Customer.id))).scalar() == customers
    assert db.session.execute(db.select(db.func.count(Contact.id))).scalar() == 1


def test_visibility_like_customers(db, rules):
    alice, bob = factories.user("sales"), factories.user("sales")
    manager = factories.user("manager")
    lead = _lead(alice)
    assert can_see_lead(alice, lead) and not can_see_lead(bob, lead)
    assert can_see_lead(manager, lead)
    ids = db.session.execute(db.select(Lead.id).where(visible_leads_clause(bob))).scalars().all()
    assert ids == []
    factories.team_sees_everything()
    assert can_see_lead(bob, lead)


def test_existing_tag_groups_are_profile(db):
    group = factories.tag_group("行业")
    assert db.session.get(TagGroup, group.id).kind == "profile"


# --- HTTP -----------------------------------------------------------------------------------

def _post(client, url, data, **kwargs):
    from tests.conftest import csrf_token_from
    page = client.get(kwargs.pop("form_url", url))
    return client.post(url, data={"csrf_token": csrf_token_from(page.get_data(as_text=True)),
                                  **data}, **kwargs)


def test_http_create_nurture_and_convert(client, login, make_user, app):
    seller = make_user("sales")
    manager = make_user("manager")
    login(seller)
    response = _post(client, "/leads/new", {"name": "", "company": "x"})
    assert response.status_code == 422 and "Enter the person" in response.get_data(as_text=True)
    response = _post(client, "/leads/new", {"name": "王芳", "company": "北京星辰科技有限公司",
                                            "phone": "13800138000", "email": "wf@example.com"})
    assert response.status_code == 303
    lead_url = response.headers["Location"]
    lead_id = int(lead_url.rstrip("/").split("/")[-1])
    assert "王芳" in client.get("/leads").get_data(as_text=True)
    assert "王芳" in client.get("/leads?q=wf").get_data(as_text=True)  # pinyin initials
    assert "王芳" not in client.get("/leads?status=qualified").get_data(as_text=True)
    response = _post(client, "/notes", {"kind": "visit", "body": "拜访了", "lead_id": lead_id},
                     form_url=f"/leads/{lead_id}")
    assert response.status_code == 303
    page = client.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert "拜访了" in page and "Contacted" in page
    # a salesperson may not convert without BANT all yes
    assert _post(client, f"/leads/{lead_id}/convert", {},
                 form_url=f"/leads/{lead_id}/convert").status_code == 422
    other = make_user("sales")
    login(other)
    assert client.get(f"/leads/{lead_id}").status_code == 404
    assert client.get(f"/leads/{lead_id}", headers={"HX-Request": "true",
                                                    "HX-Target": "lead-score"}).status_code == 404
    assert "王芳" not in client.get("/leads").get_data(as_text=True)
    login(manager)
    page = client.get(f"/leads/{lead_id}/convert").get_data(as_text=True)
    from tests.conftest import csrf_token_from
    token = csrf_token_from(page)
    with app.app_context():
        from crm.models import Stage, Pipeline
        from crm.extensions import db as _db
        stage_id = _db.session.execute(_db.select(Stage.id).join(Pipeline).where(
            Pipeline.key == "default", Stage.kind == "open").order_by(Stage.position)).scalars().first()
    response = client.post(f"/leads/{lead_id}/convert", data={
        "csrf_token": token, "version": "", "customer_id": "", "stage_id": stage_id,
        "title": "星辰 ERP"})
    assert response.status_code == 303 and "/opportunities/" in response.headers["Location"]
    # the same form again (stale): a conflict, nothing created twice
    again = client.post(f"/leads/{lead_id}/convert", data={
        "csrf_token": token, "version": "1", "customer_id": "", "stage_id": stage_id})
    assert again.status_code == 409
    with app.app_context():
        from crm.extensions import db as _db
        assert _db.session.execute(_db.select(_db.func.count(Customer.id))).scalar() == 1
        assert _db.session.execute(_db.select(_db.func.count(Opportunity.id))).scalar() == 1


def test_http_scoring_admin_only_and_rescores(client, login, make_user, app):
    admin = make_user("admin")
    seller = make_user("sales")
    login(seller)
    assert client.get("/admin/scoring").status_code == 403
    login(admin)
    assert _post(client, "/leads/new", {"name": "李雷"}, form_url="/leads/new").status_code == 303
    assert _post(client, "/admin/scoring", {"kind": "silence", "points": "10"}).status_code == 422
    response = _post(client, "/admin/scoring", {"kind": "base", "points": "30"})
    assert response.status_code == 303 and response.headers["Location"].startswith("/jobs/")
    with app.app_context():
        from crm.extensions import db as _db
        assert _db.session.execute(_db.select(Lead.score)).scalar_one() == 30


def test_silence_schedule_is_registered(app):
    from crm.jobs.schedules import SCHEDULES
    assert "rescore-silent-leads" in {s.name for s in SCHEDULES}


def test_export_csv_only_visible_leads(client, login, make_user, app):
    alice, bob = make_user("sales"), make_user("sales")
    with app.app_context():
        from crm.extensions import db as _db
        services.save_lead(_db.session.get(type(alice), alice.id), None, {"name": "王芳"})
        services.save_lead(_db.session.get(type(bob), bob.id), None, {"name": "李雷"})
        _db.session.commit()
    login(alice)
    response = client.get("/leads/export.csv")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "王芳" in body and "李雷" not in body


@pytest.mark.parametrize("url", ["/leads", "/leads/{id}"])
def test_statement_budget_same_at_10_and_many(client, login, make_user, app, url):
    from tests.conftest import count_queries
    seller = make_user("sales")
    login(seller)

    def grow(n):
        with app.app_context():
            from crm.extensions import db as _db
            user = _db.session.get(type(seller), seller.id)
            group = _db.session.execute(db_select_group()).scalar_one_or_none()
            if group is None:
                group = TagGroup(name="行为", kind="behaviour")
                _db.session.add(group)
            tag = factories.tag(group, f"t{n}", commit=False)
            last = None
            for i in range(n):
                last = services.save_lead(user, None, {"name": f"线索 {n}-{i}"})
                last.tags.append(tag)
                services.add_note(user, last, kind="call", body="hi")
            _db.session.commit()
            return last.id

    def statements(lead_id):
        client.get(url.format(id=lead_id))  # warm caches
        with app.app_context():
            from crm.extensions import db as _db
            engine = _db.engine
        with count_queries(engine) as seen:
            assert client.get(url.format(id=lead_id)).status_code == 200
        return len(seen)

    first = statements(grow(10))
    second = statements(grow(60))
    assert first == second and first <= 8, (first, second)


def db_select_group():
    from crm.extensions import db as _db
    return _db.select(TagGroup).where(TagGroup.kind == "behaviour")


def test_trash_and_restore_a_lead_with_its_notes(db, rules):
    from crm.trash import services as trash_services
    from crm.trash.queries import batch_heads, including_deleted
    seller = factories.user("sales")
    lead = _lead(seller)
    services.add_note(seller, lead, kind="call", body="hi", now=NOW)
    db.session.commit()
    result = trash_services.trash(lead, seller)
    db.session.commit()
    assert db.session.execute(db.select(Lead)).scalars().all() == []
    assert db.session.execute(db.select(Note)).scalars().all() == []
    heads = batch_heads()
    kinds = db.session.execute(including_deleted(db.select(heads.c.kind))).scalars().all()
    assert kinds == ["lead"]  # the note goes with its lead, one batch
    trash_services.restore(result.batch, seller)
    db.session.commit()
    assert db.session.execute(db.select(Lead.id)).scalars().all() == [lead.id]
    assert len(db.session.execute(db.select(Note)).scalars().all()) == 1


def test_admin_renames_and_adds_sources(client, login, make_user, app):
    admin = make_user("admin")
    seller = make_user("sales")
    login(seller)
    assert client.get("/admin/lead-lists").status_code == 403
    login(admin)
    page = client.get("/admin/lead-lists").get_data(as_text=True)
    assert "Trade show" in page
    assert _post(client, "/admin/lead-lists", {"list": "source", "name": ""}).status_code == 422
    assert _post(client, "/admin/lead-lists", {"list": "source", "name": "抖音"}).status_code == 303
    assert "抖音" in client.get("/leads/new").get_data(as_text=True)


def test_lead_custom_field_saved_shown_and_travels(client, login, make_user, app):
    from crm.fields import services as field_services
    with app.app_context():
        from crm.extensions import db as _db
        field_services.save_field("lead", None, {"label_en": "Fleet", "key": "fleet", "type": "text"})
        field_services.save_field("customer", None, {"label_en": "Fleet", "key": "fleet", "type": "text"})
        _db.session.commit()
    manager = make_user("manager")
    login(manager)
    response = _post(client, "/leads/new", {"name": "张伟", "company": "Acme 科技", "cf_fleet": "120 trucks"})
    assert response.status_code == 303
    lead_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    assert "120 trucks" in client.get(f"/leads/{lead_id}").get_data(as_text=True)
    response = _post(client, f"/leads/{lead_id}/convert", {"customer_id": "", "stage_id": ""})
    assert response.status_code == 303 and "/customers/" in response.headers["Location"]
    with app.app_context():
        from crm.extensions import db as _db
        lead = _db.session.get(Lead, lead_id)
        assert lead.customer.custom.get("fleet") == "120 trucks"
