"""The board as its pages print it: the cards worked out row by row (CardView, CardRow), and
the context of each page and fragment the board renders, read through crm.board.queries.

The board's routes render these; so does the stage route of crm.opportunities, which answers
a move made from the board (form field context=board) with the board's own pieces: the moved
card and the column heads (moved_card_context), the question why a deal was lost
(lost_form_context), and, posted without JavaScript, the board page again with the refusal on
the card (page_with_card_error).

Arguments that do not parse are refused as plain Python errors, which the routes answer:
LookupError for an unknown pipeline (404), ValueError for a malformed one (400).
"""
from datetime import date, datetime
from urllib.parse import parse_qsl, urlsplit

from flask import current_app, request, url_for
from flask_babel import gettext as _
from flask_babel import to_user_timezone
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from crm.board import queries
from crm.board.queries import BoardFilters
from crm.extensions import db
from crm.l10n import format_day, money, request_locale_id
from crm.models import Opportunity, Pipeline, Stage, utcnow
from crm.permissions import can_edit_opportunity
from crm.urls import IdUrl

TEMPLATE = "board/index.html"
COLUMN_TEMPLATE = "board/column.html"

# A move refused without JavaScript: opportunity id -> (why, the stage it asked for).
CardErrors = dict[int, tuple[str, int | None]]


class CardRow:
    """One card, everything it shows worked out in Python (CardView.rows): a board shows
    hundreds of cards, and a template calling a method per card and per mark spent most of
    the board's time in Jinja's call machinery. board/_macros.html's `card` only prints
    these. Text is escaped once here (Markup), so the template's autoescape passes it by."""

    __slots__ = ("id", "stage_id", "version", "status", "title", "close_iso", "color", "show_url",
                 "move_url", "marks", "customer", "amount", "manual_probability", "close",
                 "late", "owner", "rotting_title", "idle", "overdue", "movable", "options",
                 "stage_of", "error")


class CardView:
    """What a card needs besides its opportunity, computed once for all the cards shown:
    the pipeline's stages (for the select and the rotting days), the overdue marks, the
    user's permissions and the board URL the forms come back to."""

    def __init__(self, stages: list[Stage], overdue_ids: set[int], *, board_url: str,
                 filters: BoardFilters, now: datetime | None = None, user=None,
                 card_errors: CardErrors | None = None):
        self.stages = stages
        # A move refused without JavaScript, shown on that card with the stage still chosen
        # (page_with_card_error).
        self.card_errors = card_errors or {}
        self.stage_by_id = {stage.id: stage for stage in stages}
        # Translated once per response, not once per card (a board shows hundreds).
        self.stage_choices = [(stage.id, stage.display_name) for stage in stages]
        self.labels = {
            "close": _("Expected close date"), "no_close": _("No close date"),
            "owner": _("Owner"), "unassigned": _("Unassigned"), "overdue": _("Overdue task"),
            "move": _("Move"), "manual": _("Win probability set by hand"),
            "stage_of": _("Stage of %(title)s"),
        }
        self.overdue_ids = overdue_ids
        self.board_url = board_url
        self.filters = filters
        self.now = now or utcnow()
        self.today = to_user_timezone(self.now).date()
        # The user itself, not the current_user proxy: hundreds of cards ask about it.
        self.user = user if user is not None else current_user._get_current_object()
        self.main_currency = current_app.config.get("DEFAULT_CURRENCY", "CNY")
        # Per-card pieces that are the same on every card, built once per response: a
        # board renders hundreds of cards, and url_for, csrf_token and an eight-option
        # loop per card were most of its rendering time.
        self.csrf_token = generate_csrf()
        self._show_url = IdUrl("opportunities.show", "opportunity_id")
        self._move_prefix = f"{request.script_root}/opportunities/"
        self._options: dict[int | None, Markup] = {}

    def move_url(self, opportunity: Opportunity) -> str:
        """The stage route of crm.opportunities (a stable URL: POST /opportunities/<id>/stage)."""
        return f"{self._move_prefix}{opportunity.id}/stage"

    def stage_options(self, selected_id: int | None) -> Markup:
        """The move select's options with one stage selected (built once per stage)."""
        options = self._options.get(selected_id)
        if options is None:
            options = self._options[selected_id] = Markup("").join(
                Markup('<option value="{}"{}>{}</option>').format(
                    stage_id, Markup(" selected") if stage_id == selected_id else "", name)
                for stage_id, name in self.stage_choices)
        return options

    def rows(self, cards) -> list[CardRow]:
        """The cards ready to print, in their order (see CardRow)."""
        labels = self.labels
        locale_id = request_locale_id()  # looked up once, not per amount and date
        rotting_titles: dict[int, str] = {}
        shown = []
        for opp in cards:
            row = CardRow()
            stage = self.stage_by_id.get(opp.stage_id)
            row.id, row.stage_id, row.version, row.status = opp.id, opp.stage_id, opp.version, opp.status
            row.title = escape(opp.title)
            row.close_iso = opp.expected_close.isoformat() if opp.expected_close else ""
            row.color = escape(stage.color) if stage is not None else None
            row.show_url = self._show_url(opp.id)
            row.move_url = self.move_url(opp)
            rotting = queries.is_rotting(opp, stage, self.now)
            row.overdue = opp.id in self.overdue_ids
            row.marks = (" is-rotting" if rotting else "") + (" is-overdue" if row.overdue else "")
            row.customer = escape(opp.customer.name) if opp.customer is not None else ""
            row.amount = escape(money(opp.amount, opp.currency or "CNY", locale_id)
                                if opp.amount is not None else "")
            row.manual_probability = opp.probability_override
            if opp.expected_close:
                row.close = escape(format_day(opp.expected_close, "medium", locale_id))
                row.late = opp.status == "open" and opp.expected_close < self.today
            else:
                row.close, row.late = labels["no_close"], False
            row.owner = escape(opp.owner.name) if opp.owner is not None else labels["unassigned"]
            if rotting:
                title = rotting_titles.get(stage.id)
                if title is None:
                    title = rotting_titles[stage.id] = escape(_(
                        "No activity for longer than this stage allows (%(days)s days)",
                        days=stage.rotting_days))
                row.rotting_title = title
                row.idle = escape(_("Idle %(days)s days", days=queries.idle_days(opp, self.now)))
            else:
                row.rotting_title = row.idle = None
            error = self.card_errors.get(opp.id) if self.card_errors else None
            row.error = escape(error[0]) if error else None
            # Who may move a card: who may edit the opportunity (crm/permissions.py).
            row.movable = bool(self.stages) and can_edit_opportunity(self.user, opp)
            if row.movable:
                chosen = error[1] if error and error[1] in self.stage_by_id else opp.stage_id
                row.options = self.stage_options(chosen)
                row.stage_of = escape(labels["stage_of"] % {"title": opp.title})
            else:
                row.options = row.stage_of = None
            shown.append(row)
        return shown

    @staticmethod
    def card_url(opportunity: Opportunity) -> str:
        return url_for("board.card", opportunity_id=opportunity.id)

    def more_url(self, stage: Stage, last: Opportunity) -> str:
        return url_for("board.column", stage_id=stage.id,
                       after=last.expected_close.isoformat() if last.expected_close else "",
                       after_id=last.id, **self.filters.args())


def card_view(stages: list[Stage], cards, filters: BoardFilters, pipeline_id: int | None,
              now: datetime | None = None, back_url: str | None = None,
              card_errors: CardErrors | None = None) -> CardView:
    """The CardView of these cards, with their overdue marks (one query)."""
    now = now or utcnow()
    overdue = queries.overdue_opportunity_ids([c.id for c in cards], now)
    return CardView(stages, overdue, board_url=back_url or board_url(pipeline_id, filters),
                    filters=filters, now=now, card_errors=card_errors)


# --- URLs and arguments ---------------------------------------------------------------------

def board_url(pipeline_id: int | None, filters: BoardFilters) -> str:
    args = dict(filters.args())
    if pipeline_id is not None:
        args["pipeline"] = pipeline_id
    return url_for("board.index", **args)


def back_url_from(current: str | None, pipeline_id: int | None, filters: BoardFilters) -> str:
    """Where a plain form on the card comes back to: the page it is on, if it is ours."""
    if current:
        parts = urlsplit(current)
        if parts.path.startswith(f"{request.script_root}/pipeline"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return board_url(pipeline_id, filters)


def pipeline_from_args(pipelines: list[Pipeline], args) -> Pipeline | None:
    """The pipeline asked for (?pipeline=<id>; LookupError when unknown), else the first one."""
    wanted = args.get("pipeline", "").strip()
    if wanted:
        for pipeline in pipelines:
            if wanted.isdigit() and pipeline.id == int(wanted):
                return pipeline
        raise LookupError(f"no pipeline {wanted!r}")
    return pipelines[0] if pipelines else None


def after_args(args) -> tuple[date | None, int | None]:
    """The card a column's next page starts after: ?after=<close date>&after_id=<id>, either
    empty (ValueError when one does not parse)."""
    after = args.get("after", "").strip()
    after_id = args.get("after_id", "").strip()
    if after_id and not after_id.isdigit():
        raise ValueError(f"after_id {after_id!r}")
    return (date.fromisoformat(after) if after else None), (int(after_id) if after_id else None)


# --- What each page and fragment shows -------------------------------------------------------

def board_context(args, *, back_url: str, card_errors: CardErrors | None = None) -> dict | None:
    """The board for these query arguments: a column per stage of the chosen pipeline, with
    its count and totals. `card_errors`: see CardView; None when none of those cards is on
    the board."""
    pipelines = queries.pipelines()
    pipeline = pipeline_from_args(pipelines, args)
    filters = BoardFilters.from_args(args)
    now = utcnow()
    stages = queries.stages_of(pipeline.id) if pipeline else []
    summaries = queries.column_summaries(stages, filters, current_user, now)
    columns = queries.first_cards(stages, filters, current_user, now=now)
    shown = [card for cards in columns.values() for card in cards]
    if card_errors and not any(card.id in card_errors for card in shown):
        return None
    view = card_view(stages, shown, filters, pipeline.id if pipeline else None, now,
                     back_url=back_url, card_errors=card_errors)
    return {"pipelines": pipelines, "pipeline": pipeline, "stages": stages, "filters": filters,
            "summaries": summaries, "columns": columns, "board": view, "owners": queries.owners(),
            "totals": queries.board_totals(summaries, view.main_currency),
            "recent_days": queries.RECENT_DAYS}


def column_context(stage: Stage, args, *, back_url: str,
                   card_errors: CardErrors | None = None) -> dict | None:
    """A column's own page: its cards after ?after=<close date>&after_id=<id> (Load more
    without JavaScript). `card_errors`: as board_context."""
    filters = BoardFilters.from_args(args)
    after_close, after_id = after_args(args)
    now = utcnow()
    cards, has_more = queries.cards_after(stage, filters, current_user, after_close, after_id,
                                           now=now)
    if card_errors and not any(card.id in card_errors for card in cards):
        return None
    stages = queries.stages_of(stage.pipeline_id)
    view = card_view(stages, cards, filters, stage.pipeline_id, now, back_url=back_url,
                     card_errors=card_errors)
    summary = queries.column_summaries([stage], filters, current_user, now)[stage.id]
    return {"stage": stage, "cards": cards, "has_more": has_more, "board": view,
            "summary": summary, "filters": filters, "recent_days": queries.RECENT_DAYS,
            "back": board_url(stage.pipeline_id, filters), "first_page": after_id is None}


def more_cards_context(stage: Stage, args) -> dict:
    """A column's next cards for "Load more" (htmx): the cards to append and a new button."""
    filters = BoardFilters.from_args(args)
    after_close, after_id = after_args(args)
    now = utcnow()
    cards, has_more = queries.cards_after(stage, filters, current_user, after_close, after_id,
                                           now=now)
    stages = queries.stages_of(stage.pipeline_id)
    view = card_view(stages, cards, filters, stage.pipeline_id, now,
                     back_url=board_url(stage.pipeline_id, filters))
    return {"stage": stage, "cards": cards, "has_more": has_more, "board": view}


def card_context(opportunity: Opportunity, current: str | None) -> dict:
    """One card as the board page `current` (the htmx caller's page) shows it."""
    filters = BoardFilters.from_url(current)
    stages = queries.stages_of(opportunity.pipeline_id)
    view = card_view(stages, [opportunity], filters, opportunity.pipeline_id,
                     back_url=back_url_from(current, opportunity.pipeline_id, filters))
    return {"opp": opportunity, "board": view}


def moved_card_context(opportunity: Opportunity, from_stage_id: int | None, current: str | None,
                       *, every_head: bool = False) -> dict:
    """After a move from the board (blocks card, moved_heads, board_totals): the updated card,
    and out of band the heads of the column it left and the column it entered, plus the
    board's totals, all recomputed by one grouped query with the filters of the board page
    `current`. `every_head`: all the heads, when the page may show an older state (a refused
    stale move)."""
    filters = BoardFilters.from_url(current)
    now = utcnow()
    stages = queries.stages_of(opportunity.pipeline_id)
    summaries = queries.column_summaries(stages, filters, current_user, now)
    changed = []
    for stage_id in (list(summaries) if every_head else (from_stage_id, opportunity.stage_id)):
        if stage_id in summaries and summaries[stage_id] not in changed:
            changed.append(summaries[stage_id])
    view = card_view(stages, [opportunity], filters, opportunity.pipeline_id, now,
                     back_url=back_url_from(current, opportunity.pipeline_id, filters))
    return {"opp": opportunity, "board": view, "oob": True, "oob_summaries": changed,
            "recent_days": queries.RECENT_DAYS,
            "totals": queries.board_totals(summaries, view.main_currency)}


def lost_form_context(opportunity: Opportunity, target_stage: Stage, current: str | None) -> dict:
    """The card as a small form asking why the opportunity was lost (block lost_form): it
    posts the move again with the reason; Cancel puts the card back in its column."""
    filters = BoardFilters.from_url(current)
    view = CardView([], set(), filters=filters,
                    board_url=back_url_from(current, opportunity.pipeline_id, filters))
    return {"opp": opportunity, "board": view, "target_stage": target_stage}


def page_with_card_error(origin: str, opportunity: Opportunity, message: str,
                         chosen_stage_id: int | None = None) -> tuple[str, dict] | None:
    """A move from the board refused without JavaScript: the board page `origin` (a local
    URL: the form's `next`, else the Referer) again, as (template, context), with the message
    on that card and its select on the stage asked for. None when `origin` is no board page
    (or one that would be 404 or 400), or when that page does not show the card (filtered
    out, further down a long column)."""
    parts = urlsplit(origin)
    path, root = parts.path, request.script_root
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root):] or "/"
    back = path + (f"?{parts.query}" if parts.query else "")
    args = MultiDict(parse_qsl(parts.query, keep_blank_values=True))
    errors = {opportunity.id: (message, chosen_stage_id)}
    try:
        endpoint, view_args = current_app.create_url_adapter(request).match(path, method="GET")
        if endpoint == "board.index":
            context = board_context(args, back_url=back, card_errors=errors)
            return (TEMPLATE, context) if context is not None else None
        if endpoint == "board.column":
            stage = db.session.get(Stage, view_args["stage_id"])
            if stage is not None:
                context = column_context(stage, args, back_url=back, card_errors=errors)
                return (COLUMN_TEMPLATE, context) if context is not None else None
    except (HTTPException, LookupError, ValueError):  # not one of our pages, or a bad one
        return None
    return None
