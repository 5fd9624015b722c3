"""docs/benchmarks.md and its plots from one run's figures (also: `python -m bench.report var/bench-results.json`)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

PROFILE_LINES = 45
SIDE_LABELS = {"ours": "this project", "peer_db": "tracked Celery, DB backend",
               "peer_redis": "tracked Celery, Redis backend", "bare": "bare limit"}

# The last `make bench` before the hot paths were reworked (2026-11-23, the same machine and settings),
# and the side-by-side measurement of the peers: what "before" means in the tables.
BEFORE_RATIOS = {
    "submit": "0.15x bare delay(); 0.24x the DB-backend peer (159 vs 667 req/s, p99 223 ms)",
    "status": "0.06x bare; 0.40x the DB-backend peer with a pooled engine (367 vs 926 req/s, p99 93 ms)",
    "status304": "0.10x bare",
    "relay": "0.18x raw publish",
    "drain": "0.09x bare; 0.65x the DB-backend peer (160 vs 246 jobs/s)",
    "invoices_postgresql": "0.20x the bare render",
    "etl_copy": "0.54x raw COPY",
    "etl_pandas": "6.17x pandas",
}


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def _side(row: dict[str, Any], side: str) -> str:
    value = row["medians"].get(side)
    if value is None:
        return ""
    p99s = row["p99_ms"].get(side)
    runs = row["runs"].get(side) or []
    spread = f" ({' / '.join(_fmt(v) for v in runs)})" if len(runs) > 1 else ""
    p99 = f", p99 {sorted(p99s)[len(p99s) // 2]:.0f} ms" if p99s else ""
    return f"{_fmt(value)}{spread}{p99}"


def _ratio(row: dict[str, Any], side: str) -> str:
    ratio = row["ratios"].get(side)
    return f"{ratio:.2f}x" if ratio is not None else ""


def _result(row: dict[str, Any]) -> str:
    verdicts = row.get("verdicts") or []
    return "; ".join(f"{v['target']}: {'met' if v['met'] else '**missed**'}" for v in verdicts)


def comparison_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| path | unit | this project | tracked Celery, DB backend | tracked Celery, Redis backend | bare limit "
             "| ours / DB peer | ours / bare | targets | notes |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for row in rows:
        bare = _side(row, "bare")
        bare = f"{bare} — {row['bare_label']}" if bare and row.get("bare_label") else bare
        lines.append(f"| {row['path']} | {row['unit']} | {_side(row, 'ours')} | {_side(row, 'peer_db')} | "
                     f"{_side(row, 'peer_redis')} | {bare} | {_ratio(row, 'peer_db')} | {_ratio(row, 'bare')} | "
                     f"{_result(row)} | {row.get('notes', '')} |")
    return lines


def before_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| path | before (last run before this work) | now (this run) |", "| --- | --- | --- |"]
    for row in rows:
        before = BEFORE_RATIOS.get(row["key"])
        if before is not None:
            now = [f"{_ratio(row, side)} {SIDE_LABELS[side]}" for side in ("bare", "peer_db")
                   if row["ratios"].get(side) is not None]
            lines.append(f"| {row['path']} | {before} | {'; '.join(now)} |")
    return lines


COUNT_LABELS = {"drain": "tracked no-op job (worker)", "submit": "submit request", "status": "status request",
                "status304": "status request answered 304", "relay": "relayed outbox message",
                "invoice": "invoice job (worker)"}


def counts_table(counts: dict[str, Any]) -> list[str]:
    after, before = counts.get("after") or {}, counts.get("before") or {}
    lines = ["| per | before: ms (CPU ms) | before: statements / commits | now: ms (CPU ms) | "
             "now: statements / commits |", "| --- | ---: | ---: | ---: | ---: |"]

    def cells(found: dict[str, Any] | None) -> tuple[str, str]:
        if not found or "ms" not in found:
            return "", ""
        return (f"{found['ms']:.2f} ({found['cpu_ms']:.2f})",
                f"{found['statements']:.2f} / {found['commits']:.2f}")

    for path, label in COUNT_LABELS.items():
        if path not in after and path not in before:
            continue
        then_time, then_counts = cells(before.get(path))
        now_time, now_counts = cells(after.get(path))
        lines.append(f"| {label} | {then_time} | {then_counts} | {now_time} | {now_counts} |")
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
        ax.plot(procs, [g["ours"] for g in growth], "o-", label="tracked no-op jobs (this project)")
        if all("peer_db" in g for g in growth):
            ax.plot(procs, [g["peer_db"] for g in growth], "^-.", label="tracked Celery, DB backend")
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
    latency = results.get("latency") or {}
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`bench/run_all.py`) on {time.strftime('%Y-%m-%d')} in {results['wall_s'] / 60:.1f} "
        f"minutes. Every figure beside its peers and its bare limit was measured in the same run on the same "
        f"machine, each side {results.get('repetitions', 1)} times in turn; a side's figure is the median of its "
        "runs (the runs are in brackets), and a ratio is the medians' ratio.",
        "",
        f"**Machine:** {machine['cpu']}, {machine['memory']}, {machine['os']}. Python {machine['python']}; "
        f"{machine['packages']}; RabbitMQ {machine['rabbitmq']}; {machine['postgresql']}; {machine['wrk']}.",
        "",
        "**The load generator shares the machine's 2 cores** with gunicorn, the Celery workers, RabbitMQ and "
        "PostgreSQL, and so do the peers' and the bare baselines' processes: every side pays the same tax. "
        "The machine is a shared virtual machine whose speed varies from minute to minute by tens of percent, "
        "which is why each side runs more than once and in turn.",
        "",
        f"**Web servers:** `config/gunicorn.conf.py` as it stands, for every side: worker_class "
        f"`{gunicorn.get('worker_class')}`, {gunicorn.get('workers')} workers, {gunicorn.get('threads')} threads, "
        "`APP_ENV=production`, access log on; wrk with 2 threads and 16 keep-alive connections. The project's only "
        "departure from production is its submit rate limit (lifted, or a benchmark measures the limiter).",
        "",
        "**The peers** are what a user of this stack would otherwise pick: plain Celery with "
        "`task_track_started=True`, `result_extended=True` and a result backend (`bench/peer_celery.py`): the "
        "SQLAlchemy database backend on the same PostgreSQL, and the Redis backend; their Flask views "
        "(`bench/peer_flask.py`) call `delay()` with publisher confirms and return `AsyncResult(id).state/result`, "
        "the database backend's engine pooled (as shipped it builds an engine per lookup outside its workers). "
        "The peers do no authentication, keep no outbox and no attempt history. Every worker, ours and theirs, "
        "runs `-c 2`, prefetch 1, late ack, quorum queues, at `-l INFO`, without task events.",
        "",
        *comparison_table(results.get("rows") or []),
        "",
    ]
    if latency:
        lines += [f"**Latency, submit to running with idle workers** ({latency['jobs']} jobs one at a time, "
                  f"the job's created_at to its started_at): p50 {latency['p50_ms']:.1f} ms, p99 "
                  f"{latency['p99_ms']:.1f} ms (target p50 <= 50 ms: "
                  f"{'met' if latency['p50_ms'] <= 50 else '**missed**'}).", ""]
    lines += ["## Before and after", "", *before_table(results.get("rows") or []), ""]
    counts = results.get("counts") or {}
    if counts:
        lines += [f"Each path in one process (no gunicorn, no broker fetch), on this tree and on `{results['before']}`, "
                  "the last revision before the rework, each on a fresh PostgreSQL stack: wall and CPU time per "
                  "call, and what it sent to the database, counted at psycopg (statements; commits are COMMITs "
                  "plus write statements in autocommit, each its own transaction).", "",
                  *counts_table(counts), ""]
    for plot in plots:
        lines += [f"![{plot.stem}]({plot.name})", ""]
    if results.get("growth"):
        lines += ["Drain growth (jobs/s):", "",
                  "| worker processes | backlog | this project | tracked Celery, DB backend | bare Celery | ours / bare |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {g['processes']} | {g['backlog']:,} | {g['ours']:.0f} | {g.get('peer_db', 0):.0f} | "
                  f"{g['bare']:.0f} | {g['ours'] / g['bare']:.2f}x |" for g in results["growth"]]
        lines.append("")
    etl = results.get("etl") or []
    if etl:
        lines += ["ETL on PostgreSQL (import job: validate + upsert + report, one worker process):", "",
                  "| path | rows | seconds | rows/s | worker peak RSS |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {m['path']} | {m['rows']:,} | {m['seconds']:.2f} | {m['rows_per_s']:,.0f} | "
                  + (f"{m['peak_rss_mb']:.0f} MB |" if m.get("peak_rss_mb") else "|") for m in etl]
        lines.append("")
    analysis = Path(__file__).with_name("analysis.md")
    if analysis.exists():
        lines += [analysis.read_text().strip(), ""]
    for path, found in (counts.get("after") or {}).items():
        profile = found.get("profile") if isinstance(found, dict) else None
        if profile:
            body = profile.strip().splitlines()
            lines += [f"<details><summary>pyinstrument: {COUNT_LABELS.get(path, path)} "
                      f"(first {PROFILE_LINES} lines)</summary>", "", "```", *body[:PROFILE_LINES], "```", "",
                      "</details>", ""]
    return "\n".join(lines)


def main() -> None:
    results = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/benchmarks.md")
    plots = write_plots(results, out.parent)
    out.write_text(render_report(results, plots))


if __name__ == "__main__":
    main()
