"""Values on their way in: a cell's text becomes what a field stores. Each function takes
the cell's text and returns the value, or raises ValueError with a message for the user.

- `text`: full-width letters, digits and punctuation become half-width (NFKC), spaces trimmed;
- `day`: 2026-03-05, 2026/3/5, 2026.3.5, 2026年3月5日, 20260305, 05/03/2026 (day first, as
  in China and Europe) or 3/5/2026 when the first number cannot be a day... "Mar 5, 2026",
  "5 March 2026", and Excel's times (2026-03-05 14:30);
- `amount`: ¥1,234.50, $1,234, 1.2万, 3亿, 1 234,5 is refused (ambiguous), 12元;
- `tags`: split on , ， 、 ; ；
- `choice`: an option's key or label, either language (crm/fields' Choice type)."""
import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l

TAG_SPLIT = re.compile(r"[,，、;；]")
_MONTHS = {name: number for number, names in enumerate(
    (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
     ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
     ("oct", "october"), ("nov", "november"), ("dec", "december")), start=1) for name in names}
_YMD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TIME_TAIL = re.compile(r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)$")
_WORDS_MDY = re.compile(r"([a-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})")
_WORDS_DMY = re.compile(r"(\d{1,2})\s+([a-z]+)\.?,?\s+(\d{4})")
_CURRENCY_SIGNS = "¥￥$€£元圆块"
_UNITS = {"万": Decimal(10_000), "亿": Decimal(100_000_000), "k": Decimal(1000),
          "m": Decimal(1_000_000)}


def text(value: str) -> str:
    """Half-width, trimmed, inner white space collapsed to one space."""
    value = unicodedata.normalize("NFKC", value or "")
    return " ".join(value.split())


def day(value: str) -> date | None:
    """A date from the formats in the module's docstring; None for an empty cell."""
    raw = text(value).lower()
    if not raw:
        return None
    raw = _TIME_TAIL.sub("", raw).strip()
    try:
        match = _YMD.fullmatch(raw)
        if match:
            return date(int(match[1]), int(match[2]), int(match[3]))
        match = _COMPACT.fullmatch(raw)
        if match:
            return date(int(match[1]), int(match[2]), int(match[3]))
        match = _DMY.fullmatch(raw)
        if match:
            first, second, year = int(match[1]), int(match[2]), int(match[3])
            if second > 12 >= first:  # 3/25/2026: month first
                return date(year, first, second)
            return date(year, second, first)
        match = _WORDS_MDY.fullmatch(raw)
        if match and match[1] in _MONTHS:
            return date(int(match[3]), _MONTHS[match[1]], int(match[2]))
        match = _WORDS_DMY.fullmatch(raw)
        if match and match[2] in _MONTHS:
            return date(int(match[3]), _MONTHS[match[2]], int(match[1]))
    except ValueError:
        raise ValueError(_l("There is no such date: %(value)s.", value=value)) from None
    raise ValueError(_l("Not a date: %(value)s (use 2026-03-05 or 2026年3月5日).", value=value))


def amount(value: str, places: int = 2) -> Decimal | None:
    """A Decimal amount; None for an empty cell."""
    raw = text(value).replace(" ", "")
    if not raw:
        return None
    negative = raw.startswith("-") or (raw.startswith("(") and raw.endswith(")"))
    raw = raw.strip("-()")
    for sign in _CURRENCY_SIGNS:
        raw = raw.replace(sign, "")
    for code in ("CNY", "RMB", "USD", "EUR", "HKD"):
        if raw.upper().startswith(code) or raw.upper().endswith(code):
            raw = raw.upper().replace(code, "")
    unit = Decimal(1)
    if raw and raw[-1].lower() in _UNITS:
        unit, raw = _UNITS[raw[-1].lower()], raw[:-1]
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?|\d+(\.\d+)?|\.\d+", raw) is None:
        raise ValueError(_l("Not an amount: %(value)s.", value=value))
    try:
        number = Decimal(raw.replace(",", "")) * unit
    except InvalidOperation:
        raise ValueError(_l("Not an amount: %(value)s.", value=value)) from None
    number = number.quantize(Decimal(1).scaleb(-places))
    if abs(number) >= Decimal(10) ** 12:
        raise ValueError(_l("This amount is too large: %(value)s.", value=value))
    return -number if negative else number


def whole(value: str) -> int | None:
    """A whole number (1,200 or 1200); None for an empty cell."""
    number = amount(value, places=0)
    return None if number is None else int(number)


def tags(value: str) -> list[str]:
    """Tag names, split on the separators, trimmed, without repeats (first spelling kept)."""
    seen, names = set(), []
    for part in TAG_SPLIT.split(text(value)):
        name = part.strip()[:80]
        if name and name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


def iso_day(value: str) -> str | None:
    """A date as crm/fields stores it (YYYY-MM-DD)."""
    parsed = day(value)
    return parsed.isoformat() if parsed else None


def moment(value: str) -> str | None:
    """A date (and time) as text crm/fields' datetime type reads (YYYY-MM-DDTHH:MM)."""
    raw = text(value)
    if not raw:
        return None
    for layout in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%dT%H:%M"):
        try:
            return datetime.strptime(raw, layout).strftime("%Y-%m-%dT%H:%M")
        except ValueError:
            continue
    return f"{day(raw).isoformat()}T00:00"
