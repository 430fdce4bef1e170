"""More refused forms without JavaScript (a plain POST), as in tests/test_form_errors_nojs.py:
the page the form lives on comes back (422, or 409 for a conflict), the form holding what was
posted and the error beside its control, and nothing is saved. The htmx path of the same forms
is checked alongside, unchanged.

Editing a follow-up note (its own page without JavaScript), bulk tagging on the customer list,
and a refused stage move from the opportunity page and from the board."""
import re
from datetime import datetime

import pytest
from markupsafe import escape

from crm.extensions import db
from crm.models import Customer, Note, Opportunity, User
from crm.opportunities.services import StageMoveError
from tests import factories
from tests.conftest import csrf_token_from, hx, session_user_id
# The .field wrapper checks, as the first no-JS file has them.
from tests.test_form_errors_nojs import _assert_error_beside, _field, _no_errors

BODY_REQUIRED = "Write what was said or done."
BAD_DATETIME = "Not a valid datetime value."
TYPED = "Called 王经理 about the <b>ERP</b> budget & timing"
NOTE_CONFLICT = "Someone else saved this note while you were editing it."
CHOOSE_TAG = "Choose a tag, then Add or Remove."
SELECT_ONE = "Select at least one customer."
CHOOSE_STAGE = "Choose a stage."
OTHER_PIPELINE = "This stage belongs to another pipeline."


# --- helpers ------------------------------------------------------------------------------

def _opening(html: str, tag_id: str) -> str:
    """The opening tag of the element with this id."""
    at = html.index(f'id="{tag_id}"')
    start = html.rindex("<", 0, at)
    return html[start:html.index(">", at) + 1]


def _version(html: str) -> str:
    match = re.search(r'<input[^>]*name="version"[^>]*value="([^"]*)"', html)
    assert match, "no version field"
    return match.group(1)


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
    _assert_error_beside(form, f"note-{note_id}-body", BODY_REQUIRED)
    _no_errors(form, f"note-{note_id}-happened_at")
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
    _assert_error_beside(form, f"note-{note_id}-happened_at", BAD_DATETIME)
    _no_errors(form, f"note-{note_id}-body")
    assert escape(TYPED) in _field(form, f"note-{note_id}-body") and "<b>ERP</b>" not in html
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
    assert escape(TYPED) in _field(form, f"note-{note_id}-body")  # what I typed is still in the form
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
    _assert_error_beside(html, f"note-{note_id}-body", BODY_REQUIRED)
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


# --- bulk tagging on the customer list ------------------------------------------------------

@pytest.fixture
def vip(build):
    group = build.tag_group("Tier", multiple=True)
    tag = build.tag(group, "VIP", color="#336699")
    build.tag(group, "Key account", color="#aa5500")
    return tag


def _tagged(app, customer_ids) -> list[bool]:
    with app.app_context():
        return [bool(db.session.get(Customer, i).tags) for i in customer_ids]


def _bulk_bar(html: str) -> str:
    start = html.index('<div class="bulk-bar">')
    return html[start:html.index("</div>", start)]


def _checked_ids(html: str) -> list[int]:
    return [int(v) for v in re.findall(
        r'<input type="checkbox" name="customer_id" value="(\d+)" data-row-check\s+'
        r'aria-label="[^"]*" checked>', html)]


def test_bulk_tag_without_a_tag_without_js_is_the_list_again(
        app, client, login, seller, vip, build):
    ids = build.customers(30, seller)
    login(seller)
    # from the second page of the list sorted by name: 客户 25 .. 客户 29
    chosen = [ids[26], ids[28]]
    response = client.post("/customers/bulk-tags", data={
        "customer_id": [str(i) for i in chosen], "tag_id": "", "action": "add",
        "back": "sort=name&page=2"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="customer-filters"' in html  # the whole list page
    # the same filters and page as the form came from
    assert "客户 26" in html and "客户 00" not in html and "Page 2 of 2" in html
    assert '<option value="name" selected>' in html
    assert 'name="back" value="sort=name&amp;page=2"' in html
    # the customers are still checked, the message is beside the tag select
    assert sorted(_checked_ids(html)) == sorted(chosen)
    bar = _bulk_bar(html)
    assert f'<p class="field-error" id="bulk-error" role="alert">{CHOOSE_TAG}</p>' in bar
    assert 'aria-invalid="true" aria-describedby="bulk-error"' in _opening(bar, "bulk-tag")
    assert html.count(CHOOSE_TAG) == 1 and "flash-error" not in html  # not flashed on top too
    assert _tagged(app, ids) == [False] * len(ids)


def test_bulk_tag_without_a_selection_without_js_keeps_the_tag(
        app, client, login, seller, vip, build):
    ids = build.customers(3, seller)
    login(seller)
    response = client.post("/customers/bulk-tags", data={
        "tag_id": str(vip), "action": "remove", "back": "q=客户&sort=name"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and 'value="客户"' in html  # the search is still in the box
    bar = _bulk_bar(html)
    assert f'<option value="{vip}" selected>VIP</option>' in bar  # the tag still chosen
    assert f'<p class="field-error" id="bulk-error" role="alert">{SELECT_ONE}</p>' in bar
    assert 'aria-describedby="bulk-error"' in _opening(bar.replace("data-select-all", 'id="all"'), "all")
    assert 'aria-invalid' not in _opening(bar, "bulk-tag")
    assert _checked_ids(html) == [] and html.count(SELECT_ONE) == 1
    assert _tagged(app, ids) == [False, False, False]


def test_refused_bulk_tag_without_js_shows_no_customer_i_may_not_see(
        app, client, login, make_user, seller, vip, build):
    other = make_user("sales", email="other@example.com", name="Olga Other")
    mine = build.customer(seller, name="Mine 我的")
    hidden = build.customer(other, name="Hidden 隐藏客户")
    login(seller)
    response = client.post("/customers/bulk-tags", data={
        "customer_id": [str(mine), str(hidden)], "tag_id": "", "action": "add", "back": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Mine 我的" in html and "Hidden 隐藏客户" not in html
    assert _checked_ids(html) == [mine]
    assert _tagged(app, [mine, hidden]) == [False, False]


def test_refused_bulk_tag_with_htmx_is_still_the_results_with_the_message_on_top(
        app, client, login, seller, vip, build):
    customer_id = build.customer(seller)
    login(seller)
    response = client.post("/customers/bulk-tags", data={
        "customer_id": str(customer_id), "action": "add", "back": ""},
        headers=hx("customer-results"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<section id="customer-results"')
    assert f'<p class="flash flash-error" role="status">{CHOOSE_TAG}</p>' in html
    assert "field-error" not in html and "aria-invalid" not in html
    assert _checked_ids(html) == [customer_id]
    # no selection: the chosen tag stays chosen here too
    html = client.post("/customers/bulk-tags", data={"tag_id": str(vip), "action": "add"},
                       headers=hx("customer-results")).get_data(as_text=True)
    assert f'<p class="flash flash-error" role="status">{SELECT_ONE}</p>' in html
    assert f'<option value="{vip}" selected>VIP</option>' in html


def test_good_bulk_tag_without_js_still_redirects(app, client, login, seller, vip, build):
    ids = build.customers(2, seller)
    login(seller)
    response = client.post("/customers/bulk-tags", data={
        "customer_id": [str(i) for i in ids], "tag_id": str(vip), "action": "add",
        "back": "sort=name"})
    assert response.status_code == 303 and response.headers["Location"] == "/customers?sort=name"
    assert _tagged(app, ids) == [True, True]


def test_bulk_tag_page_with_csrf_checks(app, seller, vip, build):
    """CSRF on: the 422 list page carries a token that works for the next try."""
    ids = build.customers(2, seller)
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = session_user_id(app, seller.id)
        session["_fresh"] = True
    token = csrf_token_from(_bulk_form(browser.get("/customers").get_data(as_text=True)))
    response = browser.post("/customers/bulk-tags", data={
        "csrf_token": token, "customer_id": str(ids[0]), "action": "add", "back": ""})
    assert response.status_code == 422
    form = _bulk_form(response.get_data(as_text=True))
    response = browser.post("/customers/bulk-tags", data={
        "csrf_token": csrf_token_from(form), "customer_id": str(ids[0]), "tag_id": str(vip),
        "action": "add", "back": ""})
    assert response.status_code == 303
    assert _tagged(app, ids) == [True, False]


def _bulk_form(html: str) -> str:
    start = html.index('<form id="bulk-form"')
    return html[start:html.index("</form>", start)]


# --- a refused stage move: the opportunity page ----------------------------------------------

def _stage_of(app, opportunity_id) -> int:
    with app.app_context():
        return db.session.get(Opportunity, opportunity_id).stage_id


def _version_of(app, opportunity_id) -> int:
    with app.app_context():
        return db.session.get(Opportunity, opportunity_id).version


def _stage_form(html: str) -> str:
    start = html.index('<form class="stage-form')
    return html[start:html.index("</form>", start)]


def _assert_stage_error(form: str, message: str):
    assert form.startswith('<form class="stage-form has-error"'), form[:80]
    assert 'aria-invalid="true" aria-describedby="stage-select-error"' in _opening(form, "stage-select")
    assert f'<p class="field-error" id="stage-select-error">{escape(message)}</p>' in form


@pytest.mark.parametrize("posted,message", [("", CHOOSE_STAGE), ("abc", CHOOSE_STAGE),
                                            ("999999", CHOOSE_STAGE), ("other", OTHER_PIPELINE)])
def test_refused_move_without_js_is_the_opportunity_page_with_the_error_beside_the_select(
        app, client, login, seller, posted, message, build):
    opportunity_id = build.opportunity(owner=seller, title="ERP rollout 2026")
    stages = build.stages()
    if posted == "other":
        posted = str(build(lambda: factories.pipeline().stages[0]))
    login(seller)
    response = client.post(f"/opportunities/{opportunity_id}/stage",
                           data={"stage_id": posted, "version": _version_of(app, opportunity_id)})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "ERP rollout 2026" in html and 'id="timeline-items"' in html
    form = _stage_form(html)
    _assert_stage_error(form, message)
    # a stage not in the select cannot stay chosen: the current one is
    assert f'<option value="{stages["discover"]}" selected>' in form
    assert html.count(escape(message)) == 1 and 'class="form-error"' not in html
    assert _stage_of(app, opportunity_id) == stages["discover"]


def test_refused_move_without_js_keeps_the_stage_asked_for(
        app, client, login, seller, monkeypatch, build):
    """Whatever else the rules refuse on stage_id keeps the chosen stage in the select."""
    opportunity_id = build.opportunity(owner=seller)
    stages = build.stages()

    def refuse(*args, **kwargs):
        raise StageMoveError("Not <yet>.", field="stage_id")
    monkeypatch.setattr("crm.opportunities.routes.move_to_stage", refuse)
    login(seller)
    response = client.post(f"/opportunities/{opportunity_id}/stage",
                           data={"stage_id": stages["proposal"]})
    assert response.status_code == 422
    form = _stage_form(response.get_data(as_text=True))
    _assert_stage_error(form, "Not <yet>.")
    assert f'<option value="{stages["proposal"]}" selected>' in form
    assert f'<option value="{stages["discover"]}" selected>' not in form
    assert _stage_of(app, opportunity_id) == stages["discover"]


def test_refused_move_with_htmx_is_still_the_widget_with_the_message_on_top(
        app, client, login, seller, build):
    opportunity_id = build.opportunity(owner=seller)
    login(seller)
    response = client.post(f"/opportunities/{opportunity_id}/stage", data={"stage_id": ""},
                           headers=hx("stage-widget"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<section id="stage-widget"')
    assert f'<p class="form-error" role="alert">{CHOOSE_STAGE}</p>' in html
    assert "field-error" not in html and 'class="stage-form"' in html


def test_good_move_without_js_still_redirects(app, client, login, seller, build):
    opportunity_id = build.opportunity(owner=seller)
    stages = build.stages()
    login(seller)
    response = client.post(f"/opportunities/{opportunity_id}/stage",
                           data={"stage_id": stages["confirm"]})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/opportunities/{opportunity_id}"
    assert _stage_of(app, opportunity_id) == stages["confirm"]


def test_refused_move_is_still_403_for_who_may_not_edit(
        app, client, login, make_user, seller, build):
    build.team_sees_everything()  # the colleague sees it, but may not move it
    colleague = make_user("sales", email="colleague@example.com")
    opportunity_id = build.opportunity(owner=seller)
    stages = build.stages()
    login(colleague)
    for data in ({"stage_id": ""}, {"stage_id": stages["confirm"]},
                 {"stage_id": "", "context": "board", "next": "/pipeline"}):
        assert client.post(f"/opportunities/{opportunity_id}/stage", data=data).status_code == 403
    assert _stage_of(app, opportunity_id) == stages["discover"]


# --- a refused stage move: the board --------------------------------------------------------

def _card(html: str, opportunity_id: int) -> str:
    start = html.index(f'id="card-{opportunity_id}"')
    start = html.rindex("<article", 0, start)
    return html[start:html.index("</article>", start)]


def _column(html: str, stage_id: int) -> str:
    match = re.search(r'<section class="board-column[^"]*"[^>]*data-stage-id="%d".*?</section>'
                      % stage_id, html, re.S)
    assert match, f"no column for stage {stage_id}"
    return match.group(0)


def _assert_card_error(card: str, opportunity_id: int, message: str):
    assert "has-error" in card.split(">", 1)[0]
    select = _opening(card, f"move-{opportunity_id}")
    assert f'aria-invalid="true" aria-describedby="move-{opportunity_id}-error"' in select
    assert (f'<p class="field-error card-error" id="move-{opportunity_id}-error" role="alert">'
            f'{escape(message)}</p>') in card


def test_refused_board_move_without_js_is_the_board_with_the_error_on_the_card(
        app, client, login, seller, build):
    moving = build.opportunity(owner=seller, title="Moving <deal>")
    staying = build.opportunity(owner=seller, title="Staying deal")
    stages = build.stages()
    login(seller)
    response = client.post(f"/opportunities/{moving}/stage", data={
        "stage_id": "999999", "context": "board", "version": _version_of(app, moving),
        "next": "/pipeline?owner=me"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="board"' in html
    assert '<option value="me" selected>' in html  # the board's filters are kept
    card = _card(_column(html, stages["discover"]), moving)
    _assert_card_error(card, moving, CHOOSE_STAGE)
    assert "Moving &lt;deal&gt;" in card
    assert f'<option value="{stages["discover"]}" selected>' in card
    assert 'name="next" value="/pipeline?owner=me"' in card  # it comes back here again
    other = _card(html, staying)
    assert "field-error" not in other and "aria-invalid" not in other
    assert html.count(CHOOSE_STAGE) == 1 and "flash-error" not in html
    assert _stage_of(app, moving) == stages["discover"]


def test_refused_board_move_without_js_keeps_the_stage_asked_for(
        app, client, login, seller, monkeypatch, build):
    opportunity_id = build.opportunity(owner=seller)
    stages = build.stages()

    def refuse(*args, **kwargs):
        raise StageMoveError("Not yet.", field="stage_id")
    monkeypatch.setattr("crm.opportunities.routes.move_to_stage", refuse)
    login(seller)
    response = client.post(f"/opportunities/{opportunity_id}/stage", data={
        "stage_id": stages["proposal"], "context": "board"},
        headers={"Referer": "http://localhost/pipeline"})
    assert response.status_code == 422
    card = _card(response.get_data(as_text=True), opportunity_id)
    _assert_card_error(card, opportunity_id, "Not yet.")
    assert f'<option value="{stages["proposal"]}" selected>' in card
    assert f'<option value="{stages["discover"]}" selected>' not in card


def test_stale_board_move_without_js_is_409_with_the_card_in_its_real_column(
        app, client, login, make_user, seller, build):
    opportunity_id = build.opportunity(owner=seller, title="Pilot <b>1</b>")
    stages = build.stages()
    login(seller)
    url = f"/opportunities/{opportunity_id}/stage"
    loaded = _version_of(app, opportunity_id)
    assert client.post(url, data={"stage_id": stages["negotiation"], "context": "board",
                                  "version": loaded, "next": "/pipeline"}).status_code == 303
    response = client.post(url, data={"stage_id": stages["proposal"], "context": "board",
                                      "version": loaded, "next": "/pipeline"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="board"' in html
    assert f'id="card-{opportunity_id}"' not in _column(html, stages["proposal"])
    card = _card(_column(html, stages["negotiation"]), opportunity_id)  # where it really is
    message = ("Sam Seller changed Pilot <b>1</b> while you were looking at it: it is in "
               "Negotiation now. Nothing was moved; move it again if you still want to.")
    _assert_card_error(card, opportunity_id, message)
    assert "<b>1</b>" not in html
    assert f'<option value="{stages["negotiation"]}" selected>' in card
    assert f'data-version="{_version_of(app, opportunity_id)}"' in card  # moves again from here
    assert _stage_of(app, opportunity_id) == stages["negotiation"]


def test_refused_move_from_a_column_page_without_js_is_that_page(
        app, client, login, seller, build):
    opportunity_id = build.opportunity(owner=seller)
    stages = build.stages()
    login(seller)
    column = f"/pipeline/stages/{stages['discover']}"
    response = client.post(f"/opportunities/{opportunity_id}/stage", data={
        "stage_id": "", "context": "board", "next": column})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "column-page" in html
    _assert_card_error(_card(html, opportunity_id), opportunity_id, CHOOSE_STAGE)


@pytest.mark.parametrize("origin", [
    "/pipeline?owner={other}",  # the board shows someone else's cards only
    "/pipeline?pipeline=999999",  # no such pipeline
    "/pipeline/stages/{signed}",  # a column it is not in
    "/pipeline/stages/{discover}?after=yesterday",  # a cursor that is not understood
    "https://evil.example.com/pipeline",  # not this site
    "/customers",  # not the board
    "",
])
def test_refused_board_move_without_js_whose_card_is_not_shown_is_the_opportunity_page(
        app, client, login, make_user, seller, origin, build):
    other = make_user("sales", email="other@example.com")
    opportunity_id = build.opportunity(owner=seller)
    stages = build.stages()
    login(seller)
    response = client.post(f"/opportunities/{opportunity_id}/stage", data={
        "stage_id": "", "context": "board",
        "next": origin.format(other=other.id, signed=stages["signed"], discover=stages["discover"])})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="stage-widget"' in html and 'id="board"' not in html
    _assert_stage_error(_stage_form(html), CHOOSE_STAGE)
    assert _stage_of(app, opportunity_id) == stages["discover"]


def test_stale_board_move_without_js_whose_card_is_not_shown_is_the_opportunity_page(
        app, client, login, make_user, seller, build):
    other = make_user("sales", email="other@example.com")
    opportunity_id = build.opportunity(owner=seller)
    stages = build.stages()
    login(seller)
    url = f"/opportunities/{opportunity_id}/stage"
    loaded = _version_of(app, opportunity_id)
    assert client.post(url, data={"stage_id": stages["confirm"], "version": loaded}).status_code == 303
    response = client.post(url, data={"stage_id": stages["proposal"], "context": "board",
                                      "version": loaded, "next": f"/pipeline?owner={other.id}"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="stage-widget"' in html and 'id="board"' not in html
    assert "while you were looking at it" in html
    assert f'<option value="{stages["confirm"]}" selected>' in _stage_form(html)
    assert _stage_of(app, opportunity_id) == stages["confirm"]


def test_refused_board_move_with_htmx_is_still_a_toast(app, client, login, seller, build):
    opportunity_id = build.opportunity(owner=seller)
    login(seller)
    headers = hx(f"card-{opportunity_id}")
    headers["HX-Current-URL"] = "http://localhost/pipeline"
    response = client.post(f"/opportunities/{opportunity_id}/stage",
                           data={"stage_id": "", "context": "board"}, headers=headers)
    assert response.status_code == 422
    assert response.headers["HX-Reswap"] == "none"
    assert CHOOSE_STAGE in response.headers["HX-Trigger"]
    assert response.get_data(as_text=True) == CHOOSE_STAGE


def test_good_board_move_without_js_still_comes_back_to_the_board(
        app, client, login, seller, build):
    opportunity_id = build.opportunity(owner=seller)
    stages = build.stages()
    login(seller)
    response = client.post(f"/opportunities/{opportunity_id}/stage", data={
        "stage_id": stages["confirm"], "context": "board", "next": "/pipeline?owner=me"},
        headers={"Referer": "http://localhost/pipeline?owner=me"})
    assert response.status_code == 303 and response.headers["Location"] == "/pipeline?owner=me"
    assert _stage_of(app, opportunity_id) == stages["confirm"]


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
