# Every target is idempotent: a second run reuses the virtual environment, the node tools and the models.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MODELS_DIR ?= models
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install models run test lint format proto proto-lint proto-breaking browser container-tools

install: $(INSTALLED) node_modules/.installed browser container-tools

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's chromium for the playground's browser test (Playwright's own browser download needs the internet).
browser:
	test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The container test builds and runs the images: with a Docker engine where one answers, else with Debian's
# rootful podman (runc runtime) on a base image mmdebstrap makes from Debian's Python 3.11.
container-tools:
	docker info >/dev/null 2>&1 || { test -x /usr/bin/podman && test -x /usr/sbin/runc && test -x /usr/bin/mmdebstrap; } || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc mmdebstrap; }

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
