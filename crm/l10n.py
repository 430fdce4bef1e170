"""Chinese and English: the locale and time zone of a request (the user's choice once
logged in, Accept-Language before that), and the template filters that show dates, times,
numbers and money in them.

Translation and formatting serve pages that show hundreds of values (a board of 400 cards,
a list of 50 rows with a dozen labels each), at a fraction of Flask-Babel's per-call cost.

Flask-Babel looks up its request context, the locale and the domain on every `_()` call
(about 10 µs); Babel re-applies a number pattern on every `format_currency` (about 50 µs)
and a date pattern on every `format_date`. Here:

- the translations object is looked up once per request and locale (`translations()`),
- money is formatted by Python's own `format()` into a shape learned once per locale and
  currency from Babel itself (prefix, suffix, separators, digits), falling back to Babel
  for anything the shape does not cover (negative amounts, unusual groupings),
- dates are memoized per locale, format and day (a board shows the same close dates many
  times), and the date and the time of a moment separately (a list of tasks due at 9:00
  formats "9:00 AM" once).

tests/test_l10n.py checks that the results equal Babel's.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.dates import get_datetime_format
from babel.lists import format_list
from babel.numbers import format_currency as babel_format_currency
from babel.numbers import get_currency_precision, get_decimal_symbol, get_group_symbol
from flask import current_app, g, request
from flask_babel import (format_datetime, format_decimal, get_locale, get_translations,
                         to_user_timezone)
from flask_login import current_user
from markupsafe import Markup, escape

from crm.extensions import babel

_SAMPLE = Decimal("1234567.89")


def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.language:
        return current_user.language
    return request.accept_languages.best_match(
        current_app.config["LANGUAGES"], default="en"
    ) if request else "en"


def select_timezone() -> str:
    if current_user and current_user.is_authenticated and current_user.timezone:
        return current_user.timezone
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def init_l10n(app) -> None:
    """Flask-Babel with the selectors above, our gettext in Jinja, and the filters."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    install_jinja_gettext(app)
    app.jinja_env.filters.update(money=money, number=number, dt=dt, d=d, dt_input=dt_input,
                                 nl2br=nl2br, due_state=due_state)

    @app.context_processor
    def locale_context():
        return {"current_locale": current_locale()}


def current_locale() -> str:
    """'zh_CN' or 'en' (Babel spells the Chinese locale zh_Hans_CN)."""
    locale = get_locale()
    return "zh_CN" if locale is not None and locale.language == "zh" else "en"


def translations():
    """This request's translations, looked up once per locale (a language change in the
    middle of a request, Flask-Babel's refresh() or force_locale, gives a new locale object
    and so a new lookup)."""
    ns = g.get("_flask_babel")
    locale = getattr(ns, "babel_locale", None) if ns is not None else None
    cached = g.get("_crm_translations")
    if cached is not None and locale is not None and cached[0] is locale:
        return cached[1]
    result = get_translations()
    ns = g.get("_flask_babel")
    g._crm_translations = (getattr(ns, "babel_locale", None), result)
    return result


def install_jinja_gettext(app) -> None:
    """Replace the Jinja gettext callables Flask-Babel installs with ones that use
    translations() (same newstyle behaviour: autoescaping and %(name)s variables)."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )


def _locale_id() -> str:
    locale = get_locale()
    return str(locale) if locale is not None else "en"


@lru_cache(maxsize=128)
def _money_shape(locale_id: str, currency: str):
    """(prefix, suffix, group symbol, decimal symbol, digits) of a positive amount, or
    None if Babel's output is not "prefix + grouped digits + suffix" in threes."""
    digits = get_currency_precision(currency)
    group, decimal = get_group_symbol(locale_id), get_decimal_symbol(locale_id)
    sample = babel_format_currency(_SAMPLE, currency, locale=locale_id)
    body = format(_SAMPLE.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN), f",.{digits}f")
    body = body.replace(",", "\0").replace(".", decimal).replace("\0", group)
    if sample.count(body) != 1:
        return None
    prefix, suffix = sample.split(body)
    if any(ch.isdigit() for ch in prefix + suffix):
        return None
    return prefix, suffix, group, decimal, digits


def money(amount, currency: str | None = "CNY", locale_id: str | None = None) -> str:
    """format_currency(amount, currency) in the request's locale (or `locale_id`, for a caller
    formatting hundreds of amounts that looked it up once: request_locale_id()); "" for None."""
    if amount is None:
        return ""
    currency = currency or "CNY"
    if locale_id is None:
        locale_id = _locale_id()
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        return babel_format_currency(amount, currency, locale=locale_id)
    shape = _money_shape(locale_id, currency)
    if shape is None or not value.is_finite() or value < 0:
        return babel_format_currency(value, currency, locale=locale_id)
    prefix, suffix, group, decimal, digits = shape
    body = format(value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN), f",.{digits}f")
    if group != "," or decimal != ".":
        body = body.replace(",", "\0").replace(".", decimal).replace("\0", group)
    return prefix + body + suffix


@lru_cache(maxsize=4096)
def _date(locale_id: str, value: date, fmt: str) -> str:
    return babel_format_date(value, fmt, locale=locale_id)


def format_day(value: date, fmt: str = "medium", locale_id: str | None = None) -> str:
    """format_date(value, fmt) in the request's locale (a date has no time zone)."""
    return _date(locale_id or _locale_id(), value, fmt)


def request_locale_id() -> str:
    """The request's locale as money() and format_day() take it."""
    return _locale_id()


@lru_cache(maxsize=64)
def _moment_pattern(locale_id: str, fmt: str) -> str:
    return get_datetime_format(fmt, locale=locale_id).replace("'", "")


@lru_cache(maxsize=8192)
def _clock(locale_id: str, value: time, fmt: str) -> str:
    return babel_format_time(value, fmt, locale=locale_id)


def format_moment(value: datetime, fmt: str = "medium") -> str:
    """Flask-Babel's format_datetime(value, fmt) for "short" and "medium": a UTC moment shown
    in the user's time zone and locale, put together from the memoized day and clock time as
    Babel does ({1} the date, {0} the time; these two formats name no time zone)."""
    if fmt not in ("short", "medium"):
        return format_datetime(value, fmt)
    local = to_user_timezone(value)
    locale_id = _locale_id()
    clock = local.time().replace(microsecond=0, tzinfo=None)
    if fmt == "short":
        clock = clock.replace(second=0)
    return (_moment_pattern(locale_id, fmt)
            .replace("{0}", _clock(locale_id, clock, fmt))
            .replace("{1}", _date(locale_id, local.date(), fmt)))


def join_list(items) -> str:
    """Items as a sentence lists them in the request's language: "A, B and C" in English
    ("A, B, and C" as CLDR writes it), "A、B和C" in Chinese; never a bare ", " join."""
    items = [str(item) for item in items]
    if not items:
        return ""
    return format_list(items, style="standard", locale=_locale_id())


# --- Template filters ---------------------------------------------------------------------------

def number(value) -> str:
    if value is None:
        return ""
    return format_decimal(value)


def dt(value: datetime | None, fmt: str = "medium") -> str:
    """A UTC datetime shown in the user's time zone and language."""
    if value is None:
        return ""
    return format_moment(value, fmt)


def d(value: date | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):  # the day it is in the user's zone
        return format_day(to_user_timezone(value).date(), fmt)
    return format_day(value, fmt)


def due_state(value: datetime | None) -> str:
    """"overdue" when the moment has passed, "today" when it falls later in the user's today
    (their zone), else "" (none, or a later day): the mark a next contact or a task wears."""
    if value is None:
        return ""
    now = datetime.now(timezone.utc)
    if value <= now:
        return "overdue"
    return "today" if to_user_timezone(value).date() == to_user_timezone(now).date() else ""


def dt_input(value: datetime | None) -> str:
    """The value of a datetime-local input, in the user's zone."""
    if value is None:
        return ""
    return to_user_timezone(value).strftime("%Y-%m-%dT%H:%M")


def nl2br(text: str | None) -> Markup:
    return Markup("<br>").join(escape(text or "").splitlines())
