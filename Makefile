# Two commands do all the set-up on a fresh machine:
#   make dev    the whole pipeline locally (broker, registry, services, emulator, demo feed); Ctrl-C stops it
#   make test   everything CI runs (lint, types, generated files, compose file, unit and integration tests)
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Node 24: the machine's node when new enough, else the npm registry's `node` package under .tools/.
export PATH := $(CURDIR)/.tools/node/node_modules/node/bin:$(PATH)
SCHEMAS := node services/schemas-tool/src/cli.ts

.PHONY: help node install stack-fetch stack-up stack-down stack-wait stack-status stack-wipe \
        dev test lint typecheck generated-check compose-check system-deps unit integration bench schemas-register \
        topics groups k8s-check chaos

help:
	@echo "make dev      start broker, registry, every service and the Customer.io emulator (Ctrl-C stops all)"
	@echo "make test     run everything CI runs"
	@echo "make bench    run the benchmarks (results in bench/results/)"
	@echo "make stack-up | stack-down | stack-wait | stack-status | stack-wipe   the local Kafka + registry alone"
	@echo "make topics | groups [ARGS='...']   Kafka's topic and consumer-group tools (KAFKA_BROKERS, default 127.0.0.1:9092)"

node:
	@scripts/ensure-node.sh >/dev/null

install: node node_modules/.install-stamp

node_modules/.install-stamp: package.json package-lock.json scripts/patch-kafkajs.ts $(wildcard packages/*/package.json services/*/package.json)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian packages the checks need: Chromium for the inspector page's browser test,
# docker-compose (1.29, no engine needed) to validate docker-compose.yml, and Python's venv for
# the Kubernetes manifests' validator (k8s-check).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || [ -n "$$CHROMIUM_PATH" ] || missing="$$missing chromium"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root (or install:$$missing) to continue" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

stack-fetch: install
	node scripts/local-stack.ts fetch

stack-up: stack-fetch
	node scripts/local-stack.ts start

stack-down: install
	node scripts/local-stack.ts stop

stack-wait: install
	node scripts/local-stack.ts wait

stack-status: install
	node scripts/local-stack.ts status

stack-wipe: install
	node scripts/local-stack.ts wipe

# Kafka 4's own tools (kafka-tools jar) against KAFKA_BROKERS: e.g. make topics ARGS="--describe --topic raw.app",
# make groups ARGS="--describe --group cio-sink" (lag per partition), make groups ARGS="--list".
topics: stack-fetch
	node scripts/kafka-tools.ts topics $(or $(ARGS),--list)

groups: stack-fetch
	node scripts/kafka-tools.ts groups $(or $(ARGS),--describe --all-groups)

dev: stack-fetch
	node scripts/dev.ts

lint: install
	npx eslint .

typecheck: install
	npx tsc --noEmit -p tsconfig.json

# Generated TypeScript types and the tracking-plan docs are checked in; stale ones fail the build.
generated-check: install
	$(SCHEMAS) codegen --check
	$(SCHEMAS) docs --check
	node scripts/errors-doc.ts --check

# Validated with the committed example env file (placeholders, never real secrets); without any
# env file it must refuse to render, which proves every secret is required from the environment.
# The Kubernetes manifests against the API's schemas (Kubernetes 1.37, strict: unknown fields fail),
# with kubernetes-validate from PyPI, which bundles the schemas (nothing fetched at run time).
K8S_VALIDATE_VENV ?= .tools/kubernetes-validate
K8S_VALIDATE := $(K8S_VALIDATE_VENV)/bin/kubernetes-validate
K8S_MANIFESTS := $(filter-out infra/k8s/kustomization.yaml,$(wildcard infra/k8s/*.yaml))

$(K8S_VALIDATE):
	python3 -m venv $(K8S_VALIDATE_VENV)
	$(K8S_VALIDATE_VENV)/bin/pip install --quiet --disable-pip-version-check kubernetes-validate==1.37.0

k8s-check: system-deps $(K8S_VALIDATE)
	$(K8S_VALIDATE) --strict --quiet $(K8S_MANIFESTS)
	@echo "infra/k8s manifests are valid ($(words $(K8S_MANIFESTS)) files)"

compose-check: system-deps
	docker-compose -f docker-compose.yml --env-file .env.example config -q
	@empty="$$(mktemp)"; \
	if env -i PATH="$$PATH" docker-compose -f docker-compose.yml --env-file "$$empty" config -q 2>/dev/null; then \
	  rm -f "$$empty"; echo "docker-compose.yml renders without secrets: use \$${VAR:?message} for each" >&2; exit 1; \
	fi; rm -f "$$empty"
	@echo "docker-compose.yml is valid"

unit: install
	npx vitest run --project unit

integration: stack-fetch system-deps
	npx vitest run --project integration

test: install stack-fetch system-deps lint typecheck generated-check compose-check k8s-check
	npx vitest run

schemas-register: install
	$(SCHEMAS) register

bench: stack-fetch
	node bench/run.ts

# A fault test against a running `make dev` (or ARGS=--own: a pipeline of its own). ARGS=--help lists the options.
chaos: install
	node scripts/chaos/cli.ts $(ARGS)
