# Jobwire — everything a developer or CI runs. `make run` and `make test` set up all they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synced
CONTROLPLANE := hack/controlplane.sh

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help
help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

.PHONY: venv
venv: $(STAMP)  ## create .venv with the locked dependencies

.PHONY: lock
lock: | $(UV)  ## update uv.lock after changing pyproject.toml
	$(UV) lock

.PHONY: controlplane
controlplane:  ## build (once, cached by version) the local control plane binaries
	@$(CONTROLPLANE) >/dev/null

.PHONY: crds
crds: $(STAMP) reference  ## regenerate crds/, the chart's CRDs and docs/reference.md from the API models
	$(PY) -m jobwire.api.crd crds charts/jobwire/crds

.PHONY: reference
reference: $(STAMP)  ## regenerate docs/reference.md (the API reference) from the API models
	$(PY) -m jobwire.api.reference docs/reference.md

.PHONY: lint
lint: $(STAMP)  ## ruff, mypy --strict and the import contracts
	$(VENV)/bin/ruff check operator tests benchmarks
	$(VENV)/bin/ruff format --check operator tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: test-servers
test-servers: $(STAMP)  ## the real servers the tests poll: PostgreSQL and Prometheus (installed from Debian if missing)
	@$(PY) -m tests.support.servers

.PHONY: test
test: $(STAMP) controlplane test-servers lint  ## the whole test suite (unit, then the real control plane)
	$(VENV)/bin/pytest

.PHONY: run
run: $(STAMP) controlplane  ## install the CRDs and run the operator (on $$KUBECONFIG, else a local control plane)
	$(PY) -m jobwire.dev.run

.PHONY: cluster-up
cluster-up: $(STAMP) controlplane  ## start the local control plane and print its kubeconfig
	$(PY) -m jobwire.dev.cluster up

.PHONY: cluster-down
cluster-down: $(STAMP)  ## stop the local control plane
	$(PY) -m jobwire.dev.cluster down

.PHONY: clean
clean:  ## remove the virtualenvs (the control plane cache stays in ~/.cache/jobwire)
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
