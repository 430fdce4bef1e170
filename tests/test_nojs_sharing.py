"""The owner and sharing panel of the customer and opportunity pages without JavaScript (a
plain POST): a refused share or reassignment is the record's page again (422) with the error
beside the select, and nothing is saved; permissions answer as before (403, 404). The htmx
path (the panel, the message on top) is checked alongside."""
import pytest
from markupsafe import escape

from crm.extensions import db
from crm.models import Customer, Opportunity, User
from tests.conftest import csrf_token_from, hx, session_user_id


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
