"""The board's HTTP side: /pipeline, a column's further cards, one card (to cancel an inline
form). What they show is built in crm.board.queries; a card's move is the stage route of
crm.opportunities."""
from flask import Blueprint, abort, redirect, request
from flask_login import current_user

from crm.board import cards, queries
from crm.board.cards import COLUMN_TEMPLATE, TEMPLATE
from crm.board.queries import BoardFilters
from crm.extensions import db
from crm.htmx import block_for, current_url, fragment, render, targets
from crm.models import Stage
from crm.permissions import can_see_opportunity

bp = Blueprint("board", __name__)

# HX-Target -> the block of the board page that answers it.
PAGE_BLOCKS = {"board": "board"}


def _parsed(build, *args, **kwargs):
    """What `build` (a crm.board.queries context) gives for this request's arguments: 404 for
    an unknown pipeline, 400 for an argument that does not parse."""
    try:
        return build(*args, **kwargs)
    except LookupError:
        abort(404)
    except ValueError:
        abort(400)


@bp.route("/pipeline")
def index():
    """The board: a column per stage of the chosen pipeline, with its count and totals (for
    htmx aimed at #board, the board alone, with the page's title out of band)."""
    context = _parsed(cards.board_context, request.args, back_url=request.full_path.rstrip("?"))
    block = block_for(PAGE_BLOCKS)
    return render(TEMPLATE, block, oob=["board_title"] if block else None, title_oob=bool(block),
                  **context)


@bp.route("/pipeline/stages/<int:stage_id>")
def column(stage_id: int):
    """A column's next cards after ?after=<close date>&after_id=<id>: for "Load more" (htmx)
    the cards appended to the column and a new button; otherwise a page of its own."""
    stage = db.get_or_404(Stage, stage_id)
    if not targets(f"more-{stage.id}"):
        return render(COLUMN_TEMPLATE, None, **_parsed(
            cards.column_context, stage, request.args, back_url=request.full_path.rstrip("?")))
    return fragment(TEMPLATE, "more_cards", **_parsed(cards.more_cards_context, stage, request.args))


@bp.route("/pipeline/cards/<int:opportunity_id>")
def card(opportunity_id: int):
    """One card as the board shows it (Cancel on the lost-reason form puts it back)."""
    opportunity = queries.card(opportunity_id)
    if opportunity is None:
        abort(404)
    if not can_see_opportunity(current_user, opportunity):
        abort(403)
    if not targets(f"card-{opportunity.id}"):
        filters = BoardFilters.from_url(current_url())
        return redirect(cards.board_url(opportunity.pipeline_id, filters), 303)
    return fragment(TEMPLATE, "card", **cards.card_context(opportunity, current_url()))
