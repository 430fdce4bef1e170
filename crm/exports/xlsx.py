"""A streaming XLSX writer for exports: one worksheet, its rows written as XML text straight
into the zip entry as they come, a chunk at a time (nothing holds the sheet in memory).

openpyxl's write-only workbook spent most of an export serialising each cell through an
element tree (et_xmlfile, ~100 µs a cell here; docs/benchmarks.md): 2.4 million cells for
100,000 customers. A sheet of plain values needs none of that: text goes in as inline strings
(`t="inlineStr"`, which Excel, LibreOffice, Google Sheets and openpyxl read), numbers as
numbers, and the four formats are fixed styles (`STYLES`), so no cell carries a style object.

Cells: None is left out; str is text (characters XML forbids are dropped, as openpyxl does);
bool, int, float and Decimal are numbers (Decimal with the money format #,##0.00); datetime
(naive, already in the user's zone) and date are Excel serial dates with their formats. The
header row is bold."""
from __future__ import annotations

import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

# What openpyxl drops too (XML 1.0 forbids these control characters).
ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
INVALID_TITLE = re.compile(r"[\\*?:/\[\]]")
EPOCH = datetime(1899, 12, 30)
EPOCH_DAY = EPOCH.date()

# Style ids of cellXfs below.
BOLD, DATETIME, DATE, MONEY = 1, 2, 3, 4
STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>\
<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>\
<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>\
<fills count="2"><fill><patternFill patternType="none"/></fill>\
<fill><patternFill patternType="gray125"/></fill></fills>\
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>\
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>\
</styleSheet>"""

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Override PartName="/xl/workbook.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
<Override PartName="/xl/worksheets/sheet1.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
<Override PartName="/xl/styles.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
</Types>"""

ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
<Relationship Id="rId1" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" \
Target="xl/workbook.xml"/></Relationships>"""

WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
<Relationship Id="rId1" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" \
Target="worksheets/sheet1.xml"/>\
<Relationship Id="rId2" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" \
Target="styles.xml"/></Relationships>"""

WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">\
<sheets><sheet name={title} sheetId="1" r:id="rId1"/></sheets></workbook>"""

SHEET_START = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"""
SHEET_END = "</sheetData></worksheet>"


def column_letters(count: int) -> list[str]:
    """A, B, ... Z, AA, AB ... for `count` columns."""
    letters = []
    for index in range(1, count + 1):
        name = ""
        while index:
            index, rest = divmod(index - 1, 26)
            name = chr(65 + rest) + name
        letters.append(name)
    return letters


def sheet_title(title: str) -> str:
    """A title Excel accepts: at most 31 characters, none of \\ * ? : / [ ]."""
    return INVALID_TITLE.sub("", ILLEGAL.sub("", title or ""))[:31] or "Export"


def _text(ref: str, value: str, style: str = "") -> str:
    value = escape(ILLEGAL.sub("", value))
    space = ' xml:space="preserve"' if value[:1].isspace() or value[-1:].isspace() else ""
    return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{value}</t></is></c>'


def cell_xml(ref: str, value) -> str:
    """One cell's XML ("" for None)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _text(ref, value)
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, Decimal):
        return f'<c r="{ref}" s="{MONEY}"><v>{format(value, "f")}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if isinstance(value, datetime):
        serial = (value.replace(tzinfo=None) - EPOCH).total_seconds() / 86400
        return f'<c r="{ref}" s="{DATETIME}"><v>{serial!r}</v></c>'
    if isinstance(value, date):
        return f'<c r="{ref}" s="{DATE}"><v>{(value - EPOCH_DAY).days}</v></c>'
    return _text(ref, str(value))


def write_xlsx(target, header: list[str], chunks, title: str = "Export") -> None:
    """The workbook into `target` (a path or a binary file): the header row in bold, then the
    rows of each chunk (lists of cell values) as they come."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK.format(title=quoteattr(sheet_title(title))))
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        book.writestr("xl/styles.xml", STYLES)
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(SHEET_START.encode())
            letters = column_letters(len(header))
            head = "".join(_text(f"{letter}1", str(name), f' s="{BOLD}"')
                           for letter, name in zip(letters, header))
            sheet.write(f'<row r="1">{head}</row>'.encode())
            number = 1
            for rows in chunks:
                parts = []
                for row in rows:
                    number += 1
                    cells = [f'<row r="{number}">']
                    for letter, value in zip(letters, row):
                        if value is None:
                            continue
                        if value.__class__ is str:  # most cells: the short way
                            text = escape(ILLEGAL.sub("", value))
                            space = ' xml:space="preserve"' \
                                if text[:1].isspace() or text[-1:].isspace() else ""
                            cells.append(f'<c r="{letter}{number}" t="inlineStr"><is><t{space}>'
                                         f'{text}</t></is></c>')
                        else:
                            cells.append(cell_xml(f"{letter}{number}", value))
                    cells.append("</row>")
                    parts.append("".join(cells))
                sheet.write("".join(parts).encode())
            sheet.write(SHEET_END.encode())
