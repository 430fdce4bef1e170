"""Form validators, and form helpers, shared by several areas."""
from email_validator import EmailNotValidError, validate_email
from wtforms.validators import ValidationError

# Domains email-validator calls special-use, but teams do run mail on them internally.
INTRANET_SUFFIXES = (".local", ".lan", ".internal", ".corp", ".home.arpa")


def is_email_address(value: str) -> bool:
    """A syntactically valid address; intranet domains such as corp.local are allowed."""
    value = (value or "").strip()
    local, _, domain = value.rpartition("@")
    if local and domain.lower().endswith(INTRANET_SUFFIXES):
        value = f"{local}@{domain.split('.')[0] or 'x'}.example.com"
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


class EmailAddress:
    def __init__(self, message=None):
        self.message = message

    def __call__(self, form, field):
        if field.data and not is_email_address(field.data):
            raise ValidationError(self.message)


def unique_field_ids(form, prefix: str):
    """Give a form's fields ids of their own (`prefix` + the field's name), so several forms
    can share the page; returns the form."""
    for form_field in form:
        if form_field.type != "CSRFTokenField":
            form_field.id = f"{prefix}{form_field.name}"
    return form


def int_or_none(value) -> int | None:
    """A form or query value as an int; None when it is missing or not a whole number."""
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
