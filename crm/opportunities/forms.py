"""Opportunity forms: the full form (with its cross-field checks), the list's filters, the
lost reason, competitors, links."""
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (DateField, DecimalField, FieldList, Form, FormField, HiddenField,
                     IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, StopValidation

from crm.models import Stage
from crm.opportunities.services import StageMoveError, check_stage_entry
from crm.permissions import can_see_customer

CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY", "GBP", "SGD", "TWD", "KRW", "AUD", "CAD")
CURRENCY_CHOICES = [(c, c) for c in CURRENCIES]
MAX_MONEY = Decimal("999999999999.99")  # Numeric(14, 2)


def optional_int(value):
    """Coerce a select's value: "" means none; anything else must be an integer (a WTForms
    coerce raises, so that the field says it did not understand; crm.validators.int_or_none
    is for values read leniently)."""
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

    def validate_with(self, customer, pipelines, user) -> Stage | None:
        """The form's own checks and the cross-field ones: the customer (one `user` may see),
        its contact, and whether the stage may be entered (check_stage_entry: the stage is the
        pipeline's, a lost stage needs a reason), its refusal shown on the field it names.
        Returns the chosen stage when everything holds."""
        ok = self.validate_on_submit()
        if customer is None:
            if self.customer_id.data:
                self.customer_id.errors = [_("This customer does not exist.")]
            else:
                self.customer_id.errors = [_("Choose the customer.")]
            ok = False
        elif not can_see_customer(user, customer):
            self.customer_id.errors = [_("This customer does not exist.")]
            ok = False
        if customer is not None and self.contact_id.data:
            if self.contact_id.data not in {c.id for c in customer.contacts}:
                self.contact_id.errors = list(self.contact_id.errors) + [
                    _("This contact is not one of the customer's.")]
                ok = False
        stage = {s.id: s for p in pipelines for s in p.stages}.get(self.stage_id.data)
        if stage is not None:
            try:
                check_stage_entry(self.pipeline_id.data, stage, self.lost_reason_id.data)
            except StageMoveError as error:
                field = getattr(self, error.field or "stage_id")
                field.errors = list(field.errors) + [str(error)]
                ok = False
        return stage if ok else None

    def fields(self) -> dict:
        """The columns the form sets besides title, customer, stage and owner (as
        create_opportunity and update_opportunity take them)."""
        return {
            "contact_id": self.contact_id.data or None,
            "amount": self.amount.data if self.amount.data is not None else Decimal("0"),
            "currency": self.currency.data,
            "expected_close": self.expected_close.data,
            "probability_override": self.probability_override.data,
            "source": (self.source.data or "").strip() or None,
            "needs": (self.needs.data or "").strip() or None,
            "budget": self.budget.data,
            "description": (self.description.data or "").strip() or None,
        }

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

    def set_choices(self, *, pipelines, users, tag_groups) -> None:
        """Fill the selects; a stage is named with its pipeline when there are several."""
        self.owner.choices = ([("", _("Everyone")), ("me", _("Mine")), ("none", _("No owner"))]
                              + [(str(u.id), u.name) for u in users])
        self.pipeline.choices = [("", _("All pipelines"))] + [(p.id, p.display_name) for p in pipelines]
        self.stage.choices = [("", _("All stages"))] + [
            (s.id, f"{s.display_name} · {p.display_name}" if len(pipelines) > 1 else s.display_name)
            for p in pipelines for s in p.stages]
        self.tag.choices = [(t.id, t.name) for g in tag_groups for t in g.tags]

    def values(self) -> dict:
        """The filter values that parsed; a bad value is shown with its error and ignored."""
        self.validate()
        return {name: (None if field.errors else field.data) for name, field in self._fields.items()}
