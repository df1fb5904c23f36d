# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The images and services a .gitlab-ci.yml names, per job, with the job's DOCKER_AUTH_CONFIG.

gitlab_ci_images is pure (a parsed YAML document in, rows out); load_gitlab_ci reads the files.
"""

from __future__ import annotations

import re

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils._config_toml import AUTH_ENV

try:
    import yaml
    HAS_YAML = True
except ImportError:  # only needed when files are given
    HAS_YAML = False


class GitlabCiError(Exception):
    """A pipeline file that cannot be read or parsed (or no PyYAML to parse it)."""


GLOBAL_KEYWORDS = frozenset(("default", "include", "stages", "variables", "workflow", "image", "services", "cache",
                             "before_script", "after_script", "types", "spec"))
CI_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _variables(section):
    out = {}
    for key, value in ((section or {}).get("variables") or {}).items() if isinstance(section, dict) else ():
        if isinstance(value, dict):
            value = value.get("value")
        if value is not None and not isinstance(value, (dict, list)):
            out[str(key)] = str(value) if not isinstance(value, bool) else str(value).lower()
    return out


def _image_name(value):
    if isinstance(value, dict):
        value = value.get("name")
    return value if isinstance(value, str) and value else None


def _merge(base, over):
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _extended(jobs, name, depth=0):
    job = jobs.get(name)
    if not isinstance(job, dict):
        return {}
    parents = job.get("extends") or []
    if isinstance(parents, str):
        parents = [parents]
    result = {}
    if depth < 11:
        for parent in parents:
            if isinstance(parent, str):
                result = _merge(result, _extended(jobs, parent, depth + 1))
    return _merge(result, {k: v for k, v in job.items() if k != "extends"})


def _expand_ci(ref, variables):
    """$VAR and ${VAR} from the pipeline's own variables; names it does not set stay and are listed."""
    unresolved = []

    def lookup(match):
        var = match.group(1) or match.group(2)
        if var in variables:
            return variables[var]
        unresolved.append(var)
        return match.group(0)

    return CI_VARIABLE.sub(lookup, ref), unresolved


def _inherits(job, what):
    inherit = job.get("inherit") if isinstance(job.get("inherit"), dict) else {}
    value = inherit.get(what, True)
    return value if isinstance(value, (bool, list)) else True


def gitlab_ci_images(data):
    """[{job, kind, image, variables, unresolved, docker_auth_config}] of a parsed .gitlab-ci.yml.

    Covers image:/services: as strings and mappings, `default:` (and the old top-level form),
    `extends:`, `inherit:`, and `variables` (global and per job). A job's DOCKER_AUTH_CONFIG
    replaces the runner's for that job. `$VAR` in image names is expanded from the YAML's
    variables; names set only at run time are listed in `unresolved`.
    """
    if not isinstance(data, dict):
        return []
    default = data.get("default") if isinstance(data.get("default"), dict) else {}
    default = _merge({k: data[k] for k in ("image", "services") if k in data}, default)
    global_vars = _variables(data)
    rows = []
    for name in data:
        if not isinstance(name, str) or name in GLOBAL_KEYWORDS or name.startswith("."):
            continue
        job = _extended(data, name)
        if not isinstance(job, dict) or not job:
            continue
        inherit_default = _inherits(job, "default")
        inherit_vars = _inherits(job, "variables")
        variables = {}
        if inherit_vars is True:
            variables.update(global_vars)
        elif isinstance(inherit_vars, list):
            variables.update({k: v for k, v in global_vars.items() if k in inherit_vars})
        variables.update(_variables(job))
        image = job.get("image")
        services = job.get("services")
        for key in ("image", "services"):
            if key not in job and (inherit_default is True or (isinstance(inherit_default, list)
                                                               and key in inherit_default)):
                if key == "image":
                    image = default.get("image")
                else:
                    services = default.get("services")
        refs = []
        if _image_name(image):
            refs.append(("image", _image_name(image)))
        for service in services if isinstance(services, list) else []:
            if _image_name(service):
                refs.append(("service", _image_name(service)))
        for kind, ref in refs:
            expanded, unresolved = _expand_ci(ref, variables)
            rows.append({"job": name, "kind": kind, "image": expanded, "unresolved": unresolved,
                         "docker_auth_config": variables.get(AUTH_ENV)})
    return rows


def load_gitlab_ci(paths):
    """gitlab_ci_images of each file, with `file` set; GitlabCiError for a missing or unparsable file."""
    rows = []
    for path in paths:
        if not HAS_YAML:
            raise GitlabCiError(missing_required_lib("PyYAML") + " (for gitlab_ci)")
        text, _stat = files.read_text(path)
        if text is None:
            raise GitlabCiError("gitlab_ci: %s does not exist" % path)

        class Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
            pass

        Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !reference and other tags
        try:
            data = yaml.load(text, Loader=Loader)  # nosec - SafeLoader subclass
        except yaml.YAMLError as exc:
            raise GitlabCiError("gitlab_ci: cannot parse %s: %s" % (path, exc))
        for row in gitlab_ci_images(data):
            rows.append(dict(row, file=path))
    return rows
