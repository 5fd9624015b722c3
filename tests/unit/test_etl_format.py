"""The uploaded file's format (inspect_csv, body_encoding), its header (map_header) and the errors report."""
from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from etl.blocks import RejectedRecord
from etl.csv_format import HEADER_PROBE_BYTES, UTF8_BOM, CsvFormatError, body_encoding, inspect_csv
from etl.datasets import DATASETS
from etl.errors_report import HEADER, ErrorsReport, defuse, rows_of
from etl.header_map import HeaderError, map_header
from etl.validate import CellError

ORDERS = DATASETS["orders"]
CUSTOMERS = DATASETS["customers"]
ORDER_COLUMNS = ("order_id", "order_date", "customer_email", "sku", "quantity", "unit_price", "currency", "country")


def write(tmp_path: Path, data: bytes, name: str = "upload.csv", compressed: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if compressed else data)
    return path


# inspect_csv


@pytest.mark.parametrize(("delimiter", "line"), [(",", b"id,name,email"), (";", b"id;name;email"),
                                                 ("\t", b"id\tname\temail")])
def test_delimiter_is_detected_from_the_header(tmp_path: Path, delimiter: str, line: bytes) -> None:
    path = write(tmp_path, line + b"\n" + line.replace(b"name", b"x") + b"\n")
    found = inspect_csv(path)
    assert found.delimiter == delimiter
    assert found.header == ("id", "name", "email")
    assert found.data_offset == len(line) + 1
    assert found.compressed is False and found.encoding == "utf-8"


def test_semicolon_header_with_commas_in_quoted_names_is_semicolon(tmp_path: Path) -> None:
    found = inspect_csv(write(tmp_path, b'"a,b";c;d\n1;2;3\n'))
    assert found.delimiter == ";"
    assert found.header == ("a,b", "c", "d")


def test_single_column_header_defaults_to_comma(tmp_path: Path) -> None:
    found = inspect_csv(write(tmp_path, b"id\n1\n"))
    assert (found.delimiter, found.header) == (",", ("id",))


def test_header_names_are_trimmed_and_crlf_is_not_part_of_the_last_name(tmp_path: Path) -> None:
    data = b" id , name ,email\r\n1,a,b\r\n"
    found = inspect_csv(write(tmp_path, data))
    assert found.header == ("id", "name", "email")
    assert found.data_offset == data.index(b"\n") + 1


def test_utf8_bom_is_skipped_and_data_offset_is_right_after_the_header(tmp_path: Path) -> None:
    header = b"order_id,sku\n"
    data = UTF8_BOM + header + b"5,SKU-1\n"
    found = inspect_csv(write(tmp_path, data))
    assert found.header == ("order_id", "sku")
    assert not found.header[0].startswith("\ufeff")
    assert found.data_offset == len(UTF8_BOM) + len(header)
    assert data[found.data_offset:] == b"5,SKU-1\n"


def test_gzip_file_is_detected_and_its_header_read(tmp_path: Path) -> None:
    data = UTF8_BOM + b"order_id;sku\n5;SKU-1\n"
    found = inspect_csv(write(tmp_path, data, "upload.csv.gz", compressed=True))
    assert found.compressed is True
    assert found.delimiter == ";"
    assert found.header == ("order_id", "sku")
    assert data[found.data_offset:] == b"5;SKU-1\n"  # an offset into the uncompressed bytes


def test_header_only_file_has_its_data_offset_at_the_end(tmp_path: Path) -> None:
    assert inspect_csv(write(tmp_path, b"id,name\n")).data_offset == len(b"id,name\n")
    assert inspect_csv(write(tmp_path, b"id,name", "no-newline.csv")).header == ("id", "name")


def test_latin1_header_is_decoded_as_latin1(tmp_path: Path) -> None:
    found = inspect_csv(write(tmp_path, "id,straße\n1,x\n".encode("latin-1")))
    assert found.encoding == "latin-1"
    assert found.header == ("id", "straße")


@pytest.mark.parametrize(
    ("data", "compressed"),
    [
        (b"", False),
        (b"", True),
        (b"\n1,2\n", False),
        (b"   \r\n1,2\n", False),
        (UTF8_BOM, False),
        (b"id\x00,name\n1,2\n", False),
        (b"\x00\x01\x02\x03binary\n", False),
        ("id,name\n".encode("utf-16"), False),
        (b"x" * HEADER_PROBE_BYTES, False),
    ],
    ids=["empty", "empty-gzip", "blank-first-line", "spaces-first-line", "bom-only", "nul-in-header", "binary",
         "utf-16", "no-line-break"],
)
def test_files_without_a_readable_header_are_refused(tmp_path: Path, data: bytes, compressed: bool) -> None:
    with pytest.raises(CsvFormatError):
        inspect_csv(write(tmp_path, data, compressed=compressed))


def test_file_with_carriage_return_only_line_breaks_is_refused_with_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError):
        inspect_csv(write(tmp_path, b"id,name\r1,a\r2,b\r"))


def test_truncated_gzip_is_refused_as_unreadable(tmp_path: Path) -> None:
    packed = gzip.compress(b"id,name\n" + b"1,abc\n" * 1000)
    path = write(tmp_path, packed[: len(packed) // 2])
    with pytest.raises(CsvFormatError, match="cannot be read"):
        inspect_csv(path)


# body_encoding


@pytest.mark.parametrize("compressed", [False, True])
def test_body_with_a_latin1_byte_after_the_header_is_latin1(compressed: bool, tmp_path: Path) -> None:
    data = b"id,name\n" + b"1,plain\n" * 100 + "2,Müller\n".encode("latin-1")
    path = write(tmp_path, data, compressed=compressed)
    found = inspect_csv(path)
    assert found.encoding == "utf-8"  # the header alone is ASCII
    assert body_encoding(path, compressed, found.data_offset) == "latin-1"


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("body", [b"", b"1,plain\n", "1,Müller,€,日本\n".encode(), b"1,no newline"])
def test_ascii_or_utf8_body_is_utf8(compressed: bool, body: bytes, tmp_path: Path) -> None:
    path = write(tmp_path, UTF8_BOM + b"id,name\n" + body, compressed=compressed)
    found = inspect_csv(path)
    assert found.compressed is compressed
    assert body_encoding(path, compressed, found.data_offset) == "utf-8"


def test_latin1_bytes_in_the_header_only_do_not_make_the_body_latin1(tmp_path: Path) -> None:
    path = write(tmp_path, "id,straße\n".encode("latin-1") + "1,Müller\n".encode())
    found = inspect_csv(path)
    assert found.encoding == "latin-1"
    assert body_encoding(path, False, found.data_offset) == "utf-8"


def test_body_ending_in_a_cut_utf8_sequence_is_latin1(tmp_path: Path) -> None:
    path = write(tmp_path, b"id,name\n1,M" + "ü".encode()[:1])
    assert body_encoding(path, False, inspect_csv(path).data_offset) == "latin-1"


# map_header


def test_header_matches_case_insensitively_in_any_order() -> None:
    header = ("Currency", "SKU", " ORDER_ID ", "country", "Quantity", "unit_price", "Order_Date", "customer_email")
    mapped = map_header(ORDERS, header)
    assert mapped.positions == {"order_id": 2, "order_date": 6, "customer_email": 7, "sku": 1, "quantity": 4,
                                "unit_price": 5, "currency": 0, "country": 3}
    assert mapped.unknown_columns == ()
    assert mapped.width == 8


def test_unknown_columns_are_reported_in_file_order_with_their_spelling() -> None:
    header = ("Notes", *ORDER_COLUMNS[:4], "Discount", *ORDER_COLUMNS[4:], "zz_extra")
    mapped = map_header(ORDERS, header)
    assert mapped.unknown_columns == ("Notes", "Discount", "zz_extra")
    assert mapped.width == 11
    assert mapped.positions["order_id"] == 1 and mapped.positions["quantity"] == 6


def test_missing_required_columns_are_named_in_the_error() -> None:
    header = ("order_id", "SKU", "quantity", "unit_price", "extra")
    with pytest.raises(HeaderError) as caught:
        map_header(ORDERS, header)
    assert caught.value.missing == ("order_date", "customer_email", "currency", "country")
    for name in caught.value.missing:
        assert name in str(caught.value)


@pytest.mark.parametrize("header", [
    (*ORDER_COLUMNS, "order_id"),
    (*ORDER_COLUMNS, "SKU"),
    (*ORDER_COLUMNS, " currency "),
    (*ORDER_COLUMNS, "note", "NOTE"),
])
def test_a_repeated_column_is_refused(header: tuple[str, ...]) -> None:
    with pytest.raises(HeaderError) as caught:
        map_header(ORDERS, header)
    assert caught.value.missing == ()
    assert "repeats" in str(caught.value)


def test_optional_column_may_be_absent() -> None:
    mapped = map_header(CUSTOMERS, ("customer_id", "name", "email", "country"))
    assert "tax_id" not in mapped.positions
    assert mapped.width == 4 and mapped.unknown_columns == ()
    with_tax = map_header(CUSTOMERS, ("TAX_ID", "customer_id", "name", "email", "country"))
    assert with_tax.positions["tax_id"] == 0


def test_an_empty_header_misses_every_required_column() -> None:
    with pytest.raises(HeaderError) as caught:
        map_header(CUSTOMERS, ())
    assert caught.value.missing == ("customer_id", "name", "email", "country")


# defuse and ErrorsReport


@pytest.mark.parametrize("cell", ["=SUM(A1:A9)", "+1", "-1", "@cmd", "\tx", "\rx", "=", "-"])
def test_formula_like_cells_get_a_leading_apostrophe(cell: str) -> None:
    assert defuse(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "plain", "12.50", "a=b", "x-1", "mail@example.test", " =1", "'quoted"])
def test_ordinary_cells_are_unchanged(cell: str) -> None:
    assert defuse(cell) == cell


def report_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_truncate_to_zero_writes_just_the_header(tmp_path: Path) -> None:
    report = ErrorsReport(tmp_path / "reports" / "errors.csv")
    assert report.size() == 0
    report.truncate(0)
    assert report_rows(report.path) == [list(HEADER)]
    report.append([(2, "sku", "x", "bad")])
    report.truncate(0)
    assert report_rows(report.path) == [list(HEADER)]


def test_append_returns_the_new_size_and_nothing_changes_for_no_rows(tmp_path: Path) -> None:
    report = ErrorsReport(tmp_path / "errors.csv")
    report.truncate(0)
    header_size = report.size()
    size = report.append([(2, "sku", "S" * 70, "longer than 64 characters")])
    assert size == report.path.stat().st_size > header_size
    assert report.append([]) == size
    assert report_rows(report.path)[1] == ["2", "sku", "S" * 70, "longer than 64 characters"]


def test_truncate_to_a_checkpoint_removes_the_rows_written_after_it(tmp_path: Path) -> None:
    report = ErrorsReport(tmp_path / "errors.csv")
    report.truncate(0)
    checkpoint = report.append([(2, "quantity", "0", "must be at least 1"), (3, "", "1,2", "has 2 fields")])
    report.append([(9, "currency", "ZZZ", "not an ISO 4217 currency code")])
    report.append([(12, "country", "XX", "not an ISO 3166 two-letter country code")])
    report.truncate(checkpoint)
    assert report.size() == checkpoint
    assert report_rows(report.path) == [list(HEADER), ["2", "quantity", "0", "must be at least 1"],
                                        ["3", "", "1,2", "has 2 fields"]]
    report.append([(9, "currency", "ZZZ", "again")])  # the resumed chunk writes its rows once
    assert [row[0] for row in report_rows(report.path)] == ["line", "2", "3", "9"]


def test_values_and_columns_are_defused_in_the_file(tmp_path: Path) -> None:
    report = ErrorsReport(tmp_path / "errors.csv")
    report.truncate(0)
    report.append([(2, "unit_price", "-1", "must be at least 0"),
                   (3, "", '=HYPERLINK("http://evil.test","x"),1,2', "has 4 fields; the header has 3"),
                   (4, "name", "@SUM(1)", "reason"),
                   (5, "=col", "\tTAB", "reason"),
                   (6, "name", "Müller, \"Jr\"\nline", "reason")])
    assert report_rows(report.path)[1:] == [
        ["2", "unit_price", "'-1", "must be at least 0"],
        ["3", "", "'=HYPERLINK(\"http://evil.test\",\"x\"),1,2", "has 4 fields; the header has 3"],
        ["4", "name", "'@SUM(1)", "reason"],
        ["5", "'=col", "'\tTAB", "reason"],
        ["6", "name", "Müller, \"Jr\"\nline", "reason"],
    ]
    for row in report_rows(report.path)[1:]:
        assert not row[2].startswith(("=", "+", "-", "@", "\t", "\r"))


def test_rows_of_lists_rejected_records_and_bad_cells_by_line() -> None:
    records = [RejectedRecord(line=7, text="7,x", reason="has 2 fields; the header has 3"),
               RejectedRecord(line=3, text="3,\\x00", reason="contains a NUL byte")]
    cells = [CellError(line=5, column="sku", value="", reason="required; the cell is empty"),
             CellError(line=2, column="quantity", value="0", reason="must be at least 1")]
    assert rows_of(records, cells) == [
        (2, "quantity", "0", "must be at least 1"),
        (3, "", "3,\\x00", "contains a NUL byte"),
        (5, "sku", "", "required; the cell is empty"),
        (7, "", "7,x", "has 2 fields; the header has 3"),
    ]


def test_windows_1252_bytes_are_read_as_cp1252_and_plain_latin1_as_latin1(tmp_path: Path) -> None:
    cp1252 = write(tmp_path, "name\nCaf\u00e9 \u20ac5 \u2013 it\u2019s\n".encode("cp1252"), "w.csv")
    assert body_encoding(cp1252, False, inspect_csv(cp1252).data_offset) == "cp1252"
    latin1 = write(tmp_path, "name\nJ\u00fcrgen M\u00fcller\n".encode("latin-1"), "l.csv")
    assert body_encoding(latin1, False, inspect_csv(latin1).data_offset) == "latin-1"


def test_a_corrupt_gzip_is_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"\x1f\x8b\x08\x00" + b"garbage" * 20, "bad.csv.gz")
    with pytest.raises(CsvFormatError, match="cannot be read"):
        inspect_csv(path)
