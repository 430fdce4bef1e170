"""A refused stage move from the opportunity page without JavaScript (a plain POST): the page
again (422) with the error beside the stage select, and nothing moved; permissions answer as
before (403). The htmx path (the widget, the message on top) is checked alongside."""
import pytest
from markupsafe import escape

from crm.opportunities.services import StageMoveError
from tests import factories
from tests.conftest import hx
from tests.nojs_helpers import (CHOOSE_STAGE, assert_stage_error, stage_form, stage_of,
                                version_of)

OTHER_PIPELINE = "This stage belongs to another pipeline."


# --- a refused stage move: the opportunity page ----------------------------------------------


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
                           data={"stage_id": posted, "version": version_of(app, opportunity_id)})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "ERP rollout 2026" in html and 'id="timeline-items"' in html
    form = stage_form(html)
    assert_stage_error(form, message)
    # a stage not in the select cannot stay chosen: the current one is
    assert f'<option value="{stages["discover"]}" selected>' in form
    assert html.count(escape(message)) == 1 and 'class="form-error"' not in html
    assert stage_of(app, opportunity_id) == stages["discover"]


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
    form = stage_form(response.get_data(as_text=True))
    assert_stage_error(form, "Not <yet>.")
    assert f'<option value="{stages["proposal"]}" selected>' in form
    assert f'<option value="{stages["discover"]}" selected>' not in form
    assert stage_of(app, opportunity_id) == stages["discover"]


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
    assert stage_of(app, opportunity_id) == stages["confirm"]


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
    assert stage_of(app, opportunity_id) == stages["discover"]
