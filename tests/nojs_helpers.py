"""What the no-JavaScript form tests (tests/test_nojs_*.py) read in a page: a field's wrapper
and the error beside it, an element's opening tag, the stage form of an opportunity page and
its error; and what an opportunity's stage and version are now."""
from markupsafe import escape

from crm.extensions import db
from crm.models import Opportunity

CHOOSE_STAGE = "Choose a stage."


def field(html: str, field_id: str) -> str:
    """The `.field` wrapper (label, input, hint, errors) around the input with this id."""
    at = html.index(f'id="{field_id}"')
    start = html.rindex('<div class="field', 0, at)
    return html[start:html.index("</div>", at)]


def assert_error_beside(html: str, field_id: str, message: str):
    block = field(html, field_id)
    assert "has-error" in block.split(">", 1)[0], block
    assert f'<p class="field-error" id="{field_id}-error">{escape(message)}</p>' in block, block
    assert 'aria-invalid="true"' in block and f'aria-describedby="{field_id}-error"' in block


def assert_no_errors(html: str, field_id: str):
    block = field(html, field_id)
    assert "has-error" not in block.split(">", 1)[0] and "field-error" not in block, block


def opening(html: str, tag_id: str) -> str:
    """The opening tag of the element with this id."""
    at = html.index(f'id="{tag_id}"')
    start = html.rindex("<", 0, at)
    return html[start:html.index(">", at) + 1]


def stage_of(app, opportunity_id) -> int:
    with app.app_context():
        return db.session.get(Opportunity, opportunity_id).stage_id


def version_of(app, opportunity_id) -> int:
    with app.app_context():
        return db.session.get(Opportunity, opportunity_id).version


def stage_form(html: str) -> str:
    start = html.index('<form class="stage-form')
    return html[start:html.index("</form>", start)]


def assert_stage_error(form: str, message: str):
    assert form.startswith('<form class="stage-form has-error"'), form[:80]
    assert 'aria-invalid="true" aria-describedby="stage-select-error"' in opening(form, "stage-select")
    assert f'<p class="field-error" id="stage-select-error">{escape(message)}</p>' in form
