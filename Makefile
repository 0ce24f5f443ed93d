# Golden Rule: the one contract for people and CI.
#   make run            install if needed, seed the store, train if data changed, start everything
#                       (and keep it running: a server that dies is restarted, see scripts/run.sh)
#   make shell          rasa shell with the action server running
#   make test           lint, unit tests, data validation, training, test stories, end-to-end tests
#   make import-catalog FILE=path/to/products.csv
SHELL := /bin/bash
.DEFAULT_GOAL := help
.NOTPARALLEL:

VENV    ?= .venv
PY      := $(VENV)/bin/python
RASA    := $(VENV)/bin/rasa
STAMPS  := .make
MODEL   := models/golden-rule.tar.gz
# Everything training depends on; the model is rebuilt only when one of these changes.
TRAINING_INPUTS := config.yml domain.yml $(shell find data -type f -name '*.yml' 2>/dev/null)

# Local settings (see .env.example); exported to every command below.
ifneq (,$(wildcard .env))
include .env
export
endif

export TF_CPP_MIN_LOG_LEVEL ?= 3
export RASA_TELEMETRY_ENABLED ?= false
export PYTHONWARNINGS ?= ignore::DeprecationWarning
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1

.PHONY: help install seed train run shell test lint unit validate stories e2e import-catalog clean \
	chromium docs-screenshot

help:
	@echo "make run | make shell | make test | make import-catalog FILE=... | make train | make seed | make clean"

$(PY):
	@py=$$(scripts/find-python.sh) || exit 1; \
	echo "Creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV) && $(PY) -m pip install --quiet --upgrade pip==24.0

$(STAMPS)/installed: requirements.txt requirements-dev.txt constraints.txt | $(PY)
	@echo "Installing pinned dependencies (first time: about 2 minutes)"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt -c constraints.txt
	@mkdir -p $(STAMPS) && touch $@

install: $(STAMPS)/installed

# var/ holds customer data and secrets: created owner-only, tightened if it was not (scripts/private.sh),
# and the store is written under umask 077 (0600). run.sh and shell.sh do the same for what they create.
seed: install
	@source scripts/private.sh && private_var var
	umask 077 && $(PY) -m actions.cli seed

$(MODEL): $(TRAINING_INPUTS) | $(STAMPS)/installed
	@echo "Training data or config changed: training $(MODEL)"
	$(RASA) train --fixed-model-name golden-rule --out models --force
	@touch $@

train: seed $(MODEL)

# Both scripts take GOLDEN_RULE_ACTION_TOKEN and GOLDEN_RULE_WIDGET_SECRET from the environment or
# .env, else from var/secrets.env (generated on first use, kept, never printed).
run: seed $(MODEL)
	scripts/run.sh

shell: seed $(MODEL)
	scripts/shell.sh

import-catalog: install
	@test -n "$(FILE)" || { echo "usage: make import-catalog FILE=path/to/products.csv"; exit 2; }
	$(PY) -m actions.cli import "$(FILE)"

lint: install
	$(VENV)/bin/ruff check .

unit: install
	$(PY) -m pytest -m "not e2e"

validate: seed
	$(RASA) data validate

stories: $(MODEL)
	$(RASA) test core --e2e --model $(MODEL) --stories tests --fail-on-prediction-errors --out results/stories

e2e: $(MODEL) chromium
	$(PY) -m pytest -m e2e

# The widget's browser tests drive Debian's chromium (never a downloaded browser). Installed with
# apt-get when missing: as root (CI runs as root with CI=true) or through password-less sudo.
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	echo "$(CHROMIUM) is missing: installing Debian's chromium with apt-get"; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "ERROR: cannot install chromium (not root, no password-less sudo). Run: sudo apt-get install chromium" >&2; exit 1; fi; \
	$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y chromium \
	  || { echo "ERROR: apt-get could not install chromium; the browser tests cannot run." >&2; exit 1; }; \
	test -x "$(CHROMIUM)" || { echo "ERROR: chromium installed but $(CHROMIUM) is missing." >&2; exit 1; }

# Refresh docs/widget.png (the README's screenshot) from a real browser session.
docs-screenshot: $(MODEL) chromium
	GOLDEN_RULE_DOCS_SCREENSHOT=1 $(PY) -m pytest -m e2e tests/test_widget_e2e.py -k quick_replies

test: lint unit validate $(MODEL) stories e2e
	@echo "All checks passed."

clean:
	rm -rf models results $(STAMPS) .pytest_cache .ruff_cache

# Escalated tickets (actions/staff.py): `make tickets` lists open ones; ARGS picks another command:
#   make tickets ARGS="show BD-10427" | ARGS='reply BD-10427 "Hi Dana, ..."' | ARGS="resolve BD-10427"
.PHONY: tickets
tickets: install
	$(PY) -m actions.staff $(or $(ARGS),list)

# Customers waiting for an out-of-stock product (actions/services/back_in_stock.py): product, contact, since when.
#   make back-in-stock ARGS="--sku NB-16" | ARGS="--all"
.PHONY: back-in-stock
back-in-stock: install
	$(PY) -m actions.cli back-in-stock $(ARGS)

# Benchmarks and evaluation, written to docs/benchmarks.md (long: not part of `make test`).
#   make bench   our bot beside a fresh `rasa init` bot over REST, then store scale (about 15 minutes)
#   make eval    cross-validation, test stories, unseen phrasings (about 10 minutes)
# ARGS passes options, e.g. make bench ARGS="--quick --skip-train", make eval ARGS="--skip-cv".
.PHONY: bench eval
bench: seed $(MODEL)
	$(PY) -m bench.run $(ARGS)

eval: $(MODEL)
	$(PY) -m eval.run $(ARGS)

# Load and soak over REST, written to the "Load and soak" section of docs/benchmarks.md.
#   make load    50 concurrent conversations × 20 turns of service, sales and handoff; every reply checked,
#                tickets counted in the store (bench/mix.py, about 3 minutes; `make test` runs the same as
#                tests/test_load_e2e.py)
#   make soak    a steady 3 messages/s for 10 minutes, RSS of both servers sampled and plotted to
#                docs/soak.png (bench/soak.py, about 12 minutes: not part of `make test`)
# ARGS passes options, e.g. make soak ARGS="--minutes 1" (a quick check), make load ARGS="--think 5".
.PHONY: load soak
load: $(MODEL)
	$(PY) -m bench.mix $(ARGS)

soak: $(MODEL)
	$(PY) -m bench.soak $(ARGS)
