"""The follow-up note form."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

NOTE_KIND_CHOICES = [
    ("call", _l("Call")), ("visit", _l("Visit")), ("email", _l("Email")),
    ("meeting", _l("Meeting")), ("note", _l("Note")), ("other", _l("Other")),
]


class NoteForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=NOTE_KIND_CHOICES, default="call")
    body = TextAreaField(_l("What happened"), validators=[
        DataRequired(message=_l("Write what was said or done.")), Length(max=10000)])
    happened_at = DateTimeLocalField(_l("When"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    # 下次联系时间, in the user's zone; only the add form shows it (crm.notes.services.add_note).
    next_contact_at = DateTimeLocalField(_l("Next contact"), format="%Y-%m-%dT%H:%M",
                                         validators=[Optional()])
    customer_id = HiddenField()
    contact_id = HiddenField()
    opportunity_id = HiddenField()
    lead_id = HiddenField()
