"""The types of custom fields, one class each: how a form input becomes a stored JSON value
(`parse`, or a ValueError whose message is shown beside the field), how a stored value reads
in a language and time zone (`format`), how it goes back into a form input (`to_input`),
and its plain text (`plain`), through which a type change converts values (`convert`).

Stored values are chosen so that SQL sorts and compares them (crm/fields/sql.py):
integers are JSON numbers (|n| < 10^15, exact in a double); decimals and money amounts are
canonical decimal strings, compared after a numeric CAST; dates "YYYY-MM-DD"; date-times
"YYYY-MM-DDTHH:MM:SSZ" in UTC; yes/no JSON booleans; a choice its option's key; a multiple
choice a JSON array of option keys; a user the user's id. An empty input stores nothing (the
key is absent), so "empty" is "IS NULL" for every type.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.numbers import format_currency, format_decimal
from flask_babel import lazy_gettext as _l

from crm.validators import is_email_address

TEXT_MAX = 255
LONG_TEXT_MAX = 10_000
URL_MAX = 500
INTEGER_LIMIT = 10**15
DECIMAL_DIGITS = 15  # before the point
DECIMAL_PLACES = 6
MONEY_DIGITS = 12
MONEY_PLACES = 2
CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY", "GBP")
_PHONE = re.compile(r"^[0-9+()\-.\s/ext]{3,50}$", re.IGNORECASE)
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
TRUE_WORDS = {"true", "yes", "y", "1", "on", "是"}
FALSE_WORDS = {"false", "no", "n", "0", "off", "否"}


@dataclass
class Context:
    """What parsing and formatting need beyond the value: the field's options, the users a
    user field may name ({id: name}), the user's time zone and the default currency."""

    options: list = field(default_factory=list)
    users: dict = field(default_factory=dict)
    tz: str = "UTC"
    currency: str = "CNY"

    def option(self, key):
        return next((option for option in self.options if option.key == key), None)


def _label(option, locale):
    return option.label(locale) if option is not None else ""


class FieldType:
    """A type: `sql` says how crm/fields/sql.py compares its values ("text", "number",
    "decimal", "money", "date", "datetime", "boolean", "choice", "multi", "user")."""

    name = ""
    sql = "text"
    label = _l("Short text")

    def parse(self, raw, ctx: Context):
        raise NotImplementedError

    def format(self, value, locale: str, ctx: Context) -> str:
        return "" if value is None else str(value)

    def to_input(self, value, ctx: Context):
        return "" if value is None else str(value)

    def plain(self, value, ctx: Context) -> str:
        return "" if value is None else str(value)

    @staticmethod
    def _text(raw) -> str:
        if isinstance(raw, (list, tuple)):
            raw = raw[0] if raw else ""
        return "" if raw is None else str(raw).strip()


class Text(FieldType):
    name, label = "text", _l("Short text")
    limit = TEXT_MAX

    def parse(self, raw, ctx):
        text = self._text(raw)
        if "\n" in text and self.limit == TEXT_MAX:
            text = " ".join(text.split())
        if len(text) > self.limit:
            raise ValueError(_l("Keep it under %(num)d characters.", num=self.limit))
        return text or None


class LongText(Text):
    name, label = "long_text", _l("Long text")
    limit = LONG_TEXT_MAX


class Integer(FieldType):
    name, sql, label = "integer", "number", _l("Whole number")

    def parse(self, raw, ctx):
        text = self._text(raw).replace(",", "").replace(" ", "")
        if not text:
            return None
        if not re.fullmatch(r"[+-]?\d+(\.0*)?", text):
            raise ValueError(_l("Enter a whole number, e.g. 42."))
        number = int(Decimal(text))
        if abs(number) >= INTEGER_LIMIT:
            raise ValueError(_l("Enter a smaller number (at most 15 digits)."))
        return number

    def format(self, value, locale, ctx):
        return "" if value is None else format_decimal(value, locale=locale)


def _decimal(text: str, digits: int, places: int, example: str) -> Decimal:
    text = text.replace(",", "").replace(" ", "")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        raise ValueError(_l("Enter a number, e.g. %(example)s.", example=example))
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(_l("Enter a number, e.g. %(example)s.", example=example)) from None
    whole = len(str(abs(int(number)))) if abs(number) >= 1 else 0
    if whole > digits:
        raise ValueError(_l("Enter a smaller number (at most %(num)d digits before the point).",
                            num=digits))
    if -number.as_tuple().exponent > places and number != number.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(_l("Enter at most %(num)d digits after the point.", num=places))
    return number


def canonical(number: Decimal) -> str:
    """A decimal as stored: no exponent, no trailing zeros ("12.5", "3")."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


class DecimalType(FieldType):
    name, sql, label = "decimal", "decimal", _l("Decimal number")

    def parse(self, raw, ctx):
        text = self._text(raw)
        if not text:
            return None
        return canonical(_decimal(text, DECIMAL_DIGITS, DECIMAL_PLACES, "3.75"))

    def format(self, value, locale, ctx):
        return "" if value is None else format_decimal(Decimal(value), format="#,##0.######",
                                                       locale=locale)


class Money(FieldType):
    """An amount and its currency: {"amount": "1234.5", "currency": "CNY"}. Raw input: the
    amount, or (amount, currency)."""

    name, sql, label = "money", "money", _l("Money")

    def parse(self, raw, ctx):
        currency = ctx.currency
        if isinstance(raw, tuple):
            raw, currency = raw[0], (raw[1] or ctx.currency)
        text = self._text(raw)
        if not text:
            return None
        currency = str(currency).strip().upper()
        if currency not in CURRENCIES:
            raise ValueError(_l("Choose a currency from the list."))
        amount = _decimal(text, MONEY_DIGITS, MONEY_PLACES, "1200.50")
        return {"amount": canonical(amount), "currency": currency}

    def format(self, value, locale, ctx):
        if not value:
            return ""
        return format_currency(Decimal(value["amount"]), value["currency"], locale=locale)

    def to_input(self, value, ctx):
        return value["amount"] if value else ""

    def plain(self, value, ctx):
        return value["amount"] if value else ""


class Date(FieldType):
    name, sql, label = "date", "date", _l("Date")

    def parse(self, raw, ctx):
        text = self._text(raw).replace("/", "-")
        if not text:
            return None
        match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
        if not match:
            raise ValueError(_l("Enter a date as YYYY-MM-DD."))
        try:
            day = date(*map(int, match.groups()))
        except ValueError:
            raise ValueError(_l("There is no such date.")) from None
        return day.isoformat()

    def format(self, value, locale, ctx):
        return "" if not value else babel_format_date(date.fromisoformat(value), "medium",
                                                      locale=locale)


class DateTime(FieldType):
    """A moment: typed in the user's zone (a datetime-local input), stored in UTC."""

    name, sql, label = "datetime", "datetime", _l("Date and time")

    def parse(self, raw, ctx):
        text = self._text(raw).replace("/", "-")
        if not text:
            return None
        if text.endswith("Z"):  # already UTC (a conversion, an import)
            moment = self._iso(text[:-1])
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        moment = self._iso(text.replace(" ", "T"))
        local = moment.replace(tzinfo=ZoneInfo(ctx.tz or "UTC"))
        return local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    @staticmethod
    def _iso(text: str) -> datetime:
        match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:T(\d{1,2}):(\d{2})(?::(\d{2}))?)?", text)
        if not match:
            raise ValueError(_l("Enter a date and time as YYYY-MM-DD HH:MM."))
        parts = [int(part) if part else 0 for part in match.groups()]
        try:
            return datetime(*parts)
        except ValueError:
            raise ValueError(_l("There is no such date or time.")) from None

    @staticmethod
    def moment(value) -> datetime:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)

    def format(self, value, locale, ctx):
        if not value:
            return ""
        local = self.moment(value).astimezone(ZoneInfo(ctx.tz or "UTC"))
        return babel_format_datetime(local, "short", tzinfo=ZoneInfo(ctx.tz or "UTC"), locale=locale)

    def to_input(self, value, ctx):
        if not value:
            return ""
        return self.moment(value).astimezone(ZoneInfo(ctx.tz or "UTC")).strftime("%Y-%m-%dT%H:%M")


class Boolean(FieldType):
    name, sql, label = "boolean", "boolean", _l("Yes / no")

    def parse(self, raw, ctx):
        if isinstance(raw, bool):
            return raw
        text = self._text(raw).lower()
        if not text:
            return None
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValueError(_l("Choose yes or no."))

    def format(self, value, locale, ctx):
        if value is None:
            return ""
        return str(_l("Yes") if value else _l("No"))

    def to_input(self, value, ctx):
        return "" if value is None else ("yes" if value else "no")

    def plain(self, value, ctx):
        return "" if value is None else ("yes" if value else "no")


class Choice(FieldType):
    """One option's key. Input: the key, or (conversions, imports) an option's label."""

    name, sql, label = "choice", "choice", _l("Single choice")

    def _key(self, text: str, ctx: Context):
        for option in ctx.options:
            if text == option.key:
                return option.key
        lowered = text.lower()
        for option in ctx.options:
            if lowered in (option.label_zh.lower(), option.label_en.lower()) and not option.retired:
                return option.key
        raise ValueError(_l("Choose one of the options."))

    def parse(self, raw, ctx):
        text = self._text(raw)
        return self._key(text, ctx) if text else None

    def format(self, value, locale, ctx):
        return "" if value is None else (_label(ctx.option(value), locale) or str(value))

    def plain(self, value, ctx):
        option = ctx.option(value) if value is not None else None
        return option.label("en") if option is not None else ("" if value is None else str(value))


class MultiChoice(Choice):
    """A list of option keys, in the options' order. Input: a list, or "a, b" (conversions)."""

    name, sql, label = "multi_choice", "multi", _l("Multiple choice")

    def parse(self, raw, ctx):
        if isinstance(raw, str):
            raw = [part for part in re.split(r"[,，;]", raw)]
        items = [str(item).strip() for item in (raw or ()) if str(item).strip()]
        if len(items) > 100:
            raise ValueError(_l("Choose fewer options."))
        keys = {self._key(item, ctx) for item in items}
        ordered = [option.key for option in ctx.options if option.key in keys]
        return ordered or None

    def format(self, value, locale, ctx):
        return ", ".join(_label(ctx.option(key), locale) or str(key) for key in value or ())

    def to_input(self, value, ctx):
        return list(value or ())

    def plain(self, value, ctx):
        return ", ".join(value or ())


class Url(Text):
    name, sql, label = "url", "text", _l("Web address")
    limit = URL_MAX

    def parse(self, raw, ctx):
        text = self._text(raw)
        if not text:
            return None
        if not re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
            text = "https://" + text
        if len(text) > self.limit or not _URL.match(text):
            raise ValueError(_l("Enter a web address, e.g. https://example.com."))
        return text


class Email(Text):
    name, sql, label = "email", "text", _l("Email")

    def parse(self, raw, ctx):
        text = self._text(raw)
        if not text:
            return None
        if len(text) > 254 or not is_email_address(text):
            raise ValueError(_l("Enter a valid email address."))
        return text


class Phone(Text):
    name, sql, label = "phone", "text", _l("Phone")

    def parse(self, raw, ctx):
        text = self._text(raw)
        if not text:
            return None
        if not _PHONE.match(text):
            raise ValueError(_l("Enter a phone number (digits, spaces, + - ( ) only)."))
        return text


class UserLink(FieldType):
    name, sql, label = "user", "user", _l("User")

    def parse(self, raw, ctx):
        text = self._text(raw)
        if not text:
            return None
        if not text.isdigit() or int(text) not in ctx.users:
            for user_id, name in ctx.users.items():  # a name (conversions from text)
                if name == text:
                    return user_id
            raise ValueError(_l("Choose a user from the list."))
        return int(text)

    def format(self, value, locale, ctx):
        return "" if value is None else ctx.users.get(value, f"#{value}")

    def plain(self, value, ctx):
        return "" if value is None else ctx.users.get(value, str(value))


TYPES: dict[str, FieldType] = {kind.name: kind for kind in (
    Text(), LongText(), Integer(), DecimalType(), Money(), Date(), DateTime(), Boolean(),
    Choice(), MultiChoice(), Url(), Email(), Phone(), UserLink())}
TEXT_TYPES = ("text", "long_text", "url", "email", "phone")  # what search as you type reads
CHOICE_TYPES = ("choice", "multi_choice")


def type_of(name: str) -> FieldType:
    return TYPES[name]


def convert(value, from_type: str, to_type: str, from_ctx: Context, to_ctx: Context):
    """The value a stored `value` of `from_type` becomes as `to_type`; ValueError when it
    does not convert. Through its plain text, parsed as the new type, except between types
    that store alike (text kinds, integer → decimal)."""
    if value is None or from_type == to_type:
        return value
    if from_type == "datetime" and to_type == "date":
        raise ValueError("a moment is not a day")
    if from_type == "date" and to_type == "datetime":
        return value + "T00:00:00Z"
    return TYPES[to_type].parse(TYPES[from_type].plain(value, from_ctx), to_ctx)
