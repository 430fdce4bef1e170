"""Forms for tag groups and tags."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from crm.tags.services import COLOR_RE, DEFAULT_COLOR, group_name_taken, tag_name_taken
from crm.validators import int_or_none

CHOICE_CHOICES = [("single", _l("Single choice (one tag per customer)")),
                  ("multiple", _l("Multiple choice"))]


class ColorInput(StringField):
    """An <input type=color>; the server still checks the value is #rrggbb."""

    def __call__(self, **kwargs):
        kwargs.setdefault("type", "color")
        return super().__call__(**kwargs)


def color_field(label=_l("Colour")):
    return ColorInput(label, default=DEFAULT_COLOR, validators=[
        DataRequired(message=_l("Choose a colour.")),
        Regexp(COLOR_RE, message=_l("A colour looks like #1a2b3c."))])


class GroupForm(FlaskForm):
    name = StringField(_l("Group name"), validators=[
        DataRequired(message=_l("Enter a name.")), Length(max=80)])
    choice = SelectField(_l("Customers may have"), choices=CHOICE_CHOICES, default="single")

    def __init__(self, *args, group_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._group_id = group_id

    def validate_name(self, field):
        if field.data and group_name_taken(field.data, exclude_id=self._group_id):
            raise ValidationError(_l("A group with this name already exists."))

    @property
    def multiple(self) -> bool:
        return self.choice.data == "multiple"


class TagForm(FlaskForm):
    name = StringField(_l("Tag name"), validators=[
        DataRequired(message=_l("Enter a name.")), Length(max=80)])
    color = color_field()

    def __init__(self, *args, group=None, tag_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._group = group
        self._tag_id = tag_id

    def validate_name(self, field):
        if self._group is not None and field.data and tag_name_taken(
                self._group, field.data, exclude_id=self._tag_id):
            raise ValidationError(_l("This group already has a tag with this name."))


class ColorForm(FlaskForm):
    color = color_field()


class MergeForm(FlaskForm):
    """Choices: the other tags, by group; set by the view."""

    target_id = SelectField(_l("Merge into"), coerce=int_or_none, validate_choice=False)

    def validate_target_id(self, field):
        allowed = {value for options in dict(field.choices or {}).values() for value, _label in options}
        if field.data is None:
            raise ValidationError(_l("Choose the tag to keep."))
        if field.data not in allowed:
            raise ValidationError(_l("Choose one of the other tags."))
