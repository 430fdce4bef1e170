"""Opportunities: the stage-move rules (unit) and the routes (test client)."""
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from crm.extensions import db as _db
from crm.models import (Competitor, LostReason, Opportunity, Pipeline, Stage,
                        StageChange, Tag, TagGroup, Task, User, utcnow)
from crm.opportunities.queries import stage_history, stage_periods, time_in_stages
from crm.opportunities.services import (StageMoveError, create_opportunity, link_related,
                                        move_to_stage, reopen_stage, unlink_related)
from tests import factories
from tests.conftest import count_queries, hx


def a_reason(key="price"):
    return _db.session.execute(_db.select(LostReason).where(LostReason.key == key)).scalar_one()


@pytest.fixture
def other_seller(make_user):
    return make_user("sales", email="other@example.com", name="Olga Other")


@pytest.fixture
def me(db, seller):
    return _db.session.get(User, seller.id)


# Rules ---------------------------------------------------------------------------------------

def test_create_writes_first_history_row_and_status_follows_stage(db, me):
    stages = factories.stages()
    opp = create_opportunity(title="ERP", customer=factories.customer(commit=False),
                             stage=stages["discover"], user=me, amount=Decimal("1000.50"))
    _db.session.commit()
    assert opp.status == "open" and opp.closed_at is None
    assert opp.owner_id == me.id and opp.created_by_id == me.id
    assert opp.pipeline_id == stages["discover"].pipeline_id
    [change] = stage_history(opp.id)
    assert change.from_stage_id is None and change.to_stage_id == stages["discover"].id
    assert change.user_id == me.id


def test_move_records_history_status_closed_at_and_bumps_version(db, me):
    stages = factories.stages()
    opp = create_opportunity(title="ERP", customer=factories.customer(commit=False),
                             stage=stages["discover"], user=me)
    version = opp.version
    change = move_to_stage(opp, stages["proposal"], me)
    assert change.from_stage_id == stages["discover"].id and change.to_stage_id == stages["proposal"].id
    assert opp.version == version + 1
    assert opp.stage_entered_at == change.changed_at == opp.last_activity_at
    move_to_stage(opp, stages["signed"], me)
    assert opp.status == "won" and opp.closed_at is not None
    won_at = opp.closed_at
    move_to_stage(opp, stages["delivered"], me)  # won to won keeps the close time
    assert opp.status == "won" and opp.closed_at == won_at
    _db.session.commit()
    assert len(stage_history(opp.id)) == 4


def test_moving_to_the_same_stage_is_a_no_op(db, me):
    stages = factories.stages()
    opp = create_opportunity(title="ERP", customer=factories.customer(commit=False),
                             stage=stages["confirm"], user=me)
    version = opp.version
    assert move_to_stage(opp, stages["confirm"], me) is None
    assert opp.version == version
    assert len(stage_history(opp.id)) == 1


def test_stage_of_another_pipeline_is_refused(db, me):
    stages = factories.stages()
    other = Pipeline(name="Services", position=1)
    other.stages.append(Stage(name="Talk", kind="open", probability=10))
    _db.session.add(other)
    _db.session.flush()
    opp = create_opportunity(title="ERP", customer=factories.customer(commit=False),
                             stage=stages["confirm"], user=me)
    with pytest.raises(StageMoveError) as info:
        move_to_stage(opp, other.stages[0], me)
    assert info.value.field == "stage_id"
    assert opp.stage_id == stages["confirm"].id


def test_lost_needs_an_active_reason_and_leaving_lost_clears_it(db, me):
    stages = factories.stages()
    opp = create_opportunity(title="ERP", customer=factories.customer(commit=False),
                             stage=stages["proposal"], user=me)
    with pytest.raises(StageMoveError) as info:
        move_to_stage(opp, stages["lost"], me)
    assert info.value.field == "lost_reason_id"
    retired = a_reason("other")
    retired.active = False
    with pytest.raises(StageMoveError):
        move_to_stage(opp, stages["lost"], me, lost_reason=retired)
    with pytest.raises(StageMoveError):
        move_to_stage(opp, stages["lost"], me, lost_reason="garbage")
    assert opp.status == "open"
    move_to_stage(opp, stages["lost"], me, lost_reason=a_reason("price").id, lost_note=" Too dear ")
    assert opp.status == "lost" and opp.closed_at is not None
    assert opp.lost_reason.key == "price" and opp.lost_note == "Too dear"
    move_to_stage(opp, stages["negotiation"], me)  # reopen
    assert opp.status == "open" and opp.closed_at is None
    assert opp.lost_reason_id is None and opp.lost_note is None


def test_reopen_is_kept_in_history_and_goes_back_to_the_previous_open_stage(db, me):
    stages = factories.stages()
    opp = create_opportunity(title="ERP", customer=factories.customer(commit=False),
                             stage=stages["proposal"], user=me)
    move_to_stage(opp, stages["negotiation"], me)
    move_to_stage(opp, stages["signed"], me)
    assert reopen_stage(opp).id == stages["negotiation"].id
    move_to_stage(opp, reopen_stage(opp), me)
    _db.session.commit()
    history = [(c.from_stage.key if c.from_stage else None, c.to_stage.key) for c in stage_history(opp.id)]
    assert history == [(None, "proposal"), ("proposal", "negotiation"), ("negotiation", "signed"),
                       ("signed", "negotiation")]
    assert opp.status == "open"


def test_create_in_a_lost_stage_needs_a_reason(db, me):
    stages = factories.stages()
    with pytest.raises(StageMoveError):
        create_opportunity(title="Gone", customer=factories.customer(commit=False),
                           stage=stages["lost"], user=me)
    _db.session.rollback()
    opp = create_opportunity(title="Gone", customer=factories.customer(commit=False),
                             stage=stages["lost"], user=me, lost_reason=a_reason("timing"))
    assert opp.status == "lost" and opp.closed_at is not None and opp.lost_reason.key == "timing"


def test_probability_defaults_to_stage_unless_overridden(db, me):
    stages = factories.stages()
    opp = create_opportunity(title="ERP", customer=factories.customer(commit=False),
                             stage=stages["proposal"], user=me, amount=Decimal("2000"))
    assert opp.probability == 50 and not opp.probability_is_override
    assert opp.weighted_amount == Decimal("1000.00")
    move_to_stage(opp, stages["negotiation"], me)
    assert opp.probability == 70
    opp.probability_override = 35
    move_to_stage(opp, stages["proposal"], me)
    assert opp.probability == 35 and opp.probability_is_override
    assert opp.weighted_amount == Decimal("700.00")


def test_playbook_tasks_go_to_the_owner_with_due_dates(db, me, other_seller):
    stages = factories.stages()
    stages["proposal"].playbook = "Send the proposal | 2\nCall the buyer\n\n"
    stages["discover"].playbook = "Qualify (BANT) | 0"
    owner = _db.session.get(User, other_seller.id)
    opp = create_opportunity(title="ERP", customer=factories.customer(commit=False),
                             stage=stages["discover"], user=me, owner=owner)
    [first] = _db.session.execute(_db.select(Task).where(Task.opportunity_id == opp.id)).scalars().all()
    assert first.title == "Qualify (BANT)" and first.assignee_id == owner.id
    assert first.due_at == opp.stage_entered_at
    change = move_to_stage(opp, stages["proposal"], me)
    tasks = _db.session.execute(_db.select(Task).where(Task.stage_id == stages["proposal"].id)
                                .order_by(Task.id)).scalars().all()
    assert [(t.title, t.assignee_id) for t in tasks] == [("Send the proposal", owner.id),
                                                         ("Call the buyer", owner.id)]
    assert tasks[0].due_at == change.changed_at + timedelta(days=2)
    assert tasks[1].due_at == change.changed_at + timedelta(days=1)
    assert all(t.customer_id == opp.customer_id and t.opportunity_id == opp.id for t in tasks)
    assert move_to_stage(opp, stages["proposal"], me) is None  # no-op: no new tasks
    assert _db.session.query(Task).count() == 3


def test_playbook_tasks_go_to_the_mover_when_there_is_no_owner(db, me):
    stages = factories.stages()
    stages["confirm"].playbook = "Book a visit"
    opp = create_opportunity(title="ERP", customer=factories.customer(commit=False),
                             stage=stages["discover"], user=me)
    opp.owner_id = None
    move_to_stage(opp, stages["confirm"], me)
    task = _db.session.execute(_db.select(Task)).scalar_one()
    assert task.assignee_id == me.id


def test_time_in_each_stage_from_consecutive_changes(db, me):
    stages = factories.stages()
    t0 = utcnow() - timedelta(days=10)
    opp = create_opportunity(title="ERP", customer=factories.customer(commit=False),
                             stage=stages["discover"], user=me, now=t0)
    move_to_stage(opp, stages["confirm"], me, now=t0 + timedelta(days=3))
    move_to_stage(opp, stages["discover"], me, now=t0 + timedelta(days=4))
    periods = stage_periods(stage_history(opp.id), now=t0 + timedelta(days=6))
    assert [p.duration for p in periods] == [timedelta(days=3), timedelta(days=1), timedelta(days=2)]
    assert periods[-1].current and not periods[0].current
    totals = dict((s.key, d) for s, d in time_in_stages(stage_history(opp.id), now=t0 + timedelta(days=6)))
    assert totals == {"discover": timedelta(days=5), "confirm": timedelta(days=1)}


def test_related_links_are_symmetric(db, me):
    stages = factories.stages()
    customer = factories.customer(commit=False)
    a = create_opportunity(title="A", customer=customer, stage=stages["discover"], user=me)
    b = create_opportunity(title="B", customer=customer, stage=stages["discover"], user=me)
    assert link_related(a, b) and not link_related(a, a)
    _db.session.commit()
    assert b.related == [a] and a.related == [b]
    unlink_related(b, a)
    _db.session.commit()
    assert a.related == [] and b.related == []


# Routes --------------------------------------------------------------------------------------

def ids(app):
    with app.app_context():
        stages = {k: s.id for k, s in factories.stages().items()}
        reasons = {r.key: r.id for r in _db.session.execute(_db.select(LostReason)).scalars()}
        return stages, reasons


def test_pages_need_login(client, seller, app, build):
    opp_id = build.opportunity(owner=seller)
    for path in ("/opportunities", "/opportunities/new", f"/opportunities/{opp_id}",
                 f"/opportunities/{opp_id}/edit"):
        response = client.get(path)
        assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_page_and_fragments(client, login, seller, app, build):
    opp_id = build.opportunity(owner=seller, amount=Decimal("1234.50"))
    login(seller)
    page = client.get(f"/opportunities/{opp_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    assert 'id="stage-widget"' in html and 'id="stage-history"' in html and 'id="timeline-items"' in html
    assert "from stage" in html and "ERP rollout" in html and 'name="opportunity_id"' in html
    fragment = client.get(f"/opportunities/{opp_id}", headers=hx("stage-widget"))
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and 'id="stage-widget"' in body
    assert 'id="stage-history"' not in body
    # Boosted navigation wants the whole page.
    boosted = client.get(f"/opportunities/{opp_id}", headers={**hx("stage-widget"), "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)
    assert client.get("/opportunities/999999").status_code == 404


def test_stage_post_without_htmx_redirects_back_303(client, login, seller, app, build):
    opp_id = build.opportunity(owner=seller)
    stages, _ = ids(app)
    login(seller)
    response = client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["proposal"]},
                           headers={"Referer": "http://localhost/opportunities?status=open"})
    assert response.status_code == 303 and response.headers["Location"] == "/opportunities?status=open"
    response = client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["confirm"]},
                           headers={"Referer": "https://evil.example.com/phish"})
    assert response.status_code == 303 and response.headers["Location"] == f"/opportunities/{opp_id}"
    response = client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["negotiation"]})
    assert response.headers["Location"] == f"/opportunities/{opp_id}"
    with app.app_context():
        assert _db.session.get(Opportunity, opp_id).stage_id == stages["negotiation"]
        assert _db.session.query(StageChange).filter_by(opportunity_id=opp_id).count() == 4


def test_stage_post_with_htmx_returns_the_widget_and_history(client, login, seller, app, build):
    opp_id = build.opportunity(owner=seller)
    stages, _ = ids(app)
    login(seller)
    response = client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["signed"]},
                           headers=hx("stage-widget"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert 'id="stage-widget"' in body and "Won on" in body
    assert 'id="stage-history"' in body and 'hx-swap-oob="true"' in body
    assert "Reopen" in body


def test_lost_without_reason_asks_inline_with_422(client, login, seller, app, build):
    opp_id = build.opportunity(owner=seller)
    stages, reasons = ids(app)
    login(seller)
    response = client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["lost"]},
                           headers=hx("stage-widget"))
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert 'name="lost_reason_id"' in body and "Why was it lost?" in body
    assert "<details class=\"lost-details\" open" in body
    assert "Choose why the opportunity was lost." not in body  # asked, not yet an error
    response = client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["lost"],
                           "lost_reason_id": ""}, headers=hx("stage-widget"))
    assert response.status_code == 422
    assert "Choose why the opportunity was lost." in response.get_data(as_text=True)
    # Without JavaScript: the whole page with the question open, still 422.
    page = client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["lost"],
                                                              "lost_note": "kept"})
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and "<html" in html and ">kept</textarea>" in html
    with app.app_context():
        assert _db.session.get(Opportunity, opp_id).status == "open"
    response = client.post(f"/opportunities/{opp_id}/stage",
                           data={"stage_id": stages["lost"], "lost_reason_id": reasons["competitor"],
                                 "lost_note": "They went with X"}, headers=hx("stage-widget"))
    assert response.status_code == 200
    with app.app_context():
        opp = _db.session.get(Opportunity, opp_id)
        assert opp.status == "lost" and opp.lost_reason_id == reasons["competitor"]
        assert opp.lost_note == "They went with X"


def test_stage_post_with_garbage_is_refused_without_500(client, login, seller, app, build):
    opp_id = build.opportunity(owner=seller)
    login(seller)
    for data in ({"stage_id": "abc"}, {}, {"stage_id": "999999"}):
        assert client.post(f"/opportunities/{opp_id}/stage", data=data,
                           headers=hx("stage-widget")).status_code == 422
        # Without JavaScript: the opportunity page again, the reason beside the stage select.
        page = client.post(f"/opportunities/{opp_id}/stage", data=data)
        assert page.status_code == 422 and 'id="stage-select-error"' in page.get_data(as_text=True)


def test_sales_cannot_edit_someone_elses_opportunity(
        client, login, seller, other_seller, app, build):
    opp_id = build.opportunity(owner=other_seller)
    stages, _ = ids(app)
    login(seller)
    assert client.get(f"/opportunities/{opp_id}").status_code == 403  # issue 4: not theirs
    with app.app_context():
        from crm.permissions import set_team_sees_everything
        set_team_sees_everything(True)
        _db.session.commit()
    assert client.get(f"/opportunities/{opp_id}").status_code == 200  # may look when the team sees everything
    for headers in ({}, hx("stage-widget")):
        assert client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["confirm"]},
                           headers=headers).status_code == 403
        assert client.post(f"/opportunities/{opp_id}/stage",
                           data={"stage_id": stages["confirm"], "context": "board"},
                           headers=headers).status_code == 403
    assert client.get(f"/opportunities/{opp_id}/edit").status_code == 403
    assert client.post(f"/opportunities/{opp_id}/edit", data={"title": "x"}).status_code == 403
    assert client.post(f"/opportunities/{opp_id}/competitors", data={"name": "X"},
                       headers=hx("competitors")).status_code == 403
    page = client.get(f"/opportunities/{opp_id}").get_data(as_text=True)
    assert 'id="stage-select"' not in page  # no controls for what they may not do
    with app.app_context():
        assert _db.session.get(Opportunity, opp_id).stage_id == stages["discover"]


def test_manager_can_move_anyones_opportunity(client, login, make_user, seller, app, build):
    manager = make_user("manager")
    opp_id = build.opportunity(owner=seller)
    stages, _ = ids(app)
    login(manager)
    assert client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["confirm"]}).status_code == 303


def form_data(app, customer_id, **overrides):
    stages, reasons = ids(app)
    with app.app_context():
        pipeline_id = _db.session.get(Stage, stages["discover"]).pipeline_id
        owner_id = _db.session.execute(_db.select(User.id).order_by(User.id)).scalars().first()
    data = {"title": "New ERP", "customer_id": str(customer_id), "pipeline_id": str(pipeline_id),
            "stage_id": str(stages["proposal"]), "amount": "12000.50", "currency": "USD",
            "expected_close": "2030-06-30", "probability_override": "", "owner_id": str(owner_id),
            "source": "Trade show", "needs": "A new ERP", "budget": "15000", "description": "",
            "competitors-0-name": "SAP", "competitors-0-notes": "cheaper", "competitors-1-name": "",
            "competitors-1-notes": ""}
    data.update(overrides)
    return data


def test_create_an_opportunity(client, login, seller, app, build):
    customer_id = build.customer(seller, name="上海明日贸易")
    login(seller)
    page = client.get(f"/opportunities/new?customer_id={customer_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "上海明日贸易" in html and 'value="{}" checked'.format(customer_id) in html
    for name in ('name="title"', 'name="customer_id"', 'name="amount"', 'name="stage_id"'):
        assert name in html
    response = client.post("/opportunities/new", data=form_data(app, customer_id, owner_id=str(seller.id)))
    assert response.status_code == 303
    with app.app_context():
        opp = _db.session.execute(_db.select(Opportunity)).scalar_one()
        assert response.headers["Location"] == f"/opportunities/{opp.id}"
        assert opp.amount == Decimal("12000.50") and opp.currency == "USD"
        assert opp.budget == Decimal("15000") and opp.expected_close == date(2030, 6, 30)
        assert opp.probability_override is None and opp.probability == 50
        assert [(c.name, c.notes) for c in opp.competitors] == [("SAP", "cheaper")]
        assert opp.owner_id == seller.id and opp.status == "open"
        assert len(stage_history(opp.id)) == 1


@pytest.mark.parametrize("overrides, field_text", [
    ({"amount": "abc"}, 'value="abc"'),
    ({"amount": "-5"}, "cannot be negative"),
    ({"amount": "1.234"}, "two decimals"),
    ({"amount": "NaN"}, "Enter a number"),
    ({"title": ""}, "Enter a title"),
    ({"customer_id": "999999"}, "This customer does not exist"),
    ({"customer_id": "abc"}, "This customer does not exist"),
    ({"customer_id": ""}, "Choose the customer"),
    ({"probability_override": "150"}, "Between 0 and 100"),
    ({"stage_id": "abc"}, 'name="stage_id"'),
    ({"owner_id": "999999"}, 'name="owner_id"'),
    ({"expected_close": "31/31/2020"}, 'value="31/31/2020"'),
    ({"budget": "lots"}, 'value="lots"'),
])
def test_bad_input_is_422_with_the_form_and_input_kept(
        client, login, seller, app, overrides, field_text, build):
    customer_id = build.customer(seller, name="上海明日贸易")
    login(seller)
    data = form_data(app, customer_id)
    data.update(overrides)
    response = client.post("/opportunities/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html[:500]
    assert field_text in html
    assert 'value="SAP"' in html  # the rest of the input is kept
    with app.app_context():
        assert _db.session.query(Opportunity).count() == 0


def test_stage_of_another_pipeline_and_lost_without_reason_are_422(
        client, login, seller, app, build):
    customer_id = build.customer(seller, name="上海明日贸易")
    stages, reasons = ids(app)
    with app.app_context():
        other = Pipeline(name="Services", position=1)
        other.stages.append(Stage(name="Talk", kind="open", probability=10))
        _db.session.add(other)
        _db.session.commit()
        foreign_stage = other.stages[0].id
    login(seller)
    response = client.post("/opportunities/new", data=form_data(app, customer_id, stage_id=str(foreign_stage)))
    assert response.status_code == 422 and "another pipeline" in response.get_data(as_text=True)
    response = client.post("/opportunities/new", data=form_data(app, customer_id, stage_id=str(stages["lost"])))
    assert response.status_code == 422 and "Choose why the opportunity was lost." in response.get_data(as_text=True)
    response = client.post("/opportunities/new", data=form_data(
        app, customer_id, stage_id=str(stages["lost"]), lost_reason_id=str(reasons["price"])))
    assert response.status_code == 303


def test_find_customer_without_javascript_and_with_search_as_you_type(
        client, login, seller, app, build):
    customer_id = build.customer(seller, name="北京星辰科技")
    build.customer(name="Other Ltd")
    login(seller)
    data = form_data(app, "", customer_q="bjxc", action="find_customer")
    del data["customer_id"]
    response = client.post("/opportunities/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "北京星辰科技" in html and "Other Ltd" not in html
    assert f'name="customer_id" value="{customer_id}"' in html
    fragment = client.get("/opportunities/customer-search?customer_q=xingchen", headers=hx("customer-results"))
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and "北京星辰科技" in body
    assert "No customer matches" in client.get("/opportunities/customer-search?customer_q=zzz").get_data(as_text=True)


def test_contact_options_and_contact_must_belong_to_customer(client, login, seller, app):
    with app.app_context():
        mine = factories.customer(seller, name="Mine", contacts=["Li Lei"], commit=False)
        theirs = factories.customer(name="Theirs", contacts=["Han Mei"])
        mine_id, theirs_contact = mine.id, theirs.contacts[0].id
    login(seller)
    body = client.get(f"/opportunities/contact-options?customer_id={mine_id}").get_data(as_text=True)
    assert "Li Lei" in body and "Han Mei" not in body and "<html" not in body
    response = client.post("/opportunities/new", data=form_data(app, mine_id, contact_id=str(theirs_contact)))
    assert response.status_code == 422 and "not one of the customer" in response.get_data(as_text=True)


def test_edit_changes_fields_and_moves_stage_through_the_rules(client, login, seller, app, build):
    opp_id = build.opportunity(owner=seller, amount=Decimal("10"))
    stages, reasons = ids(app)
    login(seller)
    page = client.get(f"/opportunities/{opp_id}/edit")
    assert page.status_code == 200 and 'value="ERP rollout"' in page.get_data(as_text=True)
    with app.app_context():
        opp = _db.session.get(Opportunity, opp_id)
        customer_id, version = opp.customer_id, opp.version
    data = form_data(app, customer_id, title="ERP phase 2", stage_id=str(stages["negotiation"]),
                     probability_override="80", owner_id=str(seller.id), version=str(version))
    response = client.post(f"/opportunities/{opp_id}/edit", data=data)
    assert response.status_code == 303
    with app.app_context():
        opp = _db.session.get(Opportunity, opp_id)
        assert opp.title == "ERP phase 2" and opp.probability == 80 and opp.probability_is_override
        assert opp.stage_id == stages["negotiation"]
        assert len(stage_history(opp_id)) == 2
        assert [c.name for c in opp.competitors] == ["SAP"]
    html = client.get(f"/opportunities/{opp_id}").get_data(as_text=True)
    assert "set by hand" in html and "the stage says 70%" in html
    # A stale form (someone else saved in between) is refused, not silently overwritten.
    stale = client.post(f"/opportunities/{opp_id}/edit", data={**data, "title": "Stale"})
    assert stale.status_code == 409


def test_competitors_and_related_inline(client, login, seller, app, build):
    a = build.opportunity(owner=seller, title="Alpha")
    b = build.opportunity(owner=seller, title="Beta", customer_name="Beta Co")
    login(seller)
    response = client.post(f"/opportunities/{a}/competitors", data={"name": "Oracle", "notes": "incumbent"},
                           headers=hx("competitors"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Oracle" in body and "<html" not in body
    assert client.post(f"/opportunities/{a}/competitors", data={"name": ""},
                       headers=hx("competitors")).status_code == 422
    with app.app_context():
        competitor_id = _db.session.execute(_db.select(Competitor.id)).scalar_one()
    response = client.post(f"/opportunities/{a}/competitors/{competitor_id}/delete", headers=hx("competitors"))
    assert "Oracle" not in response.get_data(as_text=True)
    search = client.get(f"/opportunities/{a}/related-search?related_q=beta", headers=hx("related-results"))
    assert "Beta" in search.get_data(as_text=True) and "Alpha" not in search.get_data(as_text=True)
    page = client.get(f"/opportunities/{a}?related_q=beta")  # the same search without JavaScript
    assert page.status_code == 200 and f'name="related_id" value="{b}"' in page.get_data(as_text=True)
    response = client.post(f"/opportunities/{a}/related", data={"related_id": str(b)}, headers=hx("related"))
    assert response.status_code == 200 and "Beta" in response.get_data(as_text=True)
    assert "Alpha" in client.get(f"/opportunities/{b}").get_data(as_text=True)  # symmetric
    assert client.post(f"/opportunities/{a}/related", data={"related_id": "abc"},
                       headers=hx("related")).status_code == 422
    assert client.post(f"/opportunities/{a}/related", data={"related_id": str(a)}).status_code == 422
    response = client.post(f"/opportunities/{a}/related/{b}/delete")
    assert response.status_code == 303
    with app.app_context():
        assert _db.session.get(Opportunity, b).related == []


def test_page_shows_history_with_time_in_stage_and_reopen(client, login, seller, app, build):
    opp_id = build.opportunity(owner=seller)
    stages, reasons = ids(app)
    login(seller)
    client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["lost"],
                                                      "lost_reason_id": reasons["price"]})
    html = client.get(f"/opportunities/{opp_id}").get_data(as_text=True)
    assert "Lost on" in html and "Price" in html and "Reopen (back to Discover)" in html
    client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["discover"]})
    html = client.get(f"/opportunities/{opp_id}").get_data(as_text=True)
    assert "Reopened" in html and "so far" in html and "Time in stage" in html


# The list -------------------------------------------------------------------------------------

def seed_list(app, owner_id, n, currency="CNY"):
    """n deals of `owner_id`, 100.00 each in `currency`, on one customer of nobody's:
    alternately at 70% (negotiation) and 50% (proposal), closing a day apart from 2030-01-01."""
    with app.app_context():
        customer = factories.customer(name=f"List customer {currency} {n}", commit=False)
        for i in range(n):
            factories.opportunity(customer, owner_id, title=f"Deal {currency} {i:03d}",
                                  stage="proposal" if i % 2 else "negotiation", amount="100.00",
                                  currency=currency,
                                  expected_close=date(2030, 1, 1) + timedelta(days=i), commit=False)
        _db.session.commit()


def test_list_totals_are_per_currency_and_weighted(client, login, seller, app):
    seed_list(app, seller.id, 4)             # 2 at 50%, 2 at 70%
    seed_list(app, seller.id, 1, "USD")      # 1 at 70%
    login(seller)
    html = client.get("/opportunities").get_data(as_text=True)
    assert "4 opportunities" in html and "1 opportunity" in html
    assert "CN¥400.00" in html and "CN¥240.00" in html     # 2*50 + 2*70
    assert "$100.00" in html and "$70.00" in html
    assert "CN¥500.00" not in html                         # CNY and USD are never added up


def test_list_filters_sort_and_fragment(client, login, seller, other_seller, app, build):
    seed_list(app, seller.id, 6)
    opp_id = build.opportunity(owner=other_seller, title="Theirs", amount=Decimal("5000"),
                               expected_close=date(2031, 5, 1))
    stages, _ = ids(app)
    with app.app_context():
        group = TagGroup(name="Industry")
        tag = Tag(name="Manufacturing", group=group)
        _db.session.add(group)
        opp = _db.session.get(Opportunity, opp_id)
        opp.customer.tags.append(tag)
        _db.session.commit()
        tag_id = tag.id
        from crm.permissions import set_team_sees_everything
        set_team_sees_everything(True)  # issue 4: others' opportunities are seen only then
        _db.session.commit()
    login(seller)

    def titles(query):
        response = client.get(f"/opportunities?{query}", headers=hx("results"))
        assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
        return [t for t in ["Theirs"] + [f"Deal CNY {i:03d}" for i in range(6)]
                if t in response.get_data(as_text=True)]

    assert titles("owner=me") == [f"Deal CNY {i:03d}" for i in range(6)]
    assert titles(f"owner={other_seller.id}") == ["Theirs"]
    assert titles(f"tag={tag_id}") == ["Theirs"]
    assert titles(f"stage={stages['negotiation']}") == ["Deal CNY 000", "Deal CNY 002", "Deal CNY 004"]
    assert titles("amount_min=1000") == ["Theirs"]
    assert titles("amount_max=100") == [f"Deal CNY {i:03d}" for i in range(6)]
    assert titles("close_from=2030-01-03&close_to=2030-01-04") == ["Deal CNY 002", "Deal CNY 003"]
    assert titles("status=won") == []
    assert titles("q=theirs") == ["Theirs"]
    assert titles("q=acme") == ["Theirs"]  # the customer's name
    html = client.get("/opportunities?sort=amount").get_data(as_text=True)
    assert "<html" in html and html.index("Theirs") < html.index("Deal CNY 000")
    html = client.get("/opportunities?sort=close").get_data(as_text=True)
    assert html.index("Deal CNY 000") < html.index("Deal CNY 005") < html.index("Theirs")
    # Garbage in the filters is shown and ignored, never a 500.
    response = client.get("/opportunities?amount_min=abc&close_from=nope&pipeline=x&tag=y&page=z&sort=evil")
    assert response.status_code == 200 and 'value="abc"' in response.get_data(as_text=True)


def test_list_paginates(client, login, seller, app):
    seed_list(app, seller.id, 30)
    login(seller)
    first = client.get("/opportunities").get_data(as_text=True)
    assert "Deal CNY 024" in first and "Deal CNY 025" not in first and "30 opportunities" in first
    second = client.get("/opportunities?page=2").get_data(as_text=True)
    assert "Deal CNY 025" in second and "Deal CNY 000" not in second


def test_list_and_page_queries_do_not_grow_with_rows(client, login, seller, app, build):
    login(seller)
    seed_list(app, seller.id, 5)
    client.get("/opportunities")  # warm up: the first request checks the app is set up
    with app.app_context():
        with count_queries(_db.engine) as few:
            assert client.get("/opportunities").status_code == 200
    seed_list(app, seller.id, 35)
    with app.app_context():
        with count_queries(_db.engine) as many:
            assert client.get("/opportunities").status_code == 200
    assert len(many) == len(few)

    opp_id = build.opportunity(owner=seller)
    stages, _ = ids(app)
    client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["confirm"]})
    with app.app_context():
        with count_queries(_db.engine) as page_few:
            assert client.get(f"/opportunities/{opp_id}").status_code == 200
    for key in ("needs_analysis", "proposal", "negotiation", "signed", "proposal", "negotiation"):
        client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages[key]})
    with app.app_context():
        with count_queries(_db.engine) as page_many:
            assert client.get(f"/opportunities/{opp_id}").status_code == 200
    assert len(page_many) == len(page_few), "\n\n".join(page_many)


def customer_with_deals(app, owner_id, name, n, amount="100.00", customer_owner_id=None):
    """A customer called `name` with n opportunities "<name> deal 000"... of `owner_id`,
    half of them at 50% (proposal), half at 70% (negotiation); the customer's id."""
    with app.app_context():
        customer = factories.customer(customer_owner_id or owner_id, name=name, commit=False)
        for i in range(n):
            factories.opportunity(customer, owner_id, title=f"{name} deal {i:03d}",
                                  stage="proposal" if i % 2 else "negotiation", amount=amount,
                                  expected_close=date(2030, 1, 1) + timedelta(days=i),
                                  commit=False)
        _db.session.commit()
        return customer.id


NOT_UNDERSTOOD = "Some filters were not understood and are ignored."


def test_list_filtered_by_customer(client, login, make_user, app):
    """?customer=<id> (the customer page's "All N opportunities"): only that customer's rows,
    its count and totals (added up, not read from stage_totals, which knows no customers),
    the customer named and linked with a way back to every customer."""
    admin = make_user("admin", email="boss@example.com", name="Bo Boss")
    acme = customer_with_deals(app, admin.id, "Acme", 3)
    customer_with_deals(app, admin.id, "Globex", 2, amount="1000.00")
    login(admin)
    html = client.get(f"/opportunities?customer={acme}").get_data(as_text=True)
    assert [f"Acme deal {i:03d}" in html for i in range(3)] == [True] * 3 and "Globex deal" not in html
    assert "3 opportunities" in html and "CN¥300.00" in html and "CN¥190.00" in html  # 50+70+50
    assert "5 opportunities" not in html and "CN¥2,300.00" not in html
    assert f'Customer: <a href="/customers/{acme}">Acme</a>' in html
    assert 'href="/opportunities">Remove this filter</a>' in html
    form = html[html.index('role="search"'):]
    form = form[:form.index("</form>")]
    assert f'<input type="hidden" name="customer" value="{acme}">' in form  # carried by the form
    # Unfiltered, the totals come from stage_totals and count both customers.
    html = client.get("/opportunities").get_data(as_text=True)
    assert "5 opportunities" in html and "CN¥2,300.00" in html and "Remove this filter" not in html
    assert 'name="customer"' not in html

    # With the other filters (as the htmx form sends them): narrowed further, the customer kept,
    # and the remove link keeps the others.
    response = client.get(f"/opportunities?q=deal+001&status=open&sort=amount&customer={acme}",
                          headers=hx("results"))
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in fragment
    assert "Acme deal 001" in fragment and "Acme deal 000" not in fragment and "Globex" not in fragment
    assert "1 opportunity" in fragment and "Customer: <a" in fragment
    remove = re.search(r'href="([^"]+)">Remove this filter', fragment).group(1)
    assert "customer=" not in remove and "q=deal" in remove and "sort=amount" in remove
    # The totals asked for later (a big list) are this customer's too.
    totals = client.get(f"/opportunities?customer={acme}&totals=1", headers=hx("opp-totals"))
    assert "3 opportunities" in totals.get_data(as_text=True)


def test_list_filtered_by_customer_paginates_with_the_filter(client, login, seller, app):
    big = customer_with_deals(app, seller.id, "Big", 30)
    customer_with_deals(app, seller.id, "Small", 2)
    login(seller)
    first = client.get(f"/opportunities?customer={big}").get_data(as_text=True)
    assert "30 opportunities" in first and "Small deal" not in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert f"customer={big}" in next_url and "page=2" in next_url
    second = client.get(next_url).get_data(as_text=True)
    assert [t for t in ("Big deal 025", "Big deal 029", "Big deal 000", "Small deal") if t in second] \
        == ["Big deal 025", "Big deal 029"]
    assert f'<input type="hidden" name="customer" value="{big}">' in second


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", "99999", "99999999999999999999", "1e3"])
def test_list_ignores_a_customer_filter_it_does_not_understand(client, login, seller, app, value):
    customer_with_deals(app, seller.id, "Acme", 2)
    customer_with_deals(app, seller.id, "Globex", 1)
    login(seller)
    for headers in (None, hx("results")):
        response = client.get(f"/opportunities?customer={value}", headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert NOT_UNDERSTOOD in html and "3 opportunities" in html  # ignored: every row
        assert 'name="customer"' not in html and "Remove this filter" not in html
        assert not re.findall(r'(?:href|hx-get)="[^"]*customer=', html)  # nor carried on by links
    response = client.get("/opportunities?customer=")
    assert response.status_code == 200 and NOT_UNDERSTOOD not in response.get_data(as_text=True)


def test_list_filter_on_a_customer_i_may_not_see_leaks_nothing(
        client, login, seller, other_seller, app):
    """Another salesperson's customer: answered exactly as an id that does not exist (the
    filter ignored, "not understood"), without its name or its opportunities."""
    mine = customer_with_deals(app, seller.id, "Mine Co", 1)
    secret = customer_with_deals(app, other_seller.id, "Secret 机密 Co", 2)
    login(seller)
    hidden = client.get(f"/opportunities?customer={secret}")
    unknown = client.get("/opportunities?customer=424242")
    for response in (hidden, unknown):
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and NOT_UNDERSTOOD in html
        assert "Secret" not in html and "机密" not in html and "Mine Co deal 000" in html
    def same(response):  # the page, the id it was asked for and the CSRF token aside
        html = response.get_data(as_text=True)
        html = html.replace(re.search(r'name="csrf_token" value="([^"]+)"', html).group(1), "TOKEN")
        return re.sub(r"customer=\d+", "customer=ID", html)

    assert same(hidden) == same(unknown)
    html = client.get(f"/opportunities?customer={mine}").get_data(as_text=True)
    assert "Customer: <a" in html and "Mine Co" in html and NOT_UNDERSTOOD not in html
    # The same customer, once the team sees everything, may be filtered on (read-only).
    with app.app_context():
        from crm.permissions import set_team_sees_everything
        set_team_sees_everything(True)
        _db.session.commit()
    html = client.get(f"/opportunities?customer={secret}").get_data(as_text=True)
    assert "Secret 机密 Co deal 001" in html and "Mine Co deal" not in html and "2 opportunities" in html


def test_list_of_one_customer_costs_the_same_at_any_size(client, login, seller, app):
    big = customer_with_deals(app, seller.id, "Big", 3)
    login(seller)
    client.get(f"/opportunities?customer={big}")  # warm up

    def statements():
        with app.app_context():
            with count_queries(_db.engine) as seen:
                assert client.get(f"/opportunities?customer={big}").status_code == 200
        return len(seen)

    few = statements()
    with app.app_context():
        for i in range(40):
            factories.opportunity(big, seller, title=f"More {i}", stage="proposal", commit=False)
        _db.session.commit()
    assert statements() == few <= 8  # the query budget (tests/test_query_budget.py), as a salesperson


def test_stage_post_from_the_board_gets_the_boards_responses(client, login, seller, app, build):
    pytest.importorskip("crm.board.cards")
    opp_id = build.opportunity(owner=seller)
    stages, reasons = ids(app)
    login(seller)
    response = client.post(f"/opportunities/{opp_id}/stage",
                           data={"stage_id": stages["proposal"], "context": "board"},
                           headers=hx(f"card-{opp_id}"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "ERP rollout" in body
    assert "hx-swap-oob" in body  # the columns' counts and totals come along
    response = client.post(f"/opportunities/{opp_id}/stage",
                           data={"stage_id": stages["lost"], "context": "board"},
                           headers=hx(f"card-{opp_id}"))
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and 'name="lost_reason_id"' in body and "<html" not in body
    response = client.post(f"/opportunities/{opp_id}/stage",
                           data={"stage_id": stages["lost"], "context": "board",
                                 "lost_reason_id": reasons["timing"]}, headers=hx(f"card-{opp_id}"))
    assert response.status_code == 200
    with app.app_context():
        assert _db.session.get(Opportunity, opp_id).status == "lost"
    # Without htmx the board's plain form is a 303 back, like any other caller.
    response = client.post(f"/opportunities/{opp_id}/stage",
                           data={"stage_id": stages["confirm"], "context": "board"},
                           headers={"Referer": "http://localhost/pipeline?owner=me"})
    assert response.status_code == 303 and response.headers["Location"] == "/pipeline?owner=me"


def test_htmx_move_refreshes_details_and_the_task_panel_out_of_band(
        client, login, seller, app, build):
    opp_id = build.opportunity(owner=seller, amount=Decimal("1000"))
    stages, _ = ids(app)
    with app.app_context():
        _db.session.get(Stage, stages["proposal"]).playbook = "Send the proposal | 2"
        _db.session.commit()
    login(seller)
    response = client.post(f"/opportunities/{opp_id}/stage", data={"stage_id": stages["proposal"]},
                           headers=hx("stage-widget"))
    body = response.get_data(as_text=True)
    assert 'id="opp-details"' in body and "CN¥500.00" in body  # weighted at the new stage's 50%
    if "tasks.index" in app.view_functions:
        assert 'id="task-panel" hx-swap-oob="true"' in body and "Send the proposal" in body
    assert client.get(f"/opportunities/{opp_id}", headers=hx("opp-details")).status_code == 200


def test_weighted_total_keeps_cents_for_whole_amounts(client, login, seller, app, build):
    build.opportunity(owner=seller, title="Small", stage="proposal", amount=Decimal("1"))
    build.opportunity(owner=seller, title="Odd", stage="discover", amount=Decimal("3"),
                      probability_override=33)
    login(seller)
    html = client.get("/opportunities").get_data(as_text=True)
    assert "CN¥4.00" in html and "CN¥1.49" in html  # 1 * 50% + 3 * 33%


def test_add_a_competitor_row_without_javascript(client, login, seller, app, build):
    customer_id = build.customer(seller, name="上海明日贸易")
    login(seller)
    data = form_data(app, customer_id, action="add_competitor")
    response = client.post("/opportunities/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'name="competitors-2-name"' in html and 'value="SAP"' in html
    with app.app_context():
        assert _db.session.query(Opportunity).count() == 0


def test_a_long_stage_history_shows_the_latest_50(client, login, seller, app, build):
    """A deal moved many times keeps a short page: the latest 50 moves, and a line saying
    how many there are; the time in each stage still counts them all."""
    opp_id = build.opportunity(owner=seller)
    with app.app_context():
        stages = factories.stages()
        start = utcnow() - timedelta(days=70)
        _db.session.add_all([
            StageChange(opportunity_id=opp_id, from_stage_id=stages["discover"].id,
                        to_stage_id=stages["discover"].id, user_id=seller.id,
                        changed_at=start + timedelta(days=i))
            for i in range(60)])
        _db.session.commit()
    login(seller)
    html = client.get(f"/opportunities/{opp_id}").get_data(as_text=True)
    history = html[html.index('id="stage-history"'):]
    history = history[:history.index("</section>")]
    assert history.count("<tr") == 51  # the header row and 50 moves
    assert "The latest 50 of 61 stage changes" in history
