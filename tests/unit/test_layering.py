"""The import rule of docs/architecture.md, read from the modules' own import statements."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT

DOMAIN_PACKAGES = ("jobs", "accounts", "etl", "invoicing", "notifications")
ENTRY_POINTS = ("webapp", "tasks")
# What a job author needs from the platform: the context, the declaration, the queues, the shared
# column types and the transient error. Nothing of the lifecycle, the outbox or the enqueue internals.
JOB_AUTHOR_API = {"jobs.context", "jobs.kinds", "jobs.topology", "jobs.db", "jobs.retry_policy", "jobs.events"}


def modules_of(package: str) -> list[Path]:
    return sorted((PROJECT_ROOT / package).rglob("*.py"))


def imported_names(path: Path) -> set[str]:
    """Every module an `import` or `from … import` in the file names (lazy imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def top_level(name: str) -> str:
    return name.split(".")[0]


def imports_of(packages: tuple[str, ...]) -> dict[str, set[str]]:
    return {str(path.relative_to(PROJECT_ROOT)): imported_names(path) for package in packages
            for path in modules_of(package)}


def test_the_import_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import webapp.api\nfrom tasks import worker\n\ndef f():\n    from flask import g\n")
    assert imported_names(module) == {"webapp.api", "tasks", "flask"}


@pytest.mark.parametrize("package", DOMAIN_PACKAGES)
def test_domain_packages_never_import_the_entry_points_or_flask(package: str) -> None:
    offenders = {module: sorted(name for name in names if top_level(name) in {*ENTRY_POINTS, "flask"})
                 for module, names in imports_of((package,)).items()}
    assert {module: names for module, names in offenders.items() if names} == {}


def test_the_platform_never_imports_accounts_or_the_job_families() -> None:
    offenders = {module: sorted(name for name in names
                                if top_level(name) in {"accounts", "etl", "invoicing", "notifications"})
                 for module, names in imports_of(("jobs",)).items()}
    assert {module: names for module, names in offenders.items() if names} == {}


def test_job_families_use_only_the_job_authors_part_of_the_platform() -> None:
    offenders = {module: sorted(name for name in names if top_level(name) == "jobs" and name not in JOB_AUTHOR_API)
                 for module, names in imports_of(("etl", "invoicing")).items()}
    assert {module: names for module, names in offenders.items() if names} == {}


def test_billing_knows_nothing_of_the_notification_service() -> None:
    """Billing publishes invoice.issued; the notification service subscribes (it may read billing's data)."""
    offenders = {module: sorted(name for name in names if top_level(name) == "notifications")
                 for module, names in imports_of(("invoicing", "etl")).items()}
    assert {module: names for module, names in offenders.items() if names} == {}


def test_config_imports_nothing_of_the_application() -> None:
    """Everything may import config, so config imports none of it (gunicorn.conf.py is gunicorn's entry point)."""
    ours = {*DOMAIN_PACKAGES, *ENTRY_POINTS}
    offenders = {module: sorted(name for name in names if top_level(name) in ours)
                 for module, names in imports_of(("config",)).items() if module != "config/gunicorn.conf.py"}
    assert {module: names for module, names in offenders.items() if names} == {}


def test_the_worker_runs_without_flask() -> None:
    """The worker's `-A` target, with every task registered, loads no Flask module in a fresh interpreter."""
    probe = ("import sys, tasks.worker as w; assert len(w.app.tasks) > 7; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'webapp', 'flask_login')))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=True, timeout=60).stdout.strip()
    assert loaded == "[]"
