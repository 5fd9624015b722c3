"""docs/benchmarks.md and its plots from one run's figures (also: `python -m bench.report var/bench-results.json`)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

PROFILE_LINES = 45


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}" if abs(value) < 100 else f"{value:,.0f}"


def _target_ratio(target: str) -> float | None:
    if target.startswith(">=") and "x" in target:
        return float(target[2:].split("x")[0])
    return None


def _met(figure: dict[str, Any]) -> str:
    checks = []
    ratio_target = _target_ratio(figure["target"])
    if ratio_target is not None and figure.get("ratio") is not None:
        checks.append(figure["ratio"] >= ratio_target)
    if "p99 <= " in figure["target"] and figure.get("p99_ms") is not None:
        checks.append(figure["p99_ms"] <= float(figure["target"].split("p99 <= ")[1].split(" ms")[0]))
    if figure["target"].startswith("p50 <= ") and figure.get("p50_ms") is not None:
        checks.append(figure["p50_ms"] <= float(figure["target"].split("p50 <= ")[1].split(" ms")[0]))
    if not checks:
        return ""
    return "met" if all(checks) else "**missed**"


def etl_figures(etl: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ETL targets of issue 7 as table rows: vs raw COPY, vs pandas, peak RSS over file size."""
    if not etl:
        return []
    imports = sorted((m for m in etl if m["path"].startswith("import job")), key=lambda m: m["rows"])
    raw = next(m for m in etl if m["path"] == "raw COPY, same primary key")
    pandas = next(m for m in etl if m["path"].startswith("pandas"))
    ours = next(m for m in imports if m["rows"] == raw["rows"])
    rows = [
        {"path": f"6. ETL import job, PostgreSQL, {ours['rows']:,} rows", "figure": ours["rows_per_s"],
         "unit": "rows/s", "baseline": raw["rows_per_s"], "baseline_label": "raw COPY into a table with the same primary key",
         "ratio": ours["rows_per_s"] / raw["rows_per_s"], "target": ">= 0.5x", "notes": f"{ours['seconds']:.1f} s"},
        {"path": f"6. ETL import job, PostgreSQL, {ours['rows']:,} rows", "figure": ours["rows_per_s"],
         "unit": "rows/s", "baseline": pandas["rows_per_s"], "baseline_label": "pandas read_csv + to_sql",
         "ratio": ours["rows_per_s"] / pandas["rows_per_s"], "target": ">= 5x", "notes": f"pandas {pandas['seconds']:.1f} s"},
    ]
    smallest, largest = imports[0], imports[-1]
    growth = largest["peak_rss_mb"] / smallest["peak_rss_mb"]
    rows.append({"path": f"6. ETL worker peak RSS, {smallest['rows']:,} -> {largest['rows']:,} rows",
                 "figure": largest["peak_rss_mb"], "unit": "MB", "baseline": smallest["peak_rss_mb"],
                 "baseline_label": f"peak RSS at {smallest['rows']:,} rows", "ratio": growth,
                 "target": "flat in file size", "notes": f"{largest['rows'] / smallest['rows']:.0f}x the rows",
                 "met": "met" if growth <= 1.25 else "**missed**"})
    return rows


def invoice_figures(invoices: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not invoices:
        return []
    bare = invoices["render_dejavu"]
    return [{"path": f"6. Invoice jobs end to end, {backend} ({run['jobs']} jobs, worker -c 1)", "figure": run["rate"],
             "unit": "jobs/s", "baseline": bare, "baseline_label": "bare PDF render of the same invoice, one core",
             "ratio": run["rate"] / bare, "target": ">= 0.8x", "notes": f"{run['seconds']:.1f} s"}
            for backend, run in invoices.items() if backend in ("postgresql", "sqlite")]


def table(figures: list[dict[str, Any]]) -> list[str]:
    lines = ["| path | figure | p50 / p99 | baseline, same run | ratio | target | result | notes |",
             "| --- | ---: | ---: | --- | ---: | --- | --- | --- |"]
    for f in figures:
        latency = (f"{f['p50_ms']:.1f} / {f['p99_ms']:.1f} ms" if f.get("p50_ms") is not None else "")
        baseline = f"{_fmt(f['baseline'])} — {f['baseline_label']}" if f.get("baseline") else f.get("baseline_label", "")
        ratio = f"{f['ratio']:.2f}x" if f.get("ratio") is not None else ""
        lines.append(f"| {f['path']} | {_fmt(f['figure'])} {f['unit']} | {latency} | {baseline} | {ratio} | "
                     f"{f['target']} | {f.get('met') or _met(f)} | {f.get('notes', '')} |")
    return lines


def write_plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """bench-drain-growth.png and bench-etl-growth.png (matplotlib, Agg)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = []
    growth = results.get("growth") or []
    if growth:
        fig, ax = plt.subplots(figsize=(6, 4))
        procs = [g["processes"] for g in growth]
        ax.plot(procs, [g["ours"] for g in growth], "o-", label="tracked diagnostic no-op jobs")
        ax.plot(procs, [g["bare"] for g in growth], "s--", label="bare Celery no-op task")
        ax.set_xlabel("worker processes (prefork -c N, prefetch 1, late ack)")
        ax.set_ylabel("finished per second")
        ax.set_xticks(procs)
        ax.set_ylim(bottom=0)
        ax.set_title("Drain throughput by worker processes (2-core machine)")
        ax.legend()
        fig.tight_layout()
        path = out_dir / "bench-drain-growth.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        plots.append(path)
    imports = sorted((m for m in results.get("etl") or [] if m["path"].startswith("import job")),
                     key=lambda m: m["rows"])
    if imports:
        fig, ax = plt.subplots(figsize=(6, 4))
        rows = [m["rows"] for m in imports]
        ax.plot(rows, [m["rows_per_s"] / 1000 for m in imports], "o-", color="tab:blue", label="rows/s (thousands)")
        ax.set_xscale("log")
        ax.set_xlabel("rows in the file")
        ax.set_ylabel("thousand rows/s", color="tab:blue")
        ax.set_ylim(bottom=0)
        ax2 = ax.twinx()
        ax2.plot(rows, [m["peak_rss_mb"] for m in imports], "s--", color="tab:red", label="worker peak RSS")
        ax2.set_ylabel("worker peak RSS (MB)", color="tab:red")
        ax2.set_ylim(bottom=0)
        ax.set_title("ETL import on PostgreSQL: speed and memory by file size")
        fig.tight_layout()
        path = out_dir / "bench-etl-growth.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        plots.append(path)
    return plots


def render_report(results: dict[str, Any], plots: list[Path]) -> str:
    machine = results["machine"]
    gunicorn = results.get("gunicorn", {})
    figures = [*results["figures"], *etl_figures(results.get("etl") or []), *invoice_figures(results.get("invoices"))]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`bench/run_all.py`) on {time.strftime('%Y-%m-%d')} in {results['wall_s'] / 60:.1f} "
        "minutes. Every ratio is the path's figure over a baseline measured in the same run on the same machine.",
        "",
        f"**Machine:** {machine['cpu']}, {machine['memory']}, {machine['os']}. Python {machine['python']}; "
        f"{machine['packages']}; RabbitMQ {machine['rabbitmq']}; {machine['postgresql']}; {machine['wrk']}.",
        "",
        "**The load generator shares the machine's 2 cores** with gunicorn, the Celery workers, RabbitMQ and "
        "PostgreSQL: wrk (2 threads, 16 keep-alive connections, on loopback) takes CPU from the server it measures, "
        "and so does the benchmark process itself in the publish and drain runs. The figures are lower than on a "
        "machine where the client runs elsewhere, and so are the baselines, which pay the same tax.",
        "",
        f"**Web server:** `config/gunicorn.conf.py` as it stands: worker_class `{gunicorn.get('worker_class')}`, "
        f"{gunicorn.get('workers')} workers, {gunicorn.get('threads')} threads, `APP_ENV=production`, access log on. "
        "The only departure from production is the submit rate limit (lifted, or a benchmark measures the limiter). "
        "Queues are quorum queues with publisher confirms, as in production; the bare baselines use a quorum queue too.",
        "",
        *table(figures),
        "",
    ]
    for plot in plots:
        lines += [f"![{plot.stem}]({plot.name})", ""]
    if results.get("growth"):
        lines += ["Drain growth (jobs/s):", "", "| worker processes | backlog | tracked jobs | bare Celery | ratio |",
                  "| ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {g['processes']} | {g['backlog']:,} | {g['ours']:.1f} | {g['bare']:.1f} | {g['ours'] / g['bare']:.2f}x |"
                  for g in results["growth"]]
        lines.append("")
    etl = results.get("etl") or []
    if etl:
        lines += ["ETL on PostgreSQL (import job: validate + upsert + report, one worker process):", "",
                  "| path | rows | seconds | rows/s | worker peak RSS |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {m['path']} | {m['rows']:,} | {m['seconds']:.2f} | {m['rows_per_s']:,.0f} | "
                  + (f"{m['peak_rss_mb']:.0f} MB |" if m.get("peak_rss_mb") else "|") for m in etl]
        lines.append("")
    lines += [*ANALYSIS.strip().splitlines(), ""]
    for name, text in (results.get("profiles") or {}).items():
        body = text.strip().splitlines()
        lines += [f"<details><summary>pyinstrument: {name} (first {PROFILE_LINES} lines)</summary>", "", "```",
                  *body[:PROFILE_LINES], "```", "", "</details>", ""]
    return "\n".join(lines)


ANALYSIS = """
## What dominates, and the misses

The profiles below (pyinstrument, bench/profile_paths.py) run each path's own code in one process
on the same stack, without gunicorn or a broker fetch, so they show where a request's or a job's
CPU and waits go. Durations are per 400 requests or jobs (2,000 outbox rows for the relay).

**Submit (target >= 1.0x of bare `delay()`, p99 <= 50 ms: missed by 6-7x, p99 by 7-9x between runs).**
The baseline does one thing per job: publish and wait for the broker's confirm. An accepted job
here is a durable database write before the publish, because the job row is what `GET /api/jobs/<id>`
answers and what the relay re-publishes after a broker outage. Per request the profile shows: the
job, its outbox row and its audit entry flushed and committed (a WAL fsync), the publish with its
confirm, a second transaction that marks the outbox row sent (a second fsync), and the bearer-token
lookup (a query) before any of it. The job's transaction, the mark-sent transaction and the token
query are about two thirds of the request; the publish with its confirm about a sixth. Pipelined
confirms (below) took one of the two broker round trips per job away (the task message and its
`task-sent` event are now confirmed by one wait).
What would close most of the gap: marking outbox rows sent in batches off the request path (the
relay's grace period already tolerates a late mark, and a duplicate delivery runs once), and a
token cache of a few seconds. With 16 clients on 2 shared cores the p99 is queueing: each worker
thread waits for the CPU that wrk, PostgreSQL and RabbitMQ also need.

**Status (target >= 0.6x of a bare Flask endpoint, p99 <= 20 ms; 304 >= 0.8x: missed by 6-10x between runs).**
The baseline touches no database and checks no token. Ours authenticates the bearer token (one
query with a join, now reading plain columns instead of two ORM objects; about a quarter of the
request in the profile before that change, and the runs' noise hides what it saved), loads the job, and for a
full answer its attempts and audit trail (about half of the request), then runs the access policy,
the rate limiter's hooks, the security headers and the access log. Done here: `get_job` reads Core
rows instead of ORM objects, and a 304 needs the job row only (one query instead of three), which is
why the 304 path outruns the full answer in the table. What is left is the token query and SQLAlchemy's per-statement cost, on two cores that
also run PostgreSQL and wrk. A per-process token cache (seconds), or session cookies for pollers,
is the next step; a bare endpoint without a database stays out of reach on this machine.

**Relay (target >= 0.5x of raw kombu without confirms: missed, 0.2-0.25x).** Before: one confirm
round trip per publish, and two publishes per job (the task and Celery's `task-sent` event), so
about 700 messages/s. Now `jobs/outbox.py` pipelines the confirms: a batch of 200 is sent and the
broker's acks (often covering many messages) are awaited once, keeping the contract that only a
confirmed prefix is marked sent. The profile has no confirm wait left; what dominates is Celery's
`send_task` (routing, message building, JSON) and the second publish per job, the `task-sent` event
that Flower shows, while the baseline publishes pre-built messages once. Turning sent events off
for the relay would take the event publish away (about a quarter of the send time) at the price of
Flower's "sent" state for relayed jobs; not done without the owner of monitoring.

**Drain (target >= 0.7x of a bare Celery no-op: missed, about 0.1x).** A bare no-op costs Celery's
own machinery (1-1.5 ms). A tracked job costs two transactions: `begin_attempt` (SELECT ... FOR UPDATE,
the attempt row, the job's state) and the outcome (the job row locked again, the attempt closed),
each with a commit, plus the task events (received, started, succeeded) that the worker sends for
Flower and the bare worker does not. In the profile the two commits and the two row locks are nearly all of the ~20 ms per job (the profiler doubles it: unprofiled, in one process, a tracked no-op takes about 9 ms, of which SQLAlchemy's unit of work is most; a durable commit on this machine is 0.4 ms and a point query 0.1 ms, so the database server is not what costs).
That is the price of "never run twice, never lost, progress and attempts visible": it can shrink
(one round trip with `UPDATE ... RETURNING` instead of lock-then-write) but a
job that records its state durably twice cannot reach 70% of a task that records nothing. Drain
grows less than linearly with processes because the machine has 2 cores, shared with PostgreSQL
and RabbitMQ; the third and fourth processes mostly overlap one job's database waits with another's.

**Latency (p50 <= 50 ms): met.**

**ETL.** Against raw COPY into the same primary key the import hovers around the 0.5x target
between runs (0.43-0.67x so far), and against pandas around the 5x target (4.75-7.5x): the job
validates every column, upserts and writes a report, and on this shared machine a run-to-run swing
of 20-30% is normal, so both are near misses or near passes rather than clear results. Peak RSS is not flat: in this run it grows by
about 40% from 100k to 5M rows (50x the rows), so memory is bounded per chunk but one thing is kept per
file: the duplicate-key index (`etl/validate.py` `SeenKeys`, a sorted array of 64-bit key hashes, 8
bytes a row: 40 MB at 5M rows), which each chunk's merge briefly holds twice with numpy's sort
buffer, about 100 MB at 5M rows, the growth seen. It is what lets a file's later duplicate of a key be
rejected with its line; making it flat would mean checking keys in the database's staging table
instead, a change of the import's design left open.

**Invoices (target >= 0.8x of the bare render: missed, about 0.2x).** From the invoice benchmark's
profile: four durable commits per job and the worker's bookkeeping dominate a 10 ms render. Batching them is a change to the
invoice job's design, left to its owner.
"""


def main() -> None:
    results = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/benchmarks.md")
    plots = write_plots(results, out.parent)
    out.write_text(render_report(results, plots))


if __name__ == "__main__":
    main()
