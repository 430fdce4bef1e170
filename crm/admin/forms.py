"""Forms for managing users and the workspace settings."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from crm.auth.forms import (
    LANGUAGE_CHOICES,
    StrongPassword,
    UniqueEmail,
    password_field,
    timezone_choices,
)
from crm.auth.passwords import MAX_PASSWORD_LENGTH
from crm.validators import EmailAddress

ROLE_CHOICES = [("sales", _l("Sales")), ("manager", _l("Manager")), ("admin", _l("Administrator"))]


class UserForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=120)])
    email = EmailField(_l("Email"), validators=[
        DataRequired(message=_l("Enter an email.")),
        EmailAddress(message=_l("Enter a valid email address.")),
        Length(max=254), UniqueEmail()])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="sales")
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="zh_CN")
    timezone = SelectField(_l("Time zone"), default="Asia/Shanghai")
    password = password_field(_l("Initial password"))

    def __init__(self, *args, user_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._user_id = user_id
        self.timezone.choices = timezone_choices()


class EditUserForm(UserForm):
    password = StringField(_l("New password (leave empty to keep)"), validators=[
        Optional(), Length(max=MAX_PASSWORD_LENGTH), StrongPassword()])


class SettingsForm(FlaskForm):
    team_sees_everything = BooleanField(_l("The team sees everything"))
