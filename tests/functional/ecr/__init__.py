# A package, so that this directory's conftest.py is imported as ecr.conftest and does not take the
# place of tests/functional/conftest.py as the module "conftest" (which other tests import from).
