"""The lead page (issue 11): follow-ups and tasks through the customers' timeline and task panel
(crm/notes, crm/tasks with a lead as parent), each note change rescoring the lead in the same
transaction with the score block out of band; a converted lead is read-only; one field edited
in place with the conflict rule and the audit trail."""
from datetime import datetime, timedelta

import pytest

from crm.extensions import db as _db
from crm.leads import services
from crm.models import AuditEntry, Lead, Note, ScoringRule, Task
from tests import factories
from tests.conftest import hx


@pytest.fixture
def lead_id(app, seller):
    """Sam's lead, scored by base 20 and +10 a visit."""
    with app.app_context():
        _db.session.add_all([ScoringRule(kind="base", points=20),
                             ScoringRule(kind="note_kind", note_kind="visit", points=10)])
        user = _db.session.get(type(seller), seller.id)
        lead = services.save_lead(user, None, {"name": "王芳", "company": "星辰科技",
                                               "email": "wf@example.com"})
        _db.session.commit()
        return lead.id


def _lead(app, lead_id) -> Lead:
    with app.app_context():
        lead = _db.session.get(Lead, lead_id)
        _db.session.expunge(lead)
        return lead


def _notes(app, lead_id):
    with app.app_context():
        return list(_db.session.execute(_db.select(Note.id, Note.kind).where(
            Note.lead_id == lead_id).order_by(Note.id)).all())


def test_page_shows_the_shared_timeline_and_task_panel(client, login, seller, lead_id):
    login(seller)
    page = client.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert 'id="timeline-items"' in page and 'id="note-form"' in page
    assert f'name="lead_id" type="hidden" value="{lead_id}"' in page
    assert 'id="task-panel"' in page and 'name="next_contact_at"' in page
    assert 'id="lead-field-company"' in page


def test_note_add_edit_delete_rescore_with_the_score_out_of_band(client, login, seller, app, lead_id):
    login(seller)
    response = client.post("/notes", data={"lead_id": lead_id, "kind": "visit", "body": "拜访了"},
                           headers=hx("timeline-items"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "拜访了" in body and 'id="lead-score"' in body and 'hx-swap-oob="true"' in body
    assert '<span class="score-badge">30</span>' in body
    lead = _lead(app, lead_id)
    assert lead.score == 30 and lead.status == "contacted" and lead.last_contact_at is not None
    (note_id, kind), = _notes(app, lead_id)
    # edit: the kind is no longer scored
    response = client.post(f"/notes/{note_id}/edit", headers=hx(f"note-{note_id}"), data={
        "kind": "call", "body": "电话", "happened_at": "", "version": ""})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and '<span class="score-badge">20</span>' in body
    assert _lead(app, lead_id).score == 20
    # back to a visit, then to the trash: the score and the last contact follow
    client.post(f"/notes/{note_id}/edit", data={"kind": "visit", "body": "拜访", "version": ""})
    assert _lead(app, lead_id).score == 30
    response = client.post(f"/notes/{note_id}/delete", headers=hx(f"note-{note_id}"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and '<span class="score-badge">20</span>' in body
    lead = _lead(app, lead_id)
    assert lead.score == 20 and lead.last_contact_at is None


def test_note_with_a_next_contact_without_javascript(client, login, seller, app, lead_id):
    login(seller)
    later = (datetime.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/notes", data={"lead_id": lead_id, "kind": "call", "body": "约了下周",
                                           "next_contact_at": later})
    assert response.status_code == 303 and response.headers["Location"] == f"/leads/{lead_id}"
    assert _lead(app, lead_id).next_contact_at is not None
    assert 'id="next-contact"' in client.get(f"/leads/{lead_id}").get_data(as_text=True)
    # refused: the lead page again, 422, what was typed kept, the message by its field
    response = client.post("/notes", data={"lead_id": lead_id, "kind": "call", "body": "旧的",
                                           "next_contact_at": "2001-01-01T09:00"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "旧的" in body and "later than now" in body
    assert 'id="lead-score"' in body  # the lead page, not a customer's


def test_notes_and_tasks_follow_the_lead_permissions(client, login, make_user, seller, app, lead_id):
    other = make_user("sales")
    login(other)
    assert client.post("/notes", data={"lead_id": lead_id, "kind": "call", "body": "x"}).status_code == 404
    response = client.post("/tasks/new", headers=hx("task-panel"),
                           data={"lead_id": lead_id, "title": "偷偷", "assignee_id": other.id})
    assert response.status_code == 422
    with app.app_context():
        assert _db.session.execute(_db.select(Task)).first() is None
    assert _notes(app, lead_id) == []
    # team sees everything: the other salesperson sees the page, without the forms
    with app.app_context():
        factories.team_sees_everything()
    page = client.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert 'id="timeline-items"' in page and 'id="note-form"' not in page
    assert 'id="task-panel-form"' not in page
    assert client.post("/notes", data={"lead_id": lead_id, "kind": "call", "body": "x"}).status_code == 403


def test_task_from_the_lead_page(client, login, seller, app, lead_id):
    login(seller)
    response = client.post("/tasks/new", headers=hx("task-panel"),
                           data={"lead_id": lead_id, "title": "回电报价", "assignee_id": seller.id})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "回电报价" in body
    assert f'name="panel_lead_id" value="{lead_id}"' in body
    with app.app_context():
        task = _db.session.execute(_db.select(Task)).scalar_one()
        assert task.lead_id == lead_id and task.customer_id is None
        task_id = task.id
    response = client.post(f"/tasks/{task_id}/toggle", headers=hx("task-panel"),
                           data={"done": "1", "panel_lead_id": lead_id})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "No open tasks." in body and "timeline-task-" in body
    assert "✓ 回电报价" in client.get(f"/leads/{lead_id}").get_data(as_text=True)
    # refused: the panel again with the message
    response = client.post("/tasks/new", headers=hx("task-panel"),
                           data={"lead_id": lead_id, "title": "", "assignee_id": seller.id})
    assert response.status_code == 422 and "Say what needs doing." in response.get_data(as_text=True)


def test_a_converted_lead_is_read_only(client, login, seller, app, lead_id):
    with app.app_context():
        lead = _db.session.get(Lead, lead_id)
        lead.status = "converted"
        _db.session.commit()
    login(seller)
    page = client.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert 'id="note-form"' not in page and 'id="task-panel-form"' not in page
    assert "field-edit" not in page
    assert client.post("/notes", data={"lead_id": lead_id, "kind": "call", "body": "x"}).status_code == 422
    assert _notes(app, lead_id) == []
    assert client.post("/tasks/new", headers=hx("task-panel"), data={
        "lead_id": lead_id, "title": "x", "assignee_id": seller.id}).status_code == 422
    assert client.post(f"/leads/{lead_id}/fields/company", data={"company": "y"}).status_code == 409


# --- One field in place ---------------------------------------------------------------------

def test_field_in_place_saved_audited_and_rescored(client, login, seller, app, lead_id):
    login(seller)
    editor = client.get(f"/leads/{lead_id}/fields/phone/edit", headers=hx("lead-field-phone"))
    assert editor.status_code == 200 and 'name="version" type="hidden" value="1"' in editor.get_data(as_text=True)
    response = client.post(f"/leads/{lead_id}/fields/phone", headers=hx("lead-field-phone"),
                           data={"phone": "010-8888 6666", "version": "1"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "010-8888 6666" in body and "Saved" in body
    with app.app_context():
        lead = _db.session.get(Lead, lead_id)
        assert lead.phone == "010-8888 6666" and lead.version == 2
        entry = _db.session.execute(_db.select(AuditEntry).where(
            AuditEntry.entity == "leads", AuditEntry.entity_id == lead_id,
            AuditEntry.field == "phone")).scalar_one()
        assert entry.action == "update" and entry.new_value == "010-8888 6666"
        assert entry.user_id == seller.id
    assert client.get(f"/leads/{lead_id}/fields/phone").status_code == 200


def test_field_in_place_refused_and_conflict(client, login, seller, app, lead_id):
    login(seller)
    response = client.post(f"/leads/{lead_id}/fields/email", headers=hx("lead-field-email"),
                           data={"email": "not an email", "version": "1"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "Enter a valid email." in body and "not an email" in body
    # someone saves the lead meanwhile: 409, both values, nothing of mine saved
    client.post(f"/leads/{lead_id}/fields/company", data={"company": "月光科技", "version": "1"})
    response = client.post(f"/leads/{lead_id}/fields/company", headers=hx("lead-field-company"),
                           data={"company": "日光科技", "version": "1"})
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "月光科技" in body and "日光科技" in body
    assert 'name="version" type="hidden" value="2"' in body
    assert _lead(app, lead_id).company == "月光科技"
    assert client.post(f"/leads/{lead_id}/fields/company", headers=hx("lead-field-company"),
                       data={"company": "日光科技", "version": "2"}).status_code == 200
    assert _lead(app, lead_id).company == "日光科技"


def test_field_in_place_without_javascript_and_unknown(client, login, make_user, seller, app, lead_id):
    login(seller)
    response = client.get(f"/leads/{lead_id}/fields/region/edit")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/leads/{lead_id}/edit")
    response = client.post(f"/leads/{lead_id}/fields/region", data={"region": "北京", "version": "1"})
    assert response.status_code == 303 and _lead(app, lead_id).region == "北京"
    assert client.post(f"/leads/{lead_id}/fields/score", data={"score": "100"}).status_code == 404
    assert client.post(f"/leads/{lead_id}/fields/name", data={"name": "x"}).status_code == 404
    login(make_user("sales"))
    assert client.get(f"/leads/{lead_id}/fields/region").status_code == 404
    assert client.post(f"/leads/{lead_id}/fields/region", data={"region": "上海"}).status_code == 404


# --- The list counts up to a cap --------------------------------------------------------------

def test_list_counts_up_to_the_cap_and_pages_on(client, login, seller, app, monkeypatch):
    from crm.leads import queries
    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    with app.app_context():
        user = _db.session.get(type(seller), seller.id)
        for i in range(5):
            services.save_lead(user, None, {"name": f"线索 {i}"})
        _db.session.commit()
    login(seller)
    page = client.get("/leads").get_data(as_text=True)
    assert "3+ leads" in page and "page=2" in page
    last = client.get("/leads?page=3").get_data(as_text=True)
    assert "5 leads" in last and "page=4" not in last
    assert "0 leads" in client.get("/leads?q=nobody-like-this").get_data(as_text=True)


def test_one_lead_and_every_lead_score_alike(app, seller, lead_id):
    """scoring.score_lead (a page's change) and recompute (the job, by id ranges and a raw
    UPDATE) give the same score and breakdown; a note in the trash counts for neither."""
    from datetime import timezone

    from crm.leads import scoring
    from crm.models import utcnow
    from crm.trash.services import trash
    with app.app_context():
        user = _db.session.get(type(seller), seller.id)
        lead = _db.session.get(Lead, lead_id)
        for kind in ("visit", "visit", "call"):
            services.add_note(user, lead, kind=kind, body=kind)
        other = services.save_lead(user, None, {"name": "李雷"})
        _db.session.commit()
        trash(_db.session.get(Note, _notes(app, lead_id)[0][0]), user)
        _db.session.commit()
        now = utcnow().replace(tzinfo=timezone.utc)
        lead = _db.session.get(Lead, lead_id)
        scoring.score_lead(lead, now=now, notes_changed=True)
        one = (lead.score, lead.score_parts)
        _db.session.rollback()
        assert scoring.recompute(now=now) == 2
        _db.session.commit()
        lead, other = _db.session.get(Lead, lead_id), _db.session.get(Lead, other.id)
        assert (lead.score, lead.score_parts) == one and lead.score == 30  # 20 + one visit
        assert other.score == 20 and other.updated_at is not None


# --- A custom field in place (crm/fields: /fields/lead/<id>/<key>) ------------------------------

def test_a_leads_custom_field_in_place_version_audit_and_no_rescore(
        admin_client, client, login, make_user, seller, app, lead_id):
    import re
    from tests.test_custom_fields import define
    define(admin_client, "lead", label_en="Budget note", type="text", key="budget_note")
    login(seller)
    page = client.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert f'id="cf-lead-{lead_id}-budget_note"' in page and f"/fields/lead/{lead_id}/budget_note/edit" in page
    editor = client.get(f"/fields/lead/{lead_id}/budget_note/edit", headers=hx())
    assert editor.status_code == 200
    version = re.search(r'name="version" type="hidden" value="(\d+)"', editor.get_data(as_text=True)).group(1)
    refused = client.post(f"/fields/lead/{lead_id}/budget_note", headers=hx(),
                          data={"version": version, "cf_budget_note": "x" * 300})
    assert refused.status_code == 422 and "field-error" in refused.get_data(as_text=True)
    saved = client.post(f"/fields/lead/{lead_id}/budget_note", headers=hx(),
                        data={"version": version, "cf_budget_note": "五十万"})
    assert saved.status_code == 200 and "五十万" in saved.get_data(as_text=True)
    lead = _lead(app, lead_id)
    assert lead.custom == {"budget_note": "五十万"} and lead.version == int(version) + 1
    assert lead.score == 20  # scores do not use custom fields
    with app.app_context():
        entry = _db.session.execute(_db.select(AuditEntry).where(
            AuditEntry.entity == "leads", AuditEntry.entity_id == lead_id,
            AuditEntry.field == "cf_budget_note:Budget note")).scalar_one()
        assert (entry.old_value, entry.new_value, entry.user_id) == (None, "五十万", seller.id)
    stale = client.post(f"/fields/lead/{lead_id}/budget_note", headers=hx(),
                        data={"version": version, "cf_budget_note": "一百万"})
    assert stale.status_code == 409 and "五十万" in stale.get_data(as_text=True)
    assert _lead(app, lead_id).custom == {"budget_note": "五十万"}
    plain = client.post(f"/fields/lead/{lead_id}/budget_note",
                        data={"version": str(int(version) + 1), "cf_budget_note": "八十万"})
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"/leads/{lead_id}")
    response = client.get(f"/fields/lead/{lead_id}/budget_note/edit")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/leads/{lead_id}/edit")
    assert client.get(f"/fields/lead/{lead_id}/budget_note").status_code == 200
    assert client.get(f"/fields/lead/{lead_id}/nonsuch/edit", headers=hx()).status_code == 404
    login(make_user("sales"))  # another salesperson: the lead does not exist for them
    assert client.get(f"/fields/lead/{lead_id}/budget_note", headers=hx()).status_code == 404
    assert client.post(f"/fields/lead/{lead_id}/budget_note", headers=hx(),
                       data={"version": "9", "cf_budget_note": "hacked"}).status_code == 404
    assert _lead(app, lead_id).custom == {"budget_note": "八十万"}


def test_a_converted_leads_custom_fields_are_read_only(admin_client, client, login, seller, app, lead_id):
    from tests.test_custom_fields import define
    define(admin_client, "lead", label_en="Budget note", type="text", key="budget_note")
    with app.app_context():
        lead = _db.session.get(Lead, lead_id)
        lead.status, lead.custom = "converted", {"budget_note": "五十万"}
        _db.session.commit()
    login(seller)
    page = client.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert f'id="cf-lead-{lead_id}-budget_note"' in page and "五十万" in page
    assert f"/fields/lead/{lead_id}/budget_note/edit" not in page
    assert client.get(f"/fields/lead/{lead_id}/budget_note/edit", headers=hx()).status_code == 409
    assert client.post(f"/fields/lead/{lead_id}/budget_note", headers=hx(),
                       data={"version": "9", "cf_budget_note": "x"}).status_code == 409
    assert _lead(app, lead_id).custom == {"budget_note": "五十万"}


# --- A lead's note to the trash and back: rescored at once (crm/trash) -------------------------

def test_a_leads_note_deleted_and_restored_from_the_trash_rescores_at_once(client, login, seller, app, lead_id):
    login(seller)
    client.post("/notes", data={"lead_id": lead_id, "kind": "visit", "body": "拜访了"})
    (note_id, _kind), = _notes(app, lead_id)
    lead = _lead(app, lead_id)
    assert lead.score == 30
    contacted_at = lead.last_contact_at
    client.post(f"/notes/{note_id}/delete")
    lead = _lead(app, lead_id)
    assert lead.score == 20 and lead.last_contact_at is None
    with app.app_context():
        batch = _db.session.execute(_db.select(Note.deleted_batch).where(Note.id == note_id)
                                    .execution_options(include_deleted=True)).scalar_one()
    response = client.post(f"/trash/{batch}/restore", data={"next": f"/leads/{lead_id}"})
    assert response.status_code in (302, 303)
    lead = _lead(app, lead_id)
    assert lead.score == 30 and lead.last_contact_at == contacted_at
    assert '<span class="score-badge">30</span>' in client.get(f"/leads/{lead_id}").get_data(as_text=True)


def test_a_lead_restored_with_its_notes_is_rescored(app, seller, lead_id):
    from crm.notes.services import add_note
    from crm.trash.services import restore, trash
    with app.app_context():
        user = _db.session.get(type(seller), seller.id)
        lead = _db.session.get(Lead, lead_id)
        add_note(author=user, kind="visit", body="拜访", happened_at=None, lead=lead)
        _db.session.commit()
        assert lead.score == 30
        batch = trash(lead, user).batch
        _db.session.commit()
        _db.session.execute(_db.update(Lead).where(Lead.id == lead_id).values(score=0)
                            .execution_options(include_deleted=True))
        _db.session.commit()
        restore(batch, user)
        _db.session.commit()
        assert _db.session.get(Lead, lead_id).score == 30
