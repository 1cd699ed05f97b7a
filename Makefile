# Rampart: the two commands are `make up` and `make test`; everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
ENV ?= dev
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: up down test plan install install-infra help

help:
	@echo "make up            start the local environment (Ray Serve + services + gateway on 127.0.0.1)"
	@echo "make down          stop what make up started"
	@echo "make test          install everything and run the whole test suite"
	@echo "make plan ENV=env  render a stack offline under mocks and print the planned resources"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Each stamp records one install of the project with a set of extras; pyproject changes re-run it.
$(VENV)/.installed-infra: pyproject.toml | $(PY)
	$(PIP) install --disable-pip-version-check -q -e .
	@touch $@

$(VENV)/.installed-all: pyproject.toml | $(PY)
	$(PIP) install --disable-pip-version-check -q -e '.[serve,test]'
	@touch $@ $(VENV)/.installed-infra

install-infra: $(VENV)/.installed-infra
install: $(VENV)/.installed-all

test: $(VENV)/.installed-all
	$(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

plan: $(VENV)/.installed-infra
	$(PY) -m stacks.plan $(ENV)

# Gateway audit log: verify the hash chain of every stream (edited, dropped or reordered records fail).
.PHONY: audit-verify
AUDIT_DIR ?= $(or $(RAMPART_STATE_DIR),.rampart/local)/audit
audit-verify: $(VENV)/.installed-all
	$(PY) -m services.gateway.audit verify $(AUDIT_DIR)

.PHONY: verify
# After `pulumi up -s $(ENV)`: check the live resources with boto3 (needs AWS credentials).
verify: $(VENV)/.installed-infra
	pulumi stack output -s $(ENV) --json | $(PY) -m stacks.verify --region "$$(pulumi config get aws:region -s $(ENV))"

# Safety scanners: detection and false-positive rates on labelled JSONL ({text, is_positive, ...}).
.PHONY: eval-guardrails
SPLIT ?= all
eval-guardrails: $(VENV)/.installed-all
	@test -n "$(DATASET)" || { echo "usage: make eval-guardrails DATASET=path.jsonl [SCANNER=name] [SPLIT=report]"; exit 2; }
	$(PY) -m services.gateway.scanners.eval --dataset $(DATASET) --split $(SPLIT) $(if $(SCANNER),--scanner $(SCANNER))

# Local environment (services/local.py): Ray Serve + the services on 127.0.0.1, state in .rampart/.
up: $(VENV)/.installed-all
	$(PY) -m services.local up

down:
	@if [ -x $(PY) ]; then $(PY) -m services.local down; else echo "Rampart is not running (no virtualenv)."; fi

# Benchmarks: every bench/bench_*.py runs as a module and prints its results to stdout.
.PHONY: bench
bench: $(VENV)/.installed-all
	@set -e; for script in bench/bench_*.py; do module=$${script%.py}; echo "== $$module"; $(PY) -m $${module//\//.}; done

# Policy pack (policies/): the offline check of one environment, and agreement on labelled fixtures.
.PHONY: policy policy-eval policy-venv
policy: $(VENV)/.installed-infra
	$(PY) -m tools.policy_check $(ENV)

policy-eval: $(VENV)/.installed-infra
	@test -n "$(FILE)" || { echo "usage: make policy-eval FILE=cases.jsonl [ARGS=--disagreements]"; exit 2; }
	$(PY) -m tools.policy_eval $(FILE) $(ARGS)

# The pack's own virtualenv (PulumiPolicy.yaml: virtualenv: venv), for `pulumi preview --policy-pack policies`.
policy-venv: policies/venv/.installed
policies/venv/.installed: policies/requirements.txt
	$(PYTHON) -m venv policies/venv
	policies/venv/bin/pip install --disable-pip-version-check -q -r policies/requirements.txt
	@touch $@

.PHONY: bootstrap
# Cloud-init for the on-prem GPU hosts of $(ENV) (written to .rampart/bootstrap/); verify hosts with
# `$(PY) -m pytest tests/hosts --hosts=ssh://<host>`.
bootstrap: $(VENV)/.installed-infra
	$(PY) -m stacks.bootstrap $(ENV)
