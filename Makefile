# The two commands of the README: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
# An editable install gets no .pyc files (pip compiles only what it copies). Python writes them
# on first import, except under PYTHONDONTWRITEBYTECODE or in a read-only checkout: then every
# command would compile tidings again (~0.1 s). Compile once, as a normal install does.
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tidings demo

# Four test processes on two cores: most tests wait on sockets, servers and subprocesses.
# worksteal: an idle process takes tests queued on a busy one, so the few long tests (slow
# peers, 5,000 deliveries) do not leave the run waiting on one process at the end
# (pytest 136 s -> 105 s here).
PYTEST_ARGS ?= -n 4 --dist worksteal

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/compare.py

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
