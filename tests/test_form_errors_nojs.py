"""Refused forms without JavaScript (a plain POST): the page the form lives on comes back with
422, the form holding what was posted and each error beside its field, and nothing is saved.
The htmx path of the same forms is checked alongside, unchanged: 422 with just the fragment.

Follow-up notes (on the customer page and on the opportunity page) and the colour picker of a
tag row on /tags, plus the colour of the add-a-tag form; the owner and sharing panel (customer
and opportunity pages); on /admin/pipelines, deleting a pipeline, saving an order of stages and
deactivating or deleting a lost reason."""
import re

import pytest
from markupsafe import escape

from crm.defaults import ensure_defaults
from crm.extensions import db
from crm.models import Customer, LostReason, Note, Opportunity, Pipeline, Stage, Tag, User
from crm.pipelines import services as pipeline_services
from crm.pipelines.routes import submitted_order
from tests.conftest import csrf_token_from, hx, session_user_id

BODY_REQUIRED = "Write what was said or done."
BAD_DATETIME = "Not a valid datetime value."
BAD_COLOUR = "A colour looks like #1a2b3c."
TYPED = "Called 王经理 about the <b>ERP</b> budget & timing"


# --- helpers ------------------------------------------------------------------------------

def _note_count(app) -> int:
    with app.app_context():
        return db.session.execute(db.select(db.func.count()).select_from(Note)).scalar()


def _field(html: str, field_id: str) -> str:
    """The `.field` wrapper (label, input, hint, errors) around the input with this id."""
    at = html.index(f'id="{field_id}"')
    start = html.rindex('<div class="field', 0, at)
    return html[start:html.index("</div>", at)]


def _note_form(html: str) -> str:
    start = html.index('<form id="note-form"')
    return html[start:html.index("</form>", start)]


def _assert_error_beside(html: str, field_id: str, message: str):
    block = _field(html, field_id)
    assert "has-error" in block.split(">", 1)[0], block
    assert f'<p class="field-error" id="{field_id}-error">{escape(message)}</p>' in block, block
    assert 'aria-invalid="true"' in block and f'aria-describedby="{field_id}-error"' in block


def _no_errors(html: str, field_id: str):
    block = _field(html, field_id)
    assert "has-error" not in block.split(">", 1)[0] and "field-error" not in block, block


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, f"no hidden {name}"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


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
    _assert_error_beside(form, "body", BODY_REQUIRED)
    _no_errors(form, "happened_at")
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
    _assert_error_beside(form, "happened_at", BAD_DATETIME)
    _no_errors(form, "body")
    assert escape(TYPED) in _field(form, "body")  # escaped, never raw
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
    block = _field(form, "body")
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
    _assert_error_beside(form, "body", BODY_REQUIRED)
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
    _assert_error_beside(form, "happened_at", BAD_DATETIME)
    assert 'value="yesterday"' in form
    assert escape(TYPED) in _field(form, "body")
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
    _assert_error_beside(form, "body", BODY_REQUIRED)
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
    _assert_error_beside(html, "happened_at", BAD_DATETIME)
    assert escape(TYPED) in html and 'value="not a date"' in html
    assert _note_count(app) == 0


# --- tags: the colour of a tag row ----------------------------------------------------------

@pytest.fixture
def tags(build):
    industry = build.tag_group("Industry", multiple=False)
    return {"industry": industry, "it": build.tag(industry, "IT", color="#336699"),
            "retail": build.tag(industry, "Retail", color="#aa5500")}


@pytest.fixture
def manager_client(make_user, login):
    return login(make_user("manager", name="Mia Manager"))


def _row(html: str, tag_id: int) -> str:
    start = html.index(f'<tr id="tag-row-{tag_id}"')
    return html[start:html.index("</tr>", start)]


def _colour(app, tag_id: int) -> str:
    with app.app_context():
        return db.session.get(Tag, tag_id).color


@pytest.mark.parametrize("posted,error", [("orange", BAD_COLOUR), ("#12345", BAD_COLOUR),
                                          ("", "Choose a colour.")])
def test_bad_colour_without_js_is_the_tags_page_with_the_error_in_the_row(
        app, manager_client, tags, posted, error):
    tid = tags["it"]
    response = manager_client.post(f"/tags/{tid}/color", data={"color": posted})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "Tags and tag groups" in html
    row = _row(html, tid)
    assert f'<p class="field-error" id="tag-{tid}-color-error">{escape(error)}</p>' in row
    assert 'aria-invalid="true"' in row and f'aria-describedby="tag-{tid}-color-error"' in row
    # what was posted is in the colour input (the saved colour when nothing was posted)
    assert f'name="color" value="{posted or "#336699"}"' in row
    assert f'action="/tags/{tid}/color#tag-row-{tid}"' in row
    # only that row shows an error
    assert "field-error" not in _row(html, tags["retail"])
    assert html.count('class="field-error"') == 1
    assert "The colour was not saved" not in html
    assert _colour(app, tid) == "#336699"


def test_bad_colour_without_js_is_escaped(app, manager_client, tags):
    tid = tags["it"]
    posted = '#123456"><script>window.__xss=1</script>'
    response = manager_client.post(f"/tags/{tid}/color", data={"color": posted})
    assert response.status_code == 422
    row = _row(response.get_data(as_text=True), tid)
    assert "<script>window.__xss" not in row and f'value="{escape(posted)}"' in row
    assert _colour(app, tid) == "#336699"


def test_bad_colour_with_htmx_is_still_the_row(app, manager_client, tags):
    tid = tags["it"]
    response = manager_client.post(f"/tags/{tid}/color", data={"color": "orange"},
                                   headers=hx(f"tag-row-{tid}"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.strip().startswith(f'<tr id="tag-row-{tid}"')
    assert f'<p class="field-error" id="tag-{tid}-color-error">{escape(BAD_COLOUR)}</p>' in html
    # the row's block is shared with the page: it too keeps what was posted now
    assert 'name="color" value="orange"' in html
    assert _colour(app, tid) == "#336699"


def test_good_colour_without_js_still_redirects(app, manager_client, tags):
    tid = tags["it"]
    response = manager_client.post(f"/tags/{tid}/color", data={"color": "#00AA00"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/tags#group-{tags['industry']}")
    assert _colour(app, tid) == "#00aa00"


def test_recolouring_is_still_for_managers_only(app, client, login, make_user, tags):
    login(make_user("sales"))
    assert client.post(f"/tags/{tags['it']}/color", data={"color": "orange"}).status_code == 403
    assert _colour(app, tags["it"]) == "#336699"


# --- tags: the colour of the add-a-tag form -------------------------------------------------

def test_add_tag_with_a_bad_colour_without_js_keeps_name_and_colour(app, manager_client, tags):
    gid = tags["industry"]
    response = manager_client.post(f"/tags/groups/{gid}/tags",
                                   data={f"g{gid}-name": "制造业", f"g{gid}-color": "blue"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html
    assert 'value="制造业"' in html
    block = _field(html, f"g{gid}-color")
    assert 'value="blue"' in block and 'aria-invalid="true"' in block
    assert f'<p class="field-error" id="g{gid}-color-error">{escape(BAD_COLOUR)}</p>' in block
    assert f'action="/tags/groups/{gid}/tags#group-{gid}"' in html
    with app.app_context():
        assert db.session.query(Tag).count() == 2


# --- the owner and sharing panel ------------------------------------------------------------

CHOOSE_SHAREE = "Choose a user to share with."
CHOOSE_ACTIVE = "Choose an active user."
CHOOSE_OWNER = "Choose an owner."


@pytest.fixture
def people(make_user, seller):
    return {"seller": seller,
            "carl": make_user("sales", email="carl@example.com", name="Carl Candidate"),
            "ina": make_user("sales", email="ina@example.com", name="Ina Inactive", active=False),
            "manager": make_user("manager", email="mia@example.com", name="Mia Manager")}


def _panel(html: str) -> str:
    start = html.index('<section id="sharing"')
    return html[start:html.index("</section>", start)]


def _form_around(html: str, control_id: str) -> str:
    at = html.index(f'id="{control_id}"')
    start = html.rindex("<form", 0, at)
    return html[start:html.index("</form>", at)]


def _select(html: str, select_id: str) -> str:
    start = html.index(f'<select id="{select_id}"')
    return html[start:html.index("</select>", start)]


def _assert_select_error(panel: str, select_id: str, message: str):
    form = _form_around(panel, select_id)
    assert "has-error" in form.split(">", 1)[0], form
    assert f'<p class="field-error" id="{select_id}-error">{escape(message)}</p>' in form, form
    opening = _select(panel, select_id).split(">", 1)[0]
    assert 'aria-invalid="true"' in opening and f'aria-describedby="{select_id}-error"' in opening


def _shares(app, model, record_id) -> list[int]:
    with app.app_context():
        return sorted(u.id for u in db.session.get(model, record_id).shared_with)


def _owner_of(app, model, record_id):
    with app.app_context():
        return db.session.get(model, record_id).owner_id


def test_refused_share_without_js_is_the_customer_page_with_the_error_beside_the_select(
        app, client, login, people, build):
    customer_id = build.customer(people["seller"])
    login(people["seller"])
    response = client.post(f"/customers/{customer_id}/shares",
                           data={"user_id": people["ina"].id})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    # the whole customer page, not a redirect
    assert "<html" in html and "北京星辰科技" in html and 'id="timeline-items"' in html
    panel = _panel(html)
    select_id = f"share-customer-{customer_id}"
    _assert_select_error(panel, select_id, CHOOSE_SHAREE)
    # the users one may share with are still offered; the refused one is not
    options = _select(panel, select_id)
    assert "Carl Candidate" in options and "Ina Inactive" not in options
    # the form posts to itself again and the browser is sent back to the panel
    assert f'action="/customers/{customer_id}/shares#sharing"' in panel
    assert f'hx-post="/customers/{customer_id}/shares"' in panel
    # the message is beside the select, not flashed on top as well
    assert html.count(CHOOSE_SHAREE) == 1 and "flash-error" not in panel
    assert _shares(app, Customer, customer_id) == []


def test_refused_share_on_an_opportunity_without_js_is_the_opportunity_page(
        app, client, login, people, build):
    opportunity_id = build.opportunity(owner=people["seller"], title="ERP rollout 2026")
    login(people["seller"])
    # sharing with its owner is refused
    response = client.post(f"/opportunities/{opportunity_id}/shares",
                           data={"user_id": people["seller"].id})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "ERP rollout 2026" in html and 'id="stage-widget"' in html
    panel = _panel(html)
    _assert_select_error(panel, f"share-opportunity-{opportunity_id}", CHOOSE_SHAREE)
    assert f'action="/opportunities/{opportunity_id}/shares#sharing"' in panel
    assert _shares(app, Opportunity, opportunity_id) == []


def test_share_refused_for_garbage_keeps_the_page_whole(app, client, login, people, build):
    customer_id = build.customer(people["seller"])
    login(people["seller"])
    for posted in ("", "abc", "99999", '"><script>x</script>'):
        response = client.post(f"/customers/{customer_id}/shares", data={"user_id": posted})
        assert response.status_code == 422, posted
        html = response.get_data(as_text=True)
        assert "<script>x</script>" not in html
        _assert_select_error(_panel(html), f"share-customer-{customer_id}", CHOOSE_SHAREE)
    assert _shares(app, Customer, customer_id) == []


def test_good_share_without_js_still_redirects_to_the_panel(app, client, login, people, build):
    customer_id = build.customer(people["seller"])
    login(people["seller"])
    response = client.post(f"/customers/{customer_id}/shares",
                           data={"user_id": people["carl"].id})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/customers/{customer_id}#sharing"
    assert _shares(app, Customer, customer_id) == [people["carl"].id]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Shared with Carl Candidate." in page


def test_refused_share_with_htmx_is_still_the_panel_with_the_message_on_top(
        app, client, login, people, build):
    customer_id = build.customer(people["seller"])
    login(people["seller"])
    response = client.post(f"/customers/{customer_id}/shares",
                           data={"user_id": people["ina"].id}, headers=hx("sharing"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html and '<section id="sharing"' in html
    assert f'<p class="flash flash-error" role="alert">{CHOOSE_SHAREE}</p>' in html
    assert "field-error" not in html and "aria-invalid" not in html
    assert _shares(app, Customer, customer_id) == []


def test_refused_share_is_still_403_for_who_may_not_share(
        app, client, login, make_user, people, build):
    other = make_user("sales", email="olga@example.com", name="Olga Other")
    customer_id = build.customer(other, name="Hidden 隐藏客户")
    login(people["seller"])  # cannot see it
    response = client.post(f"/customers/{customer_id}/shares", data={"user_id": people["ina"].id})
    assert response.status_code == 403
    assert "Hidden 隐藏客户" not in response.get_data(as_text=True)
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        customer.shared_with.append(db.session.get(User, people["seller"].id))
        db.session.commit()
    # sees it through a share, but only its owner, managers and admins share it further
    response = client.post(f"/customers/{customer_id}/shares", data={"user_id": people["ina"].id})
    assert response.status_code == 403
    assert _shares(app, Customer, customer_id) == [people["seller"].id]


def test_refused_reassign_without_js_keeps_the_owner_chosen_and_the_error_beside_it(
        app, client, login, people, build):
    customer_id = build.customer(people["seller"])
    login(people["manager"])
    response = client.post(f"/customers/{customer_id}/owner", data={"owner_id": people["ina"].id})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "北京星辰科技" in html
    panel = _panel(html)
    select_id = f"owner-customer-{customer_id}"
    _assert_select_error(panel, select_id, CHOOSE_ACTIVE)
    options = _select(panel, select_id)
    # an option no longer offered is not kept: the select shows the owner, not "Nobody"
    assert f'<option value="{people["seller"].id}" selected>Sam Seller</option>' in options
    assert '<option value="" >' in options and "Ina Inactive" not in options
    assert f'action="/customers/{customer_id}/owner#sharing"' in panel
    assert _owner_of(app, Customer, customer_id) == people["seller"].id


def test_refused_reassign_of_an_opportunity_without_js(app, client, login, people, build):
    opportunity_id = build.opportunity(owner=people["seller"])
    login(people["manager"])
    response = client.post(f"/opportunities/{opportunity_id}/owner", data={"owner_id": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="stage-widget"' in html
    panel = _panel(html)
    _assert_select_error(panel, f"owner-opportunity-{opportunity_id}", CHOOSE_OWNER)
    assert (f'<option value="{people["seller"].id}" selected>Sam Seller</option>'
            in _select(panel, f"owner-opportunity-{opportunity_id}"))
    assert _owner_of(app, Opportunity, opportunity_id) == people["seller"].id


def test_owner_change_by_someone_without_an_owner_select_is_forbidden(
        app, client, login, people, build):
    """A salesperson has no owner select on their own record (only managers reassign); a
    forged owner_id is refused as a permission, 403, before the id is even looked at."""
    customer_id = build.customer(people["seller"])
    login(people["seller"])
    response = client.post(f"/customers/{customer_id}/owner", data={"owner_id": "99999"})
    assert response.status_code == 403
    assert _owner_of(app, Customer, customer_id) == people["seller"].id


def test_good_reassign_without_js_still_redirects(app, client, login, people, build):
    customer_id = build.customer(people["seller"])
    login(people["manager"])
    response = client.post(f"/customers/{customer_id}/owner", data={"owner_id": people["carl"].id})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/customers/{customer_id}#sharing"
    assert _owner_of(app, Customer, customer_id) == people["carl"].id


def test_refused_reassign_with_htmx_is_still_the_panel(app, client, login, people, build):
    customer_id = build.customer(people["seller"])
    login(people["manager"])
    response = client.post(f"/customers/{customer_id}/owner", data={"owner_id": people["ina"].id},
                           headers=hx())
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html and f'<p class="flash flash-error" role="alert">{CHOOSE_ACTIVE}</p>' in html
    assert "field-error" not in html
    assert _owner_of(app, Customer, customer_id) == people["seller"].id
    # That panel replaces the whole panel on the page, not the inside of the owner form
    # (which nested a panel in the form before).
    page = client.get(f"/customers/{customer_id}").get_data(as_text=True)
    owner_form = page[page.index(f'hx-post="/customers/{customer_id}/owner"'):]
    owner_form = owner_form[:owner_form.index(">")]
    assert 'hx-target="#sharing"' in owner_form and 'hx-swap="outerHTML"' in owner_form


def test_refused_share_without_js_and_with_csrf_checks(app, people, build):
    """CSRF on: the 422 page carries a token that works for the next try."""
    assert app.config["WTF_CSRF_ENABLED"]
    customer_id = build.customer(people["seller"])
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = session_user_id(app, people["seller"].id)
        session["_fresh"] = True
    url = f"/customers/{customer_id}/shares"
    assert browser.post(url, data={"user_id": people["carl"].id}).status_code == 400
    token = csrf_token_from(browser.get(f"/customers/{customer_id}").get_data(as_text=True))
    response = browser.post(url, data={"csrf_token": token, "user_id": people["ina"].id})
    assert response.status_code == 422
    panel = _panel(response.get_data(as_text=True))
    form = _form_around(panel, f"share-customer-{customer_id}")
    response = browser.post(url, data={"csrf_token": csrf_token_from(form),
                                       "user_id": people["carl"].id})
    assert response.status_code == 303
    assert _shares(app, Customer, customer_id) == [people["carl"].id]


# --- /admin/pipelines: deleting a pipeline ---------------------------------------------------

@pytest.fixture
def admin_client_(make_user, login):
    return login(make_user("admin", email="ada@example.com", name="Ada Admin"))


def _pipeline_row(html: str, pipeline_id: int) -> str:
    start = html.index(f'<tr id="pipeline-{pipeline_id}"')
    return html[start:html.index("</tr>", start)]


def _pipeline_exists(app, pipeline_id: int) -> bool:
    with app.app_context():
        return db.session.get(Pipeline, pipeline_id) is not None


def test_refused_pipeline_delete_without_js_is_the_list_with_the_reason_in_its_row(
        app, admin_client_, seller, build):
    pid = build.default_pipeline()
    other = build.pipeline()
    build.opportunity(owner=seller)  # in the default pipeline
    response = admin_client_.post(f"/admin/pipelines/{pid}/delete")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="pipeline-new"' in html
    row = _pipeline_row(html, pid)
    error_id = f"pipeline-{pid}-delete-error"
    assert (f'<p class="field-error" id="{error_id}" role="alert">Sales pipeline still holds 1 '
            f'opportunity, so it cannot be deleted. Move it to another pipeline or delete it '
            f'first.</p>') in row
    assert f'aria-describedby="{error_id}"' in row
    assert f'action="/admin/pipelines/{pid}/delete#pipeline-{pid}"' in row
    assert "field-error" not in _pipeline_row(html, other)
    assert html.count('class="field-error"') == 1
    assert _pipeline_exists(app, pid) and _pipeline_exists(app, other)


def test_deleting_the_only_pipeline_without_js_says_why_in_its_row(app, admin_client_, build):
    pid = build.default_pipeline()
    response = admin_client_.post(f"/admin/pipelines/{pid}/delete")
    assert response.status_code == 422
    row = _pipeline_row(response.get_data(as_text=True), pid)
    assert "This is the only pipeline; opportunities need at least one." in row
    assert _pipeline_exists(app, pid)


def test_refused_pipeline_delete_with_htmx_still_sends_to_the_list(app, admin_client_, build):
    pid = build.default_pipeline()
    response = admin_client_.post(f"/admin/pipelines/{pid}/delete", headers=hx())
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/admin/pipelines"
    page = admin_client_.get("/admin/pipelines").get_data(as_text=True)
    assert "This is the only pipeline" in page and "field-error" not in page  # flashed
    assert _pipeline_exists(app, pid)


def test_good_pipeline_delete_without_js_still_redirects(app, admin_client_, build):
    other = build.pipeline()
    response = admin_client_.post(f"/admin/pipelines/{other}/delete")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/pipelines"
    assert not _pipeline_exists(app, other)


def test_pipeline_delete_is_still_for_admins_only(app, client, login, make_user, build):
    other = build.pipeline()
    login(make_user("manager"))
    assert client.post(f"/admin/pipelines/{other}/delete").status_code == 403
    assert _pipeline_exists(app, other)


# --- /admin/pipelines: an order of stages ----------------------------------------------------

def _stage_ids(app, pipeline_id: int) -> list[int]:
    with app.app_context():
        return db.session.execute(db.select(Stage.id).where(Stage.pipeline_id == pipeline_id)
                                  .order_by(Stage.position)).scalars().all()


def _listed_stage_ids(html: str) -> list[int]:
    start = html.index('<ol id="stage-list"')
    return [int(i) for i in re.findall(r'<li id="stage-(\d+)"', html[start:html.index("</ol>", start)])]


def _order_form(html: str) -> str:
    start = html.index('<form id="stage-order"')
    return html[start:html.index("</form>", start)]


def test_stale_order_without_js_is_the_page_with_the_posted_order_to_save_again(
        app, admin_client_, build):
    pid = build.default_pipeline()
    saved = _stage_ids(app, pid)
    # made on a page without the last stage, and the first two swapped
    posted = [saved[1], saved[0], *saved[2:-1]]
    response = admin_client_.post(f"/admin/pipelines/{pid}/stages/order",
                                  data={"stage_id": posted})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="pipeline-rename"' in html
    expected = [saved[1], saved[0], *saved[2:]]  # the stage not posted keeps its place
    assert _listed_stage_ids(html) == expected
    form = _order_form(html)
    # the reason at the top of the form, the posted order in it
    assert form.index('<p class="form-error" id="stage-order-error" role="alert">'
                      'The stages changed meanwhile; reload the page and try again.</p>') \
        < form.index('name="stage_id"')
    assert [int(v) for v in re.findall(r'name="stage_id" value="(\d+)"', form)] == expected
    assert f'action="/admin/pipelines/{pid}/stages/order#stage-order"' in form
    assert 'aria-describedby="stage-order-error"' in html.split('<ol id="stage-list"', 1)[1].split(">", 1)[0]
    assert "The stages changed meanwhile" in html and html.count("changed meanwhile") == 1
    assert _stage_ids(app, pid) == saved
    # saving what the form holds works
    response = admin_client_.post(f"/admin/pipelines/{pid}/stages/order",
                                  data={"stage_id": expected})
    assert response.status_code == 303
    assert _stage_ids(app, pid) == expected


def test_garbage_order_without_js_is_refused_on_the_page(app, admin_client_, build):
    pid = build.default_pipeline()
    saved = _stage_ids(app, pid)
    response = admin_client_.post(f"/admin/pipelines/{pid}/stages/order",
                                  data={"stage_id": ["x", str(saved[0])]})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The new order is not valid; reload the page and try again." in _order_form(html)
    assert _listed_stage_ids(html) == saved
    assert _stage_ids(app, pid) == saved


def test_stale_order_with_htmx_is_still_the_list_and_a_toast(app, admin_client_, build):
    pid = build.default_pipeline()
    saved = _stage_ids(app, pid)
    response = admin_client_.post(f"/admin/pipelines/{pid}/stages/order",
                                  data={"stage_id": saved[:-1]}, headers=hx("stage-list"))
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<ol id="stage-list"') and "stage-order" not in html
    assert "changed meanwhile" in response.headers["HX-Trigger"]
    assert _listed_stage_ids(html) == saved


def test_good_order_without_js_still_redirects(app, admin_client_, build):
    pid = build.default_pipeline()
    wanted = list(reversed(_stage_ids(app, pid)))
    response = admin_client_.post(f"/admin/pipelines/{pid}/stages/order", data={"stage_id": wanted})
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/pipelines/{pid}"
    assert _stage_ids(app, pid) == wanted


def test_submitted_order_follows_what_it_can():
    a, b, c, d = (Stage(id=i) for i in (1, 2, 3, 4))
    assert submitted_order([a, b, c, d], ["3", "1"]) == [c, b, a, d]
    assert submitted_order([a, b, c, d], ["4", "4", "9", "x", " 2 ", "1"]) == [d, b, c, a]
    assert submitted_order([a, b], []) == [a, b]


# --- /admin/pipelines: lost reasons -----------------------------------------------------------

LAST_ACTIVE = "At least one lost reason must stay active."


def _only_one_active_reason(app) -> int:
    """Deactivate every lost reason but the first; return its id."""
    with app.app_context():
        ensure_defaults()
        reasons = pipeline_services.ordered_lost_reasons()
        for reason in reasons[1:]:
            reason.active = False
        db.session.commit()
        return reasons[0].id


def _reason_row(html: str, reason_id: int) -> str:
    start = html.index(f'<li id="reason-{reason_id}"')
    return html[start:html.index("</li>", start)]


def _reason(app, reason_id: int):
    with app.app_context():
        reason = db.session.get(LostReason, reason_id)
        return None if reason is None else reason.active


@pytest.mark.parametrize("action,button", [("deactivate", "Deactivate"), ("delete", "Delete")])
def test_refused_reason_change_without_js_is_the_list_with_the_reason_in_its_row(
        app, admin_client_, action, button):
    rid = _only_one_active_reason(app)
    response = admin_client_.post(f"/admin/pipelines/lost-reasons/{rid}/{action}")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="reason-add"' in html
    row = _reason_row(html, rid)
    error_id = f"reason-{rid}-error"
    assert f'<p class="field-error row-error" id="{error_id}" role="alert">{LAST_ACTIVE}</p>' in row
    # the button pressed is the one described by the error
    described = re.findall(r'<button[^>]*aria-describedby="' + error_id + r'"[^>]*>([^<]+)</button>', row)
    assert described == [button]
    assert f'action="/admin/pipelines/lost-reasons/{rid}/{action}#reason-{rid}"' in row
    assert html.count('class="field-error') == 1 and html.count(LAST_ACTIVE) == 1
    assert _reason(app, rid) is True


def test_refused_reason_delete_with_htmx_still_sends_to_the_list(app, admin_client_):
    rid = _only_one_active_reason(app)
    response = admin_client_.post(f"/admin/pipelines/lost-reasons/{rid}/delete", headers=hx())
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/admin/pipelines/lost-reasons"
    page = admin_client_.get("/admin/pipelines/lost-reasons").get_data(as_text=True)
    assert LAST_ACTIVE in page and "row-error" not in page  # flashed
    assert _reason(app, rid) is True


def test_good_reason_changes_without_js_still_redirect(app, admin_client_):
    with app.app_context():
        first, second = [r.id for r in pipeline_services.ordered_lost_reasons()[:2]]
    for url in (f"/admin/pipelines/lost-reasons/{first}/deactivate",
                f"/admin/pipelines/lost-reasons/{first}/reactivate",
                f"/admin/pipelines/lost-reasons/{second}/delete"):
        response = admin_client_.post(url)
        assert response.status_code == 303, url
        assert response.headers["Location"] == "/admin/pipelines/lost-reasons", url
    assert _reason(app, first) is True and _reason(app, second) is None


def test_reason_changes_are_still_for_admins_only(app, client, login, make_user):
    rid = _only_one_active_reason(app)
    login(make_user("manager"))
    for action in ("deactivate", "delete"):
        assert client.post(f"/admin/pipelines/lost-reasons/{rid}/{action}").status_code == 403
    assert _reason(app, rid) is True
