"""Building the board's responses, shared by the board's routes and by the stage route of
crm.opportunities, which calls board_move_response / board_lost_reason_response when the
board (form field context=board) moved a card, and refused_move_page when such a move, posted
without JavaScript, is refused."""
from datetime import date, datetime
from urllib.parse import parse_qsl, urlsplit

from flask import abort, current_app, request, url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from flask_babel import gettext as _
from flask_babel import to_user_timezone
from flask_login import current_user

from crm.board import services
from crm.board.services import BoardFilters
from crm.extensions import db
from crm.l10n import format_day, money, request_locale_id
from crm.htmx import fragment, render, targets
from crm.models import LostReason, Opportunity, Pipeline, Stage, utcnow
from crm.permissions import can_edit_opportunity
from crm.urls import IdUrl, local_path

TEMPLATE = "board/index.html"


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
                 card_errors: dict[int, tuple[str, int | None]] | None = None):
        self.stages = stages
        # A move refused without JavaScript: opportunity id -> (why, the stage it asked for),
        # shown on that card with the stage still chosen (refused_move_page).
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
        self._moves_every_card = bool(self.user.is_authenticated and self.user.is_manager)
        self.main_currency = current_app.config.get("DEFAULT_CURRENCY", "CNY")
        # Per-card pieces that are the same on every card, built once per response: a
        # board renders hundreds of cards, and url_for, csrf_token and an eight-option
        # loop per card were most of its rendering time.
        self.csrf_token = generate_csrf()
        self._show_url = (IdUrl("opportunities.show", "opportunity_id")
                          if "opportunities.show" in current_app.view_functions else None)
        self._move_prefix = f"{request.script_root}/opportunities/"
        self._options: dict[int | None, Markup] = {}

    def can_move(self, opportunity: Opportunity) -> bool:
        if self._moves_every_card:  # managers and admins edit every opportunity
            return True
        return bool(self.user.is_authenticated and can_edit_opportunity(self.user, opportunity))

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
            row.show_url = self._show_url(opp.id) if self._show_url is not None else None
            row.move_url = self.move_url(opp)
            rotting = services.is_rotting(opp, stage, self.now)
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
                row.idle = escape(_("Idle %(days)s days", days=services.idle_days(opp, self.now)))
            else:
                row.rotting_title = row.idle = None
            error = self.card_errors.get(opp.id) if self.card_errors else None
            row.error = escape(error[0]) if error else None
            row.movable = bool(self.stages) and self.can_move(opp)
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


def board_url(pipeline_id: int | None, filters: BoardFilters) -> str:
    args = dict(filters.args())
    if pipeline_id is not None:
        args["pipeline"] = pipeline_id
    return url_for("board.index", **args)


def _origin() -> tuple[BoardFilters, str | None]:
    """The filters of the board page an htmx request came from (HX-Current-URL)."""
    current = request.htmx.current_url if request.htmx else None
    return BoardFilters.from_url(current), current


def card_view(stages: list[Stage], cards, filters: BoardFilters, pipeline_id: int | None,
              now: datetime | None = None, back_url: str | None = None,
              card_errors: dict[int, tuple[str, int | None]] | None = None) -> CardView:
    now = now or utcnow()
    overdue = services.overdue_opportunity_ids([c.id for c in cards], now)
    return CardView(stages, overdue, board_url=back_url or board_url(pipeline_id, filters),
                    filters=filters, now=now, card_errors=card_errors)


# The board's pages ----------------------------------------------------------------------------

def pipeline_from_args(pipelines: list[Pipeline], args) -> Pipeline | None:
    """The pipeline asked for (?pipeline=<id>; 404 when unknown), else the first one."""
    wanted = args.get("pipeline", "").strip()
    if wanted:
        if not wanted.isdigit():
            abort(404)
        for pipeline in pipelines:
            if pipeline.id == int(wanted):
                return pipeline
        abort(404)
    return pipelines[0] if pipelines else None


def board_page(args, *, back_url: str, status: int = 200,
               card_errors: dict[int, tuple[str, int | None]] | None = None):
    """The board for these query arguments: a column per stage of the chosen pipeline, with
    its count and totals (for htmx aimed at #board, the board alone). `card_errors`: see
    CardView; None is returned when none of those cards is on the board."""
    pipelines = services.pipelines()
    pipeline = pipeline_from_args(pipelines, args)
    filters = BoardFilters.from_args(args)
    now = utcnow()
    stages = services.stages_of(pipeline.id) if pipeline else []
    summaries = services.column_summaries(stages, filters, current_user, now)
    columns = services.first_cards(stages, filters, current_user, now=now)
    shown = [card for cards in columns.values() for card in cards]
    if card_errors and not any(card.id in card_errors for card in shown):
        return None
    view = card_view(stages, shown, filters, pipeline.id if pipeline else None, now,
                     back_url=back_url, card_errors=card_errors)
    main_currency = current_app.config.get("DEFAULT_CURRENCY", "CNY")
    fragment_wanted = targets("board")
    return render(TEMPLATE, block="board" if fragment_wanted else None,
                  oob=["board_title"] if fragment_wanted else None, title_oob=fragment_wanted,
                  status=status,
                  pipelines=pipelines, pipeline=pipeline, stages=stages, filters=filters,
                  summaries=summaries, columns=columns, board=view, owners=services.owners(),
                  totals=services.board_totals(summaries, main_currency),
                  recent_days=services.RECENT_DAYS)


def date_arg(args, name: str) -> date | None:
    value = args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400)


def int_arg(args, name: str) -> int | None:
    value = args.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        abort(400)
    return int(value)


def column_page(stage: Stage, args, *, back_url: str, status: int = 200,
                card_errors: dict[int, tuple[str, int | None]] | None = None):
    """A column's own page: its cards after ?after=<close date>&after_id=<id> (Load more
    without JavaScript). `card_errors`: as board_page."""
    filters = BoardFilters.from_args(args)
    after_close, after_id = date_arg(args, "after"), int_arg(args, "after_id")
    now = utcnow()
    cards, has_more = services.cards_after(stage, filters, current_user, after_close, after_id,
                                           now=now)
    if card_errors and not any(card.id in card_errors for card in cards):
        return None
    stages = services.stages_of(stage.pipeline_id)
    view = card_view(stages, cards, filters, stage.pipeline_id, now, back_url=back_url,
                     card_errors=card_errors)
    summary = services.column_summaries([stage], filters, current_user, now)[stage.id]
    return render("board/column.html", status=status, stage=stage, cards=cards,
                  has_more=has_more, board=view, summary=summary, filters=filters,
                  recent_days=services.RECENT_DAYS, back=board_url(stage.pipeline_id, filters),
                  first_page=after_id is None)


def refused_move_page(opportunity: Opportunity, message: str, *, status: int,
                      chosen_stage_id: int | None = None):
    """A move from the board refused without JavaScript (422: the rules; 409: someone else
    changed the opportunity meanwhile): the board page the card's form came from (its `next`,
    else the Referer) again with `status`, the message on that card and its select on the
    stage asked for (on the stage it is really in after a 409, since that card shows it as it
    is now). None when the form came from no board page, or when that page does not show
    the card (filtered out, further down a long column): the caller answers with the
    opportunity page."""
    origin = local_path(request.form.get("next")) or local_path(request.referrer)
    if origin is None:
        return None
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
            return board_page(args, back_url=back, status=status, card_errors=errors)
        if endpoint == "board.column":
            stage = db.session.get(Stage, view_args["stage_id"])
            if stage is not None:
                return column_page(stage, args, back_url=back, status=status, card_errors=errors)
    except HTTPException:  # not one of our pages, or one that would be 404 or 400
        return None
    return None


def board_move_response(opportunity: Opportunity, from_stage_id: int | None, *,
                        every_head: bool = False):
    """After a successful move from the board: the updated card, and out of band the headers
    of the column it left and the column it entered, plus the board's totals, all recomputed
    by one grouped query with the board's filters (read from the page's URL). `every_head`:
    all the headers, when the page may show an older state (a refused stale move)."""
    filters, current = _origin()
    now = utcnow()
    stages = services.stages_of(opportunity.pipeline_id)
    summaries = services.column_summaries(stages, filters, current_user, now)
    changed = []
    for stage_id in (list(summaries) if every_head else (from_stage_id, opportunity.stage_id)):
        if stage_id in summaries and summaries[stage_id] not in changed:
            changed.append(summaries[stage_id])
    view = card_view(stages, [opportunity], filters, opportunity.pipeline_id, now,
                     back_url=back_url_from(current, opportunity.pipeline_id, filters))
    return fragment(TEMPLATE, "card", "moved_heads", "board_totals",
                    opp=opportunity, board=view, oob=True, oob_summaries=changed,
                    recent_days=services.RECENT_DAYS,
                    totals=services.board_totals(summaries, view.main_currency))


def board_lost_reason_response(opportunity: Opportunity, target_stage: Stage, error_message):
    """422: the card becomes a small form asking why the opportunity was lost; it posts the
    move again with the reason; Cancel puts the card back in its column unchanged."""
    filters, current = _origin()
    reasons = list(db.session.execute(
        db.select(LostReason).where(LostReason.active.is_(True))
        .order_by(LostReason.position, LostReason.id)).scalars())
    submitted = "lost_reason_id" in request.form
    view = CardView([], set(), filters=filters,
                    board_url=back_url_from(current, opportunity.pipeline_id, filters))
    return fragment(TEMPLATE, "lost_form", status=422, opp=opportunity, board=view,
                    target_stage=target_stage, reasons=reasons,
                    error_message=str(error_message) if (error_message and submitted) else None,
                    selected_reason=request.form.get("lost_reason_id", ""),
                    lost_note=request.form.get("lost_note", ""))


def back_url_from(current: str | None, pipeline_id: int | None, filters: BoardFilters) -> str:
    """Where a plain form on the card comes back to: the page it is on, if it is ours."""
    if current:
        parts = urlsplit(current)
        if parts.path.startswith(f"{request.script_root}/pipeline"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return board_url(pipeline_id, filters)
