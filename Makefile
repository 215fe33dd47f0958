# Amparo: `make run` serves a demo on http://127.0.0.1:8080; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/amparo demo
	$(BIN)/amparo serve --host $(HOST) --port $(PORT)

# The whole suite on SQLite (the storage contract on every adapter), then the HTTP
# suites again on the MongoDB adapter over mongomock (tests/stores.py).
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 -q
	AMPARO_TEST_STORE=mongomock $(BIN)/pytest -n 2 -q tests/server/api tests/server/auth

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var build *.egg-info
