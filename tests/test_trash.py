"""The trash: deleting moves a record and what hangs on it to the trash as one batch;
restoring within 30 days brings the batch back; admins purge; a global filter hides trashed
rows from every list, count, total, relationship and get_or_404."""
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest

from crm.extensions import db as _db
from crm.models import (AuditEntry, Contact, Customer, Note, Opportunity, Tag, TagGroup, Task,
                        User, utcnow)
from crm.trash.queries import RETENTION_DAYS, batch_counts, batches, get_batch
from crm.trash.services import TrashError, purge, purge_expired, restore, trash
from tests import factories
from tests.conftest import hx, session_user_id


@dataclass
class World:
    owner_id: int
    customer_id: int
    other_customer_id: int
    contact_ids: list
    opportunity_id: int
    note_ids: list
    task_ids: list
    stage_id: int


def _everything(model):
    return _db.select(model).execution_options(include_deleted=True)


def _build(app, owner, *, name="星辰科技"):
    """A customer with two contacts, notes, tasks and an opportunity with its own note and task;
    and another customer that must stay untouched."""
    with app.app_context():
        customer = factories.customer(owner, name=name, created_by=owner, commit=False,
                                      contacts=[{"name": "Wang Wei", "is_primary": True},
                                                {"name": "Li Na"}])
        other = factories.customer(owner, name="Untouched Ltd", created_by=owner, commit=False)
        first, second = customer.contacts
        opp = factories.opportunity(customer, owner, stage="discover", title="Big deal",
                                    amount="1000.00", commit=False)
        notes = [factories.note(owner, customer, body="Called them", commit=False),
                 factories.note(owner, customer, contact=first, body="Visited", commit=False),
                 factories.note(owner, customer, opportunity=opp, body="Sent the quote",
                                commit=False),
                 factories.note(owner, other, body="Other customer's note", commit=False)]
        past = utcnow() - timedelta(days=1)
        tasks = [factories.task(owner, "Call back", customer=customer, due=past, commit=False),
                 factories.task(owner, "Send contract", opportunity=opp, customer=customer,
                                due=past, commit=False),
                 factories.task(owner, "Other task", customer=other, due=past, commit=False)]
        _db.session.commit()
        # Playbook tasks of the stage may exist too: they hang on the opportunity.
        return World(owner.id, customer.id, other.id, [first.id, second.id], opp.id,
                     [n.id for n in notes], [t.id for t in tasks], opp.stage_id)


@pytest.fixture
def owner(make_user):
    return make_user("sales", email="owner@example.com", name="Olga Owner")


@pytest.fixture
def world(app, owner):
    return _build(app, owner)


def _trash_customer(app, world, user_id=None, now=None):
    with app.app_context():
        customer = _db.session.get(Customer, world.customer_id)
        result = trash(customer, _db.session.get(User, user_id or world.owner_id), now=now)
        _db.session.commit()
        return result


# --- the batch ------------------------------------------------------------------------------


def test_trashing_a_customer_moves_everything_that_hangs_on_it_in_one_batch(app, world):
    result = _trash_customer(app, world)
    with app.app_context():
        customer = _db.session.execute(_everything(Customer).where(
            Customer.id == world.customer_id)).scalar_one()
        assert customer.deleted_at is not None and customer.deleted_batch == result.batch
        for model in (Contact, Opportunity, Note, Task):
            rows = _db.session.execute(_everything(model).where(
                model.deleted_batch == result.batch)).scalars().all()
            assert rows and all(r.deleted_at == customer.deleted_at for r in rows)
        counts = batch_counts([result.batch])[result.batch]
        assert counts["customer"] == 1 and counts["contact"] == 2 and counts["opportunity"] == 1
        assert counts["note"] == 3  # two on the customer, one on its opportunity
        assert counts["task"] >= 2
        assert result.count == sum(counts.values())
        # The other customer's records stay where they were.
        other = _db.session.get(Customer, world.other_customer_id)
        assert other is not None and other.deleted_at is None
        assert _db.session.get(Note, world.note_ids[3]) is not None
        assert _db.session.get(Task, world.task_ids[2]) is not None
        # Who did it is in the audit log, with every contact and opportunity that went along.
        entries = _db.session.execute(_db.select(AuditEntry).where(
            AuditEntry.action == "delete", AuditEntry.new_value == result.batch)).scalars().all()
        assert {(e.entity, e.user_id) for e in entries} == {
            ("customers", world.owner_id), ("contacts", world.owner_id),
            ("opportunities", world.owner_id)}


def test_trashing_is_a_fixed_number_of_statements(app, world, owner):
    from tests.conftest import count_queries
    extra = _build(app, owner, name="Many notes")
    with app.app_context():
        user = _db.session.get(User, owner.id)
        _db.session.add_all([Note(body=f"n{i}", customer_id=extra.customer_id, author=user)
                             for i in range(60)])
        _db.session.commit()
        customer = _db.session.get(Customer, extra.customer_id)
        with count_queries(_db.engine) as statements:
            trash(customer, user)
            _db.session.flush()
        assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE")]) == 5
        assert len(statements) < 15


def test_restore_brings_the_whole_batch_back(app, world):
    result = _trash_customer(app, world)
    with app.app_context():
        restored = restore(result.batch, _db.session.get(User, world.owner_id))
        _db.session.commit()
        assert restored.count == result.count
        customer = _db.session.get(Customer, world.customer_id)
        assert customer is not None and customer.deleted_at is None
        assert sorted(c.id for c in customer.contacts) == sorted(world.contact_ids)
        assert _db.session.get(Opportunity, world.opportunity_id) is not None
        for note_id in world.note_ids:
            assert _db.session.get(Note, note_id).deleted_batch is None
        assert _db.session.execute(_everything(Customer).where(
            Customer.deleted_at.is_not(None))).first() is None
        assert get_batch(result.batch) is None
        assert _db.session.execute(_db.select(AuditEntry).where(
            AuditEntry.action == "restore", AuditEntry.entity == "customers")).scalar_one()


def test_restore_by_object(app, world):
    with app.app_context():
        note = _db.session.get(Note, world.note_ids[0])
        trash(note, _db.session.get(User, world.owner_id))
        _db.session.commit()
        note = _db.session.execute(_everything(Note).where(Note.id == world.note_ids[0])).scalar_one()
        restore(note)
        _db.session.commit()
        assert _db.session.get(Note, world.note_ids[0]).deleted_at is None


def test_records_trashed_earlier_keep_their_own_batch(app, world):
    """A note deleted on its own, then its customer: restoring the customer leaves the note
    in the trash, and the note comes back by itself afterwards."""
    with app.app_context():
        user = _db.session.get(User, world.owner_id)
        note_batch = trash(_db.session.get(Note, world.note_ids[0]), user).batch
        _db.session.commit()
    customer_batch = _trash_customer(app, world).batch
    with app.app_context():
        with pytest.raises(TrashError, match="customer 星辰科技 is in the trash"):
            restore(note_batch)
        restore(customer_batch)
        _db.session.commit()
        assert _db.session.get(Note, world.note_ids[0]) is None
        restore(note_batch)
        _db.session.commit()
        assert _db.session.get(Note, world.note_ids[0]) is not None


def test_restoring_a_contact_whose_customer_is_in_the_trash_is_refused(app, world):
    with app.app_context():
        user = _db.session.get(User, world.owner_id)
        contact_batch = trash(_db.session.get(Contact, world.contact_ids[1]), user).batch
        _db.session.commit()
    _trash_customer(app, world)
    with app.app_context():
        with pytest.raises(TrashError) as exc:
            restore(contact_batch)
        assert "restore it first" in str(exc.value)
        assert get_batch(contact_batch) is not None


def test_restoring_a_task_of_a_trashed_opportunity_is_refused(app, world):
    with app.app_context():
        user = _db.session.get(User, world.owner_id)
        task_batch = trash(_db.session.get(Task, world.task_ids[1]), user).batch
        _db.session.commit()
        opp_batch = trash(_db.session.get(Opportunity, world.opportunity_id), user).batch
        _db.session.commit()
        with pytest.raises(TrashError, match="opportunity Big deal is in the trash"):
            restore(task_batch)
        restore(opp_batch)
        restore(task_batch)
        _db.session.commit()
        assert _db.session.get(Task, world.task_ids[1]) is not None


def test_trashing_an_opportunity_takes_its_notes_and_tasks_only(app, world):
    with app.app_context():
        opp = _db.session.get(Opportunity, world.opportunity_id)
        result = trash(opp, _db.session.get(User, world.owner_id))
        _db.session.commit()
        counts = batch_counts([result.batch])[result.batch]
        assert set(counts) <= {"opportunity", "note", "task"}
        assert counts["opportunity"] == 1 and counts["note"] == 1 and counts["task"] >= 1
        assert _db.session.get(Customer, world.customer_id) is not None
        assert _db.session.get(Note, world.note_ids[0]) is not None
        assert _db.session.get(Task, world.task_ids[0]) is not None


def test_trashing_the_primary_contact_hands_the_flag_on_and_restoring_gives_it_back_only_if_free(app, world):
    with app.app_context():
        user = _db.session.get(User, world.owner_id)
        result = trash(_db.session.get(Contact, world.contact_ids[0]), user)
        _db.session.commit()
        customer = _db.session.get(Customer, world.customer_id)
        assert [c.id for c in customer.contacts] == [world.contact_ids[1]]
        assert customer.contacts[0].is_primary
        assert "wangwei" not in customer.search_index
        restore(result.batch, user)
        _db.session.commit()
        customer = _db.session.get(Customer, world.customer_id)
        primaries = [c.id for c in customer.contacts if c.is_primary]
        assert primaries == [world.contact_ids[1]]  # the one named since keeps the flag
        assert "wangwei" in customer.search_index


def test_restore_after_30_days_is_refused(app, world):
    long_ago = utcnow() - timedelta(days=RETENTION_DAYS, hours=1)
    result = _trash_customer(app, world, now=long_ago)
    with app.app_context():
        with pytest.raises(TrashError, match="more than 30 days ago"):
            restore(result.batch)
        assert get_batch(result.batch).expired()
    # A day before the limit it still works.
    with app.app_context():
        other = _db.session.get(Customer, world.other_customer_id)
        batch = trash(other, None, now=utcnow() - timedelta(days=RETENTION_DAYS - 1)).batch
        _db.session.commit()
        item = get_batch(batch)
        assert item.days_left() == 1
        restore(batch)
        _db.session.commit()


def test_trashing_twice_is_refused(app, world):
    with app.app_context():
        note = _db.session.get(Note, world.note_ids[0])
        trash(note, None)
        _db.session.commit()
        note = _db.session.execute(_everything(Note).where(Note.id == world.note_ids[0])).scalar_one()
        with pytest.raises(TrashError):
            trash(note, None)


# --- purging ------------------------------------------------------------------------------


def test_purge_deletes_the_batch_for_good_and_only_admins_may(app, world, make_user):
    admin = make_user("admin")
    result = _trash_customer(app, world)
    with app.app_context():
        with pytest.raises(TrashError):
            purge(result.batch, _db.session.get(User, world.owner_id))
        deleted = purge(result.batch, _db.session.get(User, admin.id))
        _db.session.commit()
        assert deleted == result.count
        for model in (Customer, Contact, Opportunity, Note, Task):
            assert _db.session.execute(_everything(model).where(
                model.deleted_batch == result.batch)).first() is None
        assert _db.session.get(Customer, world.other_customer_id) is not None
        assert get_batch(result.batch) is None
        assert _db.session.execute(_db.select(AuditEntry).where(
            AuditEntry.action == "purge", AuditEntry.entity == "customers",
            AuditEntry.user_id == admin.id)).scalar_one()


def test_purge_expired_deletes_only_batches_older_than_30_days(app, world):
    old = _trash_customer(app, world, now=utcnow() - timedelta(days=31))
    with app.app_context():
        recent = trash(_db.session.get(Note, world.note_ids[3]), None).batch
        _db.session.commit()
        count, rows = purge_expired()
        _db.session.commit()
        assert count == 1 and rows == old.count
        assert get_batch(old.batch) is None
        assert get_batch(recent) is not None
        assert _db.session.execute(_everything(Customer).where(
            Customer.id == world.customer_id)).first() is None


def test_purge_trash_command(app, world):
    _trash_customer(app, world, now=utcnow() - timedelta(days=40))
    result = app.test_cli_runner().invoke(args=["crm", "purge-trash"])
    assert result.exit_code == 0, result.output
    assert "Purged 1 batch" in result.output
    with app.app_context():
        assert _db.session.execute(_everything(Customer).where(
            Customer.id == world.customer_id)).first() is None
        assert _db.session.get(Customer, world.other_customer_id) is not None


def test_purge_trash_command_is_registered(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "purge-trash", "--help"])
    assert result.exit_code == 0 and "30 days" in result.output


# --- the global filter ----------------------------------------------------------------------


def test_trashed_rows_are_invisible_to_lists_counts_get_and_relationships(app, world):
    from sqlalchemy import func
    _trash_customer(app, world)
    with app.app_context():
        assert _db.session.get(Customer, world.customer_id) is None
        assert _db.session.execute(_db.select(func.count(Customer.id))).scalar_one() == 1
        assert _db.session.execute(_db.select(Customer.name)).scalars().all() == ["Untouched Ltd"]
        assert _db.session.execute(_db.select(func.count(Contact.id))).scalar_one() == 0
        assert _db.session.execute(_db.select(func.count(Opportunity.id))).scalar_one() == 0
        assert _db.session.execute(_db.select(func.count(Note.id))).scalar_one() == 1
        assert _db.session.execute(_db.select(func.count(Task.id))).scalar_one() == 1
        page = _db.paginate(_db.select(Customer), page=1, per_page=10, count=True)
        assert page.total == 1 and [c.id for c in page.items] == [world.other_customer_id]
        # Opting out sees everything.
        assert _db.session.execute(_db.select(func.count(Customer.id))
                                   .execution_options(include_deleted=True)).scalar_one() == 2


def test_get_or_404_of_a_trashed_row_is_404(app, world):
    from werkzeug.exceptions import NotFound
    _trash_customer(app, world)
    with app.test_request_context():
        with pytest.raises(NotFound):
            _db.get_or_404(Customer, world.customer_id)
        with pytest.raises(NotFound):
            _db.get_or_404(Opportunity, world.opportunity_id)
        assert _db.get_or_404(Customer, world.other_customer_id).name == "Untouched Ltd"


def test_relationship_loads_skip_trashed_rows(app, world):
    from sqlalchemy.orm import joinedload, selectinload
    with app.app_context():
        user = _db.session.get(User, world.owner_id)
        trash(_db.session.get(Contact, world.contact_ids[1]), user)
        trash(_db.session.get(Opportunity, world.opportunity_id), user)
        _db.session.commit()
    with app.app_context():
        # lazy
        customer = _db.session.get(Customer, world.customer_id)
        assert [c.id for c in customer.contacts] == [world.contact_ids[0]]
        # selectin
        _db.session.expunge_all()
        customer = _db.session.execute(_db.select(Customer).where(
            Customer.id == world.customer_id).options(selectinload(Customer.contacts))).scalar_one()
        assert [c.id for c in customer.contacts] == [world.contact_ids[0]]
        # joined
        _db.session.expunge_all()
        customer = _db.session.execute(_db.select(Customer).where(
            Customer.id == world.customer_id).options(joinedload(Customer.contacts))
        ).unique().scalar_one()
        assert [c.id for c in customer.contacts] == [world.contact_ids[0]]
        # many-to-one: a task of the trashed opportunity... is trashed with it; the note on the
        # customer that named the trashed contact shows no contact.
        visited = _db.session.get(Note, world.note_ids[1])
        assert visited.contact_id == world.contact_ids[0]
        # A row pointing at a trashed row sees nothing there.
        task = _db.session.get(Task, world.task_ids[0])
        assert task.customer.id == world.customer_id


def test_many_to_one_to_a_trashed_row_is_none(app, world):
    with app.app_context():
        trash(_db.session.get(Contact, world.contact_ids[0]), None)
        _db.session.commit()
    with app.app_context():
        note = _db.session.get(Note, world.note_ids[1])
        assert note.contact_id == world.contact_ids[0] and note.contact is None


def test_board_totals_and_cards_exclude_trashed_opportunities(app, world, owner):
    from crm.board.queries import BoardFilters, column_summaries, first_cards, stages_of
    extra = _build(app, owner, name="Second Co")
    with app.app_context():
        opp = _db.session.get(Opportunity, world.opportunity_id)
        pipeline_id, stage_id = opp.pipeline_id, opp.stage_id
        user = _db.session.get(User, owner.id)
        trash(opp, user)
        _db.session.commit()
        stages = stages_of(pipeline_id)
        summaries = column_summaries(stages, BoardFilters(), user)
        assert summaries[stage_id].count == 1
        assert summaries[stage_id].by_currency["CNY"].amount == Decimal("1000.00")
        cards = first_cards(stages, BoardFilters(), user)
        assert [c.id for c in cards[stage_id]] == [extra.opportunity_id]


def test_task_badge_counts_no_trashed_task(app, world, client, login, owner):
    from crm.tasks.queries import overdue_task_count
    login(owner)
    html = client.get("/tasks").get_data(as_text=True)
    assert 'id="overdue-badge" class="badge badge-danger"' in html
    with app.test_request_context():
        from flask_login import login_user
        login_user(_db.session.get(User, owner.id))
        before = overdue_task_count()
        assert before >= 3
        trash(_db.session.get(Customer, world.customer_id), None)
        _db.session.commit()
        assert overdue_task_count() == before - 2
        from crm.tasks.queries import overdue_count
        assert overdue_count(owner.id) == before - 2


def test_tag_counts_exclude_trashed_customers(app, world, admin_client):
    from crm.tags.queries import group_customer_counts, tag_customer_counts
    with app.app_context():
        group = TagGroup(name="Industry")
        tag = Tag(name="Energy", group=group)
        _db.session.add_all([group, tag])
        _db.session.flush()
        customers = [_db.session.get(Customer, i) for i in (world.customer_id, world.other_customer_id)]
        for customer in customers:
            customer.tags.append(tag)
        _db.session.commit()
        tag_id, group_id = tag.id, group.id
        assert tag_customer_counts()[tag_id] == 2
        trash(_db.session.get(Customer, world.customer_id), None)
        _db.session.commit()
        assert tag_customer_counts()[tag_id] == 1
        assert tag_customer_counts([tag_id])[tag_id] == 1
        assert group_customer_counts()[group_id] == 1


def test_list_totals_exclude_trashed_rows(app, world, admin_client):
    _trash_customer(app, world)
    html = admin_client.get("/customers").get_data(as_text=True)
    assert "Untouched Ltd" in html and "星辰科技" not in html
    html = admin_client.get("/opportunities").get_data(as_text=True)
    assert "Big deal" not in html
    html = admin_client.get("/tasks?assignee=all").get_data(as_text=True)
    assert "Other task" in html and "Call back" not in html and "Send contract" not in html


def test_a_pipeline_or_stage_holding_only_trashed_opportunities_cannot_lose_them(app, world):
    """Trashed opportunities still count for the integrity rules: a stage that holds only
    trashed ones asks where they go, so they can still be restored later."""
    from crm.pipelines.services import stage_opportunity_count
    with app.app_context():
        opp = _db.session.get(Opportunity, world.opportunity_id)
        stage = opp.stage
        trash(opp, None)
        _db.session.commit()
        assert stage_opportunity_count(stage) == 1


# --- the list of batches -----------------------------------------------------------------


def test_batches_list_heads_with_counts_and_who_deleted(app, world, make_user):
    manager = make_user("manager", name="Mia Manager")
    with app.app_context():
        user = _db.session.get(User, world.owner_id)
        trash(_db.session.get(Note, world.note_ids[3]), user)
        _db.session.commit()
    _trash_customer(app, world, user_id=manager.id)
    with app.app_context():
        page = batches(_db.session.get(User, manager.id))
        assert page.total == 2
        head = page.items[0]
        assert head.kind == "customer" and head.label == "星辰科技"
        assert head.deleted_by_name == "Mia Manager"
        assert head.others["contact"] == 2 and head.others["note"] == 3
        assert head.days_left() == RETENTION_DAYS
        note = page.items[1]
        assert note.kind == "note" and note.parent_label == "Untouched Ltd"
        assert note.deleted_by_name == "Olga Owner"
        only_notes = batches(_db.session.get(User, manager.id), kind="note")
        assert [i.kind for i in only_notes.items] == ["note"]


def test_sales_see_only_batches_of_records_they_could_see(app, world, make_user):
    stranger = make_user("sales", email="stranger@example.com")
    _trash_customer(app, world)
    with app.app_context():
        assert batches(_db.session.get(User, stranger.id)).total == 0
        assert batches(_db.session.get(User, world.owner_id)).total == 1


# --- HTTP: delete → trash → restore, for each kind -------------------------------------------


def _batch_of(app, model, record_id):
    with app.app_context():
        return _db.session.execute(_everything(model).where(model.id == record_id)
                                   ).scalar_one().deleted_batch


def test_customer_delete_trash_restore_round_trip(app, world, client, login, owner):
    login(owner)
    response = client.post(f"/customers/{world.customer_id}/delete")
    assert response.status_code == 303 and response.headers["Location"].endswith("/customers")
    batch = _batch_of(app, Customer, world.customer_id)
    assert batch
    listing = client.get("/customers").get_data(as_text=True)
    assert "星辰科技" in listing  # only in the notice, once
    assert "The customer 星辰科技 was moved to the trash." in listing
    assert f'action="/trash/{batch}/restore"' in listing and ">Undo<" in listing
    assert listing.count("星辰科技") == 1
    # The notice shows once.
    assert "moved to the trash" not in client.get("/customers").get_data(as_text=True)
    assert client.get(f"/customers/{world.customer_id}").status_code == 404
    assert client.get(f"/opportunities/{world.opportunity_id}").status_code == 404
    trash_page = client.get("/trash").get_data(as_text=True)
    assert "星辰科技" in trash_page and "2 contacts" in trash_page and "Olga Owner" in trash_page
    assert "30 days" in trash_page
    response = client.post(f"/trash/{batch}/restore", data={"next": "/customers"})
    assert response.status_code == 303 and response.headers["Location"] == "/customers"
    page = client.get(f"/customers/{world.customer_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Wang Wei" in html and "Li Na" in html
    assert "Called them" in html and "Big deal" in html
    assert "is back" in html


def test_htmx_customer_delete_redirects_with_hx_redirect(app, world, client, login, owner):
    login(owner)
    response = client.post(f"/customers/{world.customer_id}/delete", headers=hx())
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/customers"


def test_contact_delete_offers_undo_in_a_toast(app, world, client, login, owner):
    login(owner)
    contact_id = world.contact_ids[0]
    response = client.post(f"/customers/{world.customer_id}/contacts/{contact_id}/delete",
                           headers={**hx("contacts"),
                                    "HX-Current-URL": f"http://localhost/customers/{world.customer_id}"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f'id="contact-{contact_id}"' not in html
    assert 'id="toast"' in html and 'hx-swap-oob="true"' in html and ">Undo<" in html
    assert f'name="next" value="/customers/{world.customer_id}"' in html
    # Li Na is the primary contact now.
    assert "Primary" in html.split("Li Na")[1].split("</li>")[0]
    batch = _batch_of(app, Contact, contact_id)
    response = client.post(f"/trash/{batch}/restore",
                           data={"next": f"/customers/{world.customer_id}"})
    assert response.status_code == 303
    assert "Wang Wei" in client.get(f"/customers/{world.customer_id}").get_data(as_text=True)


def test_contact_delete_without_javascript(app, world, client, login, owner):
    login(owner)
    response = client.post(f"/customers/{world.customer_id}/contacts/{world.contact_ids[1]}/delete")
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The contact Li Na was moved to the trash." in html and ">Undo<" in html


def test_note_delete_leaves_an_undo_line_in_its_place(app, world, client, login, owner):
    login(owner)
    note_id = world.note_ids[0]
    response = client.post(f"/notes/{note_id}/delete", headers=hx(f"note-{note_id}"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f'<li id="note-{note_id}"' in html and "The note was moved to the trash." in html
    assert "Called them" not in client.get(f"/customers/{world.customer_id}").get_data(as_text=True)
    batch = _batch_of(app, Note, note_id)
    assert client.post(f"/trash/{batch}/restore").status_code == 303
    assert "Called them" in client.get(f"/customers/{world.customer_id}").get_data(as_text=True)
    # Without JavaScript: back to the customer page, with the notice.
    response = client.post(f"/notes/{note_id}/delete")
    assert response.status_code == 303
    assert "The note was moved to the trash." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_task_delete_from_the_panel_offers_undo(app, world, client, login, owner):
    login(owner)
    task_id = world.task_ids[0]
    response = client.post(f"/tasks/{task_id}/delete", headers=hx("task-panel"),
                           data={"panel_customer_id": world.customer_id})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="task-panel"' in html
    assert f'id="panel-task-{task_id}"' not in html
    assert "The task Call back was moved to the trash." in html
    batch = _batch_of(app, Task, task_id)
    assert client.post(f"/trash/{batch}/restore").status_code == 303
    with app.app_context():
        assert _db.session.get(Task, task_id) is not None


def test_opportunity_delete_asks_then_moves_to_the_trash(app, world, client, login, owner):
    login(owner)
    page = client.get(f"/opportunities/{world.opportunity_id}").get_data(as_text=True)
    assert f'hx-post="/opportunities/{world.opportunity_id}/delete"' in page and "hx-confirm" in page
    confirm = client.get(f"/opportunities/{world.opportunity_id}/delete")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Move Big deal to the trash?" in html
    assert "1 note" in html
    response = client.post(f"/opportunities/{world.opportunity_id}/delete")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/customers/{world.customer_id}"
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The opportunity Big deal was moved to the trash." in html
    assert client.get(f"/opportunities/{world.opportunity_id}").status_code == 404
    batch = _batch_of(app, Opportunity, world.opportunity_id)
    assert client.post(f"/trash/{batch}/restore").status_code == 303
    assert client.get(f"/opportunities/{world.opportunity_id}").status_code == 200


# --- HTTP: permissions ------------------------------------------------------------------------


def test_strangers_cannot_delete_see_or_restore(app, world, client, login, owner, make_user):
    stranger = make_user("sales", email="stranger@example.com")
    login(stranger)
    assert client.post(f"/customers/{world.customer_id}/delete").status_code == 403
    assert client.post(f"/opportunities/{world.opportunity_id}/delete").status_code == 403
    assert client.get(f"/opportunities/{world.opportunity_id}/delete").status_code == 403
    assert client.post(f"/notes/{world.note_ids[0]}/delete", headers=hx()).status_code == 403
    assert client.post(f"/tasks/{world.task_ids[0]}/delete").status_code == 403
    login(owner)
    client.post(f"/customers/{world.customer_id}/delete")
    batch = _batch_of(app, Customer, world.customer_id)
    login(stranger)
    assert "星辰科技" not in client.get("/trash").get_data(as_text=True)
    assert client.post(f"/trash/{batch}/restore").status_code == 403
    assert client.get(f"/trash/{batch}/purge").status_code == 403
    assert client.post(f"/trash/{batch}/purge").status_code == 403
    assert client.post("/trash/expired").status_code == 403
    assert client.post("/trash/nosuchbatch/restore").status_code == 404


def test_who_may_restore(app, world, client, login, owner, make_user):
    """The person who deleted it, the record's owner, managers and admins; a colleague who
    only sees it (team sees everything) does not."""
    from crm.models import Setting
    colleague = make_user("sales", email="colleague@example.com")
    manager = make_user("manager", email="manager@example.com")
    with app.app_context():
        _db.session.add(Setting(key="team_sees_everything", value="1"))
        _db.session.commit()
    login(manager)
    client.post(f"/customers/{world.customer_id}/delete")
    batch = _batch_of(app, Customer, world.customer_id)
    login(colleague)
    html = client.get("/trash").get_data(as_text=True)
    assert "星辰科技" in html and f"/trash/{batch}/restore" not in html
    assert client.post(f"/trash/{batch}/restore").status_code == 403
    login(owner)  # the owner, although a manager deleted it
    assert client.post(f"/trash/{batch}/restore").status_code == 303


def test_deleter_may_restore_even_without_owning(app, world, client, login, owner, make_user):
    """A colleague who created a task for the owner deletes it: they may restore it."""
    colleague = make_user("sales", email="colleague@example.com")
    with app.app_context():
        task = Task(title="Prepare the demo", assignee_id=owner.id, created_by_id=colleague.id)
        _db.session.add(task)
        _db.session.commit()
        task_id = task.id
    login(colleague)
    assert client.post(f"/tasks/{task_id}/delete").status_code == 303
    batch = _batch_of(app, Task, task_id)
    assert "Prepare the demo" in client.get("/trash").get_data(as_text=True)
    assert client.post(f"/trash/{batch}/restore").status_code == 303


def test_only_admins_purge_with_a_confirmation(app, world, client, login, owner, admin):
    login(owner)
    client.post(f"/customers/{world.customer_id}/delete")
    batch = _batch_of(app, Customer, world.customer_id)
    html = client.get("/trash").get_data(as_text=True)
    assert "Delete for good" not in html
    assert client.post(f"/trash/{batch}/purge").status_code == 403
    login(admin)
    html = client.get("/trash").get_data(as_text=True)
    assert f'href="/trash/{batch}/purge?back=/trash"' in html and "hx-confirm" in html
    confirm = client.get(f"/trash/{batch}/purge")
    assert confirm.status_code == 200 and "Delete 星辰科技 for good?" in confirm.get_data(as_text=True)
    response = client.post(f"/trash/{batch}/purge", headers=hx("trash-results"),
                           data={"back": "/trash"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and "deleted for good" in html
    with app.app_context():
        assert _db.session.execute(_everything(Customer).where(
            Customer.id == world.customer_id)).first() is None


def test_empty_expired(app, world, client, login, admin):
    _trash_customer(app, world, now=utcnow() - timedelta(days=35))
    login(admin)
    html = client.get("/trash").get_data(as_text=True)
    assert "Empty expired" in html and "Expired" in html
    confirm = client.get("/trash/expired")
    assert confirm.status_code == 200 and "1 batch was deleted more than 30 days ago" in confirm.get_data(as_text=True)
    response = client.post("/trash/expired")
    assert response.status_code == 303
    with app.app_context():
        assert get_batch(_db.session.execute(_everything(AuditEntry.new_value).where(
            AuditEntry.action == "delete")).scalars().first()) is None


def test_restore_refusal_is_a_clear_message(app, world, client, login, owner):
    with app.app_context():
        user = _db.session.get(User, owner.id)
        contact_batch = trash(_db.session.get(Contact, world.contact_ids[0]), user).batch
        _db.session.commit()
    _trash_customer(app, world)
    login(owner)
    response = client.post(f"/trash/{contact_batch}/restore", headers=hx("trash-results"),
                           data={"back": "/trash"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "The customer 星辰科技 is in the trash: restore it first." in html
    response = client.post(f"/trash/{contact_batch}/restore")
    assert response.status_code == 303
    assert "restore it first" in client.get("/trash").get_data(as_text=True)


def test_trash_page_filter_and_fragment(app, world, client, login, owner):
    with app.app_context():
        user = _db.session.get(User, owner.id)
        trash(_db.session.get(Note, world.note_ids[3]), user)
        trash(_db.session.get(Task, world.task_ids[2]), user)
        _db.session.commit()
    login(owner)
    page = client.get("/trash")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    assert 'href="/trash"' in html  # the navigation link
    assert "Other customer&#39;s note" in html and "Other task" in html
    response = client.get("/trash?kind=task", headers=hx("trash-results"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert "Other task" in html and "Other customer" not in html
    assert response.headers["HX-Push-Url"] == "/trash?kind=task"
    assert "Nothing of this kind" in client.get("/trash?kind=customer").get_data(as_text=True)
    assert client.get("/trash?kind=bogus&page=abc").status_code == 200


def test_undo_never_redirects_elsewhere(app, world, client, login, owner):
    login(owner)
    client.post(f"/notes/{world.note_ids[0]}/delete", headers=hx())
    batch = _batch_of(app, Note, world.note_ids[0])
    response = client.post(f"/trash/{batch}/restore", data={"next": "https://evil.example/x"})
    assert response.status_code == 303 and response.headers["Location"] == "/trash"


def test_trash_needs_csrf(app, world, owner):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, owner.id)
        session["_fresh"] = True
    with app.app_context():
        batch = trash(_db.session.get(Note, world.note_ids[0]), None).batch
        _db.session.commit()
    assert client.post(f"/trash/{batch}/restore").status_code == 400


def test_trash_page_queries_do_not_grow_with_batches(app, world, client, login, owner, admin):
    from tests.conftest import count_queries

    def queries(user):
        login(user)
        client.get("/trash")  # warm: per-process caches (has users...) filled
        with app.app_context():
            engine = _db.engine
        with count_queries(engine) as statements:
            assert client.get("/trash").status_code == 200
        return len(statements)

    with app.app_context():
        user = _db.session.get(User, owner.id)
        for note_id in world.note_ids[:2]:
            trash(_db.session.get(Note, note_id), user)
        _db.session.commit()
    few = {u.id: queries(u) for u in (owner, admin)}
    with app.app_context():
        user = _db.session.get(User, owner.id)
        _db.session.add_all([Note(body=f"extra {i}", customer_id=world.other_customer_id,
                                  author=user) for i in range(20)])
        _db.session.commit()
        for note in _db.session.execute(_db.select(Note).where(Note.body.like("extra%"))).scalars().all():
            trash(note, user)
        trash(_db.session.get(Customer, world.customer_id), user)
        _db.session.commit()
    for u in (owner, admin):
        assert queries(u) == few[u.id] <= 8
