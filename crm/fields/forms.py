"""Forms of custom fields: the admin's definition form, and the `cf_<key>` inputs added to the
customer, contact and opportunity forms (`with_custom_fields`), validated by the field's type
(crm.fields.types: a ValueError's message shows beside the input; the input is kept)."""
from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, Field, HiddenField, SelectField, SelectMultipleField,
                     StringField, TextAreaField)
from wtforms.validators import Length, Optional, ValidationError

from crm.fields import queries
from crm.fields.types import CURRENCIES, TYPES, type_of
from crm.models import CustomField


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class FieldForm(FlaskForm):
    """An admin's definition of a custom field."""

    label_zh = StringField(_l("Label (Chinese)"), filters=[_strip], validators=[Length(max=100)])
    label_en = StringField(_l("Label (English)"), filters=[_strip], validators=[Length(max=100)])
    key = StringField(_l("Key"), filters=[_strip], validators=[Optional(), Length(max=40)])
    type = SelectField(_l("Type"), choices=[(name, kind.label) for name, kind in TYPES.items()],
                       default="text", validate_choice=False)
    required = BooleanField(_l("Required"))
    help_zh = StringField(_l("Help text (Chinese)"), filters=[_strip], validators=[Length(max=300)])
    help_en = StringField(_l("Help text (English)"), filters=[_strip], validators=[Length(max=300)])
    group_zh = StringField(_l("Group (Chinese)"), filters=[_strip], validators=[Length(max=100)],
                           description=_l("Fields with the same group are shown together under it."))
    group_en = StringField(_l("Group (English)"), filters=[_strip], validators=[Length(max=100)])
    show_in_list = BooleanField(_l("Show as a column of the list"))
    filterable = BooleanField(_l("Can be filtered on"))
    restricted = BooleanField(_l("Visible to managers and admins only"))

    def validate_type(self, field):
        if field.data not in TYPES:
            raise ValidationError(_l("Choose a type from the list."))

    def validate_label_zh(self, field):
        if not (self.label_zh.data or self.label_en.data):
            raise ValidationError(_l("Give the field a label in Chinese or English."))


# --- custom inputs on the record forms ---------------------------------------------------------

class MoneyInput(StringField):
    """An amount, with its currency posted as `<name>_currency`."""

    currency = ""

    def process(self, formdata, data=None, extra_filters=None):
        super().process(formdata, data, extra_filters)
        if formdata is not None and f"{self.name}_currency" in formdata:
            self.currency = formdata.get(f"{self.name}_currency") or ""


class _TypeCheck:
    """Parse the input as the field's type: its stored value lands in `form_field.parsed`."""

    def __init__(self, definition: CustomField):
        self.definition = definition

    def __call__(self, form, form_field):
        definition = self.definition
        raw = form_field.data
        if definition.type == "money":
            raw = (raw, getattr(form_field, "currency", "") or None)
        try:
            value = type_of(definition.type).parse(raw, queries.context_for(definition))
        except ValueError as error:
            form_field.parsed = None
            raise ValidationError(str(error)) from None
        if definition.required and value in (None, [], ""):
            raise ValidationError(_l("%(label)s is required.",
                                     label=definition.label(queries.locale_id())))
        form_field.parsed = value


def _form_field(definition: CustomField, locale: str) -> Field:
    label = definition.label(locale)
    checks = [_TypeCheck(definition)]
    kwargs = {"description": definition.help(locale), "validators": checks}
    kind = definition.type
    if kind == "long_text":
        return TextAreaField(label, **kwargs)
    if kind == "money":
        return MoneyInput(label, **kwargs)
    if kind in ("choice", "boolean", "user"):
        return SelectField(label, choices=[], validate_choice=False, **kwargs)
    if kind == "multi_choice":
        return SelectMultipleField(label, choices=[], validate_choice=False, **kwargs)
    return StringField(label, **kwargs)


def input_type(definition: CustomField) -> str:
    return {"integer": "text", "decimal": "text", "date": "date", "datetime": "datetime-local",
            "url": "url", "email": "email", "phone": "tel"}.get(definition.type, "text")


def with_custom_fields(form_class, record_type: str, user=None, definitions=None):
    """A subclass of `form_class` with a `cf_<key>` input per custom field of `record_type`
    that `user` may see (its definitions: queries.definitions), after the built-in ones."""
    definitions = queries.definitions(record_type, user) if definitions is None else definitions
    if not definitions:
        return form_class
    locale = queries.locale_id()
    attrs = {definition.input_name: _form_field(definition, locale) for definition in definitions}
    attrs["custom_definitions"] = list(definitions)
    return type(f"{form_class.__name__}WithCustomFields", (form_class,), attrs)


def prepare(form, record=None) -> None:
    """Fill the choices of the form's custom inputs and, on a GET (nothing posted), their
    values from `record`; mark the required ones."""
    definitions = getattr(form, "custom_definitions", [])
    locale = queries.locale_id()
    stored = (record.custom or {}) if record is not None else {}
    submitted = request.method == "POST" if request else False
    for definition in definitions:
        form_field = form[definition.input_name]
        ctx = queries.context_for(definition)
        value = stored.get(definition.key)
        if definition.type in ("choice", "multi_choice"):
            current = value if isinstance(value, list) else [value]
            blank = [] if definition.type == "multi_choice" else [("", "—")]
            form_field.choices = blank + [(o.key, o.label(locale)) for o in definition.options
                                          if not o.retired or o.key in current]
        elif definition.type == "boolean":
            form_field.choices = [("", "—"), ("yes", _l("Yes")), ("no", _l("No"))]
        elif definition.type == "user":
            form_field.choices = [("", "—")] + [(str(i), name) for i, name in queries.active_user_choices()]
        if definition.required:
            form_field.flags.required = True
        form_field.custom_definition = definition
        form_field.input_type = input_type(definition)
        if not submitted:
            form_field.data = type_of(definition.type).to_input(value, ctx)
            if definition.type == "money":
                form_field.currency = value["currency"] if value else ctx.currency
        elif definition.type == "money" and not form_field.currency:
            form_field.currency = ctx.currency
    form.currencies = CURRENCIES
    form.custom_locale = locale  # the groups' headings (templates/fields/_inputs.html)


def custom_values(form) -> dict:
    """{key: stored value} of the form's custom inputs (after validate())."""
    return {definition.key: getattr(form[definition.input_name], "parsed", None)
            for definition in getattr(form, "custom_definitions", [])}


def conflict_parts(form, record) -> dict:
    """What crm.concurrency.conflict_for needs to show the custom inputs beside the built-in
    ones in a 409: the names, what was typed, what is stored (as read now), the labels."""
    definitions = getattr(form, "custom_definitions", [])
    if not definitions:
        return {}
    names, submitted, stored, labels = [], {}, {}, {}
    locale = queries.locale_id()
    for definition in definitions:
        name = definition.input_name
        ctx = queries.context_for(definition)
        names.append(name)
        submitted[name] = type_of(definition.type).format(
            getattr(form[name], "parsed", None), locale, ctx) or form[name].data
        stored[name] = (lambda d=definition, c=ctx: type_of(d.type).format(
            (record.custom or {}).get(d.key), locale, c))
        labels[name] = definition.label(locale)
    return {"names": names, "submitted": submitted, "stored": stored, "labels": labels}


class InlineForm(FlaskForm):
    """One custom field edited in place on a record's page, with the record's version."""

    version = HiddenField()
