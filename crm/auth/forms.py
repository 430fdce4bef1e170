"""Forms for logging in, first-run setup and one's own account."""
from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from crm.auth.passwords import MAX_PASSWORD_LENGTH, password_problem
from crm.models import User
from crm.validators import EmailAddress

LANGUAGE_CHOICES = [("zh_CN", "中文"), ("en", "English")]
COMMON_TIMEZONES = [
    "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo",
    "Asia/Seoul", "Asia/Kolkata", "Asia/Dubai", "Europe/London", "Europe/Berlin",
    "Europe/Paris", "America/New_York", "America/Chicago", "America/Los_Angeles",
    "Australia/Sydney", "UTC",
]


def timezone_choices():
    others = sorted(tz for tz in available_timezones() if "/" in tz and tz not in COMMON_TIMEZONES)
    return [(tz, tz) for tz in COMMON_TIMEZONES + others]


class StrongPassword:
    """The password rule (crm.auth.passwords) as a field validator. The email and name it is
    compared with are the form's own fields when it has them (setup, the admin's user form),
    else the signed-in user's (the account page)."""

    def __call__(self, form, field):
        email = getattr(form, "email", None)
        name = getattr(form, "name", None)
        problem = password_problem(
            field.data,
            email=email.data if email is not None else getattr(current_user, "email", None),
            name=name.data if name is not None else getattr(current_user, "name", None))
        if problem:
            raise ValidationError(problem)


def password_field(label):
    return PasswordField(label, validators=[
        DataRequired(message=_l("Enter a password.")), Length(max=MAX_PASSWORD_LENGTH),
        StrongPassword()])


class UniqueEmail:
    """The email must not belong to another user (case-insensitive)."""

    def __init__(self, exclude_id=None):
        self.exclude_id = exclude_id

    def __call__(self, form, field):
        existing = User.by_email(field.data or "")
        exclude = getattr(form, "_user_id", None)
        if existing and existing.id != exclude:
            raise ValidationError(_l("A user with this email already exists."))


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(message=_l("Enter your email.")),
                                                Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(message=_l("Enter your password.")),
                                                         Length(max=128)])
    remember = BooleanField(_l("Keep me logged in"))


class SetupForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[
        DataRequired(message=_l("Enter your name.")), Length(max=120)])
    email = EmailField(_l("Email"), validators=[
        DataRequired(message=_l("Enter your email.")),
        EmailAddress(message=_l("Enter a valid email address.")),
        Length(max=254)])
    password = password_field(_l("Password"))
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="zh_CN")
    timezone = SelectField(_l("Time zone"), default="Asia/Shanghai")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()


class AccountForm(FlaskForm):
    name = StringField(_l("Name"), validators=[
        DataRequired(message=_l("Enter your name.")), Length(max=120)])
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    timezone = SelectField(_l("Time zone"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[
        DataRequired(message=_l("Enter your current password.")), Length(max=128)])
    new_password = password_field(_l("New password"))
    confirm = PasswordField(_l("Repeat the new password"), validators=[
        EqualTo("new_password", message=_l("The two passwords differ.")), Length(max=128)])
