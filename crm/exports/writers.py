"""CSV and XLSX from chunks of rows (lists of cell values, crm.exports.columns.cell), as
generators of bytes: nothing holds the whole file in memory.

- CSV: UTF-8 with a byte order mark (so that Excel reads Chinese), or GB18030 (what Chinese
  Excel writes) without one; money as plain decimals (1234.50), dates 2026-12-03, times
  2026-12-03 09:30 in the user's zone.
- XLSX: openpyxl's write-only workbook (rows go to a temporary file as they come); money as
  numbers with two decimals, dates and times as Excel dates. The finished workbook is then
  read back in pieces."""
import csv
import io
import tempfile
from datetime import date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

ENCODINGS = {"utf-8": "utf-8", "gb18030": "gb18030"}
BOM = "\ufeff"
READ_SIZE = 64 * 1024
MIMETYPES = {"csv": "text/csv",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def csv_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def csv_bytes(header: list[str], chunks, encoding: str = "utf-8"):
    """The CSV file, a chunk of rows at a time."""
    codec = ENCODINGS.get(encoding, "utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if codec == "utf-8":
        buffer.write(BOM)
    writer.writerow(header)
    yield buffer.getvalue().encode(codec)
    for rows in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([csv_text(value) for value in row] for row in rows)
        yield buffer.getvalue().encode(codec, errors="replace")


def _xlsx_cell(sheet, value, styles):
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    for kind, number_format in styles:
        if isinstance(value, kind):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = number_format
            return cell
    return value


def write_xlsx(target, header: list[str], chunks, title: str = "Export") -> None:
    """Write the workbook to `target` (a path or a binary file)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=ILLEGAL_CHARACTERS_RE.sub("", title)[:31] or "Export")
    bold = Font(bold=True)
    head = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", name))
        cell.font = bold
        head.append(cell)
    sheet.append(head)
    # datetime before date: a datetime is a date too.
    styles = ((datetime, "yyyy-mm-dd hh:mm"), (date, "yyyy-mm-dd"), (Decimal, "#,##0.00"))
    for rows in chunks:
        for row in rows:
            sheet.append([_xlsx_cell(sheet, value, styles) for value in row])
    book.save(target)


def xlsx_bytes(header: list[str], chunks, title: str = "Export"):
    """The XLSX file: built in a temporary file as the rows come, then read out in pieces."""
    with tempfile.TemporaryFile() as spool:
        write_xlsx(spool, header, chunks, title)
        spool.seek(0)
        while piece := spool.read(READ_SIZE):
            yield piece
