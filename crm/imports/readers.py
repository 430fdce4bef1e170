"""Reading an uploaded file, never whole into memory: what it is (CSV or XLSX, by its bytes,
not its name), its encoding and delimiter (CSV), its sheets (XLSX), and its rows one at a
time. Anything that is not a readable table is a FileRefused with a message for the user:
a PNG named .csv, a zip bomb named .xlsx, an empty file, no header row, too many columns, a
line longer than MAX_LINE characters, bytes that are not the chosen encoding, NUL bytes.

Encodings: a UTF-8 byte order mark says UTF-8; else a sample that decodes as UTF-8 is UTF-8;
else one that decodes as GB18030 (a superset of GBK and GB2312, what Chinese Excel saves) is
GB18030; else charset-normalizer's best guess among the encodings offered."""
import codecs
import csv
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time

from charset_normalizer import from_bytes
from flask_babel import lazy_gettext as _l

MAX_UPLOAD = 50 * 1024 * 1024
SAMPLE = 64 * 1024
MAX_LINE = 1024 * 1024          # characters in one physical line of a CSV
MAX_COLUMNS = 500
MAX_CELL = 100_000              # characters in one cell
# XLSX: the parts of the zip, uncompressed, may hold at most this much, and each at most
# this many times its compressed size (a zip bomb is far above both).
MAX_UNZIPPED = 500 * 1024 * 1024
MAX_RATIO = 200
ENCODINGS = ("utf-8", "gb18030", "big5", "utf-16", "latin-1")
ENCODING_LABELS = {"utf-8": "UTF-8", "gb18030": "GB18030 / GBK", "big5": "Big5",
                   "utf-16": "UTF-16", "latin-1": "Latin-1 (Western)"}
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_LABELS = {",": _l("Comma ,"), ";": _l("Semicolon ;"), "\t": _l("Tab"), "|": _l("Bar |")}

PNG, GIF, JPEG, PDF, ZIP = b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"%PDF", b"PK\x03\x04"


class FileRefused(ValueError):
    """The file is not a table this importer reads; the message says why, for the user."""


@dataclass
class Layout:
    """What the file is and how to read it."""
    fmt: str                       # csv or xlsx
    encoding: str | None = None    # csv
    delimiter: str | None = None   # csv
    sheets: tuple = ()             # xlsx
    sheet: str | None = None       # xlsx


def _sniff_kind(head: bytes, filename: str) -> str:
    if not head:
        raise FileRefused(_l("The file is empty."))
    if head.startswith(ZIP):
        return "xlsx"
    if head.startswith((PNG, GIF, JPEG, PDF)):
        raise FileRefused(_l("This is an image or a PDF, not a CSV or Excel file."))
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused(_l("This is an old Excel file (.xls): save it as .xlsx or CSV."))
    if filename.lower().endswith(".xlsx"):
        raise FileRefused(_l("This file is named .xlsx but is not an Excel workbook."))
    return "csv"


def detect_encoding(sample: bytes) -> str:
    """The encoding of a CSV from its first bytes (see the module's docstring)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "gb18030"):
        try:
            # The sample may end inside a character: decode incrementally, not final.
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    best = from_bytes(sample[:SAMPLE], cp_isolation=list(ENCODINGS)).best()
    name = (best.encoding if best is not None else "").replace("_", "-").lower()
    return {"big5": "big5", "latin-1": "latin-1", "latin_1": "latin-1"}.get(name, "gb18030")


def _mixes_utf8(sample: bytes) -> bool:
    """Whole lines of the sample that are UTF-8 with Chinese (or other non-ASCII) text beside
    lines that are not UTF-8: a file pasted together from two encodings."""
    utf8 = other = False
    for line in sample.split(b"\n")[:-1]:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            other = True
        if utf8 and other:
            return True
    return False


def codec_of(encoding: str) -> str:
    """The Python codec that reads `encoding` (UTF-8 drops a byte order mark)."""
    return "utf-8-sig" if encoding == "utf-8" else encoding


def detect_delimiter(text: str) -> str:
    lines = text.splitlines()[:20]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        first = lines[0] if lines else ""
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _check_zip(path) -> list[str]:
    """The sheets of a workbook after checking its zip is no bomb, and is a workbook."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            total = 0
            for info in infos:
                total += info.file_size
                if info.file_size > MAX_RATIO * max(info.compress_size, 1024):
                    raise FileRefused(_l("This workbook unpacks to far more than its size "
                                         "(a zip bomb?): it is not read."))
            if total > MAX_UNZIPPED:
                raise FileRefused(_l("This workbook unpacks to more than 500 MB: it is not read."))
            if "xl/workbook.xml" not in {info.filename for info in infos}:
                raise FileRefused(_l("This zip file is not an Excel workbook (.xlsx)."))
    except zipfile.BadZipFile:
        raise FileRefused(_l("This file is named like a workbook but is not a readable one.")) from None
    with _open_book(path) as book:
        return list(book.sheetnames)


@contextmanager
def _open_book(path):
    """The workbook in read-only mode (read from a file object: openpyxl would refuse the
    upload's file name, which has no .xlsx), closed after the block."""
    # openpyxl is slow to import: only the XLSX path pays for it.
    from openpyxl import load_workbook
    with open(path, "rb") as handle:
        try:
            book = load_workbook(handle, read_only=True, data_only=True)
        except Exception:  # openpyxl raises many kinds on a damaged workbook
            raise FileRefused(_l("This workbook cannot be read: it may be damaged.")) from None
        try:
            yield book
        finally:
            book.close()


def inspect_file(path, filename: str) -> Layout:
    """What the file at `path` is, read from its first bytes (and a workbook's directory)."""
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE)
    fmt = _sniff_kind(head, filename)
    if fmt == "xlsx":
        sheets = _check_zip(path)
        return Layout("xlsx", sheets=tuple(sheets), sheet=sheets[0] if sheets else None)
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRefused(_l("The file holds NUL bytes: it is not a text (CSV) file."))
    encoding = detect_encoding(head)
    if encoding == "gb18030" and _mixes_utf8(head):
        raise FileRefused(_l("The file mixes encodings (some lines UTF-8, others not): save it "
                             "again in one encoding."))
    text = codecs.getincrementaldecoder(codec_of(encoding))(errors="replace").decode(head)
    return Layout("csv", encoding=encoding, delimiter=detect_delimiter(text))


# --- rows ---------------------------------------------------------------------------------------

def _bounded_lines(handle, encoding: str):
    """The physical lines of a text file, each at most MAX_LINE characters (else refused)."""
    number = 0
    while True:
        try:
            line = handle.readline(MAX_LINE + 1)
        except UnicodeDecodeError:
            raise FileRefused(_l("Line %(line)s is not %(encoding)s: choose the file's encoding "
                                 "(or save it again in one encoding).",
                                 line=number + 1, encoding=ENCODING_LABELS.get(encoding, encoding))) from None
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE:
            raise FileRefused(_l("Line %(line)s is longer than a million characters: this is not "
                                 "a table of records.", line=number))
        if "\x00" in line:
            raise FileRefused(_l("Line %(line)s holds a NUL byte: the file is damaged or not "
                                 "text.", line=number))
        yield line


def _text_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _checked(row: list, width: int | None, number: int) -> list:
    if len(row) > MAX_COLUMNS:
        raise FileRefused(_l("Row %(row)s has more than %(max)s columns.", row=number, max=MAX_COLUMNS))
    return row


def iter_rows(path, layout: Layout):
    """Every row of the file (the header row first) as a list of text cells, trailing empty
    cells of a workbook row dropped. Raises FileRefused as it meets a problem."""
    if layout.fmt == "xlsx":
        yield from _xlsx_rows(path, layout.sheet)
        return
    csv.field_size_limit(MAX_CELL)
    with open(path, "r", encoding=codec_of(layout.encoding or "utf-8"), newline="") as handle:
        reader = csv.reader(_bounded_lines(handle, layout.encoding or "utf-8"),
                            delimiter=layout.delimiter or ",")
        number = 0
        try:
            for row in reader:
                number += 1
                yield _checked(row, None, number)
        except csv.Error as error:
            raise FileRefused(_l("Row %(row)s cannot be read as CSV (%(error)s).",
                                 row=number + 1, error=str(error))) from None


def _xlsx_rows(path, sheet: str | None):
    with _open_book(path) as book:
        if sheet not in book.sheetnames:
            sheet = book.sheetnames[0] if book.sheetnames else None
        if sheet is None:
            return
        worksheet = book[sheet]
        number = 0
        try:
            for values in worksheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1):
                number += 1
                cells = [_text_cell(value) for value in values]
                while cells and cells[-1] == "":
                    cells.pop()
                yield _checked(cells, None, number)
        except FileRefused:
            raise
        except Exception:
            raise FileRefused(_l("Row %(row)s of the workbook cannot be read.", row=number + 1)) from None


def check_start(path, layout: Layout, rows: int = 20) -> None:
    """Read the first `rows` data rows, so that a file whose first lines cannot be read is
    refused at the upload (the preview reads the rest)."""
    for number, _cells in data_rows(path, layout):
        if number >= rows:
            return


def read_header(path, layout: Layout) -> list[str]:
    """The header row: the first row with a cell; refused when there is none, when it repeats
    names, or when it looks like data (no letter in any cell)."""
    for row in iter_rows(path, layout):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        while cells and not cells[-1]:
            cells.pop()
        if not any(any(ch.isalpha() for ch in cell) for cell in cells):
            raise FileRefused(_l("The first row holds no column names: add a header row."))
        return cells
    raise FileRefused(_l("The file holds no rows."))


def data_rows(path, layout: Layout):
    """(row number, cells) for every row after the header; blank rows are skipped (their
    number too, so that numbers stay those of the file's data rows)."""
    rows = iter_rows(path, layout)
    for row in rows:
        if any(cell.strip() for cell in row):
            break
    number = 0
    for row in rows:
        number += 1
        if any(cell.strip() for cell in row):
            yield number, row
