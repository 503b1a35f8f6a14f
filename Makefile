# Entry points: `make demo` (server with demo data on SQLite) and `make test` (the whole suite,
# SQLite then PostgreSQL). Both create .venv and install the pinned dependencies first.
VENV ?= .venv
PYTHON ?= python3

.PHONY: install demo serve test lint bench

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/opsmgr serve --demo

serve: install
	$(VENV)/bin/opsmgr serve

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

test: install
	bash scripts/test.sh

bench: install
	$(VENV)/bin/python benchmarks/claim.py
