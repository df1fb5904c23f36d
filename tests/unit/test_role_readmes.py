# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each role's README variables table, meta/argument_specs.yml and defaults/main.yml agree.

- The README documents exactly the options of the ``main`` entry point (public names only).
- defaults/main.yml defines exactly those options (a required option has no default).
- The default the README shows is the one of defaults/main.yml: loaded as YAML, or, for a Jinja
  template, the template text itself (white space runs and the blanks inside ``{{ }}`` do not count).
- The ``default:`` of the argument spec, where it has one, is the value of defaults/main.yml; a
  template is evaluated the way Ansible would with the role's own defaults and vars on a Debian host
  (REFERENCE_FACTS). An option without ``default:`` defaults to null or to a template (computed).

A README variables table is any Markdown table whose header starts ``| variable | default | meaning``;
a README may split its variables over several of them. The first cell holds one or more variable
names in backticks (comma separated), the second the default as one code span (``|`` written
``\\|``, as GitHub-flavoured Markdown requires inside tables), the third the meaning.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir())
# The host the argument specs' defaults are written for, where a default depends on facts.
REFERENCE_FACTS = {"os_family": "Debian", "distribution": "Debian", "architecture": "x86_64"}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TEMPLATE = re.compile(r"\{\{|\{%")


def load_yaml(path):
    with open(path, encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def split_row(line):
    """Cells of a Markdown table row; ``\\|`` is a literal pipe, not a cell border."""
    inner = line.strip()
    inner = inner[1:]
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def readme_tables(text):
    """Every Markdown table outside fenced code blocks, as lists of rows (header first, no delimiter row)."""
    tables, current, fenced = [], None, False
    for line in text.splitlines() + [""]:
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and stripped.startswith("|"):
            if current is None:
                current = []
                tables.append(current)
            if not re.fullmatch(r"[|:\s-]+", stripped):
                current.append(split_row(stripped))
        else:
            current = None
    return tables


def readme_variables(role):
    """{variable: (default cell, meaning cell)} from the README's variables tables; problems as a list."""
    text = (ROOT / "roles" / role / "README.md").read_text(encoding="utf-8")
    documented, problems = {}, []
    tables = [table for table in readme_tables(text)
              if [cell.lower() for cell in table[0][:3]] == ["variable", "default", "meaning"]]
    if not tables:
        problems.append("%s: README.md has no table headed '| variable | default | meaning |'" % role)
    for table in tables:
        for row in table[1:]:
            if len(row) != len(table[0]):
                problems.append("%s: README row %r has %d cells, the header %d" % (role, row, len(row), len(table[0])))
                continue
            names = re.findall(r"`([^`]*)`", row[0])
            if not names or re.sub(r"`[^`]*`", "", row[0]).replace(",", "").strip():
                problems.append("%s: README first cell %r is not variable names in backticks" % (role, row[0]))
            for name in names:
                if not NAME.fullmatch(name):
                    problems.append("%s: README names %r, which is not a variable name" % (role, name))
                elif name in documented:
                    problems.append("%s: README documents variable %s twice" % (role, name))
                else:
                    documented[name] = (row[1], row[2])
    return documented, problems


def normalize_template(text):
    """A Jinja template with white space runs collapsed and no blanks just inside its delimiters."""
    text = " ".join(text.split())
    text = re.sub(r"(\{\{-?|\{%-?|\{#)\s*", r"\1 ", text)
    return re.sub(r"\s*(-?\}\}|-?%\}|#\})", r" \1", text)


def readme_default(cell):
    """The value a README default cell shows, as comparable data; ValueError if it is not one code span."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    if not match:
        raise ValueError("the default cell %r is not one code span" % cell)
    text = match.group(1).strip()
    if TEMPLATE.search(text):
        if text[:1] in "'\"":
            text = yaml.safe_load(text)
        return {"template": normalize_template(text)}
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError("the default cell %r is not YAML: %s" % (cell, exc)) from exc


def defaults_default(value):
    """A defaults/main.yml value as readme_default() would give it."""
    if isinstance(value, str) and TEMPLATE.search(value):
        return {"template": normalize_template(value)}
    return value


def canonical(value):
    """Type-exact comparison key (true is not 1, "0755" is not 493)."""
    return json.dumps(value, sort_keys=True, default=str)


def trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [trusted(item) for item in value]
    return value


class Role:
    def __init__(self, name):
        base = ROOT / "roles" / name
        self.name = name
        specs = load_yaml(base / "meta" / "argument_specs.yml")
        self.options = ((specs or {}).get("argument_specs") or {}).get("main", {}).get("options") or {}
        self.defaults = load_yaml(base / "defaults" / "main.yml") or {}
        self.vars = (load_yaml(base / "vars" / "main.yml") or {}) if (base / "vars" / "main.yml").is_file() else {}

    def evaluate(self, value):
        """A default as Ansible evaluates it with the role's defaults and vars on the reference host."""
        variables = trusted(dict(self.defaults, **self.vars))
        variables["ansible_facts"] = dict(REFERENCE_FACTS)
        return Templar(loader=DataLoader(), variables=variables).template(trusted(value))


@pytest.mark.parametrize("role", ROLES)
def test_readme_documents_exactly_the_argument_spec(role):
    options = Role(role).options
    documented, problems = readme_variables(role)
    assert options, "%s: meta/argument_specs.yml has no options for entry point main" % role
    problems += ["%s: argument_specs.yml has private option %s (names starting with _ are internal)" % (role, name)
                 for name in sorted(options) if name.startswith("_")]
    problems += ["%s: README documents private variable %s" % (role, name)
                 for name in sorted(documented) if name.startswith("_")]
    problems += ["%s: variable %s is in argument_specs.yml but not in the README variables table" % (role, name)
                 for name in sorted(set(options) - set(documented))]
    problems += ["%s: variable %s is in the README variables table but not in argument_specs.yml" % (role, name)
                 for name in sorted(set(documented) - set(options))]
    problems += ["%s: variable %s has an empty meaning in the README" % (role, name)
                 for name, (_default, meaning) in sorted(documented.items()) if not meaning]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_define_exactly_the_argument_spec(role):
    spec = Role(role)
    public = {name for name in spec.defaults if not name.startswith("_")}
    optional = {name for name, option in spec.options.items() if not (option or {}).get("required")}
    problems = ["%s: variable %s is in defaults/main.yml but not in argument_specs.yml" % (role, name)
                for name in sorted(public - set(spec.options))]
    problems += ["%s: variable %s is in argument_specs.yml but not in defaults/main.yml" % (role, name)
                 for name in sorted(optional - public)]
    problems += ["%s: variable %s is required in argument_specs.yml, yet defaults/main.yml gives it a default"
                 % (role, name) for name in sorted(public & set(spec.options) - optional)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_readme_defaults_match_defaults_main(role):
    spec = Role(role)
    documented, _problems = readme_variables(role)
    problems = []
    for name, (cell, _meaning) in sorted(documented.items()):
        if name not in spec.defaults:
            continue  # reported by the tests above
        try:
            shown = readme_default(cell)
        except ValueError as exc:
            problems.append("%s: variable %s: README %s" % (role, name, exc))
            continue
        expected = defaults_default(spec.defaults[name])
        if canonical(shown) != canonical(expected):
            problems.append("%s: variable %s: the README shows default %s, defaults/main.yml has %s"
                            % (role, name, canonical(shown), canonical(expected)))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_argument_spec_defaults_match_defaults_main(role):
    spec = Role(role)
    problems = []
    for name, option in sorted(spec.options.items()):
        if name not in spec.defaults:
            continue  # reported by test_defaults_define_exactly_the_argument_spec
        value = spec.defaults[name]
        if "default" not in (option or {}):
            # A computed default may go unstated (the description says what it is); a plain one must be null.
            if not (isinstance(value, str) and TEMPLATE.search(value)) and value is not None:
                problems.append("%s: variable %s: argument_specs.yml has no default:, defaults/main.yml has %s"
                                % (role, name, canonical(value)))
            continue
        try:
            value = spec.evaluate(value)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            problems.append("%s: variable %s: cannot evaluate the default of defaults/main.yml: %s" % (role, name, exc))
            continue
        if canonical(option["default"]) != canonical(value):
            problems.append("%s: variable %s: argument_specs.yml says default %s, defaults/main.yml gives %s"
                            % (role, name, canonical(option["default"]), canonical(value)))
    assert not problems, "\n".join(problems)


def test_an_undocumented_variable_is_reported(tmp_path, monkeypatch):
    """A variable added to defaults/main.yml alone, or to argument_specs.yml without the README, fails."""
    role = tmp_path / "roles" / "demo"
    (role / "defaults").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "defaults" / "main.yml").write_text("demo_a: 1\ndemo_new: x\n")
    spec = "argument_specs:\n  main:\n    options:\n      demo_a: {type: int, default: 1, description: a}\n"
    (role / "meta" / "argument_specs.yml").write_text(spec)
    (role / "README.md").write_text("| variable | default | meaning |\n|---|---|---|\n| `demo_a` | `1` | a \\| b |\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert readme_variables("demo") == ({"demo_a": ("`1`", "a | b")}, [])
    with pytest.raises(AssertionError, match="demo: variable demo_new is in defaults/main.yml but not in argument_specs"):
        test_defaults_define_exactly_the_argument_spec("demo")
    (role / "meta" / "argument_specs.yml").write_text(spec + "      demo_new: {type: str, default: x, description: n}\n")
    test_defaults_define_exactly_the_argument_spec("demo")
    with pytest.raises(AssertionError, match="demo: variable demo_new is in argument_specs.yml but not in the README"):
        test_readme_documents_exactly_the_argument_spec("demo")


@pytest.mark.parametrize("cell, value", [
    ("`null`", None),
    ("`\"0755\"`", "0755"),
    ("`0755`", 493),  # YAML 1.1 octal: a README must quote modes
    ("`[listen_address,  session_server]`", ["listen_address", "session_server"]),
    ("`~{{docker_config_user}}/x`", {"template": "~{{ docker_config_user }}/x"}),
    ("`\"{{ a  | default('b') }}\"`", {"template": "{{ a | default('b') }}"}),
])
def test_readme_default_normalization(cell, value):
    assert canonical(readme_default(cell)) == canonical(value)


@pytest.mark.parametrize("cell", ["per OS family", "`a`, else `b`", "`[unclosed`"])
def test_readme_default_must_be_one_yaml_code_span(cell):
    with pytest.raises(ValueError):
        readme_default(cell)
