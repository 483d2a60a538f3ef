# partnerops: `make demo` and `make test` are the quickstart on a fresh machine.
# Every target installs the virtualenv first if needed (pinned by constraints.txt).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Runtime state and Airflow's home stay inside the project (no ~/airflow). The rest of
# Airflow's local configuration comes from partnerops.settings.airflow_environ, which
# `partnerops airflow ...` and the DAG tests apply.
export PARTNEROPS_DATA_DIR ?= $(CURDIR)/var
export AIRFLOW_HOME ?= $(PARTNEROPS_DATA_DIR)/airflow

.DEFAULT_GOAL := help
.PHONY: help venv demo serve test test-fast lint bench bench-year fuzz docs lock clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# uv installs (and byte-compiles, as pip does) the same pinned set as pip would, in parallel:
# seconds instead of a minute and more.
UV_INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt uv
	$(UV_INSTALL) -e '.[dev]'
	@touch $@

venv: $(STAMP) ## Create .venv and install the pinned dependencies

demo: $(STAMP) ## Run the main job end to end (embedded PostgreSQL unless PARTNEROPS_DATABASE_URL is set)
	$(BIN)/partnerops demo

serve: $(STAMP) ## Start Airflow (UI on :8080, scheduler, ...) on the project database; prints URL and login
	$(BIN)/partnerops serve

# Test processes in parallel (pytest-xdist); TEST_WORKERS=0 runs the tests one by one in one process.
# Three on two cores: one mostly waits on the shared Airflow's runs (docs/benchmarks.md, the test suite).
TEST_WORKERS ?= 3

test: $(STAMP) ## Run the whole test suite (PostgreSQL: PARTNEROPS_TEST_ADMIN_URL, the machine's, or embedded)
	$(BIN)/pytest -n $(TEST_WORKERS)

test-fast: $(STAMP) ## Run the tests that need no running Airflow scheduler (no `scheduler` marker)
	$(BIN)/pytest -n $(TEST_WORKERS) -m "not scheduler"

lint: $(STAMP) ## Lint Python (ruff)
	$(BIN)/ruff check include dags plugins tests bench fuzz

bench: $(STAMP) ## Run the benchmarks and print their figures (see docs/benchmarks.md)
	@ls bench/*.py >/dev/null 2>&1 && for f in bench/*.py; do $(BIN)/python $$f; done || echo "no benchmarks yet"

bench-year: $(STAMP) ## Simulate, load and track the reference year at full scale (close to 3 hours; docs/benchmarks.md)
	$(BIN)/partnerops bench-year

FUZZ_SECONDS ?= 300
FUZZ_STAMP := $(VENV)/.installed-fuzz
$(FUZZ_STAMP): $(STAMP)
	$(UV_INSTALL) -e '.[dev,fuzz]'
	@touch $@

fuzz: $(FUZZ_STAMP) ## Fuzz the YAML and CSV/JSONL input checks for FUZZ_SECONDS (300); see fuzz/fuzz_inputs.py
	@mkdir -p $(PARTNEROPS_DATA_DIR)/fuzz/corpus
	$(BIN)/python fuzz/fuzz_inputs.py $(PARTNEROPS_DATA_DIR)/fuzz/corpus -max_total_time=$(FUZZ_SECONDS) \
		-max_len=16384 -print_final_stats=1 -artifact_prefix=$(PARTNEROPS_DATA_DIR)/fuzz/

docs: $(STAMP) ## Build the dbt docs that account managers read
	$(BIN)/python -c "from partnerops.dbt import run_dbt; run_dbt(['docs', 'generate', '--quiet'])"
	@echo "dbt docs: $(CURDIR)/dbt_project/target/index.html (to browse: $(BIN)/python -m http.server -d dbt_project/target)"

lock: ## Re-resolve the dependencies and rewrite constraints.txt
	rm -rf $(VENV) && $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv -e '.[dev,fuzz]'
	$(BIN)/pip freeze --exclude-editable | grep -v '^partnerops' > constraints.txt
	@touch $(STAMP)

clean: ## Remove generated files (.venv, var/, dbt target/)
	rm -rf $(VENV) var dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
