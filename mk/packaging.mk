# Packaging, documentation and AWX checks (issue 7).  Offline: PyPI only, no Galaxy, no container engine.
#   make packaging   pytest tests/packaging: Galaxy artifact (contents, offline install, make demo's
#                    playbook twice from the installed copy, every playbook by FQCN), execution
#                    environment (ansible-builder create + the build's galaxy and introspect steps),
#                    antsibull-docs site and lint, docs/awx definitions
#   make docs        regenerate docs/plugins/*.md from the plugins' documentation (commit the result;
#                    tests/functional/test_docs.py fails while it is out of date)
#   make docsite     HTML site of the installed artifact into .build/docsite/html (not committed)

PACKAGING_REQUIREMENTS := tests/packaging-requirements.txt
PACKAGING_STAMP        := $(VENV)/.installed-packaging-requirements

.PHONY: packaging packaging-deps docs docsite

$(PACKAGING_STAMP): $(PACKAGING_REQUIREMENTS) $(VENV_STAMP) $(CONSTRAINTS)
	$(PIP_INSTALL) -r $(PACKAGING_REQUIREMENTS)
	@touch $@

packaging-deps: $(PACKAGING_STAMP)

packaging: venv packaging-deps collection-link
	$(WITH_COLLECTION) $(VENV_BIN)/python -m pytest -q tests/packaging

docs: venv
	$(VENV_BIN)/python scripts/gen_plugin_docs.py

docsite: venv packaging-deps
	$(VENV_BIN)/python scripts/build_docsite.py

EXTRA_TESTS += packaging
