"""Invoice benchmark: invoice jobs per second end to end, beside the bare PDF render of the same invoice.

In one run, on this machine:
- the bare render of a 20-line invoice by invoicing.pdf with its embedded DejaVu font, in this
  process, one core; and the same layout with reportlab's built-in Helvetica (no font to embed);
- invoice jobs end to end: N invoices of the same 20 lines POSTed to /api/invoices (no email), run by
  one `celery worker -Q invoices -c 1` (one core, like the bare render); the rate is N over the time
  from the first job's creation to the last one's finish, on PostgreSQL and on SQLite.

Run: .venv/bin/python bench/invoice_bench.py [--jobs 200] [--out docs/benchmarks-invoices.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import load_settings  # noqa: E402
from invoicing.money import LineItem, compute_totals  # noqa: E402
from invoicing.pdf import InvoiceDocument, Party, PdfLine, render_invoice_pdf  # noqa: E402
from jobs.db import Database  # noqa: E402
from tests.support.accounts import make_account, token_client  # noqa: E402
from tests.support.processes import CeleryWorker, wait_for  # noqa: E402
from tests.support.services import postgres_database, rabbit_vhost  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.commands import upgrade_database  # noqa: E402

LINES = 20
ITEMS = [{"description": f"Widget Łódź Müller José Ørsted #{i}", "quantity": "2", "unit_price": "12.3456",
          "tax_rate": "21" if i % 2 else "10"} for i in range(LINES)]
BODY = {"customer": {"name": "Łódź Trading Sp. z o.o.", "email": "ap@lodz.test", "address": "ul. Piotrkowska 1",
                     "country": "PL"}, "currency": "EUR", "items": ITEMS, "send_email": False}


def the_document() -> InvoiceDocument:
    items = [LineItem(i["description"], Decimal(i["quantity"]), Decimal(i["unit_price"]), Decimal(i["tax_rate"]))
             for i in ITEMS]
    totals = compute_totals("EUR", items)
    return InvoiceDocument(
        number="INV-2026-000001", seller=Party("Seller GmbH", "Hauptstr. 1\n10115 Berlin", "billing@seller.test"),
        buyer=Party("Łódź Trading Sp. z o.o.", "ul. Piotrkowska 1", "ap@lodz.test", country="PL"),
        currency="EUR", issue_date=date(2026, 11, 23), due_date=date(2026, 12, 23),
        lines=tuple(PdfLine(i.description, i.quantity, i.unit_price, i.tax_rate, a)
                    for i, a in zip(items, totals.line_amounts, strict=True)),
        taxes=tuple((t.rate, t.base, t.tax) for t in totals.taxes), subtotal=totals.subtotal,
        tax_total=totals.tax_total, total=totals.total)


def render_rate(fonts: tuple[str, str] | None, seconds: float = 5.0) -> float:
    doc = the_document()
    render_invoice_pdf(doc, *([fonts] if fonts else []))  # warm-up (font registration)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        render_invoice_pdf(doc, *([fonts] if fonts else []))
        count += 1
    return count / (time.perf_counter() - started)


@contextmanager
def database(backend: str, scratch: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{scratch / 'bench.db'}"
    else:
        with postgres_database("invoice_bench") as url:
            yield url


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def job_rate(backend: str, jobs: int, scratch: Path) -> dict[str, Any]:
    with rabbit_vhost("invoice-bench") as broker_url, database(backend, scratch) as url:
        env = {**os.environ, "APP_ENV": "development", "DATABASE_URL": url, "BROKER_URL": broker_url,
               "VAR_DIR": str(scratch / f"var-{backend}"),
               "SUBMIT_RATE_LIMIT_PER_TOKEN": "100000 per minute", "SUBMIT_RATE_LIMIT_PER_USER": "100000 per minute"}
        settings = load_settings(env)
        upgrade_database(settings)
        db = Database(settings.resolved_database_url)
        client = token_client(create_app(settings), make_account(db, "operator").token)
        worker = CeleryWorker(env, scratch / "logs", queues="invoices", concurrency=1).start()
        try:
            ids = []
            for _ in range(jobs):
                response = client.post("/api/invoices", json=BODY)
                assert response.status_code == 202, response.get_data(as_text=True)
                ids.append(response.get_json()["id"])
            last = client.get(f"/api/jobs/{ids[-1]}")
            wait_for(lambda: client.get(f"/api/jobs/{ids[-1]}").get_json()["state"] == "succeeded", 600,
                     interval=0.2, what="the last invoice")
            done = [client.get(f"/api/jobs/{job_id}").get_json() for job_id in ids]
        finally:
            worker.stop()
            db.dispose()
    assert all(job["state"] == "succeeded" for job in done), [j for j in done if j["state"] != "succeeded"][:1]
    assert last.status_code == 200
    first_created = min(parse_time(job["created_at"]) for job in done)
    last_finished = max(parse_time(job["finished_at"]) for job in done)
    elapsed = (last_finished - first_created).total_seconds()
    numbers = sorted(job["result"]["number"] for job in done)
    assert len(set(numbers)) == jobs
    return {"jobs": jobs, "seconds": elapsed, "rate": jobs / elapsed}


def render(results: dict[str, Any]) -> str:
    bare, builtin = results["render_dejavu"], results["render_helvetica"]
    lines = [
        "# Invoice benchmark",
        "",
        f"Generated by `bench/invoice_bench.py` on {time.strftime('%Y-%m-%d')}: {psutil.cpu_count()} cores, "
        f"{round(psutil.virtual_memory().total / 2**30)} GiB, Python {platform.python_version()}. The same "
        f"{LINES}-line invoice everywhere; the web app (test client), the worker, the broker and the database "
        "share the machine's cores; the worker runs one process, like the bare render's one core.",
        "",
        "| path | figure | baseline in the same run | ratio | target |",
        "| --- | --- | --- | ---: | --- |",
        f"| PDF render, embedded DejaVu (the renderer used) | {bare:.0f} PDFs/s | reportlab built-in Helvetica, same "
        f"layout: {builtin:.0f} PDFs/s | {bare / builtin:.2f} | ≥ 0.5 |",
    ]
    for backend in ("postgresql", "sqlite"):
        run = results[backend]
        lines.append(f"| invoice jobs end to end, {backend} ({run['jobs']} jobs in {run['seconds']:.1f} s) | "
                     f"{run['rate']:.1f} jobs/s | bare render: {bare:.0f} PDFs/s | {run['rate'] / bare:.2f} | ≥ 0.8 |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results: dict[str, Any] = {"render_dejavu": render_rate(None), "render_helvetica": render_rate(("Helvetica", "Helvetica-Bold"))}
    print(results, flush=True)
    with tempfile.TemporaryDirectory(prefix="invoice-bench-") as tmp:
        for backend in ("postgresql", "sqlite"):
            results[backend] = job_rate(backend, args.jobs, Path(tmp))
            print(backend, results[backend], flush=True)
    report = render(results)
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
