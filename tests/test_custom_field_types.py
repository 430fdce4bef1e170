"""The types of custom fields (crm/fields/types.py): parsing, formatting in Chinese and
English, and conversion between types."""
from types import SimpleNamespace

import pytest

from crm.fields.types import TYPES, Context, convert

OPTIONS = [SimpleNamespace(key="web", label_zh="网站", label_en="Website", retired=False,
                           label=lambda locale, zh="网站", en="Website": zh if locale.startswith("zh") else en),
           SimpleNamespace(key="fair", label_zh="展会", label_en="Trade show", retired=False,
                           label=lambda locale, zh="展会", en="Trade show": zh if locale.startswith("zh") else en),
           SimpleNamespace(key="old", label_zh="旧", label_en="Old", retired=True,
                           label=lambda locale, zh="旧", en="Old": zh if locale.startswith("zh") else en)]
CTX = Context(options=OPTIONS, users={7: "Wang Fang"}, tz="Asia/Shanghai", currency="CNY")


def parse(kind, raw, ctx=CTX):
    return TYPES[kind].parse(raw, ctx)


def fmt(kind, value, locale, ctx=CTX):
    return TYPES[kind].format(value, locale, ctx)


@pytest.mark.parametrize("kind, raw, stored", [
    ("text", "  合同 HT-1 ", "合同 HT-1"), ("text", "", None), ("long_text", "a\nb", "a\nb"),
    ("integer", "1,200", 1200), ("integer", "-3", -3), ("integer", "7.0", 7),
    ("decimal", "3.750", "3.75"), ("decimal", "1,000.5", "1000.5"), ("decimal", "-0", "0"),
    ("money", ("1200.5", "usd"), {"amount": "1200.5", "currency": "USD"}),
    ("money", "99", {"amount": "99", "currency": "CNY"}),
    ("date", "2026-02-28", "2026-02-28"), ("date", "2026/3/5", "2026-03-05"),
    ("datetime", "2026-03-05T09:30", "2026-03-05T01:30:00Z"),
    ("datetime", "2026-03-05T01:30:00Z", "2026-03-05T01:30:00Z"),
    ("boolean", "yes", True), ("boolean", "no", False), ("boolean", "是", True), ("boolean", "", None),
    ("choice", "web", "web"), ("choice", "Trade show", "fair"), ("choice", "网站", "web"),
    ("multi_choice", ["fair", "web"], ["web", "fair"]), ("multi_choice", "web, 展会", ["web", "fair"]),
    ("multi_choice", [], None),
    ("url", "example.com/a", "https://example.com/a"), ("email", "a@example.com", "a@example.com"),
    ("phone", "+86 138 0000 0000", "+86 138 0000 0000"), ("user", "7", 7), ("user", "Wang Fang", 7),
])
def test_parse(kind, raw, stored):
    assert parse(kind, raw) == stored


@pytest.mark.parametrize("kind, raw", [
    ("text", "x" * 256), ("long_text", "x" * 10_001), ("integer", "12abc"), ("integer", "1.5"),
    ("integer", "1" + "0" * 15), ("decimal", "abc"), ("decimal", "1e5"), ("decimal", "1" * 16),
    ("decimal", "0.1234567"), ("money", "1" + "0" * 40), ("money", "1.234"), ("money", ("5", "XYZ")),
    ("date", "2026-02-30"), ("date", "tomorrow"), ("datetime", "2026-13-01T10:00"),
    ("datetime", "2026-01-01T25:00"), ("boolean", "maybe"), ("choice", "nope"),
    ("choice", "Old"),  # a retired option is not offered by its label
    ("multi_choice", ["web", "nope"]), ("url", "ftp:// x"), ("email", "not-an-email"),
    ("phone", "call me"), ("user", "8"),
])
def test_parse_refuses_with_a_message(kind, raw, app):
    with app.test_request_context():
        with pytest.raises(ValueError) as refused:
            parse(kind, raw)
        assert str(refused.value.args[0])  # a user-facing message


@pytest.mark.parametrize("kind, value, en, zh", [
    ("integer", 1234567, "1,234,567", "1,234,567"),
    ("decimal", "1234.5", "1,234.5", "1,234.5"),
    ("money", {"amount": "1200.5", "currency": "CNY"}, "CN¥1,200.50", "¥1,200.50"),
    ("money", {"amount": "3", "currency": "USD"}, "$3.00", "US$3.00"),
    ("date", "2026-03-05", "Mar 5, 2026", "2026年3月5日"),
    ("datetime", "2026-03-05T01:30:00Z", "3/5/26, 9:30\u202fAM", "2026/3/5 09:30"),
    ("choice", "fair", "Trade show", "展会"),
    ("multi_choice", ["web", "fair"], "Website, Trade show", "网站, 展会"),
    ("user", 7, "Wang Fang", "Wang Fang"),
    ("text", None, "", ""),
])
def test_format_in_english_and_chinese(kind, value, en, zh):
    assert fmt(kind, value, "en") == en
    assert fmt(kind, value, "zh_CN") == zh


def test_boolean_formats_in_the_request_language(app):
    from flask_babel import force_locale
    with app.test_request_context():
        with force_locale("en"):
            assert fmt("boolean", True, "en") == "Yes"
        with force_locale("zh_CN"):
            assert fmt("boolean", False, "zh_CN") == "否"


def test_datetime_round_trips_through_the_input_in_the_users_zone():
    stored = parse("datetime", "2026-03-05T09:30")
    assert TYPES["datetime"].to_input(stored, CTX) == "2026-03-05T09:30"


@pytest.mark.parametrize("value, old, new, converted", [
    (12, "integer", "decimal", "12"), ("12", "decimal", "integer", 12), ("12", "text", "integer", 12),
    (12, "integer", "text", "12"), ("Website", "text", "choice", "web"), ("web", "choice", "text", "Website"),
    ("web", "choice", "multi_choice", ["web"]), (["fair"], "multi_choice", "choice", "fair"),
    ("2026-03-05", "date", "datetime", "2026-03-05T00:00:00Z"), ("2026-03-05", "date", "text", "2026-03-05"),
    ("12.5", "decimal", "money", {"amount": "12.5", "currency": "CNY"}),
    ({"amount": "12.5", "currency": "USD"}, "money", "decimal", "12.5"),
    (True, "boolean", "text", "yes"), ("yes", "text", "boolean", True), (7, "user", "text", "Wang Fang"),
])
def test_conversions_that_work(value, old, new, converted):
    assert convert(value, old, new, CTX, CTX) == converted


@pytest.mark.parametrize("value, old, new", [
    ("12.5", "decimal", "integer"), ("many", "text", "integer"), ("Other", "text", "choice"),
    (["web", "fair"], "multi_choice", "choice"), ("2026-03-05T01:30:00Z", "datetime", "date"),
    ("x" * 300, "long_text", "text"), ("maybe", "text", "boolean"), ("hello", "text", "date"),
])
def test_conversions_that_do_not(value, old, new, app):
    with app.test_request_context():
        with pytest.raises(ValueError):
            convert(value, old, new, CTX, CTX)


def test_every_type_has_a_label_and_sql_kind():
    assert set(TYPES) == {"text", "long_text", "integer", "decimal", "money", "date", "datetime",
                          "boolean", "choice", "multi_choice", "url", "email", "phone", "user"}
    assert all(kind.sql and kind.label for kind in TYPES.values())
