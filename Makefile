# Build and test entry points for the runnerkit.gitlab_runner collection.
#
# Works on a fresh Debian 12 machine with python3 (3.11) as root:
#   make test      everything CI runs (.ci/run calls this)
#   make help      list of targets
#
# Nothing here needs Galaxy or any site other than PyPI and the Debian mirror.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# Targets of `make test` run one after the other, in the order given, even with -j.
.NOTPARALLEL:

PYTHON          ?= python3
PYTHON_VERSION  ?= 3.11
VENV            := .venv
VENV_BIN        := $(CURDIR)/$(VENV)/bin
VENV_STAMP      := $(VENV)/.installed-requirements
REQUIREMENTS    := tests/requirements.txt
# Every PyPI package of every test stage, pinned (`make lock` writes it): a fresh clone next month
# installs what passed today. `make test-latest` runs with CONSTRAINTS= (the newest releases).
CONSTRAINTS     ?= tests/constraints.txt
PIP_INSTALL      = $(VENV_BIN)/python -m pip install -q $(if $(CONSTRAINTS),-c $(CONSTRAINTS),--upgrade)
BUILD           := .build
# Import path for unit tests: .build/collections/ansible_collections/runnerkit/gitlab_runner -> repo root.
COLLECTIONS_DIR := $(CURDIR)/$(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS_DIR)/ansible_collections/runnerkit/gitlab_runner
# ansible-test runs in a copy of the collection (see scripts/ansible_test.sh).
ANSIBLE_TEST    := PYTHON=$(VENV_BIN)/python bash scripts/ansible_test.sh
# Integration targets aliased `destructive` change the machine; CI machines are throwaway.
INTEGRATION_ARGS ?= $(if $(filter true,$(CI)),--allow-destructive)
# ansible-test bootstraps pip into each sanity venv with a script it would download from
# ci-files.testing.ansible.com (unreachable); it uses ~/.ansible/test/cache/get_pip_<X_Y>.py
# instead when present (ansible-core 2.19: pip 24.2 -> get_pip_24_2.py).
GET_PIP_DIR     := $(HOME)/.ansible/test/cache

# Debian packages the tests use (unit tests do not need them; gocheck, integration and the demo do).
DEBIAN_PACKAGES ?= \
	python3-venv \
	git \
	make \
	rsync \
	shellcheck \
	golang-go \
	golang-github-burntsushi-toml-dev \
	skopeo \
	amazon-ecr-credential-helper \
	docker-registry \
	apache2-utils \
	openssl \
	openssh-server \
	openssh-client

# Every process started from here finds the venv's tools first (ansible, ansible-test, pytest ...).
export PATH := $(VENV_BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Unit tests, demo and bench import the collection by its Python package name (only those:
# ansible-test must not see the repository through PYTHONPATH).
WITH_COLLECTION := PYTHONPATH=$(COLLECTIONS_DIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: lock test-latest help venv deps unit functional gocheck sanity integration lint changelog-lint test demo bench \
	get-pip collection-link clean distclean

# The targets of mk/*.mk are listed from each file's header comment: its "#   make TARGET [VAR=...]  text"
# lines and the more indented comment lines under them.
help:
	@echo 'Targets:'
	@echo '  deps            apt-get install of missing Debian packages: $(strip $(DEBIAN_PACKAGES))'
	@echo '                  (not on Debian / not root: install them yourself, then make test DEBIAN_PACKAGES=)'
	@echo '  venv            $(VENV) with $(REQUIREMENTS) pinned by $(CONSTRAINTS) (reinstalled when either changes)'
	@echo '  lock            rewrite $(CONSTRAINTS) from the newest releases tests/*requirements.txt admit'
	@echo '  test-latest     unit and integration tests with the newest releases (no pins), in $(LATEST_VENV)'
	@echo '  unit            pytest tests/unit'
	@echo '  functional      pytest tests/functional (real registry, skopeo, ansible-playbook; needs deps)'
	@echo '  gocheck         bash tests/gocheck/run_tests.sh (Go-side checks, if present)'
	@echo '  sanity          ansible-test sanity --local --requirements --python $(PYTHON_VERSION)'
	@echo '  integration     ansible-test integration --local --requirements (all targets)'
	@echo '  lint            ansible-lint --offline --profile production'
	@echo '  changelog-lint  antsibull-changelog lint'
	@echo '  test            deps venv unit tomlkit-matrix functional gocheck sanity integration lint changelog-lint'
	@echo '                  $(strip $(EXTRA_TESTS))'
	@echo '  demo            bash demo/run.sh with the venv on PATH'
	@echo '  bench           python scripts/bench.py, or each scripts/bench_*.py (BENCH_ARGS=...)'
	@echo '  clean           remove $(BUILD)/ and tests/output/; distclean also removes $(VENV)/'
	@for mk in $(sort $(wildcard mk/*.mk)); do \
		echo; echo "$$mk:"; \
		awk '!/^#/ { exit } \
			/^#   make / { n = split($$0, w, " "); cmd = w[3]; i = 4; while (i <= n && w[i] ~ /=/) cmd = cmd " " w[i++]; \
				text = w[i++]; while (i <= n) text = text " " w[i++]; more = 1; \
				if (length(cmd) < 16) printf "  %-16s%s\n", cmd, text; else printf "  %s\n%18s%s\n", cmd, "", text; next } \
			more && /^#     / { sub(/^# +/, ""); printf "%18s%s\n", "", $$0; next } \
			{ more = 0 }' "$$mk"; \
	done

# --------------------------------------------------------------------------- environment

deps:
	@missing=(); \
	for p in $(DEBIAN_PACKAGES); do \
		dpkg -s "$$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$$p"); \
	done; \
	if [ $${#missing[@]} -eq 0 ]; then \
		echo "deps: all Debian packages installed"; exit 0; \
	fi; \
	echo "deps: missing Debian packages: $${missing[*]}"; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "deps: ERROR: apt-get not found; install these packages by hand: $${missing[*]}" >&2; exit 1; \
	fi; \
	if [ "$$(id -u)" -ne 0 ]; then \
		echo "deps: ERROR: must be root to install them (run 'sudo make deps' or install by hand: apt-get install $${missing[*]})" >&2; exit 1; \
	fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq; \
	apt-get install -y -qq --no-install-recommends "$${missing[@]}"

venv: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS) $(CONSTRAINTS)
	@if [ ! -x $(VENV)/bin/python ]; then \
		echo "venv: creating $(VENV) with $$(command -v $(PYTHON)) ($$($(PYTHON) --version 2>&1))"; \
		$(PYTHON) -m venv $(VENV) || { \
			rm -rf $(VENV); \
			echo "venv: ERROR: '$(PYTHON) -m venv' failed; on Debian run 'make deps' (installs python3-venv) first" >&2; \
			exit 1; }; \
	fi
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) -r $(REQUIREMENTS)
	@touch $@

# tests/constraints.txt from the newest releases that every tests/*requirements.txt admits, resolved
# together in a throwaway venv. Upgrading the pins is `make lock`, then `make test`, then one commit.
LOCK_VENV := $(BUILD)/lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install -q $(foreach r,$(sort $(wildcard tests/*requirements.txt)),-r $(r))
	@{ echo '# Every PyPI package the tests install, pinned: written by `make lock` from tests/*requirements.txt'; \
	   echo '# with $(shell $(PYTHON) --version 2>&1) on $(shell date -u +%Y-%m-%d). Do not edit by hand.'; \
	   $(LOCK_VENV)/bin/python -m pip freeze --all | LC_ALL=C sort -f; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf $(LOCK_VENV)
	@echo "lock: $$(grep -c '==' $(CONSTRAINTS)) packages pinned in $(CONSTRAINTS)"

# The newest releases instead of the pins, in a venv of their own: a new upstream release shows up
# here as a failure of the unit and integration tests, not as a red main.
LATEST_VENV := $(BUILD)/venv-latest
test-latest:
	$(MAKE) --no-print-directory unit integration VENV=$(LATEST_VENV) CONSTRAINTS=
	@echo "test-latest: passed with $$($(LATEST_VENV)/bin/python -m pip list --format freeze 2>/dev/null \
		| grep -iE '^(ansible-core|tomlkit|boto3|pytest|hypothesis)==' | tr '\n' ' ')"

# The pip bootstrap stand-in (scripts/get_pip_standin.py) for ansible-test's per-test venvs,
# under the name the installed ansible-test looks for.
get-pip: venv
	@ver=$$(sed -n "s/^ *pip='\([0-9.]*\)',.*/\1/p" $(VENV)/lib/python*/site-packages/ansible_test/_internal/python_requirements.py | head -n1); \
	if [ -z "$$ver" ]; then echo "get-pip: ERROR: cannot tell which pip version ansible-test bootstraps" >&2; exit 1; fi; \
	dest="$(GET_PIP_DIR)/get_pip_$${ver//./_}.py"; \
	if ! cmp -s scripts/get_pip_standin.py "$$dest"; then \
		mkdir -p "$(GET_PIP_DIR)"; cp scripts/get_pip_standin.py "$$dest"; echo "get-pip: installed $$dest"; \
	fi

collection-link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

# --------------------------------------------------------------------------- tests

# pytest exits 5 when it collects no tests; that counts as a failure here.
unit: venv collection-link
	$(WITH_COLLECTION) $(VENV_BIN)/python -m pytest -q tests/unit

# A real docker-registry (distribution) on 127.0.0.1, skopeo as the client, real ansible-playbook
# runs (tests/functional/conftest.py).  Needs the Debian packages of `make deps`.
functional: venv collection-link
	$(WITH_COLLECTION) $(VENV_BIN)/python -m pytest -q tests/functional

gocheck: venv
	@if [ -f tests/gocheck/run_tests.sh ]; then \
		echo "bash tests/gocheck/run_tests.sh"; bash tests/gocheck/run_tests.sh; \
	else \
		echo "gocheck: tests/gocheck/run_tests.sh not present, nothing to run"; \
	fi

# All sanity tests run.  `shellcheck` needs the shellcheck binary (Debian package, see
# DEBIAN_PACKAGES) and is otherwise skipped by ansible-test with a warning; `pslint` only
# applies to PowerShell files, of which there are none.
sanity: venv get-pip
	$(ANSIBLE_TEST) sanity --local --requirements --python $(PYTHON_VERSION) --color no

# No target names: ansible-test runs every target under tests/integration/targets except those
# its aliases exclude (disabled, unsupported, hidden setup_* dependencies; destructive unless CI).
integration: venv
	@if [ -z "$$(find tests/integration/targets -mindepth 1 -maxdepth 1 -type d 2>/dev/null)" ]; then \
		echo "integration: no targets under tests/integration/targets, nothing to run"; \
	else \
		echo '$(ANSIBLE_TEST) integration --local --requirements --python $(PYTHON_VERSION) --color no $(INTEGRATION_ARGS)'; \
		$(ANSIBLE_TEST) integration --local --requirements --python $(PYTHON_VERSION) --color no $(INTEGRATION_ARGS); \
	fi

# ansible-lint --offline does not install the collection it runs in; playbooks that call
# runnerkit.gitlab_runner.* (demo/, tests/) find it through the .build/collections link.
lint: venv collection-link
	ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS_DIR) $(VENV_BIN)/ansible-lint --offline --profile production $(if $(filter true,$(CI)),--nocolor)

changelog-lint: venv
	$(VENV_BIN)/antsibull-changelog lint

# Further test stages live in mk/*.mk (one file per area); each appends its target to EXTRA_TESTS.
EXTRA_TESTS :=
-include mk/*.mk

test: deps venv unit tomlkit-matrix functional gocheck sanity integration lint changelog-lint $(EXTRA_TESTS)
	@echo "make test: all passed"

# --------------------------------------------------------------------------- extras

demo: venv collection-link
	$(WITH_COLLECTION) bash demo/run.sh

# scripts/bench.py if present, else every scripts/bench_*.py; BENCH_ARGS are passed on.
BENCH_ARGS ?=
bench: venv collection-link
	@shopt -s nullglob; \
	if [ -f scripts/bench.py ]; then benches=(scripts/bench.py); else benches=(scripts/bench_*.py); fi; \
	if [ $${#benches[@]} -eq 0 ]; then echo "bench: no scripts/bench.py or scripts/bench_*.py, nothing to run"; exit 0; fi; \
	for b in "$${benches[@]}"; do \
		echo "$(VENV_BIN)/python $$b $(BENCH_ARGS)"; \
		$(WITH_COLLECTION) $(VENV_BIN)/python "$$b" $(BENCH_ARGS); \
	done

clean:
	@if [ -f tests/containers/docker_engine.sh ]; then bash tests/containers/docker_engine.sh stop; fi
	rm -rf $(BUILD) tests/output

distclean: clean
	rm -rf $(VENV)
