# Two commands matter: `make demo` and `make test`. Both build their own
# environment (.venv, pinned by requirements.lock) from nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test test-long demo readme bench lint lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

# The embedded PostgreSQL, a demo agency loaded through the real commands, a tour.
demo: $(STAMP)
	$(BIN)/python -m epic_events.demo

# README.md's samples, rerun on a fresh demo load (tests/readme_samples.py);
# tests/cli/test_readme.py fails until they are current.
readme: $(STAMP)
	$(BIN)/python -m tests.readme_samples

# The whole suite on the default server (PostgreSQL 18), then the SQL-level suites
# again on the oldest supported version, a fresh cluster of Debian's binaries
# (tests/pg.py; skipped, with the reason printed, where they are absent). Both
# passes always run; the target fails if either did.
PG_ALSO   ?= 15
SQL_TESTS := tests/db $(wildcard tests/security)

# The lint first (ruff, configured in pyproject.toml): a style slip fails in
# seconds, not after the suite.
lint: $(STAMP)
	$(BIN)/ruff check epic_events tests
	$(BIN)/ruff format --check epic_events tests

test: lint
	@status=0; \
	$(BIN)/python -m pytest || status=$$?; \
	echo "== the SQL-level tests again, on PostgreSQL $(PG_ALSO): $(SQL_TESTS)"; \
	$(BIN)/python -m pytest $(SQL_TESTS) --pg-server=$(PG_ALSO) -q || status=$$?; \
	exit $$status

# Its own PostgreSQL and data (1M clients), loaded once for all parts: one
# command at a time, then the bulk export and import against psql's \copy
# (tests/perf/bench.py and bulk.py, about 7 minutes, bench-results/latest.md),
# then many at once with pgbench (tests/perf/concurrency.py, about 5 minutes
# more, bench-results/load.md). All parts run; fails when any misses a goal.
BENCH_DIR_PARENT ?= $(shell test -w /dev/shm && echo /dev/shm || echo $${TMPDIR:-/tmp})

bench: $(STAMP)
	@status=0; keep=$$(mktemp -d $(BENCH_DIR_PARENT)/epic-bench-XXXXXX); \
	$(BIN)/python -m tests.perf.bench --keep $$keep || status=$$?; \
	$(BIN)/python -m tests.perf.concurrency --keep $$keep || status=$$?; \
	rm -rf $$keep; exit $$status

test-long: $(STAMP)
	EPIC_EVENTS_HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -m slow

# Re-pin after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
