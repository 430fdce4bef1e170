"""CSV and XLSX from chunks of rows (lists of cell values, crm.exports.columns.cell), as
generators of bytes: nothing holds the whole file in memory.

- CSV: UTF-8 with a byte order mark (so that Excel reads Chinese), or GB18030 (what Chinese
  Excel writes) without one; money as plain decimals (1234.50), dates 2026-12-03, times
  2026-12-03 09:30 in the user's zone.
- XLSX: crm/exports/xlsx.py's streaming writer (rows go into the zip's sheet as they come,
  to a temporary file); money as numbers with two decimals, dates and times as Excel dates.
  The finished workbook is then read back in pieces."""
import csv
import io
import tempfile
from datetime import date, datetime
from decimal import Decimal

from crm.exports.xlsx import write_xlsx

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


def xlsx_bytes(header: list[str], chunks, title: str = "Export"):
    """The XLSX file: built in a temporary file as the rows come, then read out in pieces."""
    with tempfile.TemporaryFile() as spool:
        write_xlsx(spool, header, chunks, title)
        spool.seek(0)
        while piece := spool.read(READ_SIZE):
            yield piece
