# tts: `make help` lists the targets. Versions are pinned in pyproject.toml (Python) and in
# the Dockerfiles' ARGs (images); this file only reads them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv test lint

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv with the gate (editable) and the test tools

$(STAMP): pyproject.toml
	@echo ">> creating $(VENV) and installing the gate and its test tools (first run: about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --progress-bar off -e '.[test,plot]'
	@touch $@

lint: $(STAMP) ## ruff, import layering
	$(BIN)/ruff check gate tests
	$(BIN)/ruff format --check gate tests
	$(BIN)/lint-imports

test: lint ## every test: lint, the chart, the gate
	$(BIN)/pytest
