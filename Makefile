# dockhand: `make run` starts the product, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dockhand

.PHONY: run test lint venv bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) manage.py serve

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(VENV)/bin/lint-imports

# Three workers on two cores: the real-engine tests wait on the engine, git and
# browsers (two workers kept the cores ~60 % busy); a file's tests stay on one worker
# because the end-to-end module shares one running product.
# Then the in-process tests again on PostgreSQL and Redis (tests/scaleout.py).
test: lint
	$(PY) -m pytest -n 3 --dist loadfile
	$(PY) -m tests.scaleout

bench: $(STAMP)
	$(PY) bench/run.py
