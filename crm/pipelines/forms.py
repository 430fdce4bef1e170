"""Forms for pipelines, stages and lost reasons (the rules themselves live in services.py)."""
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from flask_wtf import FlaskForm
from wtforms import ColorField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.validators import ValidationError

from crm.pipelines import services

KIND_CHOICES = [("open", _l("Open")), ("won", _l("Won")), ("lost", _l("Lost"))]
NAME_VALIDATORS = [DataRequired(message=_l("Enter a name.")),
                   Length(max=120, message=_l("Use at most %(max)d characters.", max=120))]


class PipelineForm(FlaskForm):
    name = StringField(_l("Name"), validators=NAME_VALIDATORS)

    def __init__(self, *args, pipeline=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._pipeline = pipeline

    def validate_name(self, field):
        if services.pipeline_name_taken(field.data or "", exclude=self._pipeline):
            raise ValidationError(_l("A pipeline with this name exists already."))


class NewPipelineForm(PipelineForm):
    start_from = SelectField(_l("Stages"), default="basic")

    def __init__(self, *args, pipelines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.start_from.choices = [("basic", _l("Three stages: new, won, lost"))] + [
            # str(): a lazy string counts as safe markup (flask_babel's __html__), so one holding
            # a user's text must be made a plain string before it is rendered.
            (str(p.id), str(_l("A copy of the stages of %(name)s", name=p.display_name)))
            for p in pipelines]


class StageForm(FlaskForm):
    name = StringField(_l("Name"), validators=NAME_VALIDATORS)
    probability = IntegerField(_l("Default win probability (%)"), validators=[
        InputRequired(message=_l("Enter a number from 0 to 100.")),
        NumberRange(min=0, max=100, message=_l("Enter a number from 0 to 100."))])
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES, default="open")
    color = ColorField(_l("Colour"), default="#3b82f6", validators=[
        DataRequired(message=_l("Choose a colour.")),
        Regexp(r"^#[0-9a-fA-F]{6}$", message=_l("Use a colour like #3b82f6."))])
    rotting_days = IntegerField(_l("Rotting after (days)"), validators=[
        Optional(), NumberRange(min=1, message=_l("Enter a whole number of days, at least 1, or leave it empty."))])
    playbook = TextAreaField(_l("Playbook"), validators=[
        Optional(), Length(max=5000, message=_l("Use at most %(max)d characters.", max=5000))])

    def __init__(self, *args, pipeline=None, stage=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._pipeline = pipeline
        self._stage = stage

    def validate_name(self, field):
        if self._pipeline is not None and services.stage_name_taken(
                self._pipeline, field.data or "", exclude=self._stage):
            raise ValidationError(_l("This pipeline has a stage with this name already."))

    def validate_playbook(self, field):
        errors = services.playbook_errors(field.data)
        if errors:
            raise ValidationError(" ".join(errors))

    def values(self) -> dict:
        return {"name": self.name.data, "probability": self.probability.data, "kind": self.kind.data,
                "color": self.color.data, "rotting_days": self.rotting_days.data,
                "playbook": self.playbook.data}


class RemoveStageForm(FlaskForm):
    destination_id = SelectField(_l("Move its opportunities to"), coerce=int, validate_choice=False)
    lost_reason_id = SelectField(_l("Lost reason for those without one"), coerce=int,
                                 validate_choice=False)

    def __init__(self, *args, destinations=(), counts=None, lost_reasons=(), **kwargs):
        super().__init__(*args, **kwargs)
        counts = counts or {}
        self.destination_id.choices = [(0, _l("Choose a stage"))] + [
            (s.id, str(lazy_ngettext("%(name)s (%(kind)s, %(num)d opportunity)",
                                     "%(name)s (%(kind)s, %(num)d opportunities)", counts.get(s.id, 0),
                                     name=s.display_name, kind=services.kind_label(s.kind))))
            for s in destinations]
        self.lost_reason_id.choices = [(0, _l("Choose a reason"))] + [
            (r.id, r.display_name) for r in lost_reasons]
        self._destinations = {s.id: s for s in destinations}
        self._lost_reasons = {r.id: r for r in lost_reasons}

    @property
    def destination(self):
        return self._destinations.get(self.destination_id.data or 0)

    @property
    def lost_reason(self):
        return self._lost_reasons.get(self.lost_reason_id.data or 0)


class LostReasonForm(FlaskForm):
    name = StringField(_l("Name"), validators=NAME_VALIDATORS)

    def __init__(self, *args, reason=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._reason = reason

    def validate_name(self, field):
        if services.lost_reason_name_taken(field.data or "", exclude=self._reason):
            raise ValidationError(_l("A lost reason with this name exists already."))
