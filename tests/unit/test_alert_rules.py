"""docs/alerts.yml: valid for Prometheus, each alert firing on the series it is for (promtool's own rule tests,
docs/alerts.test.yml), and only on metrics that /metrics documents."""
from __future__ import annotations

import re
import shutil
import subprocess

from config.settings import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"


def promtool(*args: str) -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: scripts/ensure_promtool.sh installs it (make test runs it)"
    done = subprocess.run([tool, *args], cwd=DOCS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_alert_rules_are_valid_and_fire_on_what_they_are_for() -> None:
    assert "SUCCESS: 5 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yml")


def test_the_rules_use_only_documented_metrics() -> None:
    used = set(re.findall(r"\b(jobs_[a-z_]+|events_[a-z_]+)\b", (DOCS / "alerts.yml").read_text()))
    table = [line for line in (PROJECT_ROOT / "README.md").read_text().splitlines() if line.startswith("| `")]
    documented = {name for line in table for name in re.findall(r"`([a-z_]+)`", line.split(" | ")[0])}
    assert used and used <= documented, used - documented
