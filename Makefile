# Two commands on a fresh machine:  `make run`  (the whole pipeline on sample data)  and  `make test`.
# While editing: `make test-fast` (unit tests only: no servers, no torchrun, nothing marked slow).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= examples/claims.yaml
# pytest-xdist workers (a file's tests stay on one worker: its module-scoped servers and models start once).
# Each test process gives torch and BLAS the cores divided by the workers (tests/conftest.py), so they never spin
# against each other. A third worker on 2 cores was slower (19:07 against 17:19 on 2026-12-07, before the bytecode
# was compiled): CPU-bound.
WORKERS ?= 2
PYTEST_ARGS ?= -m "not gpu" -n $(WORKERS) --dist loadfile --no-loadscope-reorder
FAST_ARGS ?= -m "not slow and not integration and not distributed and not gpu" -n $(WORKERS)
# uv reads neither pip's config nor its constraints: a machine's local wheel folder and pins are passed on.
UV_ARGS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels) \
           $(if $(wildcard /etc/xdg/pip/constraints.txt),--constraint /etc/xdg/pip/constraints.txt)
UI_PORT := $(or $(shell sed -n 's/^  port: *\([0-9][0-9]*\).*/\1/p' $(CONFIG) 2>/dev/null),4200)
SHELL := /bin/bash

.PHONY: install run test test-fast bench clean

$(BIN)/tunegate: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv
	# torch 2.13.0 pinned: on CPU machines it is the local CPU build; a bare range pulls CUDA wheels.
	# --compile-bytecode: the .pyc files pip would write (uv writes none by default). Without them, and where
	# PYTHONDONTWRITEBYTECODE is set (as on CI), every process compiles what it imports: 5 s of a 12 s check.
	$(BIN)/uv pip install -q --python $(BIN)/python $(UV_ARGS) --compile-bytecode "torch==2.13.0" -e ".[test]"
	touch $(BIN)/tunegate

install: $(BIN)/tunegate

run: install
	set -o pipefail; $(BIN)/tunegate run $(CONFIG) | tee $(VENV)/last-run.txt
	@v=$$(sed -n 's/^version \([0-9][0-9]*\) of .*/\1/p' $(VENV)/last-run.txt); echo; \
	echo "Next (first: source $(BIN)/activate):"; \
	echo "  tunegate up --config $(CONFIG)      # Prefect UI at http://127.0.0.1:$(UI_PORT) (it prints the login)"; \
	echo "  tunegate sample-data --out examples/data/incoming/batch.jsonl --rows 300 --drift length"; \
	echo "  tunegate predict --config $(CONFIG) --input examples/data/incoming/batch.jsonl --output predictions.csv"; \
	echo "  tunegate monitor --config $(CONFIG) --batch examples/data/incoming/batch.jsonl"; \
	echo "  tunegate evidence build --config $(CONFIG) --version $${v:-1} --out evidence-v$${v:-1}.zip"

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest $(FAST_ARGS)

bench: install
	$(BIN)/uv pip install -q --python $(BIN)/python $(UV_ARGS) --compile-bytecode -e ".[test,bench]"

clean:
	rm -rf .tunegate examples/data/claims.jsonl examples/data/claims.jsonl.pii.jsonl examples/data/incoming \
	       predictions.csv evidence-v*.zip
