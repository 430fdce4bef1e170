"""/admin/pipelines without JavaScript (a plain POST): a refused pipeline delete, a stale or
garbled order of stages and a refused deactivation or deletion of the last active lost reason
are the page again (422) with the reason in the row or at the top of the form, and nothing is
saved. The htmx path (a redirect, a toast) is checked alongside."""
import re

import pytest

from crm.pipelines.services import ensure_defaults
from crm.extensions import db
from crm.models import LostReason, Pipeline, Stage
from crm.pipelines import services as pipeline_services
from crm.pipelines.routes import submitted_order
from tests.conftest import hx


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
