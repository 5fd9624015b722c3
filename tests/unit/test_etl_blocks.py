"""BlockReader: whole records per block, physical line numbers, rejected malformed rows, resumable offsets."""
from __future__ import annotations

import csv
import io
import itertools

import pytest

from etl.blocks import READ_BYTES, Block, BlockReader

HEADER = b"id,name,amount\n"
# Physical lines: 1 header, 2-4 simple and quoted records, 5-7 one record over three lines, 8 the next record.
QUOTED = (
    HEADER
    + b'1,"Smith, John",10\n'
    + b'2,"he said ""hi""",20\n'
    + b'3,"a ""quoted"", comma",30\n'
    + b'4,"first line\nsecond line\nthird line",40\n'
    + b"5,after,50\n"
)


def read(
    data: bytes,
    *,
    width: int = 3,
    rows_per_block: int = 1000,
    start: int = 0,
    first_line: int = 1,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> list[Block]:
    reader = BlockReader(io.BytesIO(data), start=start, first_line=first_line, delimiter=delimiter, width=width,
                         encoding=encoding, rows_per_block=rows_per_block)
    return list(reader)


def parsed(blocks: list[Block], delimiter: str = ",") -> list[list[str]]:
    """The well-formed records of the blocks, as a CSV parser reads them (or as the exact path split them)."""
    records: list[list[str]] = []
    for block in blocks:
        if block.rows is not None:
            records += block.rows
        else:
            text = block.records.decode("utf-8")
            records += list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return records


def kept_lines(blocks: list[Block]) -> list[int]:
    return [int(line) for block in blocks for line in block.lines]


def rejected(blocks: list[Block]) -> list[tuple[int, str, str]]:
    return [(record.line, record.text, record.reason) for block in blocks for record in block.rejected]


def test_quoted_delimiters_doubled_quotes_and_embedded_newlines_stay_inside_one_record() -> None:
    blocks = read(QUOTED)
    assert rejected(blocks) == []
    assert parsed(blocks) == [
        ["id", "name", "amount"],
        ["1", "Smith, John", "10"],
        ["2", 'he said "hi"', "20"],
        ["3", 'a "quoted", comma', "30"],
        ["4", "first line\nsecond line\nthird line", "40"],
        ["5", "after", "50"],
    ]


def test_each_record_gets_the_physical_line_it_starts_on() -> None:
    blocks = read(QUOTED)
    assert kept_lines(blocks) == [1, 2, 3, 4, 5, 8]
    assert blocks[-1].next_line == 9  # the line after the last one


def test_line_numbers_start_at_first_line_when_reading_after_the_header() -> None:
    blocks = read(QUOTED, start=len(HEADER), first_line=2)
    assert kept_lines(blocks) == [2, 3, 4, 5, 8]
    assert parsed(blocks)[0] == ["1", "Smith, John", "10"]


def test_blank_lines_are_skipped_counted_and_still_advance_the_line_numbers() -> None:
    data = HEADER + b"1,a,10\n\n\n2,b,20\r\n\r\n3,c,30\n"
    blocks = read(data, start=len(HEADER), first_line=2)
    assert sum(block.blank_lines for block in blocks) == 3
    assert kept_lines(blocks) == [2, 5, 7]
    assert sum(block.rows_read for block in blocks) == 3
    assert rejected(blocks) == []
    assert [row[0] for row in parsed(blocks)] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("row", "fields"),
    [(b"9,too few", 2), (b"9", 1), (b"9,a,b,c", 4), (b'9,"x,y",1,2,3', 5)],
)
def test_ragged_row_is_rejected_with_its_field_count_and_line(row: bytes, fields: int) -> None:
    data = HEADER + b"1,a,10\n" + row + b"\n2,b,20\n"
    blocks = read(data, start=len(HEADER), first_line=2)
    assert rejected(blocks) == [(3, row.decode(), f"has {fields} fields; the header has 3")]
    assert kept_lines(blocks) == [2, 4]
    assert parsed(blocks) == [["1", "a", "10"], ["2", "b", "20"]]


def test_ragged_row_after_a_multiline_record_reports_its_own_physical_line() -> None:
    data = HEADER + b'1,"one\ntwo\nthree",10\n2,short\n'
    blocks = read(data, start=len(HEADER), first_line=2)
    assert rejected(blocks) == [(5, "2,short", "has 2 fields; the header has 3")]


def test_row_with_a_nul_byte_is_rejected_and_its_text_shows_the_nul_escaped() -> None:
    data = HEADER + b"1,a,10\n2,b\x00ad,20\n3,c,30\n"
    blocks = read(data, start=len(HEADER), first_line=2)
    [record] = [record for block in blocks for record in block.rejected]
    assert record.line == 3
    assert record.reason == "contains a NUL byte"
    assert "\x00" not in record.text
    assert record.text == "2,b\\x00ad,20"
    assert kept_lines(blocks) == [2, 4]
    assert b"\x00" not in b"".join(block.records for block in blocks)


def test_crlf_line_endings_split_records_and_rejected_text_has_no_carriage_return() -> None:
    data = b"id,name,amount\r\n1,a,10\r\n2,\"x\r\ny\",20\r\n3,bad\r\n4,d,40\r\n"
    blocks = read(data)
    assert kept_lines(blocks) == [1, 2, 3, 6]
    assert rejected(blocks) == [(5, "3,bad", "has 2 fields; the header has 3")]
    rows = parsed(blocks)
    assert [row[0] for row in rows] == ["id", "1", "2", "4"]
    assert rows[2][1] == "x\r\ny"
    assert rows[3] == ["4", "d", "40"]


def test_last_record_without_a_trailing_newline_is_read() -> None:
    data = HEADER + b"1,a,10\n2,b,20"
    blocks = read(data, start=len(HEADER), first_line=2)
    assert parsed(blocks) == [["1", "a", "10"], ["2", "b", "20"]]
    assert kept_lines(blocks) == [2, 3]
    assert sum(block.rows_read for block in blocks) == 2


def test_ragged_last_record_without_a_trailing_newline_is_rejected() -> None:
    data = HEADER + b"1,a,10\n2,b"
    blocks = read(data, start=len(HEADER), first_line=2)
    assert rejected(blocks) == [(3, "2,b", "has 2 fields; the header has 3")]


def test_last_block_without_a_trailing_newline_ends_at_the_end_of_the_stream() -> None:
    data = HEADER + b"1,a,10\n2,b,20"
    blocks = read(data, start=len(HEADER), first_line=2)
    assert blocks[-1].end == len(data)


def test_a_stream_of_just_blank_lines_or_nothing_yields_no_records() -> None:
    assert sum(block.rows_read for block in read(b"")) == 0
    blocks = read(b"\n\n\r\n")
    assert sum(block.rows_read for block in blocks) == 0
    assert sum(block.blank_lines for block in blocks) == 3


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_other_delimiters_count_fields_and_ignore_commas(delimiter: str) -> None:
    sep = delimiter.encode()
    data = sep.join([b"1", b'"a, b; c\td"', b"10,5"]) + b"\n" + sep.join([b"2", b"x,y,z"]) + b"\n"
    blocks = read(data, delimiter=delimiter)
    assert parsed(blocks, delimiter) == [["1", "a, b; c\td", "10,5"]]
    assert rejected(blocks) == [(2, sep.join([b"2", b"x,y,z"]).decode(), "has 2 fields; the header has 3")]


def make_file(records: int) -> bytes:
    """A header and `records` records, some multi-line, some ragged, some blank lines between."""
    lines = [HEADER]
    for i in range(1, records + 1):
        if i % 7 == 0:
            lines.append(f'{i},"line one\nline two",{i}\n'.encode())
        elif i % 5 == 0:
            lines.append(f"{i},ragged\n".encode())
        else:
            lines.append(f'{i},"name, {i}",{i}\n'.encode())
        if i % 4 == 0:
            lines.append(b"\n")
    return b"".join(lines)


@pytest.mark.parametrize("rows_per_block", [1, 2, 3, 10, 1000])
def test_blocks_hold_at_most_rows_per_block_and_are_contiguous(rows_per_block: int) -> None:
    data = make_file(23)
    blocks = read(data, start=len(HEADER), first_line=2, rows_per_block=rows_per_block)
    assert blocks[0].start == len(HEADER) and blocks[0].first_line == 2
    for block in blocks:
        assert block.rows_read + block.blank_lines <= rows_per_block
    for before, after in itertools.pairwise(blocks):
        assert before.end == after.start
        assert before.next_line == after.first_line
    assert blocks[-1].end == len(data)
    assert blocks[-1].next_line == data.count(b"\n") + 1


@pytest.mark.parametrize("rows_per_block", [1, 2, 3, 10, 1000])
def test_every_record_is_kept_or_rejected_exactly_once(rows_per_block: int) -> None:
    records = 23
    blocks = read(make_file(records), start=len(HEADER), first_line=2, rows_per_block=rows_per_block)
    assert sum(block.rows_read for block in blocks) == records
    kept = parsed(blocks)
    ids = [int(row[0]) for row in kept] + [int(text.split(",")[0]) for _line, text, _reason in rejected(blocks)]
    assert sorted(ids) == list(range(1, records + 1))
    assert [int(row[0]) for row in kept] == [i for i in range(1, records + 1) if i % 5 or i % 7 == 0]
    assert len(kept) == len(kept_lines(blocks))
    lines = kept_lines(blocks) + [line for line, _text, _reason in rejected(blocks)]
    assert len(lines) == len(set(lines)) == records


def test_blocks_of_two_give_the_same_records_and_lines_as_one_block() -> None:
    data = make_file(23)
    whole = read(data, start=len(HEADER), first_line=2)
    small = read(data, start=len(HEADER), first_line=2, rows_per_block=2)
    assert len(whole) == 1 and len(small) > 1
    assert b"".join(block.records for block in small) == whole[0].records
    assert kept_lines(small) == kept_lines(whole)
    assert rejected(small) == rejected(whole)
    assert sum(block.blank_lines for block in small) == whole[0].blank_lines


@pytest.mark.parametrize("resume_after", [0, 1, 2, 4])
def test_reading_from_a_blocks_end_resumes_with_exactly_the_remaining_records(resume_after: int) -> None:
    data = make_file(23)
    blocks = read(data, start=len(HEADER), first_line=2, rows_per_block=2)
    checkpoint = blocks[resume_after]
    resumed = read(data, start=checkpoint.end, first_line=checkpoint.next_line, rows_per_block=2)
    remaining = blocks[resume_after + 1:]
    assert b"".join(block.records for block in resumed) == b"".join(block.records for block in remaining)
    assert kept_lines(resumed) == kept_lines(remaining)
    assert rejected(resumed) == rejected(remaining)
    assert [(block.start, block.end) for block in resumed] == [(block.start, block.end) for block in remaining]


def test_latin1_input_comes_out_as_utf8_records_and_rejected_text() -> None:
    data = "id,name,city\n1,Müller,Köln\n2,Jürgen\n".encode("latin-1")
    blocks = read(data, encoding="latin-1")
    records = b"".join(block.records for block in blocks)
    assert "Müller,Köln".encode() in records
    assert records.decode("utf-8").splitlines()[1] == "1,Müller,Köln"
    assert rejected(blocks) == [(3, "2,Jürgen", "has 2 fields; the header has 3")]


def test_a_quoted_field_with_newlines_across_the_read_boundary_stays_one_record() -> None:
    padding = b"p,q,r\n" * ((READ_BYTES - 30) // 6)
    field = "before\n" + "x" * 40 + "\n,after"
    data = HEADER + padding + f'1,"{field}",10\n2,b,20\n'.encode()
    opening = data.index(b'"before')
    closing = data.index(b'after"') + len(b"after")
    assert opening < READ_BYTES < closing  # the first read stops inside the quoted field
    blocks = read(data, start=len(HEADER), first_line=2, rows_per_block=len(padding) // 6 + 10)
    assert rejected(blocks) == []
    rows = parsed(blocks)
    assert rows[-2:] == [["1", field, "10"], ["2", "b", "20"]]
    padding_lines = padding.count(b"\n")
    assert kept_lines(blocks)[-2:] == [2 + padding_lines, 2 + padding_lines + 3]
    assert sum(block.rows_read for block in blocks) == padding_lines + 2


@pytest.mark.parametrize("rows_per_block", [1, 2, 3])
def test_small_blocks_still_read_a_last_record_without_a_trailing_newline(rows_per_block: int) -> None:
    data = make_file(9).rstrip(b"\n") + b"\n10,last,10"
    blocks = read(data, start=len(HEADER), first_line=2, rows_per_block=rows_per_block)
    assert sum(block.rows_read for block in blocks) == 10
    assert parsed(blocks)[-1] == ["10", "last", "10"]
    assert kept_lines(blocks)[-1] == data.count(b"\n") + 1


# --- stray quotes: the exact path ----------------------------------------------------------------

STRAY = (b'1,ok,a\n2,Acme 3.5" Floppy,b\n3,"Acme" Ltd,c\n4, "Acme, Inc",d\n\n'
         b'5,"multi\nline",e\n6,last,f\n')


@pytest.mark.parametrize("rows_per_block", [1, 2, 1000])
def test_a_stray_quote_loses_no_row_and_keeps_the_line_numbers(rows_per_block: int) -> None:
    blocks = read(STRAY, rows_per_block=rows_per_block, first_line=2)
    assert parsed(blocks) == [["1", "ok", "a"], ["2", 'Acme 3.5" Floppy', "b"], ["3", "Acme Ltd", "c"],
                              ["5", "multi\nline", "e"], ["6", "last", "f"]]
    assert kept_lines(blocks) == [2, 3, 4, 7, 9]
    assert rejected(blocks) == [(5, '4, "Acme, Inc",d', "has 4 fields; the header has 3")]
    assert sum(block.rows_read for block in blocks) == 6 and sum(block.blank_lines for block in blocks) == 1
    assert blocks[-1].end == len(STRAY) and blocks[-1].next_line == 10


def test_blocks_after_a_stray_quote_still_resume_exactly_at_their_end() -> None:
    blocks = read(STRAY, rows_per_block=2, first_line=2)
    for index, block in enumerate(blocks[:-1]):
        rest = read(STRAY, rows_per_block=2, start=block.end, first_line=block.next_line)
        assert parsed(rest) == parsed(blocks[index + 1:])
        assert kept_lines(rest) == kept_lines(blocks[index + 1:])


def test_well_formed_quotes_stay_on_the_fast_path() -> None:
    blocks = read(b'1,"a ""quoted"" word",x\n2,"",y\n3,"multi\nline",z\n')
    assert all(block.rows is None for block in blocks)
    assert parsed(blocks) == [["1", 'a "quoted" word', "x"], ["2", "", "y"], ["3", "multi\nline", "z"]]
