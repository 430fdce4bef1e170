"""The board: /pipeline, a column's further cards, one card (to cancel an inline form)."""
from flask import Blueprint, abort, redirect, request
from flask_login import current_user

from crm.board import services
from crm.board.services import BoardFilters
from crm.board.views import (TEMPLATE, back_url_from, board_page, board_url, card_view,
                             column_page, date_arg, int_arg)
from crm.extensions import db
from crm.htmx import fragment, targets
from crm.models import Stage, utcnow
from crm.permissions import can_see_opportunity

bp = Blueprint("board", __name__)


@bp.route("/pipeline")
def index():
    """The board: a column per stage of the chosen pipeline, with its count and totals."""
    return board_page(request.args, back_url=request.full_path.rstrip("?"))


@bp.route("/pipeline/stages/<int:stage_id>")
def column(stage_id: int):
    """A column's next cards after ?after=<close date>&after_id=<id>: for "Load more" (htmx)
    the cards appended to the column and a new button; otherwise a page of its own."""
    stage = db.get_or_404(Stage, stage_id)
    if not targets(f"more-{stage.id}"):
        return column_page(stage, request.args, back_url=request.full_path.rstrip("?"))
    filters = BoardFilters.from_args(request.args)
    after_close, after_id = date_arg(request.args, "after"), int_arg(request.args, "after_id")
    now = utcnow()
    cards, has_more = services.cards_after(stage, filters, current_user, after_close, after_id,
                                           now=now)
    stages = services.stages_of(stage.pipeline_id)
    view = card_view(stages, cards, filters, stage.pipeline_id, now,
                     back_url=_board_page(stage, filters))
    return fragment(TEMPLATE, "more_cards", stage=stage, cards=cards, has_more=has_more,
                    board=view)


def _board_page(stage: Stage, filters: BoardFilters) -> str:
    return board_url(stage.pipeline_id, filters)


@bp.route("/pipeline/cards/<int:opportunity_id>")
def card(opportunity_id: int):
    """One card as the board shows it (Cancel on the lost-reason form puts it back)."""
    opportunity = services.card(opportunity_id)
    if opportunity is None:
        abort(404)
    if not can_see_opportunity(current_user, opportunity):
        abort(403)
    filters = BoardFilters.from_url(request.htmx.current_url if request.htmx else None)
    if not targets(f"card-{opportunity.id}"):
        return redirect(board_url(opportunity.pipeline_id, filters), 303)
    stages = services.stages_of(opportunity.pipeline_id)
    view = card_view(stages, [opportunity], filters, opportunity.pipeline_id,
                     back_url=back_url_from(request.htmx.current_url, opportunity.pipeline_id,
                                              filters))
    return fragment(TEMPLATE, "card", opp=opportunity, board=view)
