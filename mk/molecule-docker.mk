# The molecule `docker` scenario (extensions/molecule/docker): molecule's docker driver, two containers
# of a locally built image, as users run it in their own CI.  A private Docker engine (Debian's docker.io)
# runs only for the test (tests/containers/docker_engine.sh); nothing is pulled.  Needs root.
#   make molecule-docker            start the engine, import the image (debootstrap once, cached under
#                                   .build/molecule-docker/), molecule test -s docker, stop the engine
#                                   (also on failure or interrupt; the exit status is molecule's)
#   make molecule-docker-destroy    stop whatever a killed run left behind (engine, containers, mounts)
#   make molecule-docker-purge      also delete the engine's data root (image) and the cached tarball
# MOLECULE_DOCKER_ARGS=... is passed to molecule test.  To keep the containers for a closer look:
#   bash tests/containers/docker_engine.sh start && bash tests/containers/docker_engine.sh image &&
#   bash tests/containers/docker_engine.sh collections && eval "$(bash tests/containers/docker_engine.sh env)"
#   then molecule converge/verify/login -s docker with the ANSIBLE_COLLECTIONS_PATH below; at the end,
#   `make molecule-docker-destroy`.

MOLECULE_DOCKER_REQUIREMENTS := tests/molecule-docker-requirements.txt
MOLECULE_DOCKER_STAMP        := $(VENV)/.installed-molecule-docker-requirements
MOLECULE_DOCKER_ARGS         ?=
DOCKER_ENGINE                := PYTHON=$(VENV_BIN)/python bash tests/containers/docker_engine.sh
# This collection through the .build/collections link; community.docker and ansible.posix (for the
# driver's own playbooks) from the `ansible` wheel, extracted by docker_engine.sh. Never Galaxy.
MOLECULE_DOCKER_ENV          := ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS_DIR):$(CURDIR)/$(BUILD)/molecule-docker/collections \
	ANSIBLE_FORCE_COLOR=$(if $(filter true,$(CI)),0,1) PY_COLORS=$(if $(filter true,$(CI)),0,1)

.PHONY: molecule-docker molecule-docker-deps molecule-docker-destroy molecule-docker-purge

$(MOLECULE_DOCKER_STAMP): $(MOLECULE_DOCKER_REQUIREMENTS) $(VENV_STAMP) $(CONSTRAINTS)
	$(PIP_INSTALL) -r $(MOLECULE_DOCKER_REQUIREMENTS)
	@touch $@

molecule-docker-deps: $(MOLECULE_DOCKER_STAMP)

# molecule-deps (mk/molecule.mk) brings molecule itself.
molecule-docker: venv molecule-deps molecule-docker-deps collection-link
	@echo "== molecule test -s docker"
	$(DOCKER_ENGINE) run -- env $(MOLECULE_DOCKER_ENV) $(VENV_BIN)/molecule test -s docker $(MOLECULE_DOCKER_ARGS)

molecule-docker-destroy:
	$(DOCKER_ENGINE) stop

molecule-docker-purge:
	$(DOCKER_ENGINE) purge

EXTRA_TESTS += molecule-docker
