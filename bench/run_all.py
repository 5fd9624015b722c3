"""`make bench`: every hot path beside the peer a user would otherwise pick and the bare limit, in one run,
written to docs/benchmarks.md with plots.

Run: .venv/bin/python bench/run_all.py [--seconds 8] [--repetitions 2] [--skip web,queue,etl,invoices,counts]
Each group gets its own throwaway RabbitMQ vhost and PostgreSQL database (bench/stack.py), dropped at the
end; every process started is stopped. The counts group measures each path in one process on this tree
and on the tree of `--before` (a git revision, checked out in a temporary worktree): time, statements
and commits per call, and a pyinstrument profile of this tree's path.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import etl_bench, invoice_bench
from bench.compare import Comparison
from bench.http_load import ensure_wrk, gunicorn_settings
from bench.peers import flush_redis
from bench.queue_paths import drain, relay
from bench.report import render_report, write_plots
from bench.seed import insert_finished_jobs, write_ids_and_etags
from bench.stack import bench_stack, machine_description
from bench.web_paths import run_web_paths
from config.settings import PROJECT_ROOT

PRODUCTION_ENV = {"APP_ENV": "production", "SECRET_KEY": uuid.uuid4().hex * 2, "FLOWER_BASIC_AUTH": "bench:bench",
                  "LOG_LEVEL": "INFO"}
# The last revision before the hot paths were reworked (issue 13): the "before" of the counts table.
BEFORE_REVISION = "a7fbc99"
COUNTED_PATHS = ("drain", "submit", "status", "status304", "relay", "invoice")


def count_paths(tree: Path, scratch: Path, label: str) -> dict[str, Any]:
    """Each path of `tree` in a process of its own on a fresh stack: time, statements, commits (and profiles)."""
    found: dict[str, Any] = {}
    with bench_stack(f"bench-count-{label}", "postgresql", scratch, PRODUCTION_ENV) as stack:
        insert_finished_jobs(stack.db, 1000, "bench-status")
        ids = write_ids_and_etags(stack.db, "bench-status", scratch / f"count-ids-{label}.txt")
        for path in COUNTED_PATHS:
            out, profile = scratch / f"count-{label}-{path}.json", scratch / f"profile-{label}-{path}.txt"
            done = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / "count_run.py"), str(tree), path,
                                   str(out), str(profile)], cwd=tree, timeout=900, capture_output=True, text=True,
                                  env={**stack.env, "BENCH_TOKEN": stack.token, "BENCH_IDS": str(ids),
                                       "PYTHONPATH": str(tree)})
            if done.returncode != 0:
                found[path] = {"error": done.stderr[-1500:]}
                continue
            found[path] = json.loads(out.read_text())
            if profile.exists():
                found[path]["profile"] = profile.read_text()
            print(label, path, {k: v for k, v in found[path].items() if k != "profile"}, flush=True)
    return found


def before_tree(revision: str, scratch: Path) -> Path | None:
    """A worktree of `revision`, or None where this is not a git checkout that has it."""
    tree = scratch / f"before-{revision}"
    done = subprocess.run(["git", "worktree", "add", "--detach", str(tree), revision], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    return tree if done.returncode == 0 else None


def drop_tree(tree: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=PROJECT_ROOT, capture_output=True,
                   timeout=120)


def etl_rows(etl: list[Any]) -> list[Comparison]:
    """The ETL targets as rows: the import beside raw COPY and beside pandas (PostgreSQL, 1M rows)."""
    imports = {m.rows: m for m in etl if m.path.startswith("import job")}
    raw = next(m for m in etl if m.path == "raw COPY, same primary key")
    pandas = next(m for m in etl if m.path.startswith("pandas"))
    ours = imports[raw.rows]
    versus_copy = Comparison("etl_copy", f"ETL import job, PostgreSQL, {raw.rows:,} rows", "rows/s", bare_target=0.5,
                             bare_label="raw COPY into a table with the same primary key",
                             notes=f"{ours.seconds:.1f} s, validate + upsert + report")
    versus_copy.add("ours", ours.rows_per_s)
    versus_copy.add("bare", raw.rows_per_s)
    versus_pandas = Comparison("etl_pandas", f"ETL import job, PostgreSQL, {raw.rows:,} rows, beside pandas", "rows/s",
                               bare_target=5.0, bare_label="pandas read_csv + to_sql",
                               notes=f"pandas {pandas.seconds:.1f} s")
    versus_pandas.add("ours", ours.rows_per_s)
    versus_pandas.add("bare", pandas.rows_per_s)
    return [versus_copy, versus_pandas]


def invoice_rows(invoices: dict[str, Any]) -> list[Comparison]:
    rows = []
    for backend in ("postgresql", "sqlite"):
        run = invoices.get(backend)
        if not run:
            continue
        row = Comparison(f"invoices_{backend}",
                         f"Invoice jobs end to end, {backend} ({run['jobs']} jobs, worker -c 1)", "jobs/s",
                         bare_target=0.6 if backend == "postgresql" else None,
                         bare_label="bare PDF render of the same invoice, one core",
                         notes=f"{run['seconds']:.1f} s from the first job's submission to the last one's finish")
        row.add("ours", run["rate"])
        row.add("bare", invoices["render_dejavu"])
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8, help="length of each wrk run")
    parser.add_argument("--repetitions", type=int, default=2, help="runs of each side of a comparison")
    parser.add_argument("--status-jobs", type=int, default=100_000)
    parser.add_argument("--relay-rows", type=int, default=10_000)
    parser.add_argument("--drain-backlog", type=int, default=4_000)
    parser.add_argument("--peer-drain-backlog", type=int, default=2_000)
    parser.add_argument("--growth-backlog", type=int, default=1_500)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--etl-rows", default="100000,1000000,5000000")
    parser.add_argument("--etl-baseline-rows", type=int, default=1_000_000)
    parser.add_argument("--invoice-jobs", type=int, default=200)
    parser.add_argument("--before", default=BEFORE_REVISION, help="the revision of the counts' before column")
    parser.add_argument("--skip", default="", help="comma-separated: web,queue,etl,invoices,counts")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    started = time.monotonic()
    ensure_wrk()
    results: dict[str, Any] = {"machine": machine_description(), "rows": [], "growth": [], "counts": {},
                               "repetitions": args.repetitions, "before": args.before}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        scratch = Path(tmp)
        flush_redis()
        try:
            if "web" not in skip:
                with bench_stack("bench-web", "postgresql", scratch, PRODUCTION_ENV) as stack:
                    results["gunicorn"] = gunicorn_settings(stack.env)
                    rows, results["latency"] = run_web_paths(stack, scratch, args.seconds, args.status_jobs,
                                                             args.latency_jobs, args.repetitions)
                    results["rows"] += [row.as_dict() for row in rows]
                    print(*results["rows"], results["latency"], sep="\n", flush=True)
            if "queue" not in skip:
                with bench_stack("bench-queue", "postgresql", scratch, PRODUCTION_ENV) as stack:
                    results["rows"].append(relay(stack, args.relay_rows, args.repetitions).as_dict())
                    rows, results["growth"] = drain(stack, scratch, args.drain_backlog, args.peer_drain_backlog,
                                                    args.growth_backlog, args.repetitions)
                    results["rows"] += [row.as_dict() for row in rows]
                    print(*results["rows"][-3:], sep="\n", flush=True)
        finally:
            flush_redis()
        if "etl" not in skip:
            sizes = [int(n) for n in args.etl_rows.split(",")]
            etl = etl_bench.run(sizes, None, args.etl_baseline_rows, ("postgresql",))
            results["etl"] = [{**vars(m), "rows_per_s": m.rows_per_s} for m in etl]
            results["rows"] += [row.as_dict() for row in etl_rows(etl)]
        if "invoices" not in skip:
            results["invoices"] = invoice_bench.run(args.invoice_jobs)
            results["rows"] += [row.as_dict() for row in invoice_rows(results["invoices"])]
        if "counts" not in skip:
            results["counts"]["after"] = count_paths(PROJECT_ROOT, scratch, "after")
            tree = before_tree(args.before, scratch)
            if tree is not None:
                try:
                    results["counts"]["before"] = count_paths(tree, scratch, "before")
                finally:
                    drop_tree(tree)
    results["wall_s"] = time.monotonic() - started
    raw_path = PROJECT_ROOT / "var" / "bench-results.json"  # the raw figures, to re-render (not committed)
    raw_path.parent.mkdir(exist_ok=True)
    raw_path.write_text(json.dumps(results, indent=1, default=str))
    plots = write_plots(results, args.out.parent)
    args.out.write_text(render_report(results, plots))
    print(f"wrote {args.out} ({', '.join(p.name for p in plots)}) and {raw_path} in {results['wall_s']:.0f} s",
          flush=True)


if __name__ == "__main__":
    main()
