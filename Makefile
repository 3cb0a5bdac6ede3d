# The two commands of the README: `make demo` (install + run the platform with a demo region on
# SQLite) and `make test` (install + lint + type-check + the whole test suite on SQLite and PostgreSQL).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/rhip demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	scripts/ensure-postgres
	$(BIN)/pytest -q -n 2

bench: install
	scripts/ensure-postgres
	$(BIN)/python bench/bench_core.py
