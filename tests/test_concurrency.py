"""No lost updates: the version check (unit), two people saving the same customer, contact,
opportunity or note (HTTP), stale stage moves from the board and the opportunity page, and
concurrent moves in threads (exactly one wins, on SQLite and on PostgreSQL)."""
import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from crm.concurrency import (Conflict, claim, conflict_for, differences, parse_timestamp,
                             timestamp_token, token_of)
from crm.customers.forms import CustomerForm
from crm.extensions import db
from crm.models import AuditEntry, Contact, Customer, Note, Opportunity, StageChange, User, utcnow
from tests import factories
from tests.conftest import hx, session_user_id

# Helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def ada(make_user):
    return make_user("admin", email="ada@example.com", name="Ada Admin")


@pytest.fixture
def max_(make_user):
    return make_user("manager", email="max@example.com", name="Max Manager")


def client_for(app, user):
    """Another browser: its own test client, signed in as `user`."""
    other = app.test_client()
    with other.session_transaction() as session:
        session["_user_id"] = session_user_id(app, user.id)
        session["_fresh"] = True
    return other


def version_in(html: str) -> str:
    match = re.search(r'<input[^>]*name="version"[^>]*value="([^"]*)"', html) or \
        re.search(r'<input[^>]*value="([^"]*)"[^>]*name="version"', html)
    assert match, "no version field in the form"
    return match.group(1)


def customer_form(owner_id, version, **fields):
    return {"kind": "company", "name": "北京星辰科技", "owner_id": str(owner_id),
            "version": str(version), **fields}


def board_headers(card_id):
    headers = hx(f"card-{card_id}")
    headers["HX-Current-URL"] = "http://localhost/pipeline"
    return headers


# The mechanism (unit) --------------------------------------------------------------------------


def test_claim_bumps_the_version_and_refuses_a_stale_one(db, ada):
    customer = Customer(name="Acme", owner_id=ada.id)
    db.session.add(customer)
    db.session.commit()
    assert customer.version == 1
    claim(customer, "1")
    assert customer.version == 2  # the in-memory token moves on with the row
    customer.phone = "010 1234 5678"
    db.session.commit()
    stored = db.session.execute(db.select(Customer.version, Customer.phone)).one()
    assert tuple(stored) == (2, "010 1234 5678")
    with pytest.raises(Conflict):
        claim(customer, 1)  # a form loaded at version 1
    db.session.rollback()
    assert db.session.execute(db.select(Customer.version)).scalar_one() == 2


def test_claim_checks_the_database_not_the_object_read_in_this_request(db, app, ada):
    contact = Contact(name="王伟", customer=Customer(name="Acme"))
    db.session.add(contact)
    db.session.commit()
    contact_id = contact.id
    # Someone else saves between our read and our write (another connection).
    with db.engine.begin() as other:
        other.execute(db.update(Contact).where(Contact.id == contact_id)
                      .values(version=Contact.version + 1, phone="139"))
    assert contact.version == 1  # what this session read
    with pytest.raises(Conflict):
        claim(contact, contact.version)
    db.session.rollback()


def test_claim_without_a_token_waits_and_applies_on_top_of_the_latest(db, ada):
    customer = Customer(name="Acme", phone="111")
    db.session.add(customer)
    db.session.commit()
    with db.engine.begin() as other:
        other.execute(db.update(Customer).where(Customer.id == customer.id)
                      .values(version=Customer.version + 1, phone="222"))
    claim(customer, None)  # an old client or the API: never refused
    assert customer.version == 3 and customer.phone == "222"  # read again under the lock
    db.session.commit()


def test_notes_use_updated_at_as_their_token(db, ada):
    customer = Customer(name="Acme")
    note = Note(body="Called", customer=customer, author_id=ada.id)
    db.session.add(note)
    db.session.commit()
    token = token_of(note)
    assert parse_timestamp(token) == note.updated_at
    claim(note, token)
    assert note.updated_at > parse_timestamp(token)
    note.body = "Called twice"
    db.session.commit()
    with pytest.raises(Conflict):
        claim(note, token)  # the form opened before that save
    db.session.rollback()
    with pytest.raises(Conflict):
        claim(note, "not a time")
    db.session.rollback()
    claim(note, timestamp_token(note.updated_at))  # the current token passes


def test_differences_ignore_empty_vs_none_and_equal_numbers_and_show_labels(app_ctx, ada):
    customer = Customer(name="Acme", phone=None, size="11-50", owner_id=ada.id, description="x")
    owner = User(id=ada.id, name="Ada Admin")
    form = CustomerForm(formdata=None, owners=[owner], data={
        "name": " Acme ", "phone": "", "size": "51-200", "owner_id": None, "description": "x"})
    found = {d.name: d for d in differences(form, customer, ["name", "phone", "size", "owner_id",
                                                             "description"])}
    assert set(found) == {"size", "owner_id"}
    assert (found["size"].mine, found["size"].saved) == ("51-200", "11-50")
    assert found["owner_id"].saved == "Ada Admin" and found["owner_id"].saved_input == str(ada.id)
    assert found["owner_id"].mine == "— Nobody —"  # the choice's label, not an id

    class Amounts:
        amount = Decimal("10.00")
    from crm.opportunities.forms import OpportunityForm
    opportunity_form = OpportunityForm(formdata=None, data={"amount": Decimal("10")})
    assert differences(opportunity_form, Amounts(), ["amount"]) == []


def test_conflict_names_who_saved_and_when_from_the_audit_trail(db, ada, max_):
    customer = Customer(name="Acme", phone="111")
    db.session.add(customer)
    db.session.commit()
    at = utcnow()  # after anything the audit trail recorded for the creation
    db.session.add_all([
        AuditEntry(at=at - timedelta(hours=1), user_id=ada.id, action="update",
                   entity="customers", entity_id=customer.id, field="phone"),
        AuditEntry(at=at, user_id=max_.id, action="update", entity="customers",
                   entity_id=customer.id, field="phone", old_value="000", new_value="111"),
    ])
    db.session.commit()
    form = CustomerForm(formdata=None, owners=[], data={"name": "Acme", "phone": "222"})
    view = conflict_for(form, customer, ["name", "phone"])
    [difference] = view.differences
    assert (difference.mine, difference.saved) == ("222", "111")
    assert difference.saved_by == "Max Manager" and difference.saved_at == at
    assert view.saved_by == "Max Manager" and view.token == str(customer.version)
    assert form.version.data == str(customer.version)  # resubmitting applies on top
    db.session.rollback()


# Customers ---------------------------------------------------------------------------------------


def test_second_save_of_a_customer_gets_409_with_both_values_then_applies_on_top(
        app, ada, max_, build):
    customer_id = build.customer(ada, phone="010 1111 1111")
    first, second = client_for(app, ada), client_for(app, max_)
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        loaded_first = version_in(first.get(f"/customers/{customer_id}/edit").get_data(as_text=True))
        loaded_second = version_in(second.get(f"/customers/{customer_id}/edit").get_data(as_text=True))
        assert loaded_first == loaded_second == "1"

        response = first.post(f"/customers/{customer_id}/edit",
                              data=customer_form(ada.id, loaded_first, phone="010 2222 2222"))
        assert response.status_code == 303

        response = second.post(f"/customers/{customer_id}/edit",
                               data=customer_form(ada.id, loaded_second, phone="010 3333 3333",
                                                  city="北京"))
        assert response.status_code == 409
        html = response.get_data(as_text=True)
        assert "Someone else saved this customer while you were editing it." in html
        conflict = html[html.index('class="conflict"'):html.index('id="duplicates"')]
        assert "Your value" in conflict and "Saved by" in conflict
        phone_row = re.search(r'data-conflict-field="phone".*?</tr>', conflict, re.S).group(0)
        assert "010 3333 3333" in phone_row and "010 2222 2222" in phone_row
        assert 'data-conflict-field="name"' not in conflict  # the same on both sides
        # The user's input is kept, and the form now carries the new version.
        assert re.search(r'name="phone"[^>]*value="010 3333 3333"', html)
        assert re.search(r'name="city"[^>]*value="北京"', html)
        assert version_in(html) == "2"
        with app.app_context():
            stored = db.session.get(Customer, customer_id)
            assert stored.phone == "010 2222 2222" and stored.city is None  # nothing overwritten

        # The same stale form again: still refused.
        again = second.post(f"/customers/{customer_id}/edit",
                            data=customer_form(ada.id, loaded_second, phone="010 3333 3333"))
        assert again.status_code == 409
        # Apply mine: resubmit with the version the 409 page carries.
        response = second.post(f"/customers/{customer_id}/edit",
                               data=customer_form(ada.id, version_in(html), phone="010 3333 3333",
                                                  city="北京", apply_mine="1"))
        assert response.status_code == 303
        with app.app_context():
            stored = db.session.get(Customer, customer_id)
            assert (stored.phone, stored.city, stored.version) == ("010 3333 3333", "北京", 3)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True


def test_customer_form_without_a_version_still_saves(client, login, app, ada, build):
    customer_id = build.customer(ada)
    login(ada)
    data = customer_form(ada.id, "", phone="021 5555 5555")
    del data["version"]
    assert client.post(f"/customers/{customer_id}/edit", data=data).status_code == 303
    with app.app_context():
        assert db.session.get(Customer, customer_id).version == 2


def test_stale_inline_contact_edit_is_409_in_place(app, ada, max_, build):
    customer_id = build.customer(ada)
    with app.app_context():
        contact = Contact(customer_id=customer_id, name="王伟", phone="138 0000 0000")
        db.session.add(contact)
        db.session.commit()
        contact_id = contact.id
    url = f"/customers/{customer_id}/contacts/{contact_id}/edit"
    first, second = client_for(app, ada), client_for(app, max_)
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        form_html = second.get(url, headers=hx(f"contact-{contact_id}")).get_data(as_text=True)
        loaded = version_in(form_html)
        assert first.post(url, data={"name": "王伟", "phone": "138 1111 1111", "version": loaded},
                          headers=hx("contacts")).status_code == 200
        response = second.post(url, data={"name": "王伟", "phone": "138 2222 2222",
                                          "title": "总经理", "version": loaded},
                               headers=hx("contacts"))
        assert response.status_code == 409
        assert response.headers["HX-Retarget"] == f"#contact-{contact_id}"
        html = response.get_data(as_text=True)
        assert "<html" not in html and "Someone else saved this contact" in html
        assert "138 1111 1111" in html and 'value="138 2222 2222"' in html
        assert 'value="总经理"' in html
        response = second.post(url, data={"name": "王伟", "phone": "138 2222 2222",
                                          "version": version_in(html)}, headers=hx("contacts"))
        assert response.status_code == 200
        with app.app_context():
            assert db.session.get(Contact, contact_id).phone == "138 2222 2222"
    finally:
        app.config["WTF_CSRF_ENABLED"] = True


# Opportunities --------------------------------------------------------------------------------


def opportunity_form(app, opportunity_id, version, **overrides):
    with app.app_context():
        discover = factories.stages()["discover"].id
        opportunity = db.session.get(Opportunity, opportunity_id)
        data = {"title": opportunity.title, "customer_id": str(opportunity.customer_id),
                "pipeline_id": str(opportunity.pipeline_id), "stage_id": str(discover),
                "amount": "1000", "currency": "CNY", "owner_id": str(opportunity.owner_id),
                "competitors-0-name": "", "version": str(version)}
    data.update(overrides)
    return data


def test_second_save_of_an_opportunity_gets_409_with_both_values(app, ada, max_, build):
    opportunity_id = build.opportunity(owner=ada)
    first, second = client_for(app, ada), client_for(app, max_)
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        url = f"/opportunities/{opportunity_id}/edit"
        loaded = version_in(first.get(url).get_data(as_text=True))
        assert version_in(second.get(url).get_data(as_text=True)) == loaded
        assert first.post(url, data=opportunity_form(
            app, opportunity_id, loaded, amount="2000", **{"competitors-0-name": "SAP"})
        ).status_code == 303
        response = second.post(url, data=opportunity_form(app, opportunity_id, loaded,
                                                          amount="3000", source="Trade show"))
        assert response.status_code == 409
        html = response.get_data(as_text=True)
        assert "Someone else saved this opportunity while you were editing it." in html
        amount_row = re.search(r'data-conflict-field="amount".*?</tr>', html, re.S).group(0)
        assert "3,000.00" in amount_row and "2,000.00" in amount_row
        competitors = re.search(r'data-conflict-field="competitors".*?</tr>', html, re.S).group(0)
        assert "SAP" in competitors
        assert re.search(r'name="amount"[^>]*value="3000', html)
        assert re.search(r'name="source"[^>]*value="Trade show"', html)
        new_version = version_in(html)
        assert new_version != loaded
        with app.app_context():
            assert db.session.get(Opportunity, opportunity_id).amount == Decimal("2000")
        response = second.post(url, data=opportunity_form(app, opportunity_id, new_version,
                                                          amount="3000", source="Trade show"))
        assert response.status_code == 303
        with app.app_context():
            stored = db.session.get(Opportunity, opportunity_id)
            assert stored.amount == Decimal("3000") and stored.source == "Trade show"
    finally:
        app.config["WTF_CSRF_ENABLED"] = True


# Stage moves ----------------------------------------------------------------------------------


def current_version(app, opportunity_id) -> int:
    with app.app_context():
        return db.session.get(Opportunity, opportunity_id).version


def test_two_moves_with_the_same_version_the_second_is_409(client, login, app, ada, build):
    opportunity_id = build.opportunity(owner=ada)
    stages = build.stages()
    login(ada)
    version = current_version(app, opportunity_id)
    url = f"/opportunities/{opportunity_id}/stage"
    first = client.post(url, data={"stage_id": stages["confirm"], "version": version},
                        headers=hx("stage-widget"))
    assert first.status_code == 200
    second = client.post(url, data={"stage_id": stages["proposal"], "version": version},
                         headers=hx("stage-widget"))
    assert second.status_code == 409
    html = second.get_data(as_text=True)
    assert "<html" not in html and 'id="stage-widget"' in html
    assert "Ada Admin changed ERP rollout while you were looking at it" in html
    assert "Confirm" in html  # the widget shows where it really is, with the new version
    assert f'name="version" value="{current_version(app, opportunity_id)}"' in html
    assert 'hx-swap-oob="true"' in html  # the details and history follow
    with app.app_context():
        assert db.session.get(Opportunity, opportunity_id).stage_id == stages["confirm"]
        assert db.session.execute(db.select(db.func.count(StageChange.id)).where(
            StageChange.opportunity_id == opportunity_id)).scalar() == 2
    # Without JavaScript: the page itself, 409, with the message.
    page = client.post(url, data={"stage_id": stages["proposal"], "version": version})
    assert page.status_code == 409 and "<html" in page.get_data(as_text=True)
    assert "while you were looking at it" in page.get_data(as_text=True)


def test_a_stale_board_move_puts_the_card_in_its_real_column(client, login, app, ada, build):
    opportunity_id = build.opportunity(owner=ada)
    stages = build.stages()
    login(ada)
    version = current_version(app, opportunity_id)
    url = f"/opportunities/{opportunity_id}/stage"
    assert client.post(url, data={"stage_id": stages["negotiation"], "version": version,
                                  "context": "board"},
                       headers=board_headers(opportunity_id)).status_code == 200
    stale = client.post(url, data={"stage_id": stages["proposal"], "version": version,
                                   "context": "board"}, headers=board_headers(opportunity_id))
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert html.lstrip().startswith('<article class="board-card')
    assert f'data-stage-id="{stages["negotiation"]}"' in html  # where it really is
    assert f'data-version="{current_version(app, opportunity_id)}"' in html
    assert "while you were looking at it" in stale.headers["HX-Trigger"]
    # Every column header comes along, so the counts match what is stored.
    assert html.count('class="column-head"') >= len(stages) - 1
    assert 'id="board-totals" hx-swap-oob="true"' in html


def test_moves_without_a_version_stay_allowed(client, login, app, ada, build):
    opportunity_id = build.opportunity(owner=ada)
    stages = build.stages()
    login(ada)
    url = f"/opportunities/{opportunity_id}/stage"
    for key in ("confirm", "proposal"):
        assert client.post(url, data={"stage_id": stages[key]},
                           headers=hx("stage-widget")).status_code == 200
    with app.app_context():
        assert db.session.get(Opportunity, opportunity_id).stage_id == stages["proposal"]


def test_the_lost_reason_question_keeps_the_version(client, login, app, ada, max_, build):
    opportunity_id = build.opportunity(owner=ada)
    stages = build.stages()
    login(ada)
    version = current_version(app, opportunity_id)
    url = f"/opportunities/{opportunity_id}/stage"
    asked = client.post(url, data={"stage_id": stages["lost"], "version": version,
                                   "context": "board"}, headers=board_headers(opportunity_id))
    assert asked.status_code == 422
    assert f'name="version" value="{version}"' in asked.get_data(as_text=True)
    # Meanwhile someone else moves it; the answer to the question is now stale.
    other = client_for(app, max_)
    app.config["WTF_CSRF_ENABLED"] = False
    assert other.post(url, data={"stage_id": stages["confirm"], "version": version},
                      headers=hx("stage-widget")).status_code == 200
    with app.app_context():
        reason_id = db.session.execute(db.text("SELECT id FROM lost_reasons LIMIT 1")).scalar()
    answer = client.post(url, data={"stage_id": stages["lost"], "version": version,
                                    "lost_reason_id": reason_id, "context": "board"},
                         headers=board_headers(opportunity_id))
    assert answer.status_code == 409
    assert "Max Manager changed" in answer.headers["HX-Trigger"]
    with app.app_context():
        assert db.session.get(Opportunity, opportunity_id).status == "open"


def test_pages_carry_the_version_to_the_stage_route(client, login, app, ada, build):
    opportunity_id = build.opportunity(owner=ada)
    login(ada)
    version = current_version(app, opportunity_id)
    page = client.get(f"/opportunities/{opportunity_id}").get_data(as_text=True)
    widget = page[page.index('id="stage-widget"'):]
    widget = widget[:widget.index("</section>")]
    assert widget.count(f'name="version" value="{version}"') == widget.count("<form")
    board = client.get("/pipeline").get_data(as_text=True)
    assert f'data-version="{version}"' in board
    card = board[board.index(f'id="card-{opportunity_id}"'):]
    assert f'name="version" value="{version}"' in card[:card.index("</article>")]


def test_concurrent_moves_with_the_same_version_exactly_one_wins(app, ada, build):
    """N browsers move the same card at once, all from the same version: one move is saved,
    the others get 409; the history has one move (on SQLite and on PostgreSQL alike)."""
    opportunity_id = build.opportunity(owner=ada)
    stages = build.stages()
    version = current_version(app, opportunity_id)
    targets = [stages[key] for key in ("confirm", "needs_analysis", "proposal", "negotiation",
                                       "signed", "delivered")]
    clients = [client_for(app, ada) for _ in targets]
    barrier = threading.Barrier(len(targets))
    statuses: list[int] = []
    errors: list[BaseException] = []
    app.config["WTF_CSRF_ENABLED"] = False

    def move(test_client, stage_id):
        try:
            barrier.wait(timeout=10)
            response = test_client.post(f"/opportunities/{opportunity_id}/stage",
                                        data={"stage_id": stage_id, "version": version,
                                              "context": "board"},
                                        headers=board_headers(opportunity_id))
            statuses.append(response.status_code)
        except BaseException as error:  # surfaced below
            errors.append(error)

    try:
        threads = [threading.Thread(target=move, args=pair) for pair in zip(clients, targets)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    assert not errors, errors
    assert sorted(statuses) == [200] + [409] * (len(targets) - 1)
    with app.app_context():
        opportunity = db.session.get(Opportunity, opportunity_id)
        assert opportunity.stage_id in targets and opportunity.version > version
        moves = db.session.execute(db.select(StageChange).where(
            StageChange.opportunity_id == opportunity_id,
            StageChange.from_stage_id.is_not(None))).scalars().all()
        assert [m.to_stage_id for m in moves] == [opportunity.stage_id]


def test_concurrent_moves_without_a_version_all_apply_in_turn(app, ada, build):
    """Old clients (no version) are serialised, never refused, and the history chains up."""
    opportunity_id = build.opportunity(owner=ada)
    stages = build.stages()
    targets = [stages[key] for key in ("confirm", "needs_analysis", "proposal", "negotiation")]
    clients = [client_for(app, ada) for _ in targets]
    barrier = threading.Barrier(len(targets))
    statuses: list[int] = []
    app.config["WTF_CSRF_ENABLED"] = False

    def move(test_client, stage_id):
        barrier.wait(timeout=10)
        statuses.append(test_client.post(f"/opportunities/{opportunity_id}/stage",
                                         data={"stage_id": stage_id},
                                         headers=hx("stage-widget")).status_code)

    try:
        threads = [threading.Thread(target=move, args=pair) for pair in zip(clients, targets)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    assert statuses == [200] * len(targets)
    with app.app_context():
        moves = db.session.execute(
            db.select(StageChange).where(StageChange.opportunity_id == opportunity_id)
            .order_by(StageChange.changed_at, StageChange.id)).scalars().all()
        # Each move starts where the previous one ended: no move was lost or read stale.
        assert len(moves) == len(targets) + 1
        for previous, following in zip(moves, moves[1:]):
            assert following.from_stage_id == previous.to_stage_id


# Notes ------------------------------------------------------------------------------------------


def test_stale_note_edit_is_409_with_both_texts(client, login, app, ada, build):
    customer_id = build.customer(ada)
    with app.app_context():
        note = Note(body="Called about the quote", customer_id=customer_id, author_id=ada.id)
        db.session.add(note)
        db.session.commit()
        note_id = note.id
    login(ada)
    url = f"/notes/{note_id}/edit"
    loaded = version_in(client.get(url, headers=hx(f"note-{note_id}")).get_data(as_text=True))
    assert client.post(url, data={"kind": "call", "body": "Called, sent the quote",
                                  "version": loaded}, headers=hx(f"note-{note_id}")).status_code == 200
    stale = client.post(url, data={"kind": "visit", "body": "Visited them",
                                   "version": loaded}, headers=hx(f"note-{note_id}"))
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert "Someone else saved this note" in html
    assert "Called, sent the quote" in html and "Visited them" in html
    assert version_in(html) != loaded
    applied = client.post(url, data={"kind": "visit", "body": "Visited them",
                                     "version": version_in(html)}, headers=hx(f"note-{note_id}"))
    assert applied.status_code == 200
    with app.app_context():
        assert db.session.get(Note, note_id).body == "Visited them"
