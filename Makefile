# `make demo` and `make test` work on a fresh machine: both create the venv first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv system-packages demo test test-all lint imports format bench constraints clean

venv: $(STAMP)

system-packages:
	bash infra/system-packages.sh

# The venv is rebuilt when the dependencies or their pinned versions change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/python -m continuum.demo

# CI's path: everything but the longest end-to-end tests (marked `slowest`), under 15 minutes on 2 cores.
test: venv system-packages
	$(BIN)/python -m pytest -m "not slowest"

# Everything: the browser, Airflow-on-PostgreSQL, freshness and the adapters' end-to-end tests too.
test-all: venv system-packages
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The picture of the imports between our packages (text; `--dot` for Graphviz); fails if an arrow goes up.
imports: venv
	$(BIN)/python tools/import_graph.py

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	PYTHONPATH=. $(BIN)/python bench/contract.py
	PYTHONPATH=. $(BIN)/python bench/landing.py

# Re-pin every dependency to what resolves today (run after changing pyproject.toml).
constraints:
	rm -rf /tmp/continuum-constraints && $(PYTHON) -m venv /tmp/continuum-constraints
	/tmp/continuum-constraints/bin/pip install --quiet -e '.[dev]'
	/tmp/continuum-constraints/bin/pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(VENV) .continuum dbt_project/target dbt_project/logs
