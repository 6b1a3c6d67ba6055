# tts: `make help` lists the targets. Versions are pinned in pyproject.toml (Python), in
# Dockerfile.cu128's ARGs (the server) and in docker/requirements-cu128.txt; this file reads them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed
# The gate as a user installs it: its wheel in a clean venv, with only the runtime dependencies.
WHEEL_VENV := .build/wheel-venv
WHEEL_STAMP := $(WHEEL_VENV)/.installed
# The server image's locked setuptools wheel, for the test that it still ships pkg_resources
# (resemble-perth needs it; setuptools 82 dropped it). Downloaded here so pytest stays offline.
SERVER_SETUPTOOLS := $(shell sed -n 's/^setuptools==//p' docker/requirements-cu128.txt)
SETUPTOOLS_DIR := .build/server-setuptools
SETUPTOOLS_STAMP := $(SETUPTOOLS_DIR)/.setuptools-$(SERVER_SETUPTOOLS)
# chart/README.md's parameters table: bitnami's readme-generator-for-helm from npm, its version
# pinned in ct/package.json (and ct/package-lock.json), installed with `npm ci` into .build/.
README_GENERATOR := .build/node_modules/.bin/readme-generator
README_STAMP := .build/node_modules/.installed

# Images. One variable moves both to another registry: make build-image push REGISTRY=ghcr.io/me
REGISTRY ?= forgejo.viktorbarzin.me/viktor
SERVER_IMAGE ?= $(REGISTRY)/chatterbox-tts
GATE_IMAGE ?= $(REGISTRY)/tts-gate
PLATFORM ?= linux/amd64
DOCKER ?= docker
# The upstream server commit: Dockerfile.cu128's default unless overridden.
CHATTERBOX_REF ?= $(shell sed -n 's/^ARG CHATTERBOX_REF=//p' Dockerfile.cu128 | head -n 1)
CHATTERBOX_SHORT := $(shell printf '%.8s' '$(CHATTERBOX_REF)')
GATE_VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' gate/__init__.py)
REVISION := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

SERVER_TAGS := $(SERVER_IMAGE):latest $(SERVER_IMAGE):$(CHATTERBOX_SHORT)
GATE_TAGS := $(GATE_IMAGE):$(GATE_VERSION)
# `push` pushes what this invocation built; alone, it pushes every tag of both images.
BUILT_TAGS := $(if $(filter build-image,$(MAKECMDGOALS)),$(SERVER_TAGS)) $(if $(filter build-gate,$(MAKECMDGOALS)),$(GATE_TAGS))
PUSH_TAGS := $(or $(strip $(BUILT_TAGS)),$(SERVER_TAGS) $(GATE_TAGS))

.PHONY: help venv test lint prometheus-tools demo demo-objects bench bench-doc settings faults-doc chart-readme audit build-image build-gate push docker-check lock-image runtime-size clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv with the gate (editable) and the test tools

$(STAMP): pyproject.toml
	@echo ">> creating $(VENV) and installing the gate and its test tools (first run: about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar off -e '.[test,plot]' | grep -E '^(Collecting|Successfully)' || true
	@touch $@

# `make demo` alone: the gate and matplotlib (its plot extra), none of the test tools. Through
# this Python's pip into a venv without one, and without compiling every module up front: the
# venv's own pip and the byte-compiling were half of a fresh clone's time.
$(DEMO_STAMP): pyproject.toml
	@echo ">> creating $(VENV) with what make demo needs: the gate and matplotlib"
	@if [ ! -x $(BIN)/python ]; then $(PYTHON) -m venv --without-pip $(VENV); fi
	$(PYTHON) -m pip --python $(BIN)/python install --no-compile --disable-pip-version-check --progress-bar off -e '.[plot]' \
		| grep -E '^Successfully' || true
	@touch $@

$(SCAN_STAMP): pyproject.toml
	@echo ">> creating $(SCAN_VENV) with the manifest scanner (checkov)"
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --disable-pip-version-check --progress-bar off '.[scan]' | grep -E '^Successfully' || true
	@touch $@

$(WHEEL_STAMP): pyproject.toml $(wildcard gate/*.py gate/*/*.py)
	@echo ">> building the gate's wheel and installing it into a clean venv ($(WHEEL_VENV))"
	rm -rf .build/dist $(WHEEL_VENV)
	$(PYTHON) -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir .build/dist .
	$(PYTHON) -m venv --without-pip $(WHEEL_VENV)
	$(PYTHON) -m pip --python $(WHEEL_VENV)/bin/python install --quiet --disable-pip-version-check .build/dist/tts_gate-*.whl
	@touch $@

$(SETUPTOOLS_STAMP): docker/requirements-cu128.txt
	@echo ">> downloading the server image's setuptools==$(SERVER_SETUPTOOLS) wheel ($(SETUPTOOLS_DIR))"
	rm -rf $(SETUPTOOLS_DIR)
	$(PYTHON) -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --dest $(SETUPTOOLS_DIR) 'setuptools==$(SERVER_SETUPTOOLS)'
	@touch $@

lint: $(STAMP) ## ruff, import layering, hadolint on both Dockerfiles, actionlint on the release workflow
	$(BIN)/ruff check gate tests bench docker .github
	$(BIN)/ruff format --check gate tests bench docker .github
	$(BIN)/lint-imports
	$(BIN)/hadolint --no-color Dockerfile.cu128 Dockerfile.gate
	$(BIN)/actionlint -no-color .github/workflows/*.yml

test: lint prometheus-tools $(SCAN_STAMP) $(WHEEL_STAMP) $(SETUPTOOLS_STAMP) $(README_STAMP) ## every test: lint, the chart, the gate, the fault matrix, the manifest scan
	CHECKOV=$(SCAN_VENV)/bin/checkov WHEEL_VENV=$(WHEEL_VENV) SETUPTOOLS_DIR=$(SETUPTOOLS_DIR) \
		README_GENERATOR=$(README_GENERATOR) $(BIN)/pytest

$(README_STAMP): ct/package.json ct/package-lock.json
	@command -v npm >/dev/null || { echo "make: npm is not installed; install Node.js 20+ (the chart README generator runs on it)" >&2; exit 2; }
	@echo ">> installing the chart README generator (npm ci into .build/)"
	mkdir -p .build
	cp ct/package.json ct/package-lock.json .build/
	npm ci --prefix .build --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

chart-readme: $(README_STAMP) ## regenerate chart/README.md's parameters table from chart/values.yaml's @param comments
	@log=$$(mktemp); \
	if ! $(README_GENERATOR) --values chart/values.yaml --readme chart/README.md >"$$log" 2>&1; then \
	  grep -v '^Skipping' "$$log" >&2; rm -f "$$log"; exit 1; fi; \
	rm -f "$$log"; echo ">> chart/README.md: parameters table regenerated from chart/values.yaml"

# A real Prometheus and promtool for the alert, dashboard and scrape tests: Debian's package.
# policy-rc.d (exit 101) keeps the package's postinst from starting its own daemon on :9090 on a
# machine that has no such guard already; the tests start their own on a free loopback port.
prometheus-tools: ## install Debian's prometheus (prometheus, promtool) when either is missing
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
	  echo ">> installing Debian's prometheus package (prometheus and promtool for the tests)"; \
	  sudo=""; if [ "$$(id -u)" != 0 ]; then sudo="sudo -n"; fi; \
	  guard=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' | $$sudo tee /usr/sbin/policy-rc.d >/dev/null && $$sudo chmod +x /usr/sbin/policy-rc.d && guard=1; fi; \
	  status=0; log=$$(mktemp); \
	  { $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } >"$$log" 2>&1 || status=$$?; \
	  if [ -n "$$guard" ]; then $$sudo rm -f /usr/sbin/policy-rc.d; fi; \
	  if [ "$$status" != 0 ] || ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
	    cat "$$log" >&2; rm -f "$$log"; \
	    echo "make: could not install Debian's prometheus package (needs root or passwordless sudo, and apt);" \
	      "install prometheus and promtool (2.x) on PATH and run again" >&2; exit 2; fi; \
	  rm -f "$$log"; \
	fi

demo: $(DEMO_STAMP) ## the chart's objects, and the gate on a bundled night next to the seed's policy
	$(BIN)/python bench/demo.py

bench: $(STAMP) ## replay the sample nights with the seed's, this gate's and a reactive policy
	$(BIN)/python bench/bench.py

demo-objects: $(STAMP) ## rewrite bench/demo-objects.txt (what make demo lists) from the chart
	$(BIN)/python bench/demo.py --write-objects

bench-doc: $(STAMP) ## rewrite docs/design.md's benchmark tables from the same runs
	$(BIN)/python bench/bench.py --write-doc
settings: $(STAMP) ## regenerate what the chart carries of the gate (files/gate-settings.json, values.schema.json, files/gate-constants.json)
	$(BIN)/python -m gate.settings chart
	$(BIN)/python -m gate.chart_constants chart

faults-doc: $(STAMP) ## regenerate docs/faults.md from the fault matrix's test parameters
	$(BIN)/python tests/faults.py > docs/faults.md

audit: $(WHEEL_STAMP) ## pip-audit the pinned runtime dependencies (needs PyPI's vulnerability data)
	$(BIN)/pip install --quiet --disable-pip-version-check '.[audit]'
	$(PYTHON) -m pip --python $(WHEEL_VENV)/bin/python freeze --exclude tts-gate > .build/runtime-requirements.txt
	$(BIN)/pip-audit --strict --requirement .build/runtime-requirements.txt

docker-check: ## fail early unless a docker client and a running engine answer
	@command -v $(DOCKER) >/dev/null || { echo "make: '$(DOCKER)' is not installed; install Docker to build images" >&2; exit 2; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "make: no Docker engine answers ('$(DOCKER) info' failed); start it or set DOCKER_HOST" >&2; exit 2; }

build-image: docker-check ## build the Chatterbox server image (Dockerfile.cu128) for $(PLATFORM)
	$(DOCKER) build --platform $(PLATFORM) -f Dockerfile.cu128 \
		--build-arg CHATTERBOX_REF=$(CHATTERBOX_REF) --build-arg VERSION=$(CHATTERBOX_SHORT) \
		$(foreach tag,$(SERVER_TAGS),-t $(tag)) .

build-gate: docker-check ## build the gate image (Dockerfile.gate) for $(PLATFORM)
	$(DOCKER) build --platform $(PLATFORM) -f Dockerfile.gate \
		--build-arg VERSION=$(GATE_VERSION) --build-arg REVISION=$(REVISION) \
		$(foreach tag,$(GATE_TAGS),-t $(tag)) .

push: docker-check ## push the tags built in the same invocation (alone: every tag)
	$(foreach tag,$(PUSH_TAGS),$(DOCKER) push $(tag);)

lock-image: $(STAMP) ## re-resolve docker/requirements-cu128.txt from docker/requirements-cu128.in
	$(BIN)/pip install --quiet '.[lock]'
	{ sed -n '1,4p' docker/requirements-cu128.txt; \
	  $(BIN)/uv pip compile docker/requirements-cu128.in --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
	    --override docker/lock-overrides.txt --no-header --no-annotate; } > docker/requirements-cu128.txt.new
	mv docker/requirements-cu128.txt.new docker/requirements-cu128.txt

runtime-size: $(WHEEL_STAMP) ## print the installed size of the gate with its runtime dependencies (a clean venv)
	@$(WHEEL_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
		| xargs du -sh | awk '{print "gate runtime install (site-packages):", $$1}'

clean: ## remove the venv and build leftovers
	rm -rf $(VENV) $(SCAN_VENV) .build build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
