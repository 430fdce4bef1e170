"""Follow-up notes without JavaScript (a plain POST): a refused new note is the customer's or
the opportunity's page again (422) with the form holding what was posted and the error beside
its field; a note is edited on a page of its own (/notes/<id>/edit), where a refused or stale
save (422, 409) keeps what was typed. Nothing is saved. The htmx path of the same forms is
checked alongside, unchanged: 422 (or 409) with just the fragment."""
import re
from datetime import datetime

from markupsafe import escape

from crm.extensions import db
from crm.models import Note, User
from tests import factories
from tests.conftest import csrf_token_from, hx, session_user_id
from tests.nojs_helpers import assert_error_beside, assert_no_errors, field

BODY_REQUIRED = "Write what was said or done."
BAD_DATETIME = "Not a valid datetime value."
TYPED = "Called 王经理 about the <b>ERP</b> budget & timing"
NOTE_CONFLICT = "Someone else saved this note while you were editing it."


# --- helpers ----------------------------------------------------------------------------------


def _note_count(app) -> int:
    with app.app_context():
        return db.session.execute(db.select(db.func.count()).select_from(Note)).scalar()


def _note_form(html: str) -> str:
    start = html.index('<form id="note-form"')
    return html[start:html.index("</form>", start)]


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, f"no hidden {name}"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


def _version(html: str) -> str:
    match = re.search(r'<input[^>]*name="version"[^>]*value="([^"]*)"', html)
    assert match, "no version field"
    return match.group(1)


# --- notes on the customer page -----------------------------------------------------------


def test_empty_note_without_js_is_the_customer_page_with_the_error_beside_the_body(
        app, client, login, seller, build):
    customer_id = build.customer(seller)
    login(seller)
    response = client.post("/notes", data={"kind": "visit", "body": "   ",
                                           "happened_at": "2026-03-02T09:30",
                                           "customer_id": customer_id})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    # the whole customer page, not a fragment and not a redirect
    assert "<html" in html and "北京星辰科技" in html and 'id="timeline-items"' in html
    form = _note_form(html)
    assert_error_beside(form, "body", BODY_REQUIRED)
    assert_no_errors(form, "happened_at")
    # what was chosen and typed is still there
    assert '<option selected value="visit">' in form
    assert 'value="2026-03-02T09:30"' in form
    assert _hidden(form, "customer_id") == str(customer_id)
    # the form posts to itself again, and the browser is sent to it
    assert 'action="/notes#note-form"' in form and 'hx-post="/notes"' in form
    assert "The note was not saved" not in html  # no flash: the error is beside the field
    assert _note_count(app) == 0


def test_bad_date_without_js_keeps_the_typed_text_and_the_date(app, client, login, seller, build):
    customer_id = build.customer(seller)
    login(seller)
    response = client.post("/notes", data={"kind": "meeting", "body": TYPED,
                                           "happened_at": "2026-02-31T25:61",
                                           "customer_id": customer_id})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    form = _note_form(html)
    assert_error_beside(form, "happened_at", BAD_DATETIME)
    assert_no_errors(form, "body")
    assert escape(TYPED) in field(form, "body")  # escaped, never raw
    assert "<b>ERP</b>" not in html
    assert 'value="2026-02-31T25:61"' in form
    assert '<option selected value="meeting">' in form
    assert _note_count(app) == 0


def test_too_long_note_without_js_keeps_all_of_it(app, client, login, seller, build):
    customer_id = build.customer(seller)
    login(seller)
    body = "长" * 10_000 + "x"
    response = client.post("/notes", data={"kind": "call", "body": body,
                                           "customer_id": customer_id})
    assert response.status_code == 422
    form = _note_form(response.get_data(as_text=True))
    block = field(form, "body")
    assert body in block and 'class="field-error" id="body-error"' in block and "10000" in block
    assert _note_count(app) == 0


def test_refused_note_for_a_contact_keeps_the_contact(app, client, login, seller, build):
    customer_id = build.customer(seller)
    contact_id = build.contact(customer_id, name="王芳")
    login(seller)
    response = client.post("/notes", data={"kind": "call", "body": "",
                                           "customer_id": customer_id, "contact_id": contact_id})
    assert response.status_code == 422
    form = _note_form(response.get_data(as_text=True))
    assert _hidden(form, "contact_id") == str(contact_id)
    assert _hidden(form, "customer_id") == str(customer_id)
    assert_error_beside(form, "body", BODY_REQUIRED)
    assert _note_count(app) == 0


def test_the_note_page_after_an_error_still_saves_once_corrected(
        app, client, login, seller, build):
    customer_id = build.customer(seller)
    login(seller)
    assert client.post("/notes", data={"kind": "call", "body": "",
                                       "customer_id": customer_id}).status_code == 422
    response = client.post("/notes", data={"kind": "call", "body": TYPED,
                                           "customer_id": customer_id})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/customers/{customer_id}"
    assert _note_count(app) == 1


# --- notes on the opportunity page --------------------------------------------------------


def test_refused_note_on_an_opportunity_without_js_is_the_opportunity_page(
        app, client, login, seller, build):
    opportunity_id = build.opportunity(owner=seller, title="ERP rollout 2026")
    login(seller)
    response = client.post("/notes", data={"kind": "email", "body": TYPED,
                                           "happened_at": "yesterday",
                                           "opportunity_id": opportunity_id})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "ERP rollout 2026" in html and 'id="stage-widget"' in html
    form = _note_form(html)
    assert_error_beside(form, "happened_at", BAD_DATETIME)
    assert 'value="yesterday"' in form
    assert escape(TYPED) in field(form, "body")
    assert _hidden(form, "opportunity_id") == str(opportunity_id)
    assert _note_count(app) == 0


# --- notes: permissions, CSRF and the htmx path ---------------------------------------------


def test_refused_note_on_a_customer_i_may_not_see_is_404_not_its_page(
        app, client, login, make_user, seller, build):
    """As for a customer that does not exist (issue 19: nothing tells them apart)."""
    other = make_user("sales", email="other@example.com", name="Olga Other")
    customer_id = build.customer(other, name="Hidden 隐藏客户")
    login(seller)
    response = client.post("/notes", data={"kind": "call", "body": "",
                                           "customer_id": customer_id})
    assert response.status_code == 404
    assert "Hidden 隐藏客户" not in response.get_data(as_text=True)
    assert _note_count(app) == 0


def test_note_without_js_and_with_csrf_checks(app, make_user, build):
    """The real thing: CSRF on. No token is 400; the 422 page carries a token that works."""
    assert app.config["WTF_CSRF_ENABLED"]
    user = make_user("sales", email="csrf@example.com")
    customer_id = build.customer(user)
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = session_user_id(app, user.id)
        session["_fresh"] = True
    assert browser.post("/notes", data={"body": TYPED, "customer_id": customer_id}).status_code == 400
    token = csrf_token_from(browser.get(f"/customers/{customer_id}").get_data(as_text=True))
    response = browser.post("/notes", data={"csrf_token": token, "kind": "call", "body": "",
                                            "customer_id": customer_id})
    assert response.status_code == 422
    form = _note_form(response.get_data(as_text=True))
    assert_error_beside(form, "body", BODY_REQUIRED)
    response = browser.post("/notes", data={"csrf_token": csrf_token_from(form), "kind": "call",
                                            "body": TYPED, "customer_id": customer_id})
    assert response.status_code == 303
    assert _note_count(app) == 1


def test_refused_note_with_htmx_is_still_the_form_fragment(app, client, login, seller, build):
    customer_id = build.customer(seller)
    login(seller)
    response = client.post("/notes", data={"kind": "visit", "body": TYPED,
                                           "happened_at": "not a date",
                                           "customer_id": customer_id},
                           headers=hx("timeline-items"))
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#note-form"
    assert response.headers["HX-Reswap"] == "outerHTML"
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.strip().startswith('<form id="note-form"')
    assert_error_beside(html, "happened_at", BAD_DATETIME)
    assert escape(TYPED) in html and 'value="not a date"' in html
    assert _note_count(app) == 0


# --- editing a note -------------------------------------------------------------------------


def _stored_note(app, note_id) -> tuple[str, str]:
    with app.app_context():
        note = db.session.get(Note, note_id)
        return note.kind, note.body


def _edit_form(html: str) -> str:
    start = html.index('<li class="timeline-item editing"')
    return html[start:html.index("</li>", start)]


def test_edit_on_a_note_is_a_link_that_htmx_enhances(app, client, login, seller, build):
    customer_id = build.customer(seller)
    note_id = build.note(seller, customer_id)
    login(seller)
    html = client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert (f'<a class="link-button" href="/notes/{note_id}/edit" hx-get="/notes/{note_id}/edit"\n'
            f'       hx-target="#note-{note_id}" hx-swap="outerHTML">Edit</a>') in html
    assert f'<button type="button" class="link-button" hx-get="/notes/{note_id}/edit"' not in html


def test_edit_page_without_js_holds_the_note(app, client, login, seller, build):
    customer_id = build.customer(seller)
    note_id = build.note(seller, customer_id, kind="visit",
                         happened_at=datetime(2026, 3, 2, 1, 30))  # 09:30 in Shanghai
    login(seller)
    response = client.get(f"/notes/{note_id}/edit")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" in html and "<h1>Edit note</h1>" in html
    assert f'<a href="/customers/{customer_id}">‹ 北京星辰科技</a>' in html  # back to the record
    form = _edit_form(html)
    # a plain form: it posts to the same URL and nothing in it needs JavaScript
    assert f'action="/notes/{note_id}/edit"' in form and "hx-" not in form
    assert '<option selected value="visit">' in form
    assert 'value="2026-03-02T09:30"' in form  # in the user's time zone
    assert "Called about the quote</textarea>" in form
    assert _version(form)
    assert f'<a class="button small" href="/customers/{customer_id}#note-{note_id}"' in form


def test_edit_page_of_an_opportunity_note_leads_back_to_the_opportunity(
        app, client, login, seller, build):
    opportunity_id = build.opportunity(owner=seller, title="ERP rollout 2026")
    note_id = build.note(seller, opportunity=opportunity_id)
    login(seller)
    html = client.get(f"/notes/{note_id}/edit").get_data(as_text=True)
    assert f'<a href="/opportunities/{opportunity_id}">‹ ERP rollout 2026</a>' in html
    assert f'href="/opportunities/{opportunity_id}#note-{note_id}"' in _edit_form(html)


def test_refused_note_edit_without_js_is_the_page_with_the_error_beside_the_body(
        app, client, login, seller, build):
    customer_id = build.customer(seller)
    note_id = build.note(seller, customer_id)
    login(seller)
    url = f"/notes/{note_id}/edit"
    version = _version(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"kind": "meeting", "body": "   ",
                                      "happened_at": "2026-03-05T14:00", "version": version})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "<h1>Edit note</h1>" in html
    form = _edit_form(html)
    assert_error_beside(form, f"note-{note_id}-body", BODY_REQUIRED)
    assert_no_errors(form, f"note-{note_id}-happened_at")
    assert '<option selected value="meeting">' in form and 'value="2026-03-05T14:00"' in form
    assert _version(form) == version  # the version it was loaded with, not a newer one
    assert "hx-" not in form
    assert _stored_note(app, note_id) == ("call", "Called about the quote")


def test_bad_date_in_a_note_edit_without_js_keeps_the_typed_text(
        app, client, login, seller, build):
    customer_id = build.customer(seller)
    note_id = build.note(seller, customer_id)
    login(seller)
    response = client.post(f"/notes/{note_id}/edit",
                           data={"kind": "email", "body": TYPED, "happened_at": "2026-02-31T25:61"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    form = _edit_form(html)
    assert_error_beside(form, f"note-{note_id}-happened_at", BAD_DATETIME)
    assert_no_errors(form, f"note-{note_id}-body")
    assert escape(TYPED) in field(form, f"note-{note_id}-body") and "<b>ERP</b>" not in html
    assert 'value="2026-02-31T25:61"' in form and '<option selected value="email">' in form
    assert _stored_note(app, note_id) == ("call", "Called about the quote")


def test_stale_note_edit_without_js_is_409_with_both_texts_and_mine_kept(
        app, client, login, seller, build):
    customer_id = build.customer(seller)
    note_id = build.note(seller, customer_id)
    login(seller)
    url = f"/notes/{note_id}/edit"
    loaded = _version(client.get(url).get_data(as_text=True))
    # meanwhile saved in another tab (through htmx)
    assert client.post(url, data={"kind": "call", "body": "Called, sent the quote",
                                  "version": loaded}, headers=hx(f"note-{note_id}")).status_code == 200
    response = client.post(url, data={"kind": "visit", "body": TYPED, "version": loaded})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "<html" in html and "<h1>Edit note</h1>" in html
    form = _edit_form(html)
    conflict = form[form.index('<div class="conflict"'):]
    assert NOTE_CONFLICT in conflict
    assert "Called, sent the quote" in conflict and escape(TYPED) in conflict  # both values
    assert escape(TYPED) in field(form, f"note-{note_id}-body")  # what I typed is still in the form
    assert '<option selected value="visit">' in form
    new_version = _version(form)
    assert new_version != loaded
    # "Discard mine" leads back to the record page, without htmx attributes
    assert f'<a class="button" href="/customers/{customer_id}">' in conflict
    assert "hx-" not in form
    assert _stored_note(app, note_id) == ("call", "Called, sent the quote")
    # "Apply my values" posts the form again with the new version: saved
    response = client.post(url, data={"kind": "visit", "body": TYPED, "version": new_version,
                                      "apply_mine": "1"})
    assert response.status_code == 303 and response.headers["Location"] == f"/customers/{customer_id}"
    assert _stored_note(app, note_id) == ("visit", TYPED)


def test_good_note_edit_without_js_still_redirects(app, client, login, seller, build):
    opportunity_id = build.opportunity(owner=seller)
    note_id = build.note(seller, opportunity=opportunity_id)
    login(seller)
    url = f"/notes/{note_id}/edit"
    version = _version(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"kind": "email", "body": "Sent the contract",
                                      "happened_at": "2026-03-02T10:00", "version": version})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/opportunities/{opportunity_id}"
    assert _stored_note(app, note_id) == ("email", "Sent the contract")


def test_note_edit_with_htmx_is_still_the_inline_form(app, client, login, seller, build):
    customer_id = build.customer(seller)
    note_id = build.note(seller, customer_id)
    login(seller)
    url = f"/notes/{note_id}/edit"
    response = client.get(url, headers=hx(f"note-{note_id}"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith(f'<li class="timeline-item editing" id="note-{note_id}">')
    assert f'hx-post="{url}" hx-target="#note-{note_id}" hx-swap="outerHTML"' in html
    # Cancel puts the note back in place (and is a link to the record page besides)
    assert (f'href="/customers/{customer_id}#note-{note_id}"\n'
            f'       hx-get="/notes/{note_id}" hx-target="#note-{note_id}" hx-swap="outerHTML">Cancel</a>'
            ) in html
    loaded = _version(html)
    refused = client.post(url, data={"kind": "call", "body": ""}, headers=hx(f"note-{note_id}"))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "<html" not in html
    assert html.lstrip().startswith('<li class="timeline-item editing"')
    assert_error_beside(html, f"note-{note_id}-body", BODY_REQUIRED)
    assert client.post(url, data={"kind": "call", "body": "Saved first", "version": loaded},
                       headers=hx(f"note-{note_id}")).status_code == 200
    stale = client.post(url, data={"kind": "call", "body": "Mine", "version": loaded},
                        headers=hx(f"note-{note_id}"))
    html = stale.get_data(as_text=True)
    assert stale.status_code == 409 and "<html" not in html and NOTE_CONFLICT in html
    assert f'hx-get="/notes/{note_id}" hx-target="#note-{note_id}" hx-swap="outerHTML"' in html
    saved = client.post(url, data={"kind": "call", "body": "Mine", "version": _version(html)},
                        headers=hx(f"note-{note_id}"))
    html = saved.get_data(as_text=True)
    assert saved.status_code == 200 and html.lstrip().startswith('<li class="timeline-item note')
    assert _stored_note(app, note_id) == ("call", "Mine")


def test_only_the_author_or_an_admin_edits_a_note_without_js(
        app, client, login, make_user, seller, build):
    build.team_sees_everything()  # the colleague sees the customer and its notes
    colleague = make_user("sales", email="colleague@example.com", name="Cleo Colleague")
    admin = make_user("admin", email="boss@example.com", name="Ada Admin")
    customer_id = build.customer(seller)
    note_id = build.note(seller, customer_id)
    url = f"/notes/{note_id}/edit"
    login(colleague)
    assert client.get(f"/customers/{customer_id}").status_code == 200
    assert client.get(url).status_code == 403
    for data in ({"kind": "call", "body": ""}, {"kind": "call", "body": "Taken over"}):
        response = client.post(url, data=data)
        assert response.status_code == 403 and "Called about the quote" not in response.get_data(as_text=True)
    assert _stored_note(app, note_id) == ("call", "Called about the quote")
    login(admin)
    assert client.get(url).status_code == 200
    assert client.post(url, data={"kind": "call", "body": ""}).status_code == 422
    assert client.post(url, data={"kind": "call", "body": "Checked by the admin"}).status_code == 303
    assert _stored_note(app, note_id) == ("call", "Checked by the admin")


def test_note_edit_of_a_record_i_may_not_see_is_403(app, client, login, make_user, seller, build):
    other = make_user("sales", email="other@example.com", name="Olga Other")
    customer_id = build.customer(other, name="Hidden 隐藏客户")
    note_id = build.note(other, customer_id, body="Secret 秘密")
    login(seller)
    for response in (client.get(f"/notes/{note_id}/edit"),
                     client.post(f"/notes/{note_id}/edit", data={"kind": "call", "body": ""})):
        assert response.status_code == 403
        assert "Secret 秘密" not in response.get_data(as_text=True)


def test_note_edit_page_with_csrf_checks(app, seller, build):
    """CSRF on: no token is 400; the edit page and its 422 answer carry tokens that work."""
    assert app.config["WTF_CSRF_ENABLED"]
    customer_id = build.customer(seller)
    note_id = build.note(seller, customer_id)
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = session_user_id(app, seller.id)
        session["_fresh"] = True
    url = f"/notes/{note_id}/edit"
    assert browser.post(url, data={"kind": "call", "body": "x"}).status_code == 400
    page = browser.get(url).get_data(as_text=True)
    response = browser.post(url, data={"csrf_token": csrf_token_from(page), "kind": "call",
                                       "body": "", "version": _version(page)})
    assert response.status_code == 422
    form = _edit_form(response.get_data(as_text=True))
    response = browser.post(url, data={"csrf_token": csrf_token_from(form), "kind": "call",
                                       "body": "Corrected", "version": _version(form)})
    assert response.status_code == 303
    assert _stored_note(app, note_id) == ("call", "Corrected")


def test_inline_note_edit_form_has_ids_of_its_own(app, client, login):
    """Swapped into a page that also holds the add-note form, the edit form's fields (and
    their labels and error links) must not reuse that form's ids (kind, happened_at, body)."""
    with app.app_context():
        user = factories.user("admin", email="ids@example.com", name="Ids", password="x" * 12,
                              timezone="UTC", commit=False)
        customer = factories.customer(user, name="Ids Co", created_by=user, commit=False)
        note_id = factories.note(user, customer, kind="call", body="Hello").id
        user = db.session.get(User, user.id)
    login(user)
    html = client.get(f"/notes/{note_id}/edit", headers=hx(f"note-{note_id}")).get_data(as_text=True)
    for name in ("kind", "happened_at", "body"):
        assert f'id="note-{note_id}-{name}"' in html and f'for="note-{note_id}-{name}"' in html
        assert f'id="{name}"' not in html
