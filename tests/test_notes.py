"""Follow-up notes: adding inline, editing and deleting by the author or an admin only."""
from datetime import datetime, timezone

from crm.extensions import db
from crm.models import Note
from tests.conftest import hx


def test_note_typed_in_shanghai_time_is_stored_in_utc(app, client, make_user, login, build):
    user = make_user("sales", timezone="Asia/Shanghai")
    login(user)
    customer_id = build.customer()
    build.team_sees_everything()  # (issue 4) so that every user sees the unowned customer
    response = client.post("/notes", data={"kind": "call", "body": "Called the buyer",
                                           "happened_at": "2026-03-02T09:00",
                                           "customer_id": customer_id})
    assert response.status_code == 303
    with app.app_context():
        note = db.session.execute(db.select(Note)).scalar_one()
        assert note.happened_at == datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
        assert note.author_id == user.id


def test_htmx_note_returns_the_item_and_a_fresh_form(app, client, make_user, login, build):
    login(make_user("sales"))
    customer_id = build.customer()
    build.team_sees_everything()  # (issue 4) so that every user sees the unowned customer
    response = client.post("/notes", data={"kind": "visit", "body": "Visited <b>them</b>",
                                           "customer_id": customer_id}, headers=hx("note-form"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert "Visited &lt;b&gt;them&lt;/b&gt;" in html
    assert 'id="note-form"' in html and 'hx-swap-oob="true"' in html


def test_empty_note_is_422_with_the_form(app, client, make_user, login, build):
    login(make_user("sales"))
    customer_id = build.customer()
    build.team_sees_everything()  # (issue 4) so that every user sees the unowned customer
    response = client.post("/notes", data={"kind": "call", "body": "  ",
                                           "customer_id": customer_id}, headers=hx("note-form"))
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#note-form"
    assert "Write what was said or done." in response.get_data(as_text=True)


def test_only_author_or_admin_edits_and_deletes(app, client, make_user, login, build):
    author = make_user("sales", email="author@example.com")
    other = make_user("sales", email="other@example.com")
    admin = make_user("admin", email="boss@example.com")
    customer_id = build.customer()
    build.team_sees_everything()  # (issue 4) so that every user sees the unowned customer
    login(author)
    client.post("/notes", data={"kind": "call", "body": "first", "customer_id": customer_id})
    with app.app_context():
        note_id = db.session.execute(db.select(Note.id)).scalar_one()
    login(other)
    assert client.get(f"/notes/{note_id}/edit", headers=hx()).status_code == 403
    assert client.post(f"/notes/{note_id}/delete", headers=hx()).status_code == 403
    login(author)
    response = client.post(f"/notes/{note_id}/edit", data={"kind": "email", "body": "edited"},
                           headers=hx())
    assert response.status_code == 200 and "edited" in response.get_data(as_text=True)
    login(admin)
    assert client.post(f"/notes/{note_id}/delete", headers=hx()).status_code == 200
    with app.app_context():
        assert db.session.execute(db.select(Note)).first() is None


def test_note_for_missing_customer_is_404(client, make_user, login):
    login(make_user("sales"))
    assert client.post("/notes", data={"kind": "call", "body": "x",
                                       "customer_id": 999999}).status_code == 404
    assert client.post("/notes", data={"kind": "call", "body": "x",
                                       "customer_id": "abc"}).status_code == 404
