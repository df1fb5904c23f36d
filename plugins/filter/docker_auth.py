# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters: docker_auth_config, image_registry, image_registry_path."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets


def docker_auth_config(data):
    """The compact, sorted-key DOCKER_AUTH_CONFIG JSON for a CI/CD variable.

    Accepts the docker_config `registries` list, a {auths, credHelpers, credsStore} mapping, or a
    result that carries `auths` (such as ecr_authorization's); the same code and JSON as runner_config.
    """
    try:
        if isinstance(data, list):
            value = auth.registries_auth_config(data)[0]
        elif isinstance(data, dict):
            # only these keys: a registered result carries others (ecr_authorization's `registries` mapping)
            spec = {k: data.get(k) for k in ("auths", "credHelpers", "credsStore") if data.get(k) is not None}
            value = auth.build_auth_config(spec, "docker_auth_config")[0]
        else:
            raise auth.AuthConfigError("expected a registries list or a mapping with auths/credHelpers, got %s"
                                       % type(data).__name__)
    except auth.AuthConfigError as exc:
        # An error names keys, never values; masked all the same, since it ends up in the play's output.
        raise AnsibleFilterError(secrets.mask("docker_auth_config: %s" % exc, secrets.collect(data)))
    return auth.compact_json(value)


def _image(function, name):
    def run(image):
        try:
            return function(image)
        except auth.AuthConfigError as exc:
            raise AnsibleFilterError("%s: %s" % (name, exc))
    return run


class FilterModule:
    """runnerkit.gitlab_runner filters."""

    def filters(self):
        return {
            "docker_auth_config": docker_auth_config,
            "image_registry": _image(auth.image_registry, "image_registry"),
            "image_registry_path": _image(auth.image_registry_path, "image_registry_path"),
        }
