# ansible-runner (the engine AWX runs jobs with) and the fleet benchmark (issue 7).  Sandbox fleet
# (tests/sandbox/): needs root and the Debian packages of `make deps` (openssh-server,
# docker-registry, skopeo, apache2-utils, openssl).
#   make awx-runner        pytest tests/awx: site.yml then audit.yml through ansible_runner.run on an
#                          AWX-like private data dir (env/extravars, env/envvars, -vvv --diff), then
#                          every artifact is searched for every secret (raw, base64, JSON, TOML): zero hits
#                          (includes scripts/bench_fleet.py --smoke: 2 hosts x 2 runners, the task counts)
#   make bench-fleet       scripts/bench_fleet.py: the ping floor, site.yml (first run, no-op rerun), the per-key
#                          and the whole-file template playbooks side by side, best of 3 (default 2 hosts x 4
#                          runners, forks 5; BENCH_FLEET_ARGS=..., e.g. --hosts 10 --runners 5 --write-docs);
#                          a benchmark, not a test: see docs/performance.md

AWX_REQUIREMENTS := tests/awx-requirements.txt
AWX_STAMP        := $(VENV)/.installed-awx-requirements
BENCH_FLEET_ARGS ?=

.PHONY: awx-runner awx-deps bench-fleet

$(AWX_STAMP): $(AWX_REQUIREMENTS) $(VENV_STAMP) $(CONSTRAINTS)
	$(PIP_INSTALL) -r $(AWX_REQUIREMENTS)
	@touch $@

awx-deps: $(AWX_STAMP)

awx-runner: venv awx-deps collection-link
	$(WITH_COLLECTION) $(VENV_BIN)/python -m pytest -q tests/awx

bench-fleet: venv awx-deps collection-link
	$(WITH_COLLECTION) $(VENV_BIN)/python scripts/bench_fleet.py $(BENCH_FLEET_ARGS)

EXTRA_TESTS += awx-runner
