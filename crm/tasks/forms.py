"""The task form: title, due date and time (in the user's zone), assignee, related record."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.extensions import db
from crm.models import Customer, Lead, Opportunity, User
from crm.permissions import can_edit_lead, current_viewer, visible_leads_clause, visible_record
from crm.validators import int_or_none


class DueField(DateTimeLocalField):
    """A datetime-local input whose parse error speaks the user's language."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(str(_l("Enter a date and time, e.g. 2025-03-01 14:30.")))


def parse_related(value: str | None) -> tuple[str | None, int | None]:
    """'customer:5' -> ('customer', 5); anything else -> (None, None)."""
    kind, _, raw_id = (value or "").partition(":")
    if kind in ("customer", "opportunity"):
        record_id = int_or_none(raw_id)
        if record_id is not None:
            return kind, record_id
    return None, None


class TaskForm(FlaskForm):
    title = StringField(_l("Task"), validators=[
        DataRequired(message=_l("Say what needs doing.")), Length(max=200)])
    due_at = DueField(_l("Due"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
                      validators=[Optional()])
    assignee_id = SelectField(_l("Assignee"), coerce=int_or_none, validate_choice=False)
    # The related record: on the full form one 'customer:ID' / 'opportunity:ID' value (or
    # empty for none); the panels on customer and opportunity pages send the two ids.
    related = StringField(_l("Related to"), validators=[Length(max=40)])
    related_q = StringField(_l("Find a customer or opportunity"), validators=[Length(max=200)])
    customer_id = HiddenField()
    opportunity_id = HiddenField()
    # The lead page's panel: a task on a lead (one the user may edit, not converted).
    lead_id = HiddenField()
    next = HiddenField()

    def __init__(self, *args, assignees: list[User] | None = None, task=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.assignees = assignees if assignees is not None else []
        self.assignee_id.choices = [(u.id, u.name) for u in self.assignees]
        # The task being edited: the record it is related to stays a choice even when the
        # user may not see it (their task on it stays theirs); any other record must be one
        # they may see.
        self.task = task
        self.related_customer = None
        self.related_opportunity = None
        self.related_lead = None

    def validate_assignee_id(self, field):
        if field.data is None:
            raise ValidationError(_l("Choose who does the task."))
        user = db.session.get(User, field.data)
        if user is None or not user.active:
            raise ValidationError(_l("Choose an active user."))
        self.assignee = user

    def uses_related_field(self) -> bool:
        """True when the full form's single related value was sent (not the panel's ids)."""
        return bool(getattr(self.related, "raw_data", None))

    def _find(self, model, record_id: int, kept_id: int | None):
        """The record, if it is the edited task's own (kept_id) or one the signed-in user may
        see: one they may not see is not found, exactly like one that does not exist."""
        if record_id == kept_id:
            return db.session.get(model, record_id)
        return visible_record(current_viewer(), model, record_id)

    def load_related(self) -> str | None:
        """Find the related customer / opportunity; the error message when one is missing
        (or hidden from the user: the same message, see _find)."""
        self.related_customer = self.related_opportunity = self.related_lead = None
        lead_id = int_or_none(self.lead_id.data)
        if lead_id is not None and not self.uses_related_field():
            viewer = current_viewer()
            lead = db.session.execute(db.select(Lead).where(
                Lead.id == lead_id, visible_leads_clause(viewer))).scalar_one_or_none()
            if lead is None or lead.read_only or not can_edit_lead(viewer, lead):
                return str(_l("That lead cannot take tasks."))
            self.related_lead = lead
            return None
        if self.uses_related_field():
            kind, record_id = parse_related(self.related.data)
            if self.related.data and kind is None:
                return str(_l("Choose a customer or an opportunity from the list."))
            customer_id = record_id if kind == "customer" else None
            opportunity_id = record_id if kind == "opportunity" else None
        else:
            customer_id = int_or_none(self.customer_id.data)
            opportunity_id = int_or_none(self.opportunity_id.data)
        task = self.task
        if opportunity_id is not None:
            self.related_opportunity = self._find(
                Opportunity, opportunity_id, task.opportunity_id if task is not None else None)
            if self.related_opportunity is None:
                return str(_l("That opportunity no longer exists."))
            self.related_customer = self.related_opportunity.customer
        elif customer_id is not None:
            kept = task.customer_id if task is not None and task.opportunity_id is None else None
            self.related_customer = self._find(Customer, customer_id, kept)
            if self.related_customer is None:
                return str(_l("That customer no longer exists."))
        return None

    def validate_related(self, field):
        error = self.load_related()
        if error:
            raise ValidationError(error)

    @property
    def related_value(self) -> str:
        """The current related record as the full form's single value."""
        if self.related_opportunity is not None:
            return f"opportunity:{self.related_opportunity.id}"
        if self.related_customer is not None:
            return f"customer:{self.related_customer.id}"
        return self.related.data or ""
