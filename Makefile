# Two commands do all set-up: `make run` (ingest the seeds) and `make test` (the whole suite).
# Each creates the virtual environment on first use.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

# Tests start their own Prefect server and replica site on 127.0.0.1; keep Prefect's state out of $HOME.
TEST_ENV := DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/kazinform ingest seeds/

test: $(STAMP)
	$(VENV)/bin/ruff check .
	PREFECT_HOME=$${PREFECT_HOME:-$$(mktemp -d)} $(TEST_ENV) $(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Every benchmark, each printing its method and figures. Those that run flows start (or reuse) a
# local Prefect server, as `kazinform` does. The scale benchmark runs at 4,000 articles without its
# one-connection baseline here (~25 min; its defaults take well over an hour: run it alone for those).
bench: $(STAMP)
	$(TEST_ENV) $(VENV)/bin/python benchmarks/parse.py
	$(TEST_ENV) $(VENV)/bin/python benchmarks/load.py
	$(TEST_ENV) $(VENV)/bin/python benchmarks/ingest.py
	$(TEST_ENV) $(VENV)/bin/python benchmarks/crawl.py
	$(TEST_ENV) $(VENV)/bin/python benchmarks/query.py
	$(TEST_ENV) $(VENV)/bin/python benchmarks/orchestration.py
	$(TEST_ENV) $(VENV)/bin/python benchmarks/scale.py --articles 4000 --pairs 1 --baseline-concurrency 4 8

clean:
	rm -rf $(VENV) warehouse.duckdb warehouse.duckdb.wal
