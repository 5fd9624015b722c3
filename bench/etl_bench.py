"""ETL benchmark: the import job on generated orders files, beside a raw load and pandas, in one run.

For each backend (PostgreSQL, SQLite) and each file size, a fresh `celery worker -Q etl -c 1`
imports the file uploaded through the API; the job's own start and finish times give rows/s and
the pool process's VmHWM (the kernel's peak resident set) gives its peak memory. Beside it, on the
same database and the same file: a raw load (psycopg COPY into a table with the same primary key,
and into one without any index; csv + executemany on SQLite) and pandas `read_csv` + `to_sql`.

Run: .venv/bin/python bench/etl_bench.py [--rows 100000,1000000] [--baseline-rows 1000000]
     [--backends postgresql,sqlite] [--out docs/benchmarks-etl.md]
The raw loads and pandas run on the `--baseline-rows` file (default: the biggest). It uses a throwaway
RabbitMQ vhost and PostgreSQL database (bench/stack.py), and a temporary directory.
"""
from __future__ import annotations

import argparse
import csv
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import bench_stack
from jobs.db import Database
from tests.support.accounts import token_client
from tests.support.csv_files import write_orders
from tests.support.processes import CeleryWorker, wait_for
from webapp import create_app

ORDERS_DDL = """CREATE TABLE {name} (order_id bigint NOT NULL, order_date date NOT NULL,
 customer_email varchar(254) NOT NULL, sku varchar(64) {collate} NOT NULL, quantity integer NOT NULL,
 unit_price numeric(18, 4) NOT NULL, currency varchar(3) NOT NULL, country varchar(2) NOT NULL{key})"""
PK = ", PRIMARY KEY (order_id, sku)"


@dataclass
class Measure:
    backend: str
    path: str
    rows: int
    seconds: float
    peak_rss_mb: float | None = None

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def import_job(env: dict[str, str], log_dir: Path, client: object, path: Path, rows: int, backend: str) -> Measure:
    """Upload `path` and let a fresh worker import it; the job's run time and the pool process's peak RSS."""
    worker = CeleryWorker(env, log_dir, queues="etl", concurrency=1).start()
    try:
        with path.open("rb") as handle:
            response = client.post("/api/etl", data={"dataset": "orders", "file": (handle, "orders.csv")},  # type: ignore[attr-defined]
                                   content_type="multipart/form-data")
        assert response.status_code == 202, response.get_data(as_text=True)
        job_id = response.get_json()["id"]
        pool = worker.pool_children()[0]
        job = wait_for(lambda: (lambda j: j if j["state"] in ("succeeded", "failed") else None)(
            client.get(f"/api/jobs/{job_id}").get_json()), 900, interval=0.2, what="the import")  # type: ignore[attr-defined]
        assert job["state"] == "succeeded", job  # type: ignore[index]
        peak = vm_hwm_mb(pool.pid)
        result = job["result"]  # type: ignore[index]
        assert result["rows_loaded"] == rows, result
        return Measure(backend, "import job (validate + upsert + report)", rows, result["duration_s"], peak)
    finally:
        worker.stop()


def raw_postgres(url: str, path: Path, rows: int) -> list[Measure]:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    measures = []
    for label, key in (("raw COPY, same primary key", PK), ("raw COPY, no index", "")):
        with psycopg.connect(dsn, autocommit=True) as conn:
            name = "bench_raw_pk" if key else "bench_raw_heap"
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(ORDERS_DDL.format(name=name, collate='COLLATE "C"', key=key))

            def load(name: str = name) -> None:
                with conn.cursor() as cursor, path.open("rb") as handle, cursor.copy(
                        f"COPY {name} FROM STDIN (FORMAT csv, HEADER true)") as copy:
                    while piece := handle.read(1 << 20):
                        copy.write(piece)
            measures.append(Measure("postgresql", label, rows, timed(load)))
    return measures


def raw_sqlite(url: str, path: Path, rows: int) -> list[Measure]:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    conn.execute("DROP TABLE IF EXISTS bench_raw_pk")
    conn.execute(ORDERS_DDL.format(name="bench_raw_pk", collate="", key=PK))

    def load() -> None:
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            conn.executemany("INSERT INTO bench_raw_pk VALUES (?, ?, ?, ?, ?, ?, ?, ?)", reader)
        conn.commit()
    measure = Measure("sqlite", "raw csv + executemany, same primary key", rows, timed(load))
    conn.close()
    return [measure]


def pandas_load(backend: str, db: Database, path: Path, rows: int) -> Measure:
    import pandas as pd

    def load() -> None:
        frame = pd.read_csv(path)
        frame.to_sql("bench_pandas", db.engine, if_exists="replace", index=False, chunksize=10_000)
    return Measure(backend, "pandas read_csv + to_sql", rows, timed(load))


def run(sizes: list[int], out: Path | None, baseline_rows: int | None = None,
        backends: tuple[str, ...] = ("postgresql", "sqlite")) -> list[Measure]:
    measures: list[Measure] = []
    baseline_rows = baseline_rows or max(sizes)
    with tempfile.TemporaryDirectory(prefix="etl-bench-") as tmp:
        scratch = Path(tmp)
        files = {rows: write_orders(scratch / f"orders-{rows}.csv", rows) for rows in sorted({*sizes, baseline_rows})}
        for backend in backends:
            with bench_stack("etl-bench", backend, scratch, {"MAX_UPLOAD_MB": "4096"}) as stack:
                client = token_client(create_app(stack.settings), stack.token)
                for rows in sizes:
                    with stack.db.transaction() as session:
                        session.execute(text("DELETE FROM orders"))
                    measures.append(import_job(stack.env, stack.log_dir, client, files[rows], rows, backend))
                    print(measures[-1], flush=True)
                path = files[baseline_rows]
                raw = raw_postgres(stack.database_url, path, baseline_rows) if backend == "postgresql" else raw_sqlite(
                    stack.database_url, path, baseline_rows)
                measures += raw
                measures.append(pandas_load(backend, stack.db, path, baseline_rows))
                print(*raw, measures[-1], sep="\n", flush=True)
    if out:
        report = render(measures, baseline_rows)
        print(report)
        out.write_text(report)
    return measures


def render(measures: list[Measure], rows: int) -> str:
    lines = [
        "# ETL benchmark",
        "",
        f"Generated by `bench/etl_bench.py` on {time.strftime('%Y-%m-%d')}: {platform.node() and 'this machine'}, "
        f"{psutil.cpu_count()} cores, {round(psutil.virtual_memory().total / 2**30)} GiB, Python "
        f"{platform.python_version()}. The database server, the worker and the benchmark share the same cores.",
        "",
        "| backend | path | rows | seconds | rows/s | × raw load | × pandas | worker peak RSS |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend in dict.fromkeys(m.backend for m in measures):
        ours = [m for m in measures if m.backend == backend]
        raw = next(m for m in ours if m.path.startswith("raw") and m.rows == rows)
        pandas = next(m for m in ours if m.path.startswith("pandas"))
        for m in ours:
            lines.append(
                f"| {backend} | {m.path} | {m.rows:,} | {m.seconds:.2f} | {m.rows_per_s:,.0f} | "
                f"{m.rows_per_s / raw.rows_per_s:.2f} | {m.rows_per_s / pandas.rows_per_s:.2f} | "
                + (f"{m.peak_rss_mb:.0f} MB |" if m.peak_rss_mb else "|"))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated file sizes")
    parser.add_argument("--baseline-rows", type=int, default=None, help="file size for the raw and pandas loads")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    args = parser.parse_args()
    run([int(n) for n in args.rows.split(",")], args.out, args.baseline_rows, tuple(args.backends.split(",")))


if __name__ == "__main__":
    main()
