# Mosaic build, test and benchmark entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup deps build test test-slow bench clean images start-cluster stop-cluster clean-cluster status test-docker

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

setup: ## install the Debian packages Mosaic needs (only those missing)
	./scripts/setup-system.sh

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json ## install npm dependencies (npm ci) and apply the fuse-native patch if it changed
	@node scripts/patch-fuse-native.mjs

build: deps ## compile TypeScript to dist/
	rm -rf dist
	npx tsc -p tsconfig.json

test: setup build ## everything CI runs: system packages, npm ci, build, the whole test suite
	npx ava

test-slow: setup build ## the long runs (fsx with many seeds, large files); not part of `make test`
	MOSAIC_SLOW_TESTS=1 npx ava

bench: build ## all benchmarks (or: npm run bench -- NAME [OPTIONS]); installs the peers they compare with
	./scripts/setup-bench.sh
	npm run bench

clean: ## remove build output
	rm -rf dist

images: setup build ## build the Docker images (and the local base image where no registry answers)
	./scripts/docker/dockerd.sh
	./scripts/docker/images.sh

start-cluster: images ## start the cluster in Docker: exportd + 4 storaged (STORAGE_NODES=6 for more), initialised, healthy
	./scripts/start_cluster.sh

stop-cluster: ## stop the Docker cluster and its clients (data kept)
	./scripts/stop_cluster.sh

clean-cluster: ## stop the Docker cluster and remove its data and settings
	./scripts/stop_cluster.sh --clean

status: ## the Docker cluster's containers and `mosaic status`
	./scripts/docker/status.sh

test-docker: setup build ## the Docker cluster tests (images from scratch, compose cluster, clients, faults)
	MOSAIC_DOCKER_TESTS=1 npx ava 'dist/test/docker/**/*.test.js'
