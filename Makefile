# sovcarbon: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint typecheck install clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Start the registry on http://127.0.0.1:8000 with embedded defaults and load the demo once.
run: $(STAMP)
	$(VENV)/bin/sovcarbon serve --host 127.0.0.1 --port 8000 --demo

## The whole test suite (PostgreSQL too when SOVCARBON_TEST_DATABASE_URL is set).
test: $(STAMP)
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

## Benchmarks: one table of medians and ratios against baselines measured in the same run.
bench: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy src/sovcarbon

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
