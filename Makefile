# gce.cos: `make demo` shows it working, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PYTHON312 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.12*/bin/python3.12) $(shell command -v python3.12))
PYTHON311 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.11*/bin/python3.11) $(shell command -v python3.11))
PYTHON313 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3.13) $(shell command -v python3.13))

VENV := .venv
VENV311 := .venv311
VENV313 := .venv313
PY := $(VENV)/bin/python
COLLECTION := .build/ansible-test/ansible_collections/gce/cos
# Not part of the collection proper: kept out of ansible-test's copy (they have their own tests).
NOT_COLLECTION := ^(\.build/|\.ci/|wip/|localgce/|bench/|demo/|tests/(localgce|vm|vm_e2e|agent|e2e|api|gcloud|ecosystem)/|conftest\.py$$)
ANSIBLE_TEST_CACHE := $(HOME)/.ansible/test/cache
# Debian packages the tests run for real (cloud-init schema, systemd-analyze, nspawn, docker, registry).
DEB_PACKAGES := cloud-init systemd-container debootstrap docker.io docker-registry apache2-utils busybox-static \
	iptables nftables curl e2fsprogs shellcheck rsync openssl iproute2 util-linux \
	libfuse3-3
PYTEST_ARGS ?=
# pip's config here names local wheel dirs that may not exist: drop its warnings, keep its exit code.
PIP_QUIET := grep -v '^WARNING: Location' || test $$? = 1

.PHONY: help test test-checks test-vms deps venv constraints lint lint-ansible unit build ecosystem sanity units integration vm e2e vm-e2e gcloud demo clean collection

help:
	@echo "make demo   - deploy the example against localgce (no GCP account needed)"
	@echo "make test   - every test: lint, unit, localgce, agent, build, sanity, units and integration (2.19, 2.20, 2.21)"

# Two lanes at once, each in order: the VM simulator's suites spend most of their time waiting on
# VMs (boots, the guest-attribute budget), the others on the CPU. Each lane's output is printed
# whole when it ends (--output-sync=recurse); a lane's make runs its suites one after another (-j1,
# which makes print that it resets the jobserver). Only the checks lane rebuilds the ansible-test
# copy (`collection`).
TEST_CHECKS := lint lint-ansible unit build ecosystem sanity units integration e2e gcloud
TEST_VMS := vm vm-e2e
test: deps venv
	@$(MAKE) --no-print-directory -j2 --output-sync=recurse test-checks test-vms
	@echo "make test: all suites passed"

test-checks:
	@$(MAKE) --no-print-directory -j1 $(TEST_CHECKS)

test-vms:
	@$(MAKE) --no-print-directory -j1 $(TEST_VMS)

demo: deps venv
	$(PY) demo/run_demo.py

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages: $$missing (run as root, or: sudo apt-get install $$missing)"; exit 1; \
	  fi; \
	fi

venv: $(VENV)/.stamp $(VENV311)/.stamp $(VENV313)/.stamp collection

$(VENV)/.stamp: requirements.txt requirements-dev.txt constraints-dev.txt
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found (pyenv install 3.12, or set PYTHON312=)"; exit 1; }
	$(PYTHON312) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip 2>&1 | { $(PIP_QUIET); }
	$(VENV)/bin/pip install -q -r requirements-dev.txt -c constraints-dev.txt 2>&1 | { $(PIP_QUIET); }
	touch $@

$(VENV311)/.stamp: requirements.txt requirements-dev-py311.txt constraints-dev-py311.txt
	@test -n "$(PYTHON311)" || { echo "Python 3.11 not found (pyenv install 3.11, or set PYTHON311=)"; exit 1; }
	$(PYTHON311) -m venv $(VENV311)
	$(VENV311)/bin/pip install -q --upgrade pip 2>&1 | { $(PIP_QUIET); }
	$(VENV311)/bin/pip install -q -r requirements-dev-py311.txt -c constraints-dev-py311.txt 2>&1 | { $(PIP_QUIET); }
	touch $@

$(VENV313)/.stamp: requirements.txt requirements-dev-py313.txt constraints-dev-py313.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found (pyenv install 3.13, or set PYTHON313=)"; exit 1; }
	$(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/pip install -q --upgrade pip 2>&1 | { $(PIP_QUIET); }
	$(VENV313)/bin/pip install -q -r requirements-dev-py313.txt -c constraints-dev-py313.txt 2>&1 | { $(PIP_QUIET); }
	touch $@

# Re-pin the tool chains after changing requirements-dev*.txt.
constraints: venv
	{ echo '# Exact versions of the whole dev tool chain (pip freeze of .venv); refresh with `make constraints`.'; \
	  $(VENV)/bin/pip freeze | grep -v '^-e'; } > constraints-dev.txt
	{ echo '# Exact versions of the Python 3.11 / ansible-core 2.19 tool chain (pip freeze of .venv311).'; \
	  $(VENV311)/bin/pip freeze | grep -v '^-e'; } > constraints-dev-py311.txt
	{ echo '# Exact versions of the Python 3.13 / ansible-core 2.20 tool chain (pip freeze of .venv313).'; \
	  $(VENV313)/bin/pip freeze | grep -v '^-e'; } > constraints-dev-py313.txt

# ansible-test wants the checkout at .../ansible_collections/gce/cos: a fresh copy of the
# collection's files (tracked and untracked-not-ignored) goes there.
collection:
	@rm -rf $(COLLECTION) && mkdir -p $(COLLECTION)
	@git ls-files -co --exclude-standard | grep -Ev '$(NOT_COLLECTION)' | rsync -a --files-from=- ./ $(COLLECTION)/
	@# Its own git repository: inside ours, .build is ignored and ansible-test would see no files.
	@git -C $(COLLECTION) init -q

lint: venv
	$(VENV)/bin/ruff check --output-format concise .
	shellcheck --shell=bash plugins/module_utils/_agent/* roles/cos_deploy/files/* localgce/vm/toolbox localgce/vm/iptables-setup tests/vm_e2e/files/*.sh

lint-ansible: venv
	@mkdir -p .build/pythonpath/ansible_collections/gce && ln -sfn $(CURDIR) .build/pythonpath/ansible_collections/gce/cos
	@# ansible-lint installs the collection under ANSIBLE_HOME: keep that copy in .build, not in ~/.ansible.
	ANSIBLE_HOME=$(CURDIR)/.build/ansible-home ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.build/pythonpath $(VENV)/bin/ansible-lint --profile production roles/ playbooks/ examples/ meta/runtime.yml

unit: venv
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

build: venv collection
	rm -rf .build/artifact && mkdir -p .build/artifact
	cd $(COLLECTION) && $(CURDIR)/$(VENV)/bin/ansible-galaxy collection build --force --output-path $(CURDIR)/.build/artifact
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.build/ansible-test $(VENV)/bin/python tests/check_docs.py

# What Galaxy and the Ansible ecosystem check (tests/ecosystem): the support matrix, galaxy-importer on the
# built artifact, antsibull-docs, the changelog's release flow, the execution environment's context.
ecosystem: venv
	$(PY) -m pytest -n 2 tests/ecosystem $(PYTEST_ARGS)

# Offline get-pip stand-in for each pip version the installed ansible-test versions bootstrap.
$(ANSIBLE_TEST_CACHE)/.standin: tests/sanity/get_pip_standin.py venv
	@mkdir -p $(ANSIBLE_TEST_CACHE)
	@for v in $$(grep -ho "pip='[0-9.]*'" $(VENV)/lib/python*/site-packages/ansible_test/_internal/python_requirements.py \
	    $(VENV311)/lib/python*/site-packages/ansible_test/_internal/python_requirements.py \
	    $(VENV313)/lib/python*/site-packages/ansible_test/_internal/python_requirements.py | grep -o "[0-9.]*" | sort -u); do \
	  cp tests/sanity/get_pip_standin.py $(ANSIBLE_TEST_CACHE)/get_pip_$${v//./_}.py; done
	@touch $@

sanity: venv collection $(ANSIBLE_TEST_CACHE)/.standin
	cd $(COLLECTION) && $(CURDIR)/$(VENV)/bin/ansible-test sanity --venv --python 3.12 --color no
	cd $(COLLECTION) && $(CURDIR)/$(VENV311)/bin/ansible-test sanity --venv --python 3.11 --color no
	cd $(COLLECTION) && $(CURDIR)/$(VENV313)/bin/ansible-test sanity --venv --python 3.13 --color no

units: venv collection
	cd $(COLLECTION) && $(CURDIR)/$(VENV)/bin/ansible-test units --local --python 3.12 --color no
	cd $(COLLECTION) && $(CURDIR)/$(VENV311)/bin/ansible-test units --local --python 3.11 --color no
	cd $(COLLECTION) && $(CURDIR)/$(VENV313)/bin/ansible-test units --local --python 3.13 --color no

integration: venv collection
	@if ls tests/integration/targets/*/aliases >/dev/null 2>&1; then \
	  $(PY) tests/integration/run_against_localgce.py $(COLLECTION) $(CURDIR)/$(VENV)/bin/ansible-test --python 3.12; \
	  $(PY) tests/integration/run_against_localgce.py $(COLLECTION) $(CURDIR)/$(VENV311)/bin/ansible-test --python 3.11; \
	  $(PY) tests/integration/run_against_localgce.py $(COLLECTION) $(CURDIR)/$(VENV313)/bin/ansible-test --python 3.13; \
	else echo "no integration targets yet"; fi

# The COS VM simulator boots real systemd-nspawn machines: root only (CI is root).
vm: $(VENV)/.stamp
	$(PY) -m pytest tests/vm $(PYTEST_ARGS)

e2e: venv
	$(PY) -m pytest -n 2 tests/e2e $(PYTEST_ARGS)

# The real gcloud against localgce; fails (never skips) where gcloud is not on the PATH.
gcloud: venv
	$(PY) -m pytest -n 2 tests/gcloud $(PYTEST_ARGS)

# Deployments through playbooks/deploy.yml onto simulated VMs; one session in file order
# (the leak check runs last), so no -n.
vm-e2e: $(VENV)/.stamp
	$(PY) -m pytest tests/vm_e2e $(PYTEST_ARGS)

clean:
	rm -rf .build tests/output
