# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/awx: credential types, job templates, surveys and schedules are valid, and what a
credential injects reaches the modules the way the docs say.

Structure: every definition uses only arguments of the awx.awx module it is meant for; credential
types pass AWX's own checks (the injector schema, and rendering every injector template with
StrictUndefined against the declared inputs, as CredentialTypeInjectorField.validate does); secret
inputs are secret; job templates run a project playbook that imports the collection's playbook;
survey variables are variables that playbook (or its roles) reads; schedules name a job template.

Behaviour: the extra vars AWX would inject (rendered from the injectors, written as !unsafe like
AWX's safe_dump) plus the documented group_vars (docs/awx/group_vars/*.yml) drive docker_config and
runner_config from the installed artifact; the written config.json and DOCKER_AUTH_CONFIG carry
exactly the credential, also when the password looks like Jinja.
"""

from __future__ import annotations

import base64
import json
import os
import re

import pytest
import yaml
from jinja2 import StrictUndefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from packaging_support import REPO_ROOT, clean_env, run, tool

AWX_DIR = os.path.join(REPO_ROOT, "docs", "awx")
VAR_NAME = re.compile(r"^[a-zA-Z_]+[a-zA-Z0-9_]*$")
SECRET_ID = re.compile(r"password|token|secret|key|registries")
# Arguments of the awx.awx modules (awx_collection/plugins/modules/{credential_type,job_template,schedule}.py)
# plus the controller connection options every one of them takes.
AUTH_ARGS = {"controller_host", "controller_username", "controller_password", "controller_oauthtoken",
             "validate_certs", "controller_config_file", "request_timeout"}
CREDENTIAL_TYPE_ARGS = {"name", "new_name", "description", "kind", "inputs", "injectors", "state"} | AUTH_ARGS
JOB_TEMPLATE_ARGS = {
    "name", "new_name", "copy_from", "description", "organization", "job_type", "inventory", "project", "playbook",
    "credential", "vault_credential", "credentials", "execution_environment", "custom_virtualenv", "instance_groups",
    "forks", "limit", "verbosity", "extra_vars", "job_tags", "force_handlers", "skip_tags", "start_at_task",
    "timeout", "use_fact_cache", "host_config_key", "ask_diff_mode_on_launch", "ask_variables_on_launch",
    "ask_limit_on_launch", "ask_tags_on_launch", "ask_skip_tags_on_launch", "ask_job_type_on_launch",
    "ask_verbosity_on_launch", "ask_inventory_on_launch", "ask_credential_on_launch",
    "ask_execution_environment_on_launch", "ask_forks_on_launch", "ask_instance_groups_on_launch",
    "ask_job_slice_count_on_launch", "ask_labels_on_launch", "ask_timeout_on_launch", "survey_enabled",
    "survey_spec", "become_enabled", "diff_mode", "allow_simultaneous", "scm_branch", "ask_scm_branch_on_launch",
    "job_slice_count", "webhook_service", "webhook_credential", "labels", "notification_templates_started",
    "notification_templates_success", "notification_templates_error", "prevent_instance_group_fallback", "state",
} | AUTH_ARGS
SCHEDULE_ARGS = {
    "rrule", "name", "new_name", "description", "execution_environment", "extra_data", "forks", "instance_groups",
    "inventory", "job_slice_count", "labels", "timeout", "credentials", "scm_branch", "job_type", "job_tags",
    "skip_tags", "limit", "diff_mode", "verbosity", "unified_job_template", "organization", "enabled", "state",
} | AUTH_ARGS
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
RRULE = re.compile(r"^DTSTART(;TZID=[A-Za-z_/+-]+)?:\d{8}T\d{6}Z? RRULE:(?=.*\bFREQ=(MINUTELY|HOURLY|DAILY|WEEKLY|"
                   r"MONTHLY|YEARLY)\b)[A-Z]+=[^ ]+$")


def load(name):
    with open(os.path.join(AWX_DIR, name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


CREDENTIAL_TYPES = load("credential_types.yml")["credential_types"]
JOB_TEMPLATES = load("job_templates.yml")
TEMPLATES = JOB_TEMPLATES["job_templates"]
SCHEDULES = JOB_TEMPLATES["schedules"]


def render_injectors(credential_type, inputs):
    """The injected extra vars and env, rendered the way AWX renders them."""
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    return {kind: {key: env.from_string(template).render(**inputs) for key, template in values.items()}
            for kind, values in credential_type["injectors"].items() if kind in ("extra_vars", "env")}


# ----------------------------------------------------------------------------- credential types

@pytest.mark.parametrize("ctype", CREDENTIAL_TYPES, ids=[c["name"] for c in CREDENTIAL_TYPES])
def test_credential_type_is_valid_for_awx(ctype):
    assert set(ctype) <= CREDENTIAL_TYPE_ARGS, set(ctype) - CREDENTIAL_TYPE_ARGS
    assert ctype["kind"] in ("cloud", "net")  # the kinds custom types may have
    fields = ctype["inputs"]["fields"]
    ids = [field["id"] for field in fields]
    assert len(ids) == len(set(ids)) and "tower" not in ids
    for field in fields:
        assert {"id", "label"} <= set(field), field
        assert set(field) <= {"id", "label", "type", "help_text", "format", "secret", "multiline", "default",
                              "choices", "ask_at_runtime"}, field
        if field.get("type", "string") != "string":
            assert field["type"] == "boolean" and not {"secret", "multiline", "format", "choices"} & set(field)
    assert set(ctype["inputs"].get("required", [])) <= set(ids)

    injectors = ctype["injectors"]
    assert set(injectors) <= {"env", "extra_vars", "file"} and injectors
    for key, value in injectors.get("extra_vars", {}).items():
        assert VAR_NAME.match(key) and isinstance(value, str), (key, value)  # AWX's injector schema
    for key, value in injectors.get("env", {}).items():
        assert VAR_NAME.match(key) and not key.startswith("ANSIBLE_") and isinstance(value, str), key


@pytest.mark.parametrize("ctype", CREDENTIAL_TYPES, ids=[c["name"] for c in CREDENTIAL_TYPES])
def test_injectors_reference_only_declared_inputs_and_use_them_all(ctype):
    ids = {field["id"] for field in ctype["inputs"]["fields"]}
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    used = set()
    for kind in ("env", "extra_vars", "file"):
        for key, template in ctype["injectors"].get(kind, {}).items():
            referenced = meta.find_undeclared_variables(env.parse(template))
            assert referenced <= ids | {"tower"}, "%s %s uses %s" % (kind, key, referenced - ids)
            used |= referenced
            env.from_string(template).render(**{i: "EXAMPLE" for i in ids})  # AWX's save-time check
    assert used >= ids, "inputs no injector uses: %s" % (ids - used)


@pytest.mark.parametrize("ctype", CREDENTIAL_TYPES, ids=[c["name"] for c in CREDENTIAL_TYPES])
def test_secret_inputs_are_secret(ctype):
    for field in ctype["inputs"]["fields"]:
        if SECRET_ID.search(field["id"]):
            assert field.get("secret") is True, "%s: input %s must be secret: true" % (ctype["name"], field["id"])


def test_injected_variables_are_the_ones_the_documented_group_vars_use():
    injected = {key for ctype in CREDENTIAL_TYPES for key in ctype["injectors"].get("extra_vars", {})}
    used = set()
    for name in os.listdir(os.path.join(AWX_DIR, "group_vars")):
        with open(os.path.join(AWX_DIR, "group_vars", name), encoding="utf-8") as handle:
            used |= set(re.findall(r"\b(runnerkit_[a-z_]+)\b", handle.read()))
    assert injected == used, (injected, used)


# ----------------------------------------------------------------------------- job templates

def playbook_text(name):
    """The collection playbook and, for site.yml, the argument specs of its roles."""
    with open(os.path.join(REPO_ROOT, "playbooks", name), encoding="utf-8") as handle:
        text = handle.read()
    if name == "site.yml":
        for role in sorted(os.listdir(os.path.join(REPO_ROOT, "roles"))):
            spec = os.path.join(REPO_ROOT, "roles", role, "meta", "argument_specs.yml")
            if os.path.isfile(spec):
                with open(spec, encoding="utf-8") as handle:
                    text += handle.read()
    return text


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_job_template_uses_awx_arguments_and_a_project_playbook(template):
    assert set(template) <= JOB_TEMPLATE_ARGS, set(template) - JOB_TEMPLATE_ARGS
    assert template.get("job_type", "run") in ("run", "check")
    wrapper = os.path.join(AWX_DIR, "project", template["playbook"])
    with open(wrapper, encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    assert plays == [{"name": plays[0]["name"], "ansible.builtin.import_playbook":
                      "runnerkit.gitlab_runner.%s" % template["playbook"][:-4]}], plays
    assert os.path.isfile(os.path.join(REPO_ROOT, "playbooks", template["playbook"]))
    for key in template.get("extra_vars", {}):
        assert key in playbook_text(template["playbook"]), key


@pytest.mark.parametrize("template", [t for t in TEMPLATES if t.get("survey_spec")],
                         ids=[t["name"] for t in TEMPLATES if t.get("survey_spec")])
def test_survey_asks_for_variables_the_playbook_reads(template):
    spec = template["survey_spec"]
    assert template.get("survey_enabled") is True
    assert {"name", "description", "spec"} <= set(spec)
    text = playbook_text(template["playbook"])
    variables = [question["variable"] for question in spec["spec"]]
    assert len(variables) == len(set(variables))
    for question in spec["spec"]:
        assert {"question_name", "variable", "type", "required"} <= set(question), question
        assert question["type"] in SURVEY_TYPES
        assert VAR_NAME.match(question["variable"]) and re.search(r"\b%s\b" % question["variable"], text), (
            "%s: the playbook does not read %s" % (template["playbook"], question["variable"]))
        if question["type"] in ("multiplechoice", "multiselect"):
            assert all(isinstance(c, str) for c in question["choices"])
            if "default" in question:
                assert question["default"] in question["choices"]


def test_rotate_ecr_auth_has_a_schedule_and_every_playbook_a_template():
    by_playbook = {t["playbook"]: t["name"] for t in TEMPLATES}
    assert set(by_playbook) == {"site.yml", "audit.yml", "rotate_ecr_auth.yml", "pin_images.yml",
                                "register_runners.yml", "rotate_registry_auth.yml"}
    scheduled = {s["unified_job_template"] for s in SCHEDULES}
    assert by_playbook["rotate_ecr_auth.yml"] in scheduled
    assert by_playbook["rotate_registry_auth.yml"] in scheduled


@pytest.mark.parametrize("schedule", SCHEDULES, ids=[s["name"] for s in SCHEDULES])
def test_schedule_is_valid(schedule):
    assert set(schedule) <= SCHEDULE_ARGS, set(schedule) - SCHEDULE_ARGS
    assert schedule["unified_job_template"] in {t["name"] for t in TEMPLATES}
    assert RRULE.match(schedule["rrule"]), schedule["rrule"]


def test_project_playbooks_resolve_from_the_installed_copy(installed, tmp_path):
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(installed))
    for name in sorted(os.listdir(os.path.join(AWX_DIR, "project"))):
        if name.endswith(".yml"):
            run([tool("ansible-playbook"), "-i", "localhost,", "--syntax-check",
                 os.path.join(AWX_DIR, "project", name)], env=env, cwd=str(tmp_path))


# ----------------------------------------------------------------------------- injection, end to end

# A password that would be templated, expanded or break quoting if anything handled it carelessly.
PASSWORD = "p4ss{{ lookup('env', 'HOME') }}$HOME\"'%{x}"
INITIAL_CONFIG = """concurrent = 2

[[runners]]
  name = "docker-build"
  url = "https://gitlab.example.com"
  token = "glrt-not-a-real-token"
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
"""
PLAYBOOK = """
- name: Apply the documented group_vars with AWX-injected credentials
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {vars_file}
  tasks:
    - name: The runner user's config.json
      runnerkit.gitlab_runner.docker_config:
        path: {out}/config.json
        registries: "{{{{ docker_config_registries }}}}"
    - name: The runner's DOCKER_AUTH_CONFIG
      runnerkit.gitlab_runner.runner_config:
        path: {out}/config.toml
        runners: "{{{{ runner_runners }}}}"
"""


def unsafe_yaml(data):
    """YAML of extra vars with every string tagged !unsafe, as AWX writes env/extravars."""
    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar("!unsafe", value, style='"'))
    return yaml.dump(data, Dumper=Dumper, default_flow_style=False)


def credential_type(name):
    return next(c for c in CREDENTIAL_TYPES if c["name"] == name)


REGISTRIES_INPUT = yaml.safe_dump([
    {"registry": "my.registry.tld:5000", "username": "ci", "password": PASSWORD},
    {"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "helper": "ecr-login"},
])


@pytest.mark.parametrize("type_name,inputs,vars_file", [
    ("GitLab Runner registry", {"registry": "my.registry.tld:5000", "username": "ci", "password": PASSWORD},
     "registry.yml"),
    ("GitLab Runner registries", {"registries": REGISTRIES_INPUT}, "registries.yml"),
])
def test_injected_credential_reaches_config_json_and_docker_auth_config(installed, tmp_path, type_name, inputs,
                                                                        vars_file):
    injected = render_injectors(credential_type(type_name), inputs)
    extravars = tmp_path / "extravars"
    extravars.write_text(unsafe_yaml(injected["extra_vars"]))
    extravars.chmod(0o600)
    (tmp_path / "config.toml").write_text(INITIAL_CONFIG)
    (tmp_path / "config.toml").chmod(0o600)
    playbook = tmp_path / "apply.yml"
    playbook.write_text(PLAYBOOK.format(vars_file=os.path.join(AWX_DIR, "group_vars", vars_file), out=tmp_path))

    proc = run([tool("ansible-playbook"), "-i", "localhost,", str(playbook), "-e", "@%s" % extravars,
                "-e", "ansible_python_interpreter=%s" % tool("python")],
               env=clean_env(ANSIBLE_COLLECTIONS_PATH=str(installed)), cwd=str(tmp_path))
    assert "failed=0" in proc.stdout
    assert PASSWORD not in proc.stdout + proc.stderr

    expected_auth = base64.b64encode(("ci:" + PASSWORD).encode()).decode()
    with open(str(tmp_path / "config.json"), encoding="utf-8") as handle:
        config_json = json.load(handle)
    assert config_json["auths"]["my.registry.tld:5000"] == {"auth": expected_auth}
    assert config_json["credHelpers"] == {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}

    import tomllib  # controller Python >= 3.11 (ansible-core 2.19)

    with open(str(tmp_path / "config.toml"), "rb") as handle:
        runner = tomllib.load(handle)["runners"][0]
    entries = [e.split("=", 1)[1] for e in runner["environment"] if e.startswith("DOCKER_AUTH_CONFIG=")]
    assert len(entries) == 1
    auth_config = json.loads(entries[0])
    assert auth_config["auths"] == {"my.registry.tld:5000": {"auth": expected_auth}}
    assert auth_config["credHelpers"] == {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}
