# The config.toml core under each tomlkit a runner host may have (issue 11), in `make test`.
#   make tomlkit-matrix   tests/tomlkit_matrix.sh: test__config_toml.py with the floor (0.11.4), Debian 12's
#                         (0.11.7), Debian 13's (0.13.2) and the pinned newest tomlkit, each from its own
#                         directory under .build/tomlkit-matrix; 0.11.1 must be refused; one line per cell

TOMLKIT_FLOOR    := 0.11.4
TOMLKIT_DEBIAN12 := 0.11.7
TOMLKIT_DEBIAN13 := 0.13.2
TOMLKIT_TOO_OLD  := 0.11.1
# The newest release as pinned in tests/constraints.txt (under `make test-latest`: what the venv has).
TOMLKIT_PINNED    = $(shell $(VENV_BIN)/python -c 'import tomlkit; print(tomlkit.__version__)')

.PHONY: tomlkit-matrix

tomlkit-matrix: venv collection-link
	bash tests/tomlkit_matrix.sh $(VENV_BIN)/python $(COLLECTIONS_DIR) \
		$(TOMLKIT_FLOOR) $(TOMLKIT_DEBIAN12) $(TOMLKIT_DEBIAN13) $(TOMLKIT_PINNED) $(TOMLKIT_TOO_OLD)

