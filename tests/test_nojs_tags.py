"""/tags without JavaScript (a plain POST): a refused colour of a tag row, or a refused colour
in the add-a-tag form, is the tags page again (422) with what was posted and the error in
its row or beside its field, and nothing is saved. The htmx path is checked alongside."""
import pytest
from markupsafe import escape

from crm.extensions import db
from crm.models import Tag
from tests.conftest import hx
from tests.nojs_helpers import field

BAD_COLOUR = "A colour looks like #1a2b3c."


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
    block = field(html, f"g{gid}-color")
    assert 'value="blue"' in block and 'aria-invalid="true"' in block
    assert f'<p class="field-error" id="g{gid}-color-error">{escape(BAD_COLOUR)}</p>' in block
    assert f'action="/tags/groups/{gid}/tags#group-{gid}"' in html
    with app.app_context():
        assert db.session.query(Tag).count() == 2
