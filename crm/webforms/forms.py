"""Capture's forms: an admin's web form and assignment rule, and the public form a WebForm
describes (its chosen inputs only; anything else posted is ignored)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, HiddenField, IntegerField, SelectField, SelectMultipleField,
                     StringField, TextAreaField)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from crm.fields.forms import with_custom_fields
from crm.models import LANGUAGES
from crm.validators import int_or_none
from crm.webforms.queries import LANGUAGE_NAMES, MODE_NAMES


class WebFormForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=100)])
    title = StringField(_l("Heading shown to visitors"), validators=[Optional(), Length(max=200)])
    language = SelectField(_l("Language"), choices=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES])
    fields = SelectMultipleField(_l("Fields"), validate_choice=True)
    thank_you = TextAreaField(_l("Thank-you text"), validators=[Optional(), Length(max=2000)])
    redirect_url = StringField(_l("Or redirect to"), validators=[Optional(), Length(max=500)])
    rule_id = SelectField(_l("Assignment rule"), coerce=int_or_none, validate_choice=True)
    source_id = SelectField(_l("Source"), coerce=int_or_none, validate_choice=True)
    campaign = StringField(_l("Campaign"), validators=[Optional(), Length(max=200)])
    frame_origins = TextAreaField(_l("Sites that may embed the form"),
                                  validators=[Optional(), Length(max=2000)])
    active = BooleanField(_l("Open to visitors"), default=True)

    def __init__(self, *args, field_choices=(), rules=(), sources=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.choices = list(field_choices)
        self.rule_id.choices = [(None, _l("None: leads go to the pool"))] + [(r.id, r.name) for r in rules]
        self.source_id.choices = [(None, "—")] + [(s.id, s.label) for s in sources]


class RuleForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=100)])
    mode = SelectField(_l("New leads go to"), choices=list(MODE_NAMES.items()))
    owner_id = SelectField(_l("Owner"), coerce=int_or_none, validate_choice=False)
    member_ids = SelectMultipleField(_l("In turn among"), coerce=int, validate_choice=False)
    contact_hours = IntegerField(_l("Contact within (hours)"), default=24,
                                 validators=[DataRequired(_l("Enter between 1 and 720 hours.")),
                                             NumberRange(min=1, max=720, message=_l("Enter between 1 and 720 hours."))])

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.owner_id.choices = [(None, "—")] + [(u.id, u.name) for u in users]
        self.member_ids.choices = [(u.id, u.name) for u in users]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


# The public form's built-in inputs, by name (crm.models.WEBFORM_FIELDS).
def _built_in(name: str):
    text = {"validators": [Optional(), Length(max=200)], "filters": [_strip]}
    return {
        "name": lambda: StringField(_l("Name"), filters=[_strip], validators=[
            DataRequired(_l("Enter your name.")), Length(max=200)]),
        "company": lambda: StringField(_l("Company"), **text),
        "title": lambda: StringField(_l("Title"), filters=[_strip], validators=[Optional(), Length(max=100)]),
        "phone": lambda: StringField(_l("Phone"), filters=[_strip], validators=[Optional(), Length(max=50)]),
        "mobile": lambda: StringField(_l("Mobile"), filters=[_strip], validators=[Optional(), Length(max=50)]),
        "email": lambda: StringField(_l("Email"), filters=[_strip], validators=[
            Optional(), Email(_l("Enter a valid email.")), Length(max=254)]),
        "wechat": lambda: StringField(_l("WeChat"), filters=[_strip], validators=[Optional(), Length(max=100)]),
        "region": lambda: StringField(_l("Region"), filters=[_strip], validators=[Optional(), Length(max=100)]),
        "address": lambda: StringField(_l("Address"), filters=[_strip], validators=[Optional(), Length(max=500)]),
        "message": lambda: TextAreaField(_l("Message"), filters=[_strip], validators=[Optional(), Length(max=5000)]),
    }[name]()


class PublicFormBase(FlaskForm):
    """No CSRF token: the page is framed on other sites, where the session cookie is not sent;
    the signed fill-time token (`token`) and the honeypot (`website`) guard it instead."""

    class Meta:
        csrf = False

    token = HiddenField()
    website = StringField(_l("Leave this empty"))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        reach = [self[name] for name in ("phone", "mobile", "email") if name in self]
        if reach and not any(f.data for f in reach):
            reach[0].errors = [*reach[0].errors, _l("Leave a phone number or an email, so we can reach you.")]
            return False
        return ok


def public_form_class(web_form, definitions):
    """The FlaskForm for `web_form`: its built-in inputs in its order, then its custom ones
    (crm.fields: validated by their type)."""
    attrs = {name: _built_in(name) for name in web_form.fields if not name.startswith("cf_")}
    base = type("PublicForm", (PublicFormBase,), attrs)
    chosen = set(web_form.fields)
    custom = [d for d in definitions if d.input_name in chosen]
    return with_custom_fields(base, "lead", definitions=custom) if custom else base
