"""The filters of the global audit log (a GET form: bookmarkable, no CSRF token needed)."""
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional

from crm.audit.queries import ACTION_NAMES, ENTITY_NAMES
from crm.validators import int_or_none


class LogFilterForm(FlaskForm):
    class Meta:
        csrf = False

    user = SelectField(_l("User"), coerce=int_or_none, validate_choice=False, validators=[Optional()])
    entity = SelectField(_l("Record type"), validate_choice=False, validators=[Optional()])
    action = SelectField(_l("Action"), validate_choice=False, validators=[Optional()])
    date_from = DateField(lazy_pgettext("date range", "From"), validators=[Optional()])
    date_to = DateField(_l("Until"), validators=[Optional()])
    q = StringField(_l("Record"), validators=[Optional(), Length(max=200)],
                    render_kw={"placeholder": _l("Name or ID")})

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.user.choices = [("", _l("Anyone"))] + [(u.id, u.name) for u in users]
        self.entity.choices = [("", _l("Any record"))] + list(ENTITY_NAMES.items())
        self.action.choices = [("", _l("Any action"))] + list(ACTION_NAMES.items())

    @property
    def is_filtered(self) -> bool:
        return any(f.data not in (None, "") for f in (self.user, self.entity, self.action,
                                                      self.date_from, self.date_to, self.q))
