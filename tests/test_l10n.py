"""crm.l10n's fast formatting gives exactly what Babel gives, and its gettext follows a
language change in the middle of a request."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from flask_babel import force_locale, refresh

from crm import l10n

AMOUNTS = [Decimal(v) for v in (
    "0", "0.004", "0.005", "0.015", "0.025", "1", "9.995", "12.5", "999.994", "999.995", "1000",
    "1234.5", "99999.999", "1000000", "123456789.125", "98765432109876.54", "-0.01", "-1234.56",
)] + [0, 7, 1234567, 12.34]


@pytest.mark.parametrize("locale", ["en", "zh_Hans_CN", "de", "en_IN", "fr"])
@pytest.mark.parametrize("currency", ["CNY", "USD", "EUR", "JPY", "HKD", "KWD"])
def test_money_matches_babel(app, locale, currency):
    with app.test_request_context(), force_locale(locale):
        for amount in AMOUNTS:
            assert l10n.money(amount, currency) == format_currency(Decimal(amount), currency, locale=locale), \
                (locale, currency, amount)


def test_money_odd_values_fall_back_to_babel(app):
    with app.test_request_context(), force_locale("en"):
        assert l10n.money(Decimal("NaN"), "CNY") == format_currency(Decimal("NaN"), "CNY", locale="en")
        assert l10n.money("12.5", "USD") == "$12.50"


@pytest.mark.parametrize("locale", ["en", "zh_Hans_CN"])
def test_dates_match_babel(app, locale):
    start = date(2026, 1, 1)
    with app.test_request_context(), force_locale(locale):
        for offset in range(0, 400, 37):
            day = start + timedelta(days=offset)
            for fmt in ("short", "medium", "long"):
                assert l10n.format_day(day, fmt) == format_date(day, fmt, locale=locale)


def test_gettext_follows_the_locale_within_a_request(app, make_user):
    from flask_login import login_user
    user = make_user(language="en")
    with app.test_request_context():
        login_user(user)
        assert l10n.translations().ugettext("Customers") == "Customers"
        user.language = "zh_CN"
        refresh()
        assert l10n.translations().ugettext("Customers") == "客户"
        with force_locale("en"):
            assert l10n.translations().ugettext("Customers") == "Customers"
        assert l10n.translations().ugettext("Customers") == "客户"


def test_d_of_a_datetime_is_the_day_in_the_users_zone(app):
    from datetime import datetime, timezone

    from flask_babel import format_date as babel_rebased_date
    from flask_babel import refresh

    from crm.l10n import d
    with app.test_request_context():
        app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Shanghai"
        refresh()
        try:
            for moment in (datetime(2026, 3, 1, 15, 59), datetime(2026, 3, 1, 16, 0),
                           datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc)):
                for locale in ("en", "zh_Hans_CN"):
                    with force_locale(locale):
                        assert d(moment) == babel_rebased_date(moment), (moment, locale)
        finally:
            app.config["BABEL_DEFAULT_TIMEZONE"] = "UTC"


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "UTC"])
def test_moments_match_flask_babel(app, zone):
    """dt (crm.l10n.format_moment) gives Flask-Babel's format_datetime: the user's zone,
    daylight saving included, both locales, short and medium."""
    from datetime import datetime, timezone

    from flask_babel import format_datetime

    from crm.l10n import dt
    rng = __import__("random").Random(3)
    start = datetime(2026, 1, 1)
    with app.test_request_context():
        app.config["BABEL_DEFAULT_TIMEZONE"] = zone
        refresh()
        try:
            for _ in range(150):
                moment = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 400), seconds=rng.randrange(60))
                if rng.random() < 0.3:
                    moment = moment.replace(tzinfo=timezone.utc)
                for locale in ("en", "zh_Hans_CN"):
                    with force_locale(locale):
                        for fmt in ("short", "medium", "long"):
                            assert dt(moment, fmt) == format_datetime(moment, fmt), (moment, locale, fmt)
        finally:
            app.config["BABEL_DEFAULT_TIMEZONE"] = "UTC"
            refresh()


def test_lists_are_joined_as_each_language_writes_them(app):
    with app.test_request_context():
        with force_locale("en"):
            assert l10n.join_list(["Open", "Won", "Lost"]) == "Open, Won, and Lost"
            assert l10n.join_list(["Open"]) == "Open"
            assert l10n.join_list([]) == ""
        with force_locale("zh_CN"):
            assert l10n.join_list(["进行中", "赢单"]) == "进行中和赢单"
            assert l10n.join_list(["2 个联系人", "5 条跟进", "1 个任务"]) == "2 个联系人、5 条跟进和1 个任务"


def test_the_same_english_word_translates_by_its_context(client, make_user, login):
    """"From" heads the stage history (the stage it came from) and starts the audit log's date
    range: two meanings, two Chinese words."""
    admin = make_user("admin", language="zh_CN")
    login(admin)
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "起始日期" in html and "原阶段" not in html
