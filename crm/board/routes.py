"""The board: /pipeline, a column's further cards, one card (to cancel an inline form)."""
from datetime import date

from flask import abort, current_app, redirect, request
from flask_login import current_user

from crm.board import bp, services
from crm.board.services import BoardFilters
from crm.board.views import TEMPLATE, back_url_from, board_url, card_view
from crm.extensions import db
from crm.htmx import fragment, render, targets
from crm.models import Pipeline, Stage, utcnow
from crm.permissions import can_see_opportunity


def _pipeline_from_args(pipelines: list[Pipeline]) -> Pipeline | None:
    """The pipeline asked for (?pipeline=<id>; 404 when unknown), else the first one."""
    wanted = request.args.get("pipeline", "").strip()
    if wanted:
        if not wanted.isdigit():
            abort(404)
        for pipeline in pipelines:
            if pipeline.id == int(wanted):
                return pipeline
        abort(404)
    return pipelines[0] if pipelines else None


@bp.route("/pipeline")
def index():
    """The board: a column per stage of the chosen pipeline, with its count and totals."""
    pipelines = services.pipelines()
    pipeline = _pipeline_from_args(pipelines)
    filters = BoardFilters.from_args(request.args)
    now = utcnow()
    stages = services.stages_of(pipeline.id) if pipeline else []
    summaries = services.column_summaries(stages, filters, current_user, now)
    columns = services.first_cards(stages, filters, current_user, now=now)
    shown = [card for cards in columns.values() for card in cards]
    view = card_view(stages, shown, filters, pipeline.id if pipeline else None, now,
                     back_url=request.full_path.rstrip("?"))
    main_currency = current_app.config.get("DEFAULT_CURRENCY", "CNY")
    fragment_wanted = targets("board")
    return render(TEMPLATE, block="board" if fragment_wanted else None,
                  oob=["board_title"] if fragment_wanted else None, title_oob=fragment_wanted,
                  pipelines=pipelines, pipeline=pipeline, stages=stages, filters=filters,
                  summaries=summaries, columns=columns, board=view, owners=services.owners(),
                  totals=services.board_totals(summaries, main_currency),
                  recent_days=services.RECENT_DAYS)


def _date_arg(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        abort(400)
    return int(value)


@bp.route("/pipeline/stages/<int:stage_id>")
def column(stage_id: int):
    """A column's next cards after ?after=<close date>&after_id=<id>: for "Load more" (htmx)
    the cards appended to the column and a new button; otherwise a page of its own."""
    stage = db.get_or_404(Stage, stage_id)
    filters = BoardFilters.from_args(request.args)
    after_close, after_id = _date_arg("after"), _int_arg("after_id")
    now = utcnow()
    cards, has_more = services.cards_after(stage, filters, current_user, after_close, after_id,
                                           now=now)
    stages = services.stages_of(stage.pipeline_id)
    if targets(f"more-{stage.id}"):
        view = card_view(stages, cards, filters, stage.pipeline_id, now,
                         back_url=_board_page(stage, filters))
        return fragment(TEMPLATE, "more_cards", stage=stage, cards=cards, has_more=has_more,
                        board=view)
    view = card_view(stages, cards, filters, stage.pipeline_id, now,
                     back_url=request.full_path.rstrip("?"))
    summary = services.column_summaries([stage], filters, current_user, now)[stage.id]
    return render("board/column.html", stage=stage, cards=cards, has_more=has_more, board=view,
                  summary=summary, filters=filters, recent_days=services.RECENT_DAYS,
                  back=board_url(stage.pipeline_id, filters), first_page=after_id is None)


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
