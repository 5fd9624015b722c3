"""CSV imports end to end: upload through the API, a real `celery worker` on the `etl` queue, SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import gzip
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from tests.conftest import Stack
from tests.integration.test_api import assert_error
from tests.support.accounts import token_client
from tests.support.api import get_job, wait_for_job, wait_for_state
from tests.support.csv_files import ORDERS_HEADER, order_line, write_orders
from tests.support.processes import CeleryWorker, WorkerSlot

pytestmark = pytest.mark.integration

CHUNK_ROWS = 5_000
ERRORS_MAX_ROWS = 2_000
MAX_UNCOMPRESSED_MB = 512  # the ratio limit is out of the way here; tests/unit/test_unpack_limits.py tries it


@pytest.fixture(scope="module")
def etl_env(stack: Stack) -> dict[str, str]:
    return {**stack.env, "ETL_CHUNK_ROWS": str(CHUNK_ROWS), "ETL_ERRORS_MAX_ROWS": str(ERRORS_MAX_ROWS),
            "MAX_UNCOMPRESSED_MB": str(MAX_UNCOMPRESSED_MB), "MAX_COMPRESSION_RATIO": "1000000000"}


@pytest.fixture(scope="module")
def etl_workers(stack: Stack, etl_env: dict[str, str]) -> Iterator[WorkerSlot]:
    workers = WorkerSlot(etl_env, stack.log_dir, queues="etl", concurrency=1)
    yield workers
    workers.stop()


@pytest.fixture
def etl_worker(etl_workers: WorkerSlot) -> CeleryWorker:
    return etl_workers.ensure()


@pytest.fixture(scope="module")
def etl_app(stack: Stack) -> Flask:
    return stack.app(etl_chunk_rows=CHUNK_ROWS)


@pytest.fixture
def api(stack: Stack, etl_app: Flask) -> FlaskClient:
    return token_client(etl_app, stack.account("operator").token)


@pytest.fixture(autouse=True)
def empty_tables(stack: Stack) -> Iterator[None]:
    """Each test starts with empty dataset tables, and leaves them empty for other modules' orders."""
    def empty() -> None:
        with stack.db.transaction() as session:
            session.execute(text("DELETE FROM orders"))
            session.execute(text("DELETE FROM customers"))
    empty()
    yield
    empty()


def upload(api: FlaskClient, content: bytes, dataset: str = "orders", filename: str = "data.csv") -> Any:
    return api.post("/api/etl", data={"dataset": dataset, "file": (io.BytesIO(content), filename)},
                    content_type="multipart/form-data")


def import_file(api: FlaskClient, content: bytes, dataset: str = "orders", state: str = "succeeded",
                filename: str = "data.csv", timeout: float = 60) -> dict[str, Any]:
    response = upload(api, content, dataset, filename)
    assert response.status_code == 202, response.get_data(as_text=True)
    job = wait_for_state(api, response.get_json()["id"], state, timeout=timeout)
    return job


def errors_csv(api: FlaskClient, job_id: str) -> list[dict[str, str]]:
    response = api.get(f"/api/etl/{job_id}/errors.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def table_rows(stack: Stack, sql: str) -> list[tuple]:
    with stack.db.read_session() as session:
        return [tuple(row) for row in session.execute(text(sql))]


def orders_file(rows: int, extra: list[str] | None = None, start: int = 1) -> bytes:
    lines = [ORDERS_HEADER, *(order_line(i) for i in range(start, start + rows)), *(extra or [])]
    return ("\n".join(lines) + "\n").encode()


# --- the known bad rows --------------------------------------------------------------------------

BAD_ROWS = [  # (line text, column named in the report, reason fragment)
    ("9001,2026-02-30,a@example.test,SKU-1,1,1.00,EUR,DE", "order_date", "not a date"),
    ("9002,2026-02-01,a@example.test,SKU-1,-3,1.00,EUR,DE", "quantity", "at least 1"),
    ("9003,2026-02-01,a@example.test,SKU-1,1,1.00,XYZ,DE", "currency", "ISO 4217"),
    (",2026-02-01,a@example.test,SKU-1,1,1.00,EUR,DE", "order_id", "required"),
    ("9005,2026-02-01,a@example.test,SKU-1", "", "has 4 fields; the header has 8"),
    ("9006,2026-02-01,a@exa\x00mple.test,SKU-1,1,1.00,EUR,DE", "", "NUL byte"),
    ("9007,2026-02-01,=HYPERLINK(evil),SKU-1,1,1.00,EUR,DE", "customer_email", "not an email"),
    (order_line(5), "order_id,sku", "duplicate key"),  # line 6 of the file has the same key
]


def test_an_import_with_known_bad_rows_reports_each_one(stack: Stack, api: FlaskClient,
                                                       etl_worker: CeleryWorker) -> None:
    good = 400
    content = orders_file(good, [line for line, _column, _reason in BAD_ROWS])
    job = import_file(api, content)
    result = job["result"]
    assert result["dataset"] == "orders"
    assert (result["rows_read"], result["rows_loaded"], result["rows_inserted"], result["rows_rejected"]) == (
        good + len(BAD_ROWS), good, good, len(BAD_ROWS))
    assert result["rows_updated"] == 0 and result["errors_url"] == f"/api/etl/{job['id']}/errors.csv"
    assert table_rows(stack, "SELECT count(*), count(DISTINCT order_id) FROM orders") == [(good, good)]

    report = errors_csv(api, job["id"])
    first_bad_line = good + 2  # header is line 1
    for offset, (_line, column, reason) in enumerate(BAD_ROWS):
        rows = [row for row in report if int(row["line"]) == first_bad_line + offset]
        assert rows, f"line {first_bad_line + offset} ({reason}) is missing from the report"
        assert any(row["column"] == column and reason in row["reason"] for row in rows), rows
    hyperlink = next(row for row in report if row["column"] == "customer_email")
    assert hyperlink["value"] == "'=HYPERLINK(evil)"  # as it was in the file, defused for spreadsheets
    nul = next(row for row in report if "NUL" in row["reason"])
    assert "\x00" not in nul["value"]

    summary = api.get(f"/api/etl/{job['id']}").get_json()
    assert summary["rows_rejected"] == len(BAD_ROWS) and summary["state"] == "succeeded"
    assert summary["finished"] is True and summary["encoding"] == "utf-8" and summary["delimiter"] == ","


def test_existing_rows_are_updated_or_left_alone_and_a_reimport_changes_nothing(
    stack: Stack, api: FlaskClient, etl_worker: CeleryWorker
) -> None:
    import_file(api, orders_file(100))
    changed = [line.replace(",EUR,", ",USD,").replace(",JPY,", ",USD,").replace(",GBP,", ",USD,")
               .replace(",KWD,", ",USD,") for line in (order_line(i) for i in range(1, 11))]
    # 10 known rows with another currency (updated), 90 identical (unchanged), 50 new (inserted)
    content = ("\n".join([ORDERS_HEADER, *changed, *(order_line(i) for i in range(11, 151))]) + "\n").encode()
    result = import_file(api, content)["result"]
    updated = sum(1 for i in range(1, 11) if ",USD," not in order_line(i))
    assert (result["rows_inserted"], result["rows_updated"], result["rows_unchanged"]) == (
        50, updated, 100 - updated)

    again = import_file(api, content)["result"]
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 150)
    assert table_rows(stack, "SELECT count(*) FROM orders") == [(150,)]


def test_a_reimport_does_not_rewrite_invoiced_order_lines(
    stack: Stack, api: FlaskClient, etl_worker: CeleryWorker
) -> None:
    import_file(api, orders_file(200))
    invoice = uuid.uuid4()
    with stack.db.transaction() as session:  # lines 1-5 billed, as the batch invoice job leaves them
        session.execute(text("UPDATE orders SET invoice_id = :invoice WHERE order_id <= 5"),
                        {"invoice": invoice.hex if stack.backend == "sqlite" else invoice})
    billed_before = table_rows(stack, "SELECT order_id, quantity, unit_price, currency FROM orders "
                                      "WHERE order_id <= 5 ORDER BY order_id")
    # Every line's quantity changes; lines 1-5 are invoiced, 6-200 are not; line 2 of the file is order 1.
    content = ("\n".join([ORDERS_HEADER, *(bump_quantity(order_line(i)) for i in range(1, 201)),
                          order_line(3)]) + "\n").encode()
    job = import_file(api, content)
    result = job["result"]
    assert (result["rows_updated"], result["rows_rejected"]) == (195, 6)  # 5 billed + the duplicate of order 3
    report = errors_csv(api, job["id"])
    billed = [row for row in report if "already invoiced" in row["reason"]]
    assert sorted(int(row["line"]) for row in billed) == [2, 3, 4, 5, 6]
    assert all(row["column"] == "quantity" and "would change quantity" in row["reason"] for row in billed), billed
    assert table_rows(stack, "SELECT order_id, quantity, unit_price, currency FROM orders "
                             "WHERE order_id <= 5 ORDER BY order_id") == billed_before
    assert table_rows(stack, "SELECT count(*) FROM orders WHERE invoice_id IS NOT NULL") == [(5,)]

    unchanged_billed = ("\n".join([ORDERS_HEADER, *(order_line(i) for i in range(1, 6))]) + "\n").encode()
    again = import_file(api, unchanged_billed)["result"]  # the billed lines as they were: nothing to refuse
    assert (again["rows_rejected"], again["rows_unchanged"]) == (0, 5)


def bump_quantity(line: str) -> str:
    fields = line.split(",")
    fields[4] = str(int(fields[4]) + 1)
    return ",".join(fields)


def test_latin1_semicolons_any_header_order_and_unknown_columns(
    stack: Stack, api: FlaskClient, etl_worker: CeleryWorker
) -> None:
    content = ("NAME;Customer_ID;Email;loyalty_tier;Country\n"
               "Jürgen Müller;1;JM@Example.test;gold;de\n"
               "José Núñez;2;jose@example.test;;es\n"
               "Ørsted A/S;3;ir@orsted.test;;DK\n").encode("latin-1")
    job = import_file(api, content, dataset="customers")
    assert job["result"]["unknown_columns"] == ["loyalty_tier"]
    assert job["result"]["rows_inserted"] == 3
    assert api.get(f"/api/etl/{job['id']}").get_json()["encoding"] == "latin-1"
    assert table_rows(stack, "SELECT customer_id, name, email, country, tax_id FROM customers ORDER BY 1") == [
        (1, "Jürgen Müller", "jm@example.test", "DE", None),
        (2, "José Núñez", "jose@example.test", "ES", None),
        (3, "Ørsted A/S", "ir@orsted.test", "DK", None),
    ]


def test_gzip_with_a_bom_tabs_and_quoted_fields(stack: Stack, api: FlaskClient, etl_worker: CeleryWorker) -> None:
    body = ("\ufeffcustomer_id\tname\temail\tcountry\ttax_id\n"
            '1\t"Łódź Trading, ""Ltd"""\tlodz@example.test\tPL\tPL123\n'
            '2\t"Two\nLines GmbH"\ttwo@example.test\tDE\t\n'
            "3\tThird\tthird@example.test\tde\t\n")
    job = import_file(api, gzip.compress(body.encode("utf-8")), dataset="customers", filename="c.csv.gz")
    assert job["result"]["rows_inserted"] == 3 and job["result"]["rows_rejected"] == 0
    assert table_rows(stack, "SELECT name, tax_id FROM customers ORDER BY customer_id") == [
        ('Łódź Trading, "Ltd"', "PL123"), ("Two\nLines GmbH", None), ("Third", None)]


def test_a_stray_quote_early_in_a_file_loses_no_row(stack: Stack, api: FlaskClient, etl_worker: CeleryWorker) -> None:
    stray = '3,2026-01-03,c@example.test,SKU 3.5" Floppy,1,1.00,EUR,DE'
    content = orders_file(2) + (stray + "\n").encode() + orders_file(12_000, start=4).split(b"\n", 1)[1]
    result = import_file(api, content)["result"]
    assert (result["rows_read"], result["rows_inserted"], result["rows_rejected"]) == (12_003, 12_003, 0)
    assert table_rows(stack, "SELECT sku FROM orders WHERE order_id = 3") == [('SKU 3.5" Floppy',)]
    assert table_rows(stack, "SELECT count(*) FROM orders") == [(12_003,)]


def test_a_line_number_counts_physical_lines_after_a_multiline_field(
    api: FlaskClient, etl_worker: CeleryWorker
) -> None:
    body = ("customer_id,name,email,country\n"
            '1,"Multi\nline\nname",m@example.test,DE\n'
            "2,Bad Country,b@example.test,XX\n")
    job = import_file(api, body.encode(), dataset="customers", state="failed")  # 1 of 2 rejected: 50 % > 5 %
    assert [(r["line"], r["column"]) for r in errors_csv(api, job["id"])] == [("5", "country")]


# --- upload refusals -----------------------------------------------------------------------------

def test_an_unknown_dataset_is_422_listing_the_known_ones(stack: Stack, api: FlaskClient) -> None:
    error = assert_error(upload(api, orders_file(1), dataset="invoices"), 422)
    assert error["fields"][0]["field"] == "dataset"
    assert "customers" in error["fields"][0]["reason"] and "orders" in error["fields"][0]["reason"]


def stored_uploads(stack: Stack) -> set[Path]:
    return set(stack.settings.upload_dir.glob("*")) if stack.settings.upload_dir.exists() else set()


def test_a_missing_required_column_is_422_naming_it_and_keeps_no_file(stack: Stack, api: FlaskClient) -> None:
    before = stored_uploads(stack)
    content = b"order_id,order_date,customer_email,sku,quantity,currency,country\n1,2026-01-01,a@b.co,S,1,EUR,DE\n"
    error = assert_error(upload(api, content), 422)
    assert error["fields"] == [{"field": "file", "reason": "missing required column(s): unit_price"}]
    assert stored_uploads(stack) == before


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty"), (b"\x00\x01\x02\x03" * 100, "NUL"), (b"\n\n", "blank")],
    ids=["empty", "binary", "blank-header"],
)
def test_an_unreadable_file_is_422(api: FlaskClient, content: bytes, reason: str) -> None:
    error = assert_error(upload(api, content), 422)
    assert error["fields"][0]["field"] == "file" and reason in error["fields"][0]["reason"]


def test_no_file_is_422(api: FlaskClient) -> None:
    response = api.post("/api/etl", data={"dataset": "orders"}, content_type="multipart/form-data")
    assert assert_error(response, 422)["fields"][0]["field"] == "file"


def test_a_file_over_max_upload_mb_is_413_and_leaves_nothing(stack: Stack, tmp_path: Path) -> None:
    app = stack.app(max_upload_mb=1)
    client = token_client(app, stack.account("operator").token)
    before = stored_uploads(stack)
    big = write_orders(tmp_path / "big.csv", 30_000).read_bytes()
    assert len(big) > 1024 * 1024
    error = assert_error(upload(client, big), 413)
    assert "1 MiB" in error["message"]
    assert stored_uploads(stack) == before


# --- thresholds, cancel and crashes --------------------------------------------------------------

def test_too_many_rejects_fail_the_job_and_keep_the_report(stack: Stack, api: FlaskClient,
                                                           etl_worker: CeleryWorker) -> None:
    bad = [f"{9000 + i},not-a-date,a@example.test,SKU-1,1,1.00,EUR,DE" for i in range(10)]
    job = import_file(api, orders_file(90, bad), state="failed")
    assert job["error"]["type"] == "TooManyRejects"
    message = job["error"]["message"]
    assert "10 of 100 rows (10.0 %)" in message and "90 valid rows are committed" in message
    assert job["error"]["details"]["rows_loaded"] == 90
    assert len(errors_csv(api, job["id"])) == 10
    assert table_rows(stack, "SELECT count(*) FROM orders") == [(90,)]


def test_an_all_or_nothing_dataset_over_the_threshold_changes_nothing(
    stack: Stack, api: FlaskClient, etl_worker: CeleryWorker
) -> None:
    import_file(api, b"customer_id,name,email,country\n1,Old Name,old@example.test,DE\n", dataset="customers")
    rows = [f"{i},New {i},n{i}@example.test,DE" for i in range(1, 9)] + ["9,Bad,not-an-email,DE", "10,Bad,b@x.io,XX"]
    job = import_file(api, ("customer_id,name,email,country\n" + "\n".join(rows) + "\n").encode(),
                      dataset="customers", state="failed")
    assert "2 of 10 rows (20.0 %)" in job["error"]["message"]
    assert "nothing was loaded (all-or-nothing dataset)" in job["error"]["message"]
    assert job["error"]["details"]["rows_loaded"] == 0
    assert table_rows(stack, "SELECT customer_id, name FROM customers") == [(1, "Old Name")]
    assert sorted(row["line"] for row in errors_csv(api, job["id"])) == ["10", "11"]


def test_an_all_or_nothing_dataset_under_the_threshold_loads_every_valid_row(
    stack: Stack, api: FlaskClient, etl_worker: CeleryWorker
) -> None:
    rows = [f"{i},Name {i},c{i}@example.test,FR" for i in range(1, 41)] + ["41,Bad,c41@example.test,XX"]
    job = import_file(api, ("customer_id,name,email,country\n" + "\n".join(rows) + "\n").encode(),
                      dataset="customers")
    assert (job["result"]["rows_read"], job["result"]["rows_inserted"], job["result"]["rows_rejected"]) == (41, 40, 1)
    assert job["progress"]["message"] == "loading: 40 of 40 valid rows loaded"
    assert len(errors_csv(api, job["id"])) == 1  # reported once, by the validation pass
    assert table_rows(stack, "SELECT count(*) FROM customers") == [(40,)]


@pytest.fixture
def big_orders(tmp_path: Path) -> bytes:
    return write_orders(tmp_path / "big.csv", 200_000, extra_lines=["1,2026-01-01,x@example.test"]).read_bytes()


def test_a_worker_killed_mid_import_resumes_without_duplicates(
    stack: Stack, api: FlaskClient, etl_workers: WorkerSlot, big_orders: bytes
) -> None:
    worker = etl_workers.ensure()
    response = upload(api, big_orders)
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    wait_for_job(api, job_id, lambda j: j["state"] == "running" and j["progress"]["done"] >= 2 * CHUNK_ROWS,
                 timeout=60, what="the import to commit a few chunks")
    worker.kill_all()
    partial = table_rows(stack, "SELECT count(*) FROM orders")[0][0]
    assert 0 < partial < 200_000, "the kill came too late to interrupt the import"
    etl_workers.ensure()  # a new worker gets the redelivered message
    job = wait_for_state(api, job_id, "succeeded", timeout=120)
    assert [attempt["outcome"] for attempt in job["attempt_history"]] == ["lost", "succeeded"]
    result = job["result"]
    assert (result["rows_read"], result["rows_inserted"], result["rows_updated"], result["rows_rejected"]) == (
        200_001, 200_000, 0, 1)
    assert table_rows(stack, "SELECT count(*), count(DISTINCT order_id) FROM orders") == [(200_000, 200_000)]
    assert len(errors_csv(api, job_id)) == 1  # the rejected row is reported once, not once per attempt


def test_cancel_stops_at_a_chunk_boundary_and_keeps_what_is_committed(
    stack: Stack, api: FlaskClient, etl_worker: CeleryWorker, big_orders: bytes
) -> None:
    response = upload(api, big_orders)
    job_id = response.get_json()["id"]
    wait_for_job(api, job_id, lambda j: j["state"] == "running" and j["progress"]["done"] >= CHUNK_ROWS,
                 timeout=60, what="the import to commit a chunk")
    assert api.post(f"/api/jobs/{job_id}/cancel").status_code == 202
    job = wait_for_state(api, job_id, "cancelled", timeout=60)
    committed = table_rows(stack, "SELECT count(*) FROM orders")[0][0]
    assert job["result"]["cancelled"] is True
    assert job["result"]["rows_loaded"] == committed and committed % CHUNK_ROWS == 0 and committed < 200_000
    assert f"the {committed} rows loaded so far stay committed" in job["progress"]["message"]
    assert get_job(api, job_id)["state"] == "cancelled"


# --- the form ------------------------------------------------------------------------------------

def test_the_import_form_shows_errors_beside_the_field_and_redirects_on_success(
    stack: Stack, etl_app: Flask, etl_worker: CeleryWorker
) -> None:
    from tests.integration.test_sign_in import csrf_token, sign_in

    person = stack.account("operator")
    browser = etl_app.test_client()
    assert sign_in(browser, person.email, person.password).status_code == 302
    form = browser.get("/imports/new")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.get_data(as_text=True)
    token = csrf_token(form)

    bad = browser.post("/imports/new", data={"csrf_token": token, "dataset": "orders",
                                             "file": (io.BytesIO(b"order_id,sku\n1,A\n"), "o.csv")},
                       content_type="multipart/form-data")
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert 'id="file-error"' in page and "missing required column(s): order_date" in page
    assert 'aria-describedby="file-error"' in page

    good = browser.post("/imports/new", data={"csrf_token": token, "dataset": "orders",
                                              "file": (io.BytesIO(orders_file(3)), "o.csv")},
                        content_type="multipart/form-data")
    assert good.status_code == 303 and good.headers["Location"].startswith("/imports?new=")
    job_id = good.headers["Location"].split("=", 1)[1]
    wait_for_state(token_client(etl_app, person.token), job_id, "succeeded")
    listing = browser.get("/imports").get_data(as_text=True)
    assert "o.csv" in listing and f"/api/etl/{job_id}/errors.csv" in listing


def test_the_import_form_refuses_a_post_without_csrf_token(stack: Stack, etl_app: Flask) -> None:
    from tests.integration.test_sign_in import sign_in

    person = stack.account("operator")
    browser = etl_app.test_client()
    sign_in(browser, person.email, person.password)
    before = stored_uploads(stack)
    response = browser.post("/imports/new", data={"dataset": "orders", "file": (io.BytesIO(orders_file(3)), "o.csv")},
                            content_type="multipart/form-data")
    assert response.status_code == 400
    assert stored_uploads(stack) == before


# --- bounds: a small upload cannot cost a large resource (issue 14) ------------------------------

def pool_peak_rss(worker: CeleryWorker) -> int:
    """The largest peak resident size (VmHWM) of the worker's pool processes, in bytes."""
    peaks = []
    for child in psutil.Process(worker.pid).children(recursive=True):
        status = Path(f"/proc/{child.pid}/status").read_text()
        peaks.append(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024)  # type: ignore[union-attr]
    return max(peaks)


def gzip_stream(parts: Iterator[bytes]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6) as out:
        for part in parts:
            out.write(part)
    return buffer.getvalue()


def test_one_unbroken_line_in_a_small_gzip_is_rejected_without_growing_the_worker(
    stack: Stack, api: FlaskClient, etl_worker: CeleryWorker
) -> None:
    import_file(api, orders_file(10))  # the pool process has imported once: its baseline
    before = pool_peak_rss(etl_worker)
    line_mb = 400
    content = gzip_stream(iter([(ORDERS_HEADER + "\n").encode(), *(order_line(i).encode() + b"\n" for i in
                                                                  range(1, 101)),
                                *(b"x" * (1 << 20) for _ in range(line_mb)), b"\n",
                                *(order_line(i).encode() + b"\n" for i in range(101, 201))]))
    assert len(content) < 2 << 20  # a small upload
    job = import_file(api, content, filename="long.csv.gz", timeout=120)
    result = job["result"]
    assert (result["rows_loaded"], result["rows_rejected"]) == (200, 1)
    [rejected] = errors_csv(api, job["id"])
    assert rejected["line"] == "102" and "longer than 1 MiB" in rejected["reason"]
    grown = pool_peak_rss(etl_worker) - before
    assert grown < (line_mb << 20) // 3, f"the worker grew by {grown >> 20} MB for a {line_mb} MB line"


def test_a_gzip_that_unpacks_past_the_limit_fails_readably_and_loads_nothing_past_it(
    stack: Stack, api: FlaskClient, etl_worker: CeleryWorker
) -> None:
    row = (order_line(1) + "\n").encode()
    copies = ((MAX_UNCOMPRESSED_MB + 64) << 20) // len(row)  # the same row again and again: duplicates
    content = gzip_stream(iter([(ORDERS_HEADER + "\n").encode(), *(row * 100_000 for _ in range(copies // 100_000))]))
    assert len(content) < 4 << 20
    job = import_file(api, content, filename="bomb.csv.gz", state="failed", timeout=120)
    assert job["error"]["type"] == "UnpackLimitExceeded"
    assert f"more than {MAX_UNCOMPRESSED_MB} MB (MAX_UNCOMPRESSED_MB)" in job["error"]["message"]
    assert table_rows(stack, "SELECT count(*) FROM orders") == [(0,)]


def test_a_file_of_rejects_stops_early_and_its_report_is_bounded(
    stack: Stack, api: FlaskClient, etl_worker: CeleryWorker
) -> None:
    rows = 60_000
    bad = [f"{900_000 + i},not-a-date,a@example.test,SKU-1,1,1.00,EUR,DE" for i in range(rows)]
    job = import_file(api, ("\n".join([ORDERS_HEADER, *bad]) + "\n").encode(), state="failed", timeout=120)
    details = job["error"]["details"]
    assert details["rows_read"] < 3 * CHUNK_ROWS  # stopped at the first chunks, not at line 60,001
    assert "stopped after line" in job["error"]["message"]
    report = errors_csv(api, job["id"])
    assert len(report) == ERRORS_MAX_ROWS + 1
    assert report[-1]["line"] == "" and f"{details['rows_rejected'] - ERRORS_MAX_ROWS} more rejected rows are not " \
        "listed" in report[-1]["reason"]


def test_a_report_stops_listing_at_its_bound_and_says_how_many_more(
    stack: Stack, api: FlaskClient, etl_worker: CeleryWorker
) -> None:
    total, every = 75_000, 30  # 2,500 rejects, 3.3 %: under the threshold, over the report's bound
    lines = [f"{i},not-a-date,a@example.test,SKU-1,1,1.00,EUR,DE" if i % every == 0 else order_line(i)
             for i in range(1, total + 1)]
    job = import_file(api, ("\n".join([ORDERS_HEADER, *lines]) + "\n").encode(), timeout=180)
    rejected = job["result"]["rows_rejected"]
    assert rejected == total // every
    report = errors_csv(api, job["id"])
    assert len(report) == ERRORS_MAX_ROWS + 1
    assert f"{rejected - ERRORS_MAX_ROWS} more rejected rows are not listed" in report[-1]["reason"]
