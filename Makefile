# `make run` starts the whole application; `make test` runs the tests. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv

.PHONY: run test test-unit clean-venv

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

test: $(VENV)/.dev-installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: $(VENV)/.dev-installed
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
