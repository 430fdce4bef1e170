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
