# Two commands on a fresh machine:  `make run`  (the whole pipeline on sample data)  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= examples/claims.yaml
PYTEST_ARGS ?= -m "not gpu"

.PHONY: install run test bench clean

$(BIN)/tunegate: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch 2.13.0 first: on CPU machines it is the local CPU build; a bare range pulls CUDA wheels.
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[test]"
	touch $(BIN)/tunegate

install: $(BIN)/tunegate

run: install
	$(BIN)/tunegate run $(CONFIG)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/pip install -q -e ".[test,bench]"

clean:
	rm -rf .tunegate examples/data/claims.jsonl examples/data/claims.jsonl.pii.jsonl
