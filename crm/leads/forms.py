"""The lead forms: the lead itself, a follow-up note, disqualify, convert, a scoring rule."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from crm.models import NOTE_KINDS


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "", "None") else None
    except (TypeError, ValueError):
        return None


class LeadForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the person's name.")),
                                               Length(max=200)])
    company = StringField(_l("Company"), validators=[Optional(), Length(max=200)])
    title = StringField(_l("Title"), validators=[Optional(), Length(max=100)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=50)])
    mobile = StringField(_l("Mobile"), validators=[Optional(), Length(max=50)])
    email = StringField(_l("Email"), validators=[Optional(), Email(_l("Enter a valid email.")),
                                                 Length(max=254)])
    wechat = StringField(_l("WeChat"), validators=[Optional(), Length(max=100)])
    region = StringField(_l("Region"), validators=[Optional(), Length(max=100)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=500)])
    source_id = SelectField(_l("Source"), coerce=_int_or_none, validate_choice=True)
    owner_id = SelectField(_l("Owner"), coerce=_int_or_none, validate_choice=True)
    # 客户级别 (crm/pools): optional, the levels in their order.
    level_id = SelectField(_l("Level"), coerce=_int_or_none, validate_choice=True)
    version = HiddenField()

    def __init__(self, *args, sources=(), owners=(), levels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.level_id.choices = [(None, "—")] + [(level.id, level.label) for level in levels]
        self.source_id.choices = [(None, "—")] + [(s.id, s.label) for s in sources]
        self.owner_id.choices = [(None, _l("Nobody"))] + [(u.id, u.name) for u in owners]


# The lead page edits these in place, one at a time (crm.leads.routes.field_*).
INLINE_FIELDS = ("company", "title", "phone", "mobile", "email", "wechat", "region", "address")


def inline_form(name: str, **kwargs) -> FlaskForm:
    """A form of one of LeadForm's INLINE_FIELDS (its validators) and the lead's version."""
    form_class = type(f"Lead_{name}_Form", (FlaskForm,),
                      {name: getattr(LeadForm, name), "version": HiddenField()})
    form = form_class(**kwargs)
    form[name].id = f"lead-inline-{name}"  # the page holds the full form's ids elsewhere
    return form


class DisqualifyForm(FlaskForm):
    reason_id = SelectField(_l("Reason"), coerce=_int_or_none, validate_choice=False)
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class ScoringRuleForm(FlaskForm):
    kind = SelectField(_l("Rule"), choices=[("base", _l("Base score")),
                                            ("tag", _l("Behaviour tag")),
                                            ("note_kind", _l("Kind of follow-up")),
                                            ("silence", _l("No contact for N days"))])
    tag_id = SelectField(_l("Tag"), coerce=_int_or_none, validate_choice=False)
    note_kind = SelectField(_l("Kind of follow-up"), choices=[("", "—")] + [(k, k) for k in NOTE_KINDS],
                            validate_choice=False)
    days = IntegerField(_l("Days"), validators=[Optional(), NumberRange(min=1, max=3650)])
    points = IntegerField(_l("Points"), validators=[DataRequired(_l("Enter the points.")),
                                                    NumberRange(min=-100, max=100)])
