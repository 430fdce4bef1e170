"""The streaming XLSX writer (crm/exports/xlsx.py): what openpyxl and Excel read back from it,
types, formats, the bold header, characters XML forbids, spaces kept, the sheet's title, and
a column past Z."""
import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

from openpyxl import load_workbook

from crm.exports.xlsx import column_letters, sheet_title, write_xlsx


def _book(header, chunks, title="Export"):
    buffer = io.BytesIO()
    write_xlsx(buffer, header, chunks, title)
    return buffer


def test_values_come_back_with_their_types_and_formats():
    rows = [["北京星辰科技有限公司", Decimal("1234.50"), 42, 1.5, True,
             datetime(2026, 1, 3, 4, 30), date(2026, 3, 5), None, "多行\n备注"]]
    buffer = _book(["名称", "金额", "n", "f", "b", "t", "d", "空", "备注"], [rows[:1], []], "客户")
    book = load_workbook(buffer)
    sheet = book.worksheets[0]
    assert sheet.title == "客户"
    assert [c.value for c in sheet[1]] == ["名称", "金额", "n", "f", "b", "t", "d", "空", "备注"]
    assert all(c.font.b for c in sheet[1])
    values = [c.value for c in sheet[2]]
    assert values == ["北京星辰科技有限公司", 1234.5, 42, 1.5, True, datetime(2026, 1, 3, 4, 30),
                      datetime(2026, 3, 5), None, "多行\n备注"]
    money, moment, day = sheet["B2"], sheet["F2"], sheet["G2"]
    assert money.number_format == "#,##0.00" and not money.font.b
    assert moment.number_format == "yyyy-mm-dd hh:mm" and day.number_format == "yyyy-mm-dd"
    assert sheet.max_row == 2
    # read-only mode (the import's reader) reads the same
    fast = load_workbook(io.BytesIO(buffer.getvalue()), read_only=True).active
    assert list(fast.iter_rows(min_row=2, values_only=True))[0][:3] == ("北京星辰科技有限公司", 1234.5, 42)


def test_text_is_escaped_control_characters_dropped_and_spaces_kept():
    buffer = _book(["a", "b", "c"], [[["<b>&amp;</b>", "x\x00y\x1f", "  padded  "]]])
    sheet = load_workbook(buffer).active
    assert [c.value for c in sheet[2]] == ["<b>&amp;</b>", "xy", "  padded  "]


def test_many_rows_in_chunks_and_columns_past_z():
    header = [f"h{i}" for i in range(30)]
    chunks = ([[f"r{n}c{i}" for i in range(30)] for n in range(start, start + 100)]
              for start in range(0, 1000, 100))
    sheet = load_workbook(_book(header, chunks), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 1001 and rows[1000][29] == "r999c29"
    assert column_letters(28)[-3:] == ["Z", "AA", "AB"] and column_letters(703)[-1] == "AAA"


def test_the_sheet_title_and_the_package():
    assert sheet_title("a/b[c]:d*?") == "abcd" and sheet_title("") == "Export"
    assert len(sheet_title("x" * 40)) == 31
    names = zipfile.ZipFile(_book(["a"], [], "Q&A \"x\"")).namelist()
    assert {"[Content_Types].xml", "xl/workbook.xml", "xl/styles.xml",
            "xl/worksheets/sheet1.xml"} <= set(names)
    assert load_workbook(_book(["a"], [], "Q&A \"x\"")).active.title == "Q&A \"x\""
