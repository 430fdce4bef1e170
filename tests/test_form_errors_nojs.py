"""Refused forms without JavaScript (a plain POST): the page the form lives on comes back with
422, the form holding what was posted and each error beside its field, and nothing is saved.
The htmx path of the same forms is checked alongside, unchanged: 422 with just the fragment.

Follow-up notes (on the customer page and on the opportunity page) and the colour picker of a
tag row on /tags, plus the colour of the add-a-tag form."""
import re
from decimal import Decimal

import pytest
from markupsafe import escape

from crm.extensions import db
from crm.models import Contact, Customer, Note, Pipeline, Tag, User
from crm.opportunities.services import create_opportunity
from crm.tags import services as tag_services
from tests.conftest import csrf_token_from, hx

BODY_REQUIRED = "Write what was said or done."
BAD_DATETIME = "Not a valid datetime value."
BAD_COLOUR = "A colour looks like #1a2b3c."
TYPED = "Called 王经理 about the <b>ERP</b> budget & timing"


# --- helpers ------------------------------------------------------------------------------

def _customer(app, owner_id=None, name="北京星辰科技", contact=None) -> tuple[int, int | None]:
    with app.app_context():
        customer = Customer(name=name, owner_id=owner_id)
        customer.rebuild_search_index()
        db.session.add(customer)
        contact_id = None
        if contact:
            person = Contact(name=contact, customer=customer)
            db.session.add(person)
            db.session.flush()
            contact_id = person.id
        db.session.commit()
        return customer.id, contact_id


def _opportunity(app, user_id, title="ERP rollout 2026") -> int:
    with app.app_context():
        user = db.session.get(User, user_id)
        pipeline = db.session.execute(
            db.select(Pipeline).where(Pipeline.key == "default")).scalar_one()
        stage = next(s for s in pipeline.stages if s.key == "discover")
        customer = Customer(name="上海云图", owner_id=user_id)
        customer.rebuild_search_index()
        db.session.add(customer)
        db.session.flush()
        opportunity = create_opportunity(title=title, customer=customer, stage=stage, user=user,
                                         amount=Decimal("1000"))
        db.session.commit()
        return opportunity.id


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


@pytest.fixture
def seller(make_user):
    return make_user("sales", email="seller@example.com", name="Sam Seller",
                     timezone="Asia/Shanghai")


# --- notes on the customer page -----------------------------------------------------------

def test_empty_note_without_js_is_the_customer_page_with_the_error_beside_the_body(
        app, client, login, seller):
    customer_id, _ = _customer(app, owner_id=seller.id)
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


def test_bad_date_without_js_keeps_the_typed_text_and_the_date(app, client, login, seller):
    customer_id, _ = _customer(app, owner_id=seller.id)
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


def test_too_long_note_without_js_keeps_all_of_it(app, client, login, seller):
    customer_id, _ = _customer(app, owner_id=seller.id)
    login(seller)
    body = "长" * 10_000 + "x"
    response = client.post("/notes", data={"kind": "call", "body": body,
                                           "customer_id": customer_id})
    assert response.status_code == 422
    form = _note_form(response.get_data(as_text=True))
    block = _field(form, "body")
    assert body in block and 'class="field-error" id="body-error"' in block and "10000" in block
    assert _note_count(app) == 0


def test_refused_note_for_a_contact_keeps_the_contact(app, client, login, seller):
    customer_id, contact_id = _customer(app, owner_id=seller.id, contact="王芳")
    login(seller)
    response = client.post("/notes", data={"kind": "call", "body": "",
                                           "customer_id": customer_id, "contact_id": contact_id})
    assert response.status_code == 422
    form = _note_form(response.get_data(as_text=True))
    assert _hidden(form, "contact_id") == str(contact_id)
    assert _hidden(form, "customer_id") == str(customer_id)
    _assert_error_beside(form, "body", BODY_REQUIRED)
    assert _note_count(app) == 0


def test_the_note_page_after_an_error_still_saves_once_corrected(app, client, login, seller):
    customer_id, _ = _customer(app, owner_id=seller.id)
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
        app, client, login, seller):
    opportunity_id = _opportunity(app, seller.id)
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

def test_refused_note_on_a_customer_i_may_not_see_is_403_not_its_page(
        app, client, login, make_user, seller):
    other = make_user("sales", email="other@example.com", name="Olga Other")
    customer_id, _ = _customer(app, owner_id=other.id, name="Hidden 隐藏客户")
    login(seller)
    response = client.post("/notes", data={"kind": "call", "body": "",
                                           "customer_id": customer_id})
    assert response.status_code == 403
    assert "Hidden 隐藏客户" not in response.get_data(as_text=True)
    assert _note_count(app) == 0


def test_note_without_js_and_with_csrf_checks(app, make_user):
    """The real thing: CSRF on. No token is 400; the 422 page carries a token that works."""
    assert app.config["WTF_CSRF_ENABLED"]
    user = make_user("sales", email="csrf@example.com")
    customer_id, _ = _customer(app, owner_id=user.id)
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = str(user.id)
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


def test_refused_note_with_htmx_is_still_the_form_fragment(app, client, login, seller):
    customer_id, _ = _customer(app, owner_id=seller.id)
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
def tags(app):
    with app.app_context():
        industry = tag_services.create_group(name="Industry", multiple=False)
        it = tag_services.create_tag(industry, name="IT", color="#336699")
        retail = tag_services.create_tag(industry, name="Retail", color="#aa5500")
        db.session.commit()
        return {"industry": industry.id, "it": it.id, "retail": retail.id}


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
