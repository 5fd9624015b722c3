# `make run` starts the whole application; `make test` runs the tests. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv

.PHONY: run test test-unit lint screenshots bench faults clean-venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

run: $(VENV)/.runtime-installed
	scripts/run.sh

test: lint
	scripts/ensure_chromium.sh
	scripts/ensure_promtool.sh
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# ruff (style, imports, bugs) and mypy --strict on the application packages; settings in pyproject.toml.
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Re-takes the README's screenshots (docs/screenshots/) with the browser tests.
screenshots: $(VENV)/.dev-installed
	scripts/ensure_chromium.sh
	SCREENSHOTS_DIR=docs/screenshots $(VENV)/bin/pytest tests/browser $(PYTEST_ARGS)

# Every hot-path benchmark beside its baseline (wrk from Debian if missing): docs/benchmarks.md and docs/bench-*.png.
bench: $(VENV)/.dev-installed
	$(VENV)/bin/python bench/run_all.py $(BENCH_ARGS)

# The fault suite (issue 15): every fault we promise to survive under a real workload, on the suite's own
# RabbitMQ node, PostgreSQL instance, SMTP sink and tmpfs (root needed). SCENARIO=name[,name] runs those only;
# PROFILE=ci runs shorter workloads (the CI profile). The full run of every scenario writes docs/faults.md.
PROFILE ?= full
SCENARIO ?=
faults: $(VENV)/.dev-installed
	$(VENV)/bin/python -m faults --profile $(PROFILE) $(if $(SCENARIO),--scenario $(SCENARIO)) \
		$(if $(SCENARIO),,$(if $(filter full,$(PROFILE)),--report docs/faults.md,--report test-artifacts/faults-$(PROFILE).md))

test-unit: $(VENV)/.dev-installed
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
