"""Chinese and English: the user's choice once logged in, Accept-Language before that."""
from flask import current_app, request
from flask_login import current_user

from crm.extensions import babel


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


def init_i18n(app) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
