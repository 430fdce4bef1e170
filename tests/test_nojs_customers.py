"""Bulk tagging on the customer list without JavaScript (a plain POST): a refused one is the
list again (422), with the same filters and page, the customers still checked and the error
beside the tag select, and nothing is saved. The htmx path is checked alongside."""
import re

import pytest

from crm.extensions import db
from crm.models import Customer
from tests.conftest import csrf_token_from, hx, session_user_id
from tests.nojs_helpers import opening

CHOOSE_TAG = "Choose a tag, then Add or Remove."
SELECT_ONE = "Select at least one customer."


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
    assert 'aria-invalid="true" aria-describedby="bulk-error"' in opening(bar, "bulk-tag")
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
    assert 'aria-describedby="bulk-error"' in opening(bar.replace("data-select-all", 'id="all"'), "all")
    assert 'aria-invalid' not in opening(bar, "bulk-tag")
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
