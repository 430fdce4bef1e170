"""Pipelines, stages and lost reasons: the rules (services) and the admin pages."""
from datetime import datetime, timezone

import pytest

from crm.pipelines.services import ensure_defaults
from crm.extensions import db as _db
from crm.models import LostReason, Opportunity, Pipeline, Stage, StageChange
from crm.pipelines import services
from crm.pipelines.forms import StageForm
from crm.pipelines.services import RuleError
from tests import factories
from tests.conftest import count_queries, hx, session_user_id


# --- helpers -------------------------------------------------------------------------------

def add_opportunity(stage: Stage, title: str = "Deal", **fields) -> Opportunity:
    """A bare opportunity in `stage` (no stage history: these tests count the moves), 1000, on
    a customer of its own, neither owned nor closed unless told."""
    fields.setdefault("closed_at", None)
    return factories.opportunity(stage=stage, title=title, customer_name=f"Customer of {title}",
                                 amount="1000", history=False, commit=False, **fields)


@pytest.fixture
def seeded(db):
    """The default pipeline and lost reasons, as on a new install."""
    ensure_defaults()
    db.session.commit()
    return factories.default_pipeline()


def ids(app, query):
    with app.app_context():
        return _db.session.execute(query).scalars().all()


# --- rules: open / won / lost --------------------------------------------------------------

def test_missing_kinds_lists_what_a_pipeline_lacks():
    assert services.missing_kinds(["open", "won", "lost", "open"]) == []
    assert services.missing_kinds(["open", "open"]) == ["won", "lost"]
    assert services.missing_kinds([]) == ["open", "won", "lost"]


def test_removing_the_only_lost_stage_is_refused(seeded):
    lost = factories.stage("lost")
    with pytest.raises(RuleError, match="at least one open, one won and one lost"):
        services.remove_stage(lost)
    assert _db.session.get(Stage, lost.id) is not None


def test_removing_one_of_two_won_stages_is_allowed(seeded, db):
    services.remove_stage(factories.stage("delivered"))
    db.session.commit()
    assert [s.kind for s in factories.default_pipeline().stages].count("won") == 1
    assert [s.position for s in factories.default_pipeline().stages] == list(range(7))


def test_changing_the_kind_of_the_only_won_stage_is_refused(seeded):
    services.remove_stage(factories.stage("delivered"))
    signed = factories.stage("signed")
    with pytest.raises(RuleError) as error:
        services.update_stage(signed, name="Signed", probability=100, kind="open", color="#16a34a")
    assert error.value.field == "kind"
    assert "Won" in error.value.message
    assert signed.kind == "won"


def test_kind_of_a_stage_holding_opportunities_cannot_change(seeded):
    proposal = factories.stage("proposal")
    add_opportunity(proposal)
    with pytest.raises(RuleError, match="holds 1 opportunity"):
        services.update_stage(proposal, name="Proposal", probability=50, kind="won", color="#8b5cf6")


def test_new_pipeline_starts_with_open_won_and_lost(seeded, db):
    pipeline = services.create_pipeline("Renewals")
    assert sorted(s.kind for s in pipeline.stages) == ["lost", "open", "won"]
    copy = services.create_pipeline("Projects", copy_from=seeded)
    assert [(s.key, s.probability, s.kind) for s in copy.stages] == [
        (s.key, s.probability, s.kind) for s in seeded.stages]
    assert [p.position for p in services.ordered_pipelines()] == [0, 1, 2]
    with pytest.raises(RuleError, match="exists already"):
        services.create_pipeline("renewals ")


# --- rules: removing a stage that holds opportunities --------------------------------------

def test_removing_a_stage_moves_its_opportunities_and_writes_history(seeded, db, admin):
    proposal, negotiation = factories.stage("proposal"), factories.stage("negotiation")
    moving = [add_opportunity(proposal, f"Deal {n}") for n in range(3)]
    staying = add_opportunity(negotiation, "Other")
    db.session.commit()
    moving_ids = [o.id for o in moving]

    with count_queries(db.engine) as statements:
        moved = services.remove_stage(proposal, destination=negotiation, user=admin)
    db.session.commit()

    assert moved == 3
    # one INSERT ... SELECT for the history and one UPDATE, whatever the number
    assert sum(s.lstrip().upper().startswith("INSERT INTO STAGE_CHANGES") for s in statements) == 1
    assert sum(s.lstrip().upper().startswith("UPDATE OPPORTUNITIES") for s in statements) == 1
    kinds = [s.lstrip().upper()[:26] for s in statements]
    history = next(i for i, s in enumerate(kinds) if s.startswith("INSERT INTO STAGE_CHANGES"))
    removal = next(i for i, s in enumerate(kinds) if s.startswith("DELETE FROM STAGES"))
    assert history < removal  # recorded while the stage still exists
    assert db.session.get(Stage, proposal.id) is None
    for opportunity_id in moving_ids:
        opportunity = db.session.get(Opportunity, opportunity_id)
        assert opportunity.stage_id == negotiation.id and opportunity.status == "open"
        assert opportunity.version == 2
    assert db.session.get(Opportunity, staying.id).version == 1
    changes = db.session.execute(db.select(StageChange)).scalars().all()
    assert sorted(c.opportunity_id for c in changes) == sorted(moving_ids)
    assert {(c.to_stage_id, c.user_id) for c in changes} == {(negotiation.id, admin.id)}
    assert all(c.changed_at is not None for c in changes)
    # every opportunity still exists
    assert db.session.query(Opportunity).count() == 4


def test_removing_a_stage_without_a_destination_is_refused(seeded, db):
    proposal = factories.stage("proposal")
    add_opportunity(proposal)
    with pytest.raises(RuleError) as error:
        services.remove_stage(proposal)
    assert error.value.field == "destination_id"
    other = services.create_pipeline("Other")
    with pytest.raises(RuleError, match="same pipeline"):
        services.remove_stage(proposal, destination=other.stages[0])
    assert db.session.get(Stage, proposal.id) is not None


def test_moving_into_won_closes_and_into_open_reopens(seeded, db):
    delivered, signed, confirm = (factories.stage(key) for key in ("delivered", "signed", "confirm"))
    earlier = datetime(2025, 1, 2, 3, 4, tzinfo=timezone.utc)
    won_before = add_opportunity(delivered, "Won long ago", closed_at=earlier)
    open_one = add_opportunity(factories.stage("negotiation"), "Still open")
    db.session.commit()

    services.remove_stage(delivered, destination=signed)
    services.remove_stage(factories.stage("negotiation"), destination=signed)
    db.session.commit()
    won_before, open_one = db.session.get(Opportunity, won_before.id), db.session.get(Opportunity, open_one.id)
    assert won_before.status == "won" and won_before.closed_at == earlier  # already won: kept
    assert open_one.status == "won" and open_one.closed_at is not None

    # a new won stage so that signed can go, sending them back to an open stage
    services.add_stage(factories.default_pipeline(), name="Paid", probability=100, kind="won")
    services.remove_stage(signed, destination=confirm)
    db.session.commit()
    for opportunity in db.session.query(Opportunity):
        assert opportunity.status == "open" and opportunity.closed_at is None
        assert opportunity.stage_id == confirm.id


def test_moving_into_a_lost_stage_needs_a_reason_for_those_without(seeded, db):
    lost = factories.stage("lost")
    services.add_stage(factories.default_pipeline(), name="Dropped", probability=0, kind="lost")
    dropped = factories.default_pipeline().stages[-1]
    price = db.session.execute(db.select(LostReason).where(LostReason.key == "price")).scalar_one()
    timing = db.session.execute(db.select(LostReason).where(LostReason.key == "timing")).scalar_one()
    had_reason = add_opportunity(dropped, "Had one", lost_reason_id=timing.id,
                                 closed_at=datetime(2025, 5, 1, tzinfo=timezone.utc))
    no_reason = add_opportunity(dropped, "Had none")
    db.session.commit()
    with pytest.raises(RuleError) as error:
        services.remove_stage(dropped, destination=lost)
    assert error.value.field == "lost_reason_id"
    services.remove_stage(dropped, destination=lost, lost_reason=price)
    db.session.commit()
    assert db.session.get(Opportunity, had_reason.id).lost_reason_id == timing.id
    assert db.session.get(Opportunity, no_reason.id).lost_reason_id == price.id
    assert db.session.get(Opportunity, no_reason.id).status == "lost"


# --- rules: order and validation -----------------------------------------------------------

def test_reorder_puts_stages_in_the_given_order(seeded, db):
    stages = list(seeded.stages)
    wanted = [stages[-1].id] + [s.id for s in stages[:-1]]
    services.reorder_stages(seeded, wanted)
    db.session.commit()
    db.session.expire_all()
    assert [s.id for s in factories.default_pipeline().stages] == wanted
    assert [s.position for s in factories.default_pipeline().stages] == list(range(8))


@pytest.mark.parametrize("bad", [
    "drop-one", "duplicate", "foreign", "garbage",
])
def test_reorder_refuses_an_order_from_a_stale_page(seeded, db, bad):
    stage_ids = [s.id for s in seeded.stages]
    other = services.create_pipeline("Other")
    wanted = {"drop-one": stage_ids[:-1], "duplicate": stage_ids + [stage_ids[0]],
              "foreign": stage_ids[:-1] + [other.stages[0].id], "garbage": stage_ids[:-1] + ["x"]}[bad]
    with pytest.raises(RuleError):
        services.reorder_stages(seeded, wanted)


def test_move_stage_up_and_down_stops_at_the_ends(seeded, db):
    first, second = seeded.stages[0], seeded.stages[1]
    assert services.move_stage(second, "up") is True
    assert [s.id for s in factories.default_pipeline().stages][:2] == [second.id, first.id]
    assert services.move_stage(second, "up") is False
    last = factories.default_pipeline().stages[-1]
    assert services.move_stage(last, "down") is False
    with pytest.raises(RuleError):
        services.move_stage(last, "sideways")


@pytest.mark.parametrize("value,ok", [(0, True), (100, True), ("55", True), (-1, False), (101, False),
                                      ("abc", False), (None, False), (True, False), (12.5, False)])
def test_probability_must_be_0_to_100(value, ok, app_ctx):
    if ok:
        assert services.validate_probability(value) == int(value)
    else:
        with pytest.raises(RuleError) as error:
            services.validate_probability(value)
        assert error.value.field == "probability"


def test_stage_form_validates_probability_rotting_days_and_playbook(seeded, app):
    from werkzeug.datastructures import MultiDict
    with app.test_request_context(method="POST"):
        app.config["WTF_CSRF_ENABLED"] = False
        try:
            form = StageForm(MultiDict({"name": "Demo", "probability": "120", "kind": "open",
                                        "color": "#123456", "rotting_days": "0",
                                        "playbook": "Call | soon\n| 3\nSend quote | 2"}),
                             pipeline=factories.default_pipeline())
            assert not form.validate()
            assert "0 to 100" in form.probability.errors[0]
            assert form.rotting_days.errors
            assert "Line 1" in form.playbook.errors[0] and "Line 2" in form.playbook.errors[0]
            assert "Line 3" not in form.playbook.errors[0]
            form = StageForm(MultiDict({"name": "discover", "probability": "10", "kind": "open",
                                        "color": "#123456"}),
                             pipeline=factories.default_pipeline())
            assert not form.validate() and "already" in form.name.errors[0]
        finally:
            app.config["WTF_CSRF_ENABLED"] = True


def test_new_open_stage_goes_after_the_last_open_one(seeded, db):
    stage = services.add_stage(seeded, name="Demo", probability=40, kind="open", rotting_days=14,
                               playbook="Book the demo | 2\nSend recording")
    db.session.commit()
    keys = [s.key or s.name for s in factories.default_pipeline().stages]
    assert keys.index("Demo") == keys.index("negotiation") + 1
    assert stage.playbook_items == [("Book the demo", 2), ("Send recording", 1)]
    won = services.add_stage(seeded, name="Paid", probability=100, kind="won")
    assert factories.default_pipeline().stages[-1].id == won.id


def test_unchanged_built_in_name_stays_translated(seeded, db):
    discover = factories.stage("discover")
    services.update_stage(discover, name="Discover", probability=15, kind="open", color="#94a3b8")
    assert discover.name is None and discover.probability == 15
    services.update_stage(discover, name="First call", probability=15, kind="open", color="#94a3b8")
    assert discover.name == "First call"


def test_pipeline_with_opportunities_or_the_last_one_is_not_deleted(seeded, db):
    add_opportunity(seeded.stages[0])
    with pytest.raises(RuleError, match="holds 1 opportunity"):
        services.delete_pipeline(seeded)
    other = services.create_pipeline("Other")
    services.delete_pipeline(other)
    db.session.commit()
    assert db.session.query(Pipeline).count() == 1
    db.session.query(Opportunity).delete()
    with pytest.raises(RuleError, match="only pipeline"):
        services.delete_pipeline(seeded)


def test_lost_reasons_used_are_deactivated_unused_deleted(seeded, db):
    reasons = services.ordered_lost_reasons()
    price, other = reasons[0], reasons[-1]
    add_opportunity(factories.stage("lost"), lost_reason_id=price.id)
    assert services.delete_lost_reason(price) == "deactivated"
    assert price.active is False and db.session.get(LostReason, price.id) is not None
    assert services.delete_lost_reason(other) == "deleted"
    db.session.commit()
    assert [r.position for r in services.ordered_lost_reasons()] == list(range(7))
    assert price not in services.ordered_lost_reasons(active_only=True)
    services.set_lost_reason_active(price, True)
    assert price.active


def test_the_last_active_lost_reason_stays_active(seeded, db):
    reasons = services.ordered_lost_reasons()
    for reason in reasons[:-1]:
        services.set_lost_reason_active(reason, False)
    with pytest.raises(RuleError, match="must stay active"):
        services.set_lost_reason_active(reasons[-1], False)


def test_lost_reason_names_and_order(seeded, db):
    reason = services.add_lost_reason("Went in-house")
    assert reason.position == 8
    with pytest.raises(RuleError):
        services.add_lost_reason("PRICE")  # the built-in name, in any case
    services.move_lost_reason(reason, "up")
    assert services.ordered_lost_reasons()[-2].id == reason.id


# --- HTTP: permissions ---------------------------------------------------------------------

def _urls(app):
    with app.app_context():
        pipeline = factories.default_pipeline()
        stage = pipeline.stages[0]
        reason = services.ordered_lost_reasons()[0]
        return pipeline.id, stage.id, reason.id


@pytest.mark.parametrize("role", ["sales", "manager"])
def test_only_admins_see_pages_and_fragments(client, make_user, login, app, role):
    login(make_user(role))
    pid, sid, rid = _urls(app)
    gets = [("/admin/pipelines", None), (f"/admin/pipelines/{pid}", None),
            (f"/admin/pipelines/{pid}", hx("stage-list")),
            (f"/admin/pipelines/stages/{sid}", hx(f"stage-{sid}")),
            (f"/admin/pipelines/stages/{sid}/edit", hx(f"stage-{sid}")),
            (f"/admin/pipelines/stages/{sid}/remove", hx(f"stage-{sid}")),
            ("/admin/pipelines/lost-reasons", None),
            (f"/admin/pipelines/lost-reasons/{rid}/edit", hx(f"reason-{rid}"))]
    for url, headers in gets:
        assert client.get(url, headers=headers).status_code == 403, url
    posts = [("/admin/pipelines", {"name": "X"}), (f"/admin/pipelines/{pid}/rename", {"pipeline-name": "X"}),
             (f"/admin/pipelines/{pid}/delete", {}), (f"/admin/pipelines/{pid}/move", {"direction": "up"}),
             (f"/admin/pipelines/{pid}/stages", {"new-name": "X"}),
             (f"/admin/pipelines/{pid}/stages/order", {"stage_id": [sid]}),
             (f"/admin/pipelines/stages/{sid}/edit", {f"s{sid}-name": "X"}),
             (f"/admin/pipelines/stages/{sid}/move", {"direction": "down"}),
             (f"/admin/pipelines/stages/{sid}/remove", {}),
             ("/admin/pipelines/lost-reasons", {"new-name": "X"}),
             (f"/admin/pipelines/lost-reasons/{rid}/move", {"direction": "down"}),
             (f"/admin/pipelines/lost-reasons/{rid}/deactivate", {}),
             (f"/admin/pipelines/lost-reasons/{rid}/delete", {})]
    for url, data in posts:
        assert client.post(url, data=data, headers=hx("stage-list")).status_code == 403, url
        assert client.post(url, data=data).status_code == 403, url
    with app.app_context():
        assert _db.session.query(Stage).count() == 8
        assert _db.session.query(LostReason).filter_by(active=True).count() == 8


def test_pages_need_login(client, make_user, app):
    make_user("admin")
    response = client.get("/admin/pipelines")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_nav_links_to_pipelines_for_admins(admin_client):
    assert 'href="/admin/pipelines"' in admin_client.get("/admin/users").get_data(as_text=True)


# --- HTTP: pages, fragments, 422 -----------------------------------------------------------

def test_index_lists_pipelines_with_counts(admin_client, app):
    with app.app_context():
        add_opportunity(factories.stage("proposal"))
        _db.session.commit()
    html = admin_client.get("/admin/pipelines").get_data(as_text=True)
    assert "<html" in html and "Sales pipeline" in html and "New pipeline" in html
    assert 'data-label="Opportunities" class="num">1<' in html


def test_pipeline_page_is_full_page_or_fragment(admin_client, app):
    pid, sid, _ = _urls(app)
    page = admin_client.get(f"/admin/pipelines/{pid}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    for name in ("Discover", "Confirm", "Needs analysis", "Proposal", "Negotiation", "Signed",
                 "Delivered", "Lost to competitor"):
        assert name in html
    assert "sortable-1.15.7.min.js" in html and "js/pipelines.js" in html
    assert "<script>" not in html  # no inline script
    fragment = admin_client.get(f"/admin/pipelines/{pid}", headers=hx("stage-list"))
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and body.lstrip().startswith('<ol id="stage-list"')
    # a boosted navigation wants the whole page
    boosted = admin_client.get(f"/admin/pipelines/{pid}", headers={**hx("stage-list"), "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)
    assert "HX-Request" in fragment.headers.get("Vary", "")


def test_built_in_stage_names_follow_the_language(client, make_user, login, app):
    login(make_user("admin", language="zh_CN"))
    pid, _, _ = _urls(app)
    html = client.get(f"/admin/pipelines/{pid}").get_data(as_text=True)
    assert "<html lang=\"zh-CN\"" in html
    with app.app_context():
        services.update_stage(factories.stage("discover"), name="First call", probability=10,
                              kind="open", color="#94a3b8")
        _db.session.commit()
    html = client.get(f"/admin/pipelines/{pid}").get_data(as_text=True)
    assert "First call" in html


def test_edit_stage_inline_fragment_and_save(admin_client, app):
    pid, sid, _ = _urls(app)
    form = admin_client.get(f"/admin/pipelines/stages/{sid}/edit", headers=hx(f"stage-{sid}"))
    body = form.get_data(as_text=True)
    assert form.status_code == 200 and "<html" not in body and 'value="Discover"' in body
    full = admin_client.get(f"/admin/pipelines/stages/{sid}/edit")
    assert "<html" in full.get_data(as_text=True) and f'name="s{sid}-name"' in full.get_data(as_text=True)

    data = {f"s{sid}-name": "First contact", f"s{sid}-probability": "15", f"s{sid}-kind": "open",
            f"s{sid}-color": "#112233", f"s{sid}-rotting_days": "7",
            f"s{sid}-playbook": "Call the buyer | 1\nSend brochure"}
    saved = admin_client.post(f"/admin/pipelines/stages/{sid}/edit", data=data, headers=hx(f"stage-{sid}"))
    body = saved.get_data(as_text=True)
    assert saved.status_code == 200 and "<html" not in body and "First contact" in body
    assert "Playbook: 2 tasks" in body
    with app.app_context():
        stage = _db.session.get(Stage, sid)
        assert (stage.name, stage.probability, stage.color, stage.rotting_days) == ("First contact", 15, "#112233", 7)
    plain = admin_client.post(f"/admin/pipelines/stages/{sid}/edit", data=data)
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"/admin/pipelines/{pid}#stage-{sid}")


@pytest.mark.parametrize("field,value,message", [
    ("probability", "150", "0 to 100"), ("probability", "-5", "0 to 100"), ("probability", "", "0 to 100"),
    ("name", "", "Enter a name"), ("name", "Proposal", "already"), ("rotting_days", "0", "at least 1"),
    ("color", "red", "#3b82f6"), ("kind", "open", "at least one open"),
])
def test_edit_stage_bad_input_is_422_with_message_and_input_kept(admin_client, app, field, value, message):
    with app.app_context():
        factories.default_pipeline()
        if field == "kind":
            # make signed the only won stage, then try to make it open
            services.remove_stage(factories.stage("delivered"))
            sid = factories.stage("signed").id
            _db.session.commit()
        else:
            sid = factories.stage("discover").id
    data = {f"s{sid}-name": "Renamed", f"s{sid}-probability": "30", f"s{sid}-kind": "won" if field == "kind" else "open",
            f"s{sid}-color": "#112233", f"s{sid}-rotting_days": "", f"s{sid}-playbook": ""}
    data[f"s{sid}-{field}"] = value
    for headers, is_fragment in ((hx(f"stage-{sid}"), True), (None, False)):
        response = admin_client.post(f"/admin/pipelines/stages/{sid}/edit", data=data, headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 422
        assert ("<html" in html) is not is_fragment
        assert message in html
        assert 'class="field-error"' in html
        if field in ("name", "probability", "rotting_days") and value:
            assert f'value="{value}"' in html
    with app.app_context():
        assert _db.session.get(Stage, sid).name in (None, "Signed")


def test_add_stage_htmx_returns_list_and_fresh_form(admin_client, app):
    pid, _, _ = _urls(app)
    data = {"new-name": "Demo", "new-probability": "40", "new-kind": "open", "new-color": "#0ea5e9",
            "new-rotting_days": "", "new-playbook": ""}
    response = admin_client.post(f"/admin/pipelines/{pid}/stages", data=data, headers=hx("stage-list"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert '<ol id="stage-list"' in body and "Demo" in body
    assert 'id="stage-add"' in body and 'hx-swap-oob="true"' in body
    assert "Stage Demo was added" in response.headers["HX-Trigger"]

    bad = admin_client.post(f"/admin/pipelines/{pid}/stages", data={**data, "new-name": "Demo 2",
                                                                     "new-probability": "101"},
                            headers=hx("stage-list"))
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "<html" not in body
    assert bad.headers["HX-Retarget"] == "#stage-add"
    assert 'value="Demo 2"' in body and 'value="101"' in body and "0 to 100" in body

    plain_bad = admin_client.post(f"/admin/pipelines/{pid}/stages", data={**data, "new-name": ""})
    assert plain_bad.status_code == 422 and "<html" in plain_bad.get_data(as_text=True)
    assert "Enter a name" in plain_bad.get_data(as_text=True)
    plain = admin_client.post(f"/admin/pipelines/{pid}/stages", data={**data, "new-name": "Trial"})
    assert plain.status_code == 303
    with app.app_context():
        names = [s.display_name for s in factories.default_pipeline().stages]
        assert names[5:7] == ["Demo", "Trial"]


def test_move_buttons_without_javascript_and_with_htmx(admin_client, app):
    pid, sid, _ = _urls(app)
    response = admin_client.post(f"/admin/pipelines/stages/{sid}/move", data={"direction": "down"})
    assert response.status_code == 303
    with app.app_context():
        assert factories.default_pipeline().stages[1].id == sid
    response = admin_client.post(f"/admin/pipelines/stages/{sid}/move", data={"direction": "up"},
                                 headers=hx("stage-list"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<ol id="stage-list"')
    with app.app_context():
        assert factories.default_pipeline().stages[0].id == sid
    assert admin_client.post(f"/admin/pipelines/stages/{sid}/move", data={"direction": "x"}).status_code == 400


def test_drag_endpoint_saves_the_order(app, admin, make_user):
    """The drag POST as pipelines.js sends it: stage_id repeated, X-CSRFToken header, CSRF on."""
    from tests.conftest import csrf_token_from
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, admin.id)
        session["_fresh"] = True
    pid, _, _ = _urls(app)
    page = client.get(f"/admin/pipelines/{pid}").get_data(as_text=True)
    token = csrf_token_from(page)
    with app.app_context():
        stage_ids = [s.id for s in factories.default_pipeline().stages]
    wanted = list(reversed(stage_ids))
    without_token = client.post(f"/admin/pipelines/{pid}/stages/order", data={"stage_id": wanted},
                                headers=hx("stage-list"))
    assert without_token.status_code == 400
    response = client.post(f"/admin/pipelines/{pid}/stages/order", data={"stage_id": wanted},
                           headers={**hx("stage-list"), "X-CSRFToken": token})
    assert response.status_code == 200 and '<ol id="stage-list"' in response.get_data(as_text=True)
    assert ids(app, _db.select(Stage.id).order_by(Stage.position)) == wanted
    stale = client.post(f"/admin/pipelines/{pid}/stages/order", data={"stage_id": wanted[:-1]},
                        headers={**hx("stage-list"), "X-CSRFToken": token})
    assert stale.status_code == 409 and "changed meanwhile" in stale.headers["HX-Trigger"]
    assert ids(app, _db.select(Stage.id).order_by(Stage.position)) == wanted


def test_remove_stage_asks_where_opportunities_go(admin_client, app, admin):
    with app.app_context():
        proposal, negotiation = factories.stage("proposal"), factories.stage("negotiation")
        add_opportunity(proposal, "Big deal")
        add_opportunity(proposal, "Small deal")
        _db.session.commit()
        sid, nid = proposal.id, negotiation.id
    form = admin_client.get(f"/admin/pipelines/stages/{sid}/remove", headers=hx(f"stage-{sid}"))
    body = form.get_data(as_text=True)
    assert form.status_code == 200 and "<html" not in body
    assert "This stage holds 2 opportunities" in body
    assert "Negotiation (Open, 0 opportunities)" in body
    assert f'<option selected value="{nid}">' in body  # the nearest open stage is suggested
    full = admin_client.get(f"/admin/pipelines/stages/{sid}/remove")
    assert "<html" in full.get_data(as_text=True) and "This stage holds 2" in full.get_data(as_text=True)

    missing = admin_client.post(f"/admin/pipelines/stages/{sid}/remove", data={"destination_id": "0"},
                                headers=hx(f"stage-{sid}"))
    assert missing.status_code == 422 and "choose the stage they move to" in missing.get_data(as_text=True)
    done = admin_client.post(f"/admin/pipelines/stages/{sid}/remove", data={"destination_id": str(nid)},
                             headers=hx(f"stage-{sid}"))
    assert done.status_code == 200 and done.headers["HX-Redirect"].endswith(f"/admin/pipelines/{default_id(app)}")
    with app.app_context():
        assert _db.session.get(Stage, sid) is None
        assert {o.stage_id for o in _db.session.query(Opportunity)} == {nid}
        assert _db.session.query(StageChange).count() == 2
    page = admin_client.get(f"/admin/pipelines/{default_id(app)}").get_data(as_text=True)
    assert "2 opportunities are now in Negotiation" in page


def default_id(app):
    with app.app_context():
        return factories.default_pipeline().id


def test_removing_the_only_lost_stage_explains_and_keeps_it(admin_client, app):
    with app.app_context():
        sid = factories.stage("lost").id
    form = admin_client.get(f"/admin/pipelines/stages/{sid}/remove")
    assert "at least one open, one won and one lost" in form.get_data(as_text=True)
    response = admin_client.post(f"/admin/pipelines/stages/{sid}/remove", data={})
    assert response.status_code == 422
    assert "at least one open, one won and one lost" in response.get_data(as_text=True)
    with app.app_context():
        assert _db.session.get(Stage, sid) is not None


def test_remove_empty_stage_plain_post(admin_client, app):
    with app.app_context():
        sid = factories.stage("confirm").id
    response = admin_client.post(f"/admin/pipelines/stages/{sid}/remove", data={})
    assert response.status_code == 303
    assert "Stage Confirm was removed" in admin_client.get(response.headers["Location"]).get_data(as_text=True)


def test_create_rename_delete_pipeline_through_pages(admin_client, app):
    bad = admin_client.post("/admin/pipelines", data={"name": "", "start_from": "basic"})
    assert bad.status_code == 422 and "Enter a name" in bad.get_data(as_text=True)
    duplicate = admin_client.post("/admin/pipelines", data={"name": "sales pipeline", "start_from": "basic"})
    assert duplicate.status_code == 422 and "exists already" in duplicate.get_data(as_text=True)
    created = admin_client.post("/admin/pipelines", data={"name": "Renewals", "start_from": str(default_id(app))})
    assert created.status_code == 303
    with app.app_context():
        renewals = _db.session.execute(_db.select(Pipeline).where(Pipeline.name == "Renewals")).scalar_one()
        assert len(renewals.stages) == 8
        rid = renewals.id
    assert created.headers["Location"].endswith(f"/admin/pipelines/{rid}")

    bad_rename = admin_client.post(f"/admin/pipelines/{rid}/rename", data={"pipeline-name": "x" * 121},
                                   headers=hx("pipeline-rename"))
    assert bad_rename.status_code == 422 and "<html" not in bad_rename.get_data(as_text=True)
    assert admin_client.post(f"/admin/pipelines/{rid}/rename",
                             data={"pipeline-name": "Key accounts"}).status_code == 303
    moved = admin_client.post(f"/admin/pipelines/{rid}/move", data={"direction": "up"}, headers=hx("pipeline-list"))
    assert moved.status_code == 200 and "<html" not in moved.get_data(as_text=True)
    assert moved.get_data(as_text=True).index("Key accounts") < moved.get_data(as_text=True).index("Sales pipeline")

    with app.app_context():
        add_opportunity(_db.session.get(Pipeline, rid).stages[0])
        _db.session.commit()
    refused = admin_client.post(f"/admin/pipelines/{rid}/delete")
    assert refused.status_code == 422  # without JavaScript: the list again, the reason in its row
    assert "still holds 1 opportunity," in refused.get_data(as_text=True)
    with app.app_context():
        _db.session.query(Opportunity).delete()
        _db.session.commit()
    assert admin_client.post(f"/admin/pipelines/{rid}/delete").status_code == 303
    with app.app_context():
        assert _db.session.get(Pipeline, rid) is None
        assert _db.session.query(Stage).count() == 8


def test_lost_reasons_pages(admin_client, app):
    page = admin_client.get("/admin/pipelines/lost-reasons")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    for name in ("Price", "Competitor", "No budget", "No decision", "Timing", "Product fit",
                 "Unresponsive", "Other"):
        assert name in html
    assert admin_client.post("/admin/pipelines/lost-reasons", data={"new-name": ""}).status_code == 422
    bad = admin_client.post("/admin/pipelines/lost-reasons", data={"new-name": "price"}, headers=hx("reason-add"))
    assert bad.status_code == 422 and "<html" not in bad.get_data(as_text=True)
    assert 'value="price"' in bad.get_data(as_text=True)
    assert admin_client.post("/admin/pipelines/lost-reasons", data={"new-name": "In-house"}).status_code == 303
    with app.app_context():
        reasons = services.ordered_lost_reasons()
        new_id, price_id, other_id = reasons[-1].id, reasons[0].id, reasons[-2].id
        add_opportunity(factories.stage("lost"), lost_reason_id=price_id)
        _db.session.commit()

    edit = admin_client.get(f"/admin/pipelines/lost-reasons/{new_id}/edit", headers=hx(f"reason-{new_id}"))
    assert edit.status_code == 200 and "<html" not in edit.get_data(as_text=True)
    renamed = admin_client.post(f"/admin/pipelines/lost-reasons/{new_id}/edit",
                                data={f"r{new_id}-name": "Built it in-house"}, headers=hx(f"reason-{new_id}"))
    assert renamed.status_code == 200 and "Built it in-house" in renamed.get_data(as_text=True)
    empty = admin_client.post(f"/admin/pipelines/lost-reasons/{new_id}/edit", data={f"r{new_id}-name": ""})
    assert empty.status_code == 422 and "<html" in empty.get_data(as_text=True)

    moved = admin_client.post(f"/admin/pipelines/lost-reasons/{new_id}/move", data={"direction": "up"},
                              headers=hx("reason-list"))
    assert moved.status_code == 200 and moved.get_data(as_text=True).lstrip().startswith('<ol id="reason-list"')

    assert admin_client.post(f"/admin/pipelines/lost-reasons/{price_id}/delete").status_code == 303
    assert admin_client.post(f"/admin/pipelines/lost-reasons/{other_id}/delete").status_code == 303
    html = admin_client.get("/admin/pipelines/lost-reasons").get_data(as_text=True)
    assert "deactivated instead of deleted" in html
    with app.app_context():
        assert _db.session.get(LostReason, price_id).active is False
        assert _db.session.get(LostReason, other_id) is None
    assert admin_client.post(f"/admin/pipelines/lost-reasons/{price_id}/reactivate").status_code == 303
    with app.app_context():
        assert _db.session.get(LostReason, price_id).active is True


def test_pipeline_page_queries_do_not_grow_with_opportunities(admin_client, app):
    pid, _, _ = _urls(app)

    def queries():
        with app.app_context():
            engine = _db.engine
        with count_queries(engine) as statements:
            assert admin_client.get(f"/admin/pipelines/{pid}").status_code == 200
        return len(statements)

    queries()  # the first request also learns that users exist
    before = queries()
    assert before <= 6
    with app.app_context():
        for stage in factories.default_pipeline().stages:
            for n in range(5):
                add_opportunity(stage, f"{stage.id}-{n}")
        _db.session.commit()
    assert queries() == before


def test_history_keeps_the_name_of_a_removed_stage(app, make_user):
    """After a stage is removed, the moves into and out of it still say its name."""
    from crm.extensions import db as _db
    from crm.models import Customer, Pipeline, StageChange, User
    from crm.opportunities.services import create_opportunity, move_to_stage
    from crm.pipelines.services import remove_stage

    admin = make_user("admin")
    with app.app_context():
        pipeline = _db.session.execute(_db.select(Pipeline)).scalars().first()
        stages = {s.key: s for s in pipeline.stages}
        customer = Customer(name="History Co")
        _db.session.add(customer)
        _db.session.flush()
        user = _db.session.get(User, admin.id)
        opp = create_opportunity(title="Keeps names", customer=customer, stage=stages["confirm"], user=user)
        _db.session.flush()
        move_to_stage(opp, stages["proposal"], user)
        _db.session.commit()
        remove_stage(stages["confirm"], destination=stages["discover"], user=user)
        _db.session.commit()
        changes = _db.session.execute(_db.select(StageChange).where(
            StageChange.opportunity_id == opp.id).order_by(StageChange.id)).scalars().all()
        assert changes[0].to_name == "Confirm" and changes[0].is_creation
        assert changes[1].from_name == "Confirm" and changes[1].to_name == "Proposal"
        assert not changes[1].is_creation
