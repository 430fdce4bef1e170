"""What every area's services raise when a business rule refuses a change.

    raise RuleError(_("Choose why the deal was lost."), field="lost_reason_id")

`str(error)` (and `error.message`) is the user's message, already translated or lazily
translatable; `field` names the form field it concerns, so that a route shows it beside that
field (or on top of the form when it is None). Areas subclass it to be caught apart
(`StageMoveError`, `TrashError`...), never to change its shape. A route shows one on its form
with `apply_rule_error(form, error)`."""


class RuleError(Exception):
    """A change the rules refuse; `field`: the form field at fault, if any."""

    def __init__(self, message="", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return str(self.message)


def apply_rule_error(form, error: RuleError) -> None:
    """Show a rule's refusal next to the field it concerns, else above the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
