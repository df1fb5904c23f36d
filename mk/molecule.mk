# molecule scenarios on the sandbox fleet (extensions/molecule/; tests/sandbox/sandbox.py makes the
# hosts: mount namespaces, overlays and sshd on 127.0.0.1; no container engine).  Needs root and the
# Debian packages of `make deps` (openssh-server, docker-registry, skopeo, apache2-utils, openssl,
# golang-go, golang-github-burntsushi-toml-dev).
#   make molecule                            every scenario: default, then runner_rewrite
#   make molecule MOLECULE_SCENARIOS=default one of them
#   make molecule-destroy                    stop whatever a failed or interrupted run left behind

MOLECULE_REQUIREMENTS := tests/molecule-requirements.txt
MOLECULE_STAMP        := $(VENV)/.installed-molecule-requirements
MOLECULE_SCENARIOS    ?= default runner_rewrite
MOLECULE_ARGS         ?=
# The scenarios reach the collection through the .build/collections link, never through Galaxy.
MOLECULE_ENV          := ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS_DIR) ANSIBLE_FORCE_COLOR=$(if $(filter true,$(CI)),0,1) \
	PY_COLORS=$(if $(filter true,$(CI)),0,1)

.PHONY: molecule molecule-deps molecule-destroy

$(MOLECULE_STAMP): $(MOLECULE_REQUIREMENTS) $(VENV_STAMP) $(CONSTRAINTS)
	$(PIP_INSTALL) -r $(MOLECULE_REQUIREMENTS)
	@touch $@

molecule-deps: $(MOLECULE_STAMP)

molecule: venv molecule-deps collection-link
	@for scenario in $(MOLECULE_SCENARIOS); do \
		echo "== molecule test -s $$scenario"; \
		start=$$(date +%s); \
		$(MOLECULE_ENV) $(VENV_BIN)/molecule test -s $$scenario $(MOLECULE_ARGS) || exit 1; \
		echo "== molecule test -s $$scenario: passed in $$(( $$(date +%s) - start )) s"; \
	done

molecule-destroy: venv molecule-deps collection-link
	@for scenario in $(MOLECULE_SCENARIOS); do \
		$(MOLECULE_ENV) $(VENV_BIN)/molecule destroy -s $$scenario || true; \
	done
	$(VENV_BIN)/python tests/sandbox/sandbox.py down --all

EXTRA_TESTS += molecule
