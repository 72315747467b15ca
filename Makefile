# chaton-ops — developer entry points. `make test` and `make demo` work on a fresh Debian machine (as root).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install deps test unit test-integration lint demo bench fakepve lab-up lab-down lab-status lab-stop lab-start lab-inventory clean

LOGS := .logs

# Installation noise goes to $(LOGS)/: one line on the screen, the log's tail when something fails.
$(STAMP): pyproject.toml
	@bash scripts/quietly "Python environment ($(VENV): chaton and the test tools)" $(LOGS)/install.log \
	  bash -c 'set -e; test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	           $(BIN)/python -m pip install --upgrade pip; $(BIN)/python -m pip install -e ".[test]"'
	@touch $(STAMP)

install: $(STAMP)

deps:
	@bash scripts/quietly "Debian packages of the lab (scripts/install-lab-deps)" $(LOGS)/lab-deps.log \
	  bash scripts/install-lab-deps

# The suite on TEST_JOBS processes (pytest-xdist, whole files per process); each process that runs lab
# tests brings up a lab of its own (CHATON_LAB_ID, CHATON_LAB_ID+1, …: tests/conftest.py).
TEST_JOBS ?= 2

test: install deps
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile

unit: install
	$(BIN)/python -m pytest -q tests/unit tests/e2e tests/pve

test-integration: install deps
	$(BIN)/python -m pytest -q tests/integration -m lab

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python scripts/check_layers.py

demo: install deps
	@bash scripts/demo

bench: install deps
	$(BIN)/python bench/run.py

# A fake Proxmox VE cluster (fakepve, 127.0.0.1) with the example's guests, in the foreground; it writes
# .fakepve/inventory.yml for `chaton -i .fakepve/inventory.yml vm list`. Ctrl-C stops it.
fakepve: install
	$(BIN)/python tests/pve/serve.py $(if $(PORT),--port $(PORT))

lab-up: install deps
	$(BIN)/python tests/lab/lab.py up $(if $(EXTRA),--extra $(EXTRA))

lab-down: install
	$(BIN)/python tests/lab/lab.py down

lab-stop: install
	$(BIN)/python tests/lab/lab.py stop $(or $(HOST),$(error say which host: make lab-stop HOST=primary))

lab-start: install
	$(BIN)/python tests/lab/lab.py start $(or $(HOST),$(error say which host: make lab-start HOST=primary))

lab-status: install
	$(BIN)/python tests/lab/lab.py status

lab-inventory: install
	$(BIN)/python tests/lab/lab.py inventory

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .fakepve src/*.egg-info
