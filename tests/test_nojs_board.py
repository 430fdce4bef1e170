"""A refused or stale stage move from the board (/pipeline, a column page) without JavaScript
(a plain POST): the board again (422, or 409) with the error on the card, the board's
filters kept, and nothing moved; when the card is not on the board it came from, the
opportunity page instead. The htmx path (a toast) is checked alongside."""
import re

import pytest
from markupsafe import escape

from crm.opportunities.services import StageMoveError
from tests.conftest import hx
from tests.nojs_helpers import (CHOOSE_STAGE, assert_stage_error, opening, stage_form,
                                stage_of, version_of)


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
    select = opening(card, f"move-{opportunity_id}")
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
        "stage_id": "999999", "context": "board", "version": version_of(app, moving),
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
    assert stage_of(app, moving) == stages["discover"]


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
    loaded = version_of(app, opportunity_id)
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
    assert f'data-version="{version_of(app, opportunity_id)}"' in card  # moves again from here
    assert stage_of(app, opportunity_id) == stages["negotiation"]


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
    assert_stage_error(stage_form(html), CHOOSE_STAGE)
    assert stage_of(app, opportunity_id) == stages["discover"]


def test_stale_board_move_without_js_whose_card_is_not_shown_is_the_opportunity_page(
        app, client, login, make_user, seller, build):
    other = make_user("sales", email="other@example.com")
    opportunity_id = build.opportunity(owner=seller)
    stages = build.stages()
    login(seller)
    url = f"/opportunities/{opportunity_id}/stage"
    loaded = version_of(app, opportunity_id)
    assert client.post(url, data={"stage_id": stages["confirm"], "version": loaded}).status_code == 303
    response = client.post(url, data={"stage_id": stages["proposal"], "context": "board",
                                      "version": loaded, "next": f"/pipeline?owner={other.id}"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="stage-widget"' in html and 'id="board"' not in html
    assert "while you were looking at it" in html
    assert f'<option value="{stages["confirm"]}" selected>' in stage_form(html)
    assert stage_of(app, opportunity_id) == stages["confirm"]


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
    assert stage_of(app, opportunity_id) == stages["confirm"]
