"""Next contact time (下次联系时间, issue 18): set from the follow-up form on a customer or an
opportunity, shown above the form, listed under "To contact today" on /tasks and counted in
the navigation's overdue badge."""
import re
from datetime import datetime, timedelta, timezone

from crm.extensions import db
from crm.models import Customer, Opportunity, utcnow
from crm.notes.services import set_next_contact
from crm.rules import RuleError
from crm.tasks.next_contacts import contacts_due
from crm.tasks.queries import overdue_count
from tests import factories
from tests.conftest import hx


def _local(moment: datetime) -> str:
    """A datetime-local value in Shanghai (the test users' zone) for a UTC moment."""
    return (moment + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")


def _badge(html: str) -> str:
    return re.search(r'id="overdue-badge"[^>]*>(\d+)<', html).group(1)


def test_a_note_sets_the_customers_next_contact_in_the_users_zone(app, client, seller, login, build):
    customer_id = build.customer(seller)
    login(seller)
    response = client.post("/notes", data={"kind": "call", "body": "Asked for a quote",
                                           "customer_id": customer_id,
                                           "next_contact_at": "2031-05-09T10:00"})
    assert response.status_code == 303
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        # 10:00 in Shanghai is 02:00 UTC
        assert customer.next_contact_at == datetime(2031, 5, 9, 2, 0, tzinfo=timezone.utc)
    page = client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert 'id="next-contact"' in page and "2031" in page


def test_a_note_on_an_opportunity_sets_the_opportunitys_next_contact(app, client, seller, login):
    with app.app_context():
        opportunity = factories.opportunity(owner=seller)
        opportunity_id, customer_id = opportunity.id, opportunity.customer_id
    login(seller)
    response = client.post("/notes", data={"kind": "visit", "body": "Demo done",
                                           "customer_id": customer_id,
                                           "opportunity_id": opportunity_id,
                                           "next_contact_at": "2031-05-09T10:00"},
                           headers=hx("note-form"))
    assert response.status_code == 200
    assert 'id="next-contact"' in response.get_data(as_text=True)  # the fresh form shows it
    with app.app_context():
        assert db.session.get(Opportunity, opportunity_id).next_contact_at is not None
        assert db.session.get(Customer, customer_id).next_contact_at is None


def test_a_past_next_contact_is_refused_beside_the_field_and_nothing_is_saved(app, client, seller,
                                                                              login, build):
    customer_id = build.customer(seller)
    login(seller)
    response = client.post("/notes", data={"kind": "call", "body": "Called",
                                           "customer_id": customer_id,
                                           "next_contact_at": "2020-01-01T09:00"},
                           headers=hx("note-form"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The next contact must be later than now." in html
    assert "Called" in html  # what was typed is kept
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(
            db.Model.metadata.tables["notes"])).scalar_one() == 0
    # without JavaScript: the page again, 422, the message beside the field
    response = client.post("/notes", data={"kind": "call", "body": "Called",
                                           "customer_id": customer_id,
                                           "next_contact_at": "not a time"})
    assert response.status_code == 422


def test_a_follow_up_without_a_time_clears_a_due_next_contact_and_keeps_a_later_one(app, seller):
    with app.app_context():
        customer = factories.customer(seller)
        now = utcnow()
        customer.next_contact_at = now - timedelta(hours=1)
        set_next_contact(seller, customer, None, now=now)
        assert customer.next_contact_at is None
        later = now + timedelta(days=2)
        customer.next_contact_at = later
        set_next_contact(seller, customer, None, now=now)
        assert customer.next_contact_at == later


def test_only_someone_who_may_edit_the_record_plans_its_next_contact(app, seller, make_user):
    other = make_user("sales", email="other@example.com")
    with app.app_context():
        customer = factories.customer(other)
        try:
            set_next_contact(seller, customer, datetime(2031, 1, 1, 9, 0))
        except RuleError as error:
            assert error.field == "next_contact_at"
        else:
            raise AssertionError("a salesperson planned another's next contact")


def test_to_contact_today_lists_mine_due_today_and_overdue_not_later_ones(app, client, seller,
                                                                          login, make_user):
    other = make_user("sales", email="other@example.com")
    now = utcnow()
    with app.app_context():
        overdue = factories.customer(seller, name="Overdue Co", next_contact_at=now - timedelta(hours=3))
        soon = factories.opportunity(owner=seller, title="Soon deal",
                                     next_contact_at=now + timedelta(minutes=5))
        factories.customer(seller, name="Next week Co", next_contact_at=now + timedelta(days=7))
        factories.customer(other, name="Not mine Co", next_contact_at=now - timedelta(hours=1))
        factories.customer(seller, name="Trashed Co", next_contact_at=now - timedelta(hours=1),
                           deleted_at=now)
        due = contacts_due(seller.id, now + timedelta(hours=1))
        assert [item.name for item in due] == ["Overdue Co", "Soon deal"]
        assert due[1].customer_name and due[1].kind == "opportunity"
        overdue_id, soon_id = overdue.id, soon.id
    login(seller)
    html = client.get("/tasks").get_data(as_text=True)
    assert "To contact today" in html
    assert f'href="/customers/{overdue_id}"' in html and f'href="/opportunities/{soon_id}"' in html
    assert "Not mine Co" not in html and "Next week Co" not in html and "Trashed Co" not in html


def test_the_badge_counts_overdue_tasks_and_overdue_next_contacts(app, client, seller, login):
    now = utcnow()
    with app.app_context():
        factories.task(seller, "Late task", due=now - timedelta(hours=2))
        factories.customer(seller, name="Overdue Co", next_contact_at=now - timedelta(hours=3))
        factories.opportunity(owner=seller, title="Late deal", next_contact_at=now - timedelta(hours=1))
        factories.customer(seller, name="Later Co", next_contact_at=now + timedelta(days=1))
        assert overdue_count(seller.id) == 3
    login(seller)
    assert _badge(client.get("/tasks").get_data(as_text=True)) == "3"


def test_next_contact_in_chinese(app, client, make_user, login, build):
    user = make_user("sales", language="zh_CN")
    customer_id = build.customer(user)
    login(user)
    response = client.post("/notes", data={"kind": "call", "body": "打过电话",
                                           "customer_id": customer_id,
                                           "next_contact_at": "2020-01-01T09:00"},
                           headers=hx("note-form"))
    assert response.status_code == 422
    assert "下次联系时间必须晚于现在。" in response.get_data(as_text=True)


def test_a_managers_switch_to_another_persons_tasks_redraws_their_contacts(app, client, seller,
                                                                           login, make_user):
    manager = make_user("manager", email="boss@example.com")
    with app.app_context():
        factories.customer(seller, name="Seller's call", next_contact_at=utcnow() - timedelta(hours=1))
    login(manager)
    assert "Seller's call" not in client.get("/tasks").get_data(as_text=True)
    response = client.get(f"/tasks?assignee={seller.id}", headers=hx("task-sections"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert 'id="contacts-due" hx-swap-oob="true"' in html and "Seller&#39;s call" in html


def _lead(owner, **fields):
    from crm.models import Lead
    lead = Lead(name=fields.pop("name"), owner_id=owner.id if owner else None,
                created_by_id=owner.id if owner else None, **fields)
    db.session.add(lead)
    db.session.commit()
    return lead


def test_a_leads_next_contact_is_listed_to_contact_today_and_counted_in_the_badge(app, client,
                                                                                  seller, login,
                                                                                  make_user):
    other = make_user("sales", email="other@example.com")
    now = utcnow()
    with app.app_context():
        late = _lead(seller, name="Late lead", company="Acme", next_contact_at=now - timedelta(hours=2))
        _lead(seller, name="Tomorrow lead", next_contact_at=now + timedelta(days=2))
        _lead(seller, name="Converted lead", status="converted", next_contact_at=now - timedelta(hours=1))
        _lead(seller, name="Dropped lead", status="disqualified", next_contact_at=now - timedelta(hours=1))
        _lead(seller, name="Trashed lead", deleted_at=now, next_contact_at=now - timedelta(hours=1))
        _lead(other, name="Other's lead", next_contact_at=now - timedelta(hours=1))
        due = contacts_due(seller.id, now + timedelta(hours=1))
        assert [(item.kind, item.name, item.customer_name) for item in due] == [("lead", "Late lead", "Acme")]
        assert overdue_count(seller.id) == 1
        late_id = late.id
    login(seller)
    html = client.get("/tasks").get_data(as_text=True)
    assert f'href="/leads/{late_id}"' in html and "Late lead" in html
    for name in ("Tomorrow lead", "Converted lead", "Dropped lead", "Trashed lead", "Other&#39;s lead"):
        assert name not in html
    assert _badge(html) == "1"


def test_a_managers_everyone_lists_leads_only_a_viewer_may_see(app, seller, make_user):
    from crm.models import User
    manager = make_user("manager", email="boss@example.com")
    other = make_user("sales", email="other@example.com")
    now = utcnow()
    with app.app_context():
        _lead(other, name="Other's lead", next_contact_at=now - timedelta(hours=1))
        everyone = contacts_due(None, now, db.session.get(User, manager.id))
        assert [item.name for item in everyone] == ["Other's lead"]
        assert contacts_due(None, now, db.session.get(User, seller.id)) == []


def test_the_lead_page_and_list_card_show_its_next_contact(app, client, seller, login):
    with app.app_context():
        lead_id = _lead(seller, name="Planned lead",
                        next_contact_at=datetime(2031, 5, 9, 2, 0, tzinfo=timezone.utc)).id
    login(seller)
    page = client.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert 'id="next-contact"' in page and "2031" in page
    cards = client.get("/leads").get_data(as_text=True)
    assert 'class="lead-next-contact"' in cards and 'datetime="2031-05-09T02:00:00+00:00"' in cards
