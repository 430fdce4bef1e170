"""Forms of the import: the upload (the file field is `file`, the stable name), and the
mapping with the file's reading options and what to do on a match."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, SelectField
from wtforms.validators import ValidationError

from crm.imports.kinds import KINDS
from crm.imports.readers import DELIMITER_LABELS, ENCODING_LABELS

ON_MATCH_CHOICES = [("update", _l("Update the record it matches")),
                    ("skip", _l("Skip the row (keep the record as it is)")),
                    ("create", _l("Create a new record anyway"))]
MODE_CHOICES = [("valid", _l("Import every valid row; the others are rejected to fix")),
                ("all", _l("All or nothing: import only if every row is valid"))]


def _file_given(form, field):
    data = field.data
    if data is None or not getattr(data, "filename", ""):
        raise ValidationError(_l("Choose a CSV or Excel file."))


class UploadForm(FlaskForm):
    file = FileField(_l("File (CSV or Excel .xlsx, up to 50 MB)"), validators=[_file_given])
    kind = SelectField(_l("The rows are"), choices=[(k.name, k.label) for k in KINDS.values()],
                       default="customers")


class MappingForm(FlaskForm):
    encoding = SelectField(_l("Encoding"), choices=list(ENCODING_LABELS.items()))
    delimiter = SelectField(_l("Delimiter"), choices=list(DELIMITER_LABELS.items()))
    sheet = SelectField(_l("Sheet"), choices=[], validate_choice=False)
    on_match = RadioField(_l("When a row matches an existing record"), choices=ON_MATCH_CHOICES,
                          default="update")
    mode = RadioField(_l("Rows with problems"), choices=MODE_CHOICES, default="valid")


def column_choices(targets) -> list[tuple[str, str]]:
    """The choices of a column's select: nothing (not imported), then every field."""
    return [("", str(_l("— Do not import —")))] + [
        (t.key, str(t.label) + (" *" if t.required else "")) for t in targets]
