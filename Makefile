# Every target is idempotent: a second run reuses the virtual environment, the node tools and the models.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MODELS_DIR ?= models

.PHONY: install models run test lint format proto proto-lint proto-breaking

install: $(INSTALLED) node_modules/.installed

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

models: $(INSTALLED)
	$(PY) -m default_models --models-dir $(MODELS_DIR)

run: install models
	$(PY) -m hearth_cli.stack --models-dir $(MODELS_DIR)

test: install models
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

proto: install
	$(PY) protos/generate.py

proto-lint: install
	node_modules/.bin/buf lint protos

# Compares the contract with main's: run on a branch before merging a .proto change.
proto-breaking: install
	node_modules/.bin/buf breaking protos --against '.git#branch=main,subdir=protos'
