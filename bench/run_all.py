"""`make bench`: every hot-path benchmark in one run, written to docs/benchmarks.md with plots.

Run: .venv/bin/python bench/run_all.py [--seconds 10] [--quick] [--skip etl,invoices,profiles]
Each group gets its own throwaway RabbitMQ vhost and PostgreSQL database (bench/stack.py), dropped
at the end; every process started is stopped.
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
from bench.http_load import ensure_wrk, gunicorn_settings
from bench.queue_paths import drain, relay
from bench.report import render_report, write_plots
from bench.stack import bench_stack, machine_description
from bench.web_paths import run_web_paths
from config.settings import PROJECT_ROOT

PRODUCTION_ENV = {"APP_ENV": "production", "SECRET_KEY": uuid.uuid4().hex * 2, "FLOWER_BASIC_AUTH": "bench:bench",
                  "LOG_LEVEL": "INFO"}


def profile(path: str, env: dict[str, str], out_dir: Path, extra: dict[str, str]) -> str:
    """The pyinstrument text profile of `path` (bench/profile_paths.py) in a process on `env`."""
    out = out_dir / f"profile-{path}.txt"
    done = subprocess.run([sys.executable, "-m", "bench.profile_paths", path, str(out)], cwd=PROJECT_ROOT,
                          env={**env, **extra}, timeout=600, capture_output=True, text=True)
    if done.returncode != 0:  # a profile that fails must not cost the figures of the whole run
        return f"profile of {path} failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
    return out.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each wrk run")
    parser.add_argument("--status-jobs", type=int, default=100_000)
    parser.add_argument("--relay-rows", type=int, default=10_000)
    parser.add_argument("--drain-backlog", type=int, default=5_000)
    parser.add_argument("--growth-backlog", type=int, default=2_000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--etl-rows", default="100000,1000000,5000000")
    parser.add_argument("--etl-baseline-rows", type=int, default=1_000_000)
    parser.add_argument("--invoice-jobs", type=int, default=200)
    parser.add_argument("--skip", default="", help="comma-separated: web,queue,etl,invoices,profiles")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    started = time.monotonic()
    ensure_wrk()
    results: dict[str, Any] = {"machine": machine_description(), "figures": [], "profiles": {}, "growth": []}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        scratch = Path(tmp)
        if "web" not in skip:
            with bench_stack("bench-web", "postgresql", scratch, PRODUCTION_ENV) as stack:
                results["gunicorn"] = gunicorn_settings(stack.env)
                figures = run_web_paths(stack, scratch, args.seconds, args.status_jobs, args.latency_jobs)
                results["figures"] += figures
                print(*figures, sep="\n", flush=True)
                if "profiles" not in skip:
                    extra = {"BENCH_TOKEN": stack.token, "BENCH_IDS": str(scratch / "status-ids.txt")}
                    for path in ("submit", "status"):
                        results["profiles"][path] = profile(path, stack.env, scratch, extra)
        if "queue" not in skip:
            with bench_stack("bench-queue", "postgresql", scratch, PRODUCTION_ENV) as stack:
                results["figures"].append(relay(stack, args.relay_rows))
                print(results["figures"][-1], flush=True)
                main_drain, results["growth"] = drain(stack, scratch, args.drain_backlog, args.growth_backlog)
                results["figures"].append(main_drain)
                if "profiles" not in skip:
                    for path in ("drain", "relay"):
                        results["profiles"][path] = profile(path, stack.env, scratch, {})
        if "etl" not in skip:
            sizes = [int(n) for n in args.etl_rows.split(",")]
            results["etl"] = etl_bench.run(sizes, None, args.etl_baseline_rows, ("postgresql",))
        if "invoices" not in skip:
            results["invoices"] = invoice_bench.run(args.invoice_jobs)
    results["wall_s"] = time.monotonic() - started
    raw = {**results, "figures": [f.as_dict() for f in results["figures"]],
           "etl": [{**vars(m), "rows_per_s": m.rows_per_s} for m in results.get("etl", [])]}
    raw_path = PROJECT_ROOT / "var" / "bench-results.json"  # the raw figures, to re-render (not committed)
    raw_path.parent.mkdir(exist_ok=True)
    raw_path.write_text(json.dumps(raw, indent=1, default=str))
    plots = write_plots(raw, args.out.parent)
    args.out.write_text(render_report(raw, plots))
    print(f"wrote {args.out} ({', '.join(p.name for p in plots)}) and {raw_path} in {results['wall_s']:.0f} s",
          flush=True)

if __name__ == "__main__":
    main()
