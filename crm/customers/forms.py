"""Forms for customers, their contacts, tags and saved segments."""
import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, EmailField, Form, FormField, HiddenField, RadioField,
                     SelectField, SelectMultipleField, StringField, TextAreaField)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.models import CUSTOMER_SIZES
from crm.validators import EmailAddress, int_or_none

KIND_CHOICES = [("company", _l("Company")), ("individual", _l("Individual"))]
SIZE_CHOICES = [("", _l("— Unknown —"))] + [(size, size) for size in CUSTOMER_SIZES]
_PHONE = re.compile(r"^[0-9+()\-.\s/ext]{3,50}$", re.IGNORECASE)


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _empty_to_none(value):
    value = _strip(value)
    return value or None


def phone_check(form, field):
    """Digits, spaces and + ( ) - . only, so a phone number stays callable."""
    if field.data and not _PHONE.match(field.data):
        raise ValidationError(_l("Enter a phone number (digits, spaces, + - ( ) only)."))


def email_field(label):
    return EmailField(label, filters=[_empty_to_none], validators=[
        Optional(), EmailAddress(message=_l("Enter a valid email address.")), Length(max=254)])


def _website(value):
    value = _empty_to_none(value)
    if value and not re.match(r"^[a-z][a-z0-9+.-]*://", value, re.IGNORECASE):
        value = "https://" + value
    return value


class CustomerForm(FlaskForm):
    kind = RadioField(_l("Type"), choices=KIND_CHOICES, default="company")
    name = StringField(_l("Name"), filters=[_strip], validators=[
        DataRequired(message=_l("Enter the customer's name.")), Length(max=200)])
    industry = StringField(_l("Industry"), filters=[_empty_to_none], validators=[Length(max=100)])
    region = StringField(_l("Region"), filters=[_empty_to_none], validators=[Length(max=100)])
    city = StringField(_l("City"), filters=[_empty_to_none], validators=[Length(max=100)])
    size = SelectField(_l("Size (employees)"), choices=SIZE_CHOICES, default="",
                       filters=[_empty_to_none], validate_choice=False)
    source = StringField(_l("Source"), filters=[_empty_to_none], validators=[Length(max=100)])
    phone = StringField(_l("Phone"), filters=[_empty_to_none],
                        validators=[Length(max=50), phone_check])
    email = email_field(_l("Email"))
    website = StringField(_l("Website"), filters=[_website], validators=[Length(max=255)])
    address = StringField(_l("Address"), filters=[_empty_to_none], validators=[Length(max=500)])
    owner_id = SelectField(_l("Owner"), coerce=int_or_none, validate_choice=False)
    # 客户级别 (crm/pools): optional, the levels in their order.
    level_id = SelectField(_l("Level"), coerce=int_or_none, validate_choice=False)
    description = TextAreaField(_l("Description"), filters=[_empty_to_none],
                                validators=[Length(max=10000)])
    version = HiddenField()  # the version the form was loaded with (crm.concurrency)

    def __init__(self, *args, owners=(), levels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.owner_id.choices = [("", _l("— Nobody —"))] + [(user.id, user.name) for user in owners]
        self._owner_ids = {user.id for user in owners}
        self.level_id.choices = [("", "—")] + [(level.id, level.label) for level in levels]
        self._level_ids = {level.id for level in levels}

    def validate_size(self, field):
        if field.data and field.data not in CUSTOMER_SIZES:
            raise ValidationError(_l("Choose a size from the list."))

    def validate_level_id(self, field):
        if field.data is not None and field.data not in self._level_ids:
            raise ValidationError(_l("Choose a level from the list."))

    def validate_owner_id(self, field):
        if field.data is not None and field.data not in self._owner_ids:
            raise ValidationError(_l("Choose an owner from the list."))

    def validate_kind(self, field):
        if field.data not in dict(KIND_CHOICES):
            raise ValidationError(_l("Choose company or individual."))


FIRST_CONTACT_FIELDS = ("name", "title", "phone", "email")  # services.CONTACT_FIELDS


class ContactFields:
    """A contact's fields and their validation: the contact form's, and a new customer's first
    contact's (NewCustomerForm.contact)."""

    name = StringField(_l("Name"), filters=[_strip], validators=[
        DataRequired(message=_l("Enter the contact's name.")), Length(max=120)])
    title = StringField(_l("Job title"), filters=[_empty_to_none], validators=[Length(max=120)])
    phone = StringField(_l("Phone"), filters=[_empty_to_none],
                        validators=[Length(max=50), phone_check])
    email = email_field(_l("Email"))


class ContactForm(ContactFields, FlaskForm):
    is_primary = BooleanField(_l("Primary contact"))
    version = HiddenField()  # the version the form was loaded with (crm.concurrency)


class FirstContactForm(ContactFields, Form):
    """A new customer's first contact, optional: left entirely empty it is no contact (and no
    error); anything typed in it makes it a contact, with the contact form's rules (a name)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.name.flags.required = False  # no asterisk, no HTML `required`: the contact is optional

    def is_empty(self) -> bool:
        return not any(self[name].data for name in FIRST_CONTACT_FIELDS)

    def validate(self, extra_validators=None):
        if self.is_empty():
            return True
        return super().validate(extra_validators)


class NewCustomerForm(CustomerForm):
    """The customer form of a new customer: its first contact and its tags come with it (the
    tag groups with their tags: `tag_groups`). A tag id that is not one of those (deleted
    since, or never one) is refused as one that does not exist; the single-choice rule is
    crm.customers.services.check_tags's, asked by the route."""

    contact = FormField(FirstContactForm, label=_l("First contact"))
    tag_ids = SelectMultipleField(_l("Tags"), coerce=int_or_none, validate_choice=False)

    def __init__(self, *args, tag_groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.tag_groups = [group for group in tag_groups if group.tags]
        self._tags = {tag.id: tag for group in self.tag_groups for tag in group.tags}
        self.tag_ids.choices = [(tag_id, tag.name) for tag_id, tag in self._tags.items()]

    def validate_tag_ids(self, field):
        if any(tag_id not in self._tags for tag_id in field.data or ()):
            raise ValidationError(_l("One of the chosen tags no longer exists: choose again."))

    @property
    def chosen_tag_ids(self) -> set[int]:
        """The tags ticked (known ones), to show them ticked again."""
        return {tag_id for tag_id in self.tag_ids.data or () if tag_id in self._tags}

    @property
    def chosen_tags(self) -> list:
        """The Tag records ticked, in the order posted, each once."""
        return [self._tags[tag_id] for tag_id in dict.fromkeys(self.tag_ids.data or ())
                if tag_id in self._tags]

    @property
    def contact_fields(self) -> dict | None:
        """The first contact's CONTACT_FIELDS, or None when it was left empty."""
        if self.contact.form.is_empty():
            return None
        return {name: self.contact[name].data for name in FIRST_CONTACT_FIELDS}


class SegmentForm(FlaskForm):
    name = StringField(_l("Segment name"), filters=[_strip], validators=[
        DataRequired(message=_l("Give the segment a name.")), Length(max=120)])
    query = HiddenField()
