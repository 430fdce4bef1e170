"""Opportunity forms: the full form, the list's filters, lost reason, competitors, links."""
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (DateField, DecimalField, FieldList, Form, FormField, HiddenField,
                     IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, StopValidation

CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY", "GBP", "SGD", "TWD", "KRW", "AUD", "CAD")
CURRENCY_CHOICES = [(c, c) for c in CURRENCIES]
MAX_MONEY = Decimal("999999999999.99")  # Numeric(14, 2)


def optional_int(value):
    """Coerce a select's value: "" means none; anything else must be an integer."""
    if value in (None, "", "None"):
        return None
    return int(value)


class Money:
    """A finite amount, not negative, at most two decimals, within the column's range."""

    def __call__(self, form, field):
        value = field.data
        if value is None:
            return
        if not value.is_finite():
            raise StopValidation(_l("Enter a number."))
        if value < 0:
            raise StopValidation(_l("The amount cannot be negative."))
        if value > MAX_MONEY:
            raise StopValidation(_l("The amount is too large."))
        if value.as_tuple().exponent < -2:
            raise StopValidation(_l("Use at most two decimals."))


class CompetitorForm(Form):
    """One competitor row (竞争对手): a name and what we know about them."""

    name = StringField(_l("Competitor"), validators=[Optional(), Length(max=200)])
    notes = StringField(_l("Notes"), validators=[Optional(), Length(max=2000)])


class OpportunityForm(FlaskForm):
    title = StringField(_l("Title"), validators=[
        DataRequired(message=_l("Enter a title.")), Length(max=200)])
    customer_id = HiddenField(_l("Customer"))
    customer_q = StringField(_l("Find a customer"), validators=[Optional(), Length(max=200)])
    contact_id = SelectField(_l("Contact"), coerce=optional_int, validate_choice=False,
                             validators=[Optional()])
    pipeline_id = SelectField(_l("Pipeline"), coerce=optional_int,
                              validators=[DataRequired(message=_l("Choose a pipeline."))])
    stage_id = SelectField(_l("Stage"), coerce=optional_int,
                           validators=[DataRequired(message=_l("Choose a stage."))])
    lost_reason_id = SelectField(_l("Lost reason"), coerce=optional_int, validators=[Optional()])
    lost_note = TextAreaField(_l("About the loss"), validators=[Optional(), Length(max=2000)])
    amount = DecimalField(_l("Amount"), places=2, default=Decimal("0"),
                          validators=[Optional(), Money()])
    currency = SelectField(_l("Currency"), choices=CURRENCY_CHOICES, default="CNY")
    expected_close = DateField(_l("Expected close date"), validators=[Optional()])
    probability_override = IntegerField(_l("Win probability (%)"), validators=[
        Optional(), NumberRange(min=0, max=100, message=_l("Between 0 and 100."))])
    owner_id = SelectField(_l("Owner"), coerce=optional_int,
                           validators=[DataRequired(message=_l("Choose an owner."))])
    source = StringField(_l("Source"), validators=[Optional(), Length(max=100)])
    needs = TextAreaField(_l("Needs"), validators=[Optional(), Length(max=10000)])
    budget = DecimalField(_l("Budget"), places=2, validators=[Optional(), Money()])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20000)])
    competitors = FieldList(FormField(CompetitorForm), min_entries=1, max_entries=30)
    version = HiddenField()

    def set_choices(self, *, pipelines, users, lost_reasons, contacts):
        """Fill the selects; stages are grouped by pipeline when there are several."""
        self.pipeline_id.choices = [(p.id, p.display_name) for p in pipelines]
        if len(pipelines) > 1:
            self.stage_id.choices = {p.display_name: [(s.id, s.display_name) for s in p.stages]
                                     for p in pipelines}
        else:
            self.stage_id.choices = [(s.id, s.display_name) for p in pipelines for s in p.stages]
        self.owner_id.choices = [(u.id, u.name) for u in users]
        self.lost_reason_id.choices = [("", "—")] + [(r.id, r.display_name) for r in lost_reasons]
        self.contact_id.choices = [("", "—")] + [(c.id, c.name) for c in contacts]

    def competitor_rows(self) -> list[tuple[str, str | None]]:
        """The filled competitor rows as (name, notes); empty rows are dropped."""
        rows = []
        for entry in self.competitors.entries:
            name = (entry.form.name.data or "").strip()
            if name:
                rows.append((name, (entry.form.notes.data or "").strip() or None))
        return rows


class LostForm(FlaskForm):
    """The inline question asked when entering a lost stage."""

    stage_id = HiddenField()
    lost_reason_id = SelectField(_l("Why was it lost?"), coerce=optional_int,
                                 validators=[DataRequired(message=_l("Choose why the opportunity was lost."))])
    lost_note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class CompetitorAddForm(FlaskForm):
    name = StringField(_l("Competitor"), validators=[
        DataRequired(message=_l("Enter the competitor's name.")), Length(max=200)])
    notes = StringField(_l("Notes"), validators=[Optional(), Length(max=2000)])


class RelatedForm(FlaskForm):
    related_id = SelectField(_l("Opportunity"), coerce=optional_int, validate_choice=False,
                             validators=[DataRequired(message=_l("Choose an opportunity."))])


STATUS_CHOICES = [("", _l("Any status")), ("open", _l("Open")), ("won", _l("Won")), ("lost", _l("Lost"))]
SORT_CHOICES = [
    ("close", _l("Close date")), ("amount", _l("Amount, largest first")),
    ("newest", _l("Newest")), ("title", _l("Title")),
]


class FilterForm(Form):
    """The list's filters, read from the query string (no CSRF: it only reads)."""

    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)])
    pipeline = SelectField(_l("Pipeline"), coerce=optional_int, validate_choice=False, validators=[Optional()])
    stage = SelectField(_l("Stage"), coerce=optional_int, validate_choice=False, validators=[Optional()])
    owner = SelectField(_l("Owner"), validate_choice=False, validators=[Optional()])
    status = SelectField(_l("Status"), choices=STATUS_CHOICES, validate_choice=False)
    close_from = DateField(_l("Closing from"), validators=[Optional()])
    close_to = DateField(_l("Closing until"), validators=[Optional()])
    amount_min = DecimalField(_l("Amount from"), validators=[Optional(), Money()])
    amount_max = DecimalField(_l("Amount up to"), validators=[Optional(), Money()])
    tag = SelectMultipleField(_l("Customer tags"), coerce=int, validate_choice=False,
                              validators=[Optional()])
    sort = SelectField(_l("Sort by"), choices=SORT_CHOICES, default="close", validate_choice=False)
    # One customer's opportunities (the customer page's "All N opportunities"); a hidden
    # input. The view checks the customer exists and may be seen, else ignores it.
    customer = IntegerField(_l("Customer"), validators=[Optional(), NumberRange(min=1, max=2**31 - 1)])
