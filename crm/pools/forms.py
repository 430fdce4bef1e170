"""The public pool's forms: release, transfer, the admin's pool form (built per request with a
field per customer level and rule), levels, moving a pool's records, a user's own caps."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, IntegerField, SelectField, SelectMultipleField, StringField,
                     TextAreaField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from crm.pools.services import MAX_CAP, MAX_DAYS

RULE_LABELS = {"no_followup": _l("No follow-up for"), "no_open_opportunity": _l("No open opportunity for"),
               "not_won": _l("Not won for")}
ROLE_LABELS = {"sales": _l("Sales"), "manager": _l("Manager")}
CAP_RANGE = NumberRange(min=0, max=MAX_CAP, message=_l("Enter a whole number from 0 to 100,000."))
DAY_RANGE = NumberRange(min=1, max=MAX_DAYS, message=_l("Enter a number of days from 1 to 3650."))
ZERO_DAY_RANGE = NumberRange(min=0, max=MAX_DAYS, message=_l("Enter a number of days from 0 to 3650."))
NUMBER = _l("Enter a whole number.")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def cap_field(label):
    return IntegerField(label, validators=[Optional(), CAP_RANGE])


def days_field(label, *, zero=False, optional=False):
    checks = [Optional() if optional else DataRequired(message=NUMBER), ZERO_DAY_RANGE if zero else DAY_RANGE]
    if zero and not optional:
        checks[0] = Optional()
    return IntegerField(label, validators=checks)


class ReleaseForm(FlaskForm):
    reason = TextAreaField(_l("Why release it?"), validators=[
        DataRequired(message=_l("Say why you release it.")), Length(max=500)])


class TransferForm(FlaskForm):
    owner_id = SelectField(_l("New owner"), coerce=int, validate_choice=False)
    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=500)])


class LevelForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=80)])


class MoveForm(FlaskForm):
    target_id = SelectField(_l("Move them to"), coerce=int, validate_choice=False)


class UserLimitForm(FlaskForm):
    user_id = SelectField(_l("User"), coerce=int, validate_choice=False)
    own_cap = cap_field(_l("Ownership cap"))
    lock_cap = cap_field(_l("Lock cap"))


class PoolFormBase(FlaskForm):
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=80)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=80)])
    kind = SelectField(_l("Holds"), choices=[("customer", _l("Customers")), ("lead", _l("Leads"))])
    enabled = BooleanField(_l("Enabled"), default=True)
    mask_contacts = BooleanField(_l("Mask phones and emails for members until claimed"))
    member_roles = MultiCheckboxField(_l("Members by role"), choices=list(ROLE_LABELS.items()))
    member_users = SelectMultipleField(_l("Members by name"), coerce=int, validate_choice=False)
    own_cap = cap_field(_l("Ownership cap per person"))
    lock_cap = cap_field(_l("Lock cap per person"))
    daily_claims = cap_field(_l("Claims per person per day"))
    cooldown_days = days_field(_l("Cool-down before reclaiming (days)"), zero=True)
    won_count_towards_cap = BooleanField(_l("Won customers count towards the ownership cap"), default=True)
    no_followup_on = BooleanField(_l("Return after no follow-up"))
    no_followup_days = days_field(_l("Days without follow-up"))
    no_open_opportunity_on = BooleanField(_l("Return when no open opportunity"))
    no_open_opportunity_days = days_field(_l("Days since received"))
    not_won_on = BooleanField(_l("Return when not won"))
    not_won_days = days_field(_l("Days since received"))
    exempt_won = BooleanField(_l("Never return customers with a won opportunity"), default=True)
    exempt_open_opportunity = BooleanField(_l("Never return customers with an open opportunity"))
    warn_days = days_field(_l("Warn the owner this many days before"), zero=True)
    own_cap_sales = cap_field(_l("Ownership cap: sales"))
    lock_cap_sales = cap_field(_l("Lock cap: sales"))
    own_cap_manager = cap_field(_l("Ownership cap: managers"))
    lock_cap_manager = cap_field(_l("Lock cap: managers"))


RULE_NAMES = ("no_followup", "no_open_opportunity", "not_won")


def pool_form(levels, users, *, formdata=None, obj=None):
    """The pool form with one optional "days" field per rule and level (`<rule>_level_<id>`)."""
    attrs = {}
    for rule in RULE_NAMES:
        for level in levels:
            attrs[f"{rule}_level_{level.id}"] = days_field(level.label, optional=True)
    form_class = type("PoolForm", (PoolFormBase,), attrs)
    kwargs = {} if formdata is None else {"formdata": formdata}
    form = form_class(obj=obj, **kwargs)
    form.member_users.choices = [(u.id, u.name) for u in users]
    if obj is not None and formdata is None:
        form.member_roles.data = [m.role for m in obj.members if m.role]
        form.member_users.data = [m.user_id for m in obj.members if m.user_id]
        for row in obj.limits:
            if row.user_id is None and row.role in ROLE_LABELS:
                getattr(form, f"own_cap_{row.role}").data = row.own_cap
                getattr(form, f"lock_cap_{row.role}").data = row.lock_cap
        for rule, days in (obj.level_days or {}).items():
            for level_id, value in days.items():
                field = getattr(form, f"{rule}_level_{level_id}", None)
                if field is not None:
                    field.data = value
    form.level_fields = {rule: [(level, getattr(form, f"{rule}_level_{level.id}")) for level in levels]
                         for rule in RULE_NAMES}
    return form


POOL_VALUES = ("name_zh", "name_en", "kind", "enabled", "mask_contacts", "own_cap", "lock_cap",
               "daily_claims", "cooldown_days", "won_count_towards_cap", "no_followup_on",
               "no_followup_days", "no_open_opportunity_on", "no_open_opportunity_days",
               "not_won_on", "not_won_days", "exempt_won", "exempt_open_opportunity", "warn_days")


def pool_values(form) -> dict:
    values = {name: getattr(form, name).data for name in POOL_VALUES}
    values["cooldown_days"] = values["cooldown_days"] or 0
    values["warn_days"] = values["warn_days"] or 0
    return values


def role_caps(form) -> dict:
    return {role: (getattr(form, f"own_cap_{role}").data, getattr(form, f"lock_cap_{role}").data)
            for role in ROLE_LABELS}


def level_days(form) -> dict:
    return {rule: {str(level.id): field.data for level, field in form.level_fields[rule]}
            for rule in RULE_NAMES}
