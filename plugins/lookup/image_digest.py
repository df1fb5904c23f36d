# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: image_digest
author:
  - runnerkit contributors (@runnerkit)
version_added: 0.1.0
short_description: Pin image references to the digest the registry serves now
description:
  - Turns C(image:tag) into C(image@sha256:...) by asking the registry (Docker Registry HTTP API v2, a C(HEAD) of the
    manifest accepting Docker and OCI manifests and indexes), from the controller. No Docker daemon or skopeo needed.
  - For a C(name:tag@sha256:...) reference the tag is asked for, so a moved tag gives the new digest. A
    C(name@sha256:...) reference is returned as it is once the registry has confirmed it exists.
  - Credentials are O(username)/O(password), or resolved from a Docker C(config.json) on the controller exactly the
    way GitLab Runner resolves them (C(auths), C(credHelpers), C(credsStore), longest path prefix; helpers run as the
    controller user with its C(PATH)), or none (anonymous).
  - Fails with the registry's answer (V(unauthorized), V(not_found), V(unreachable), V(error)) and never shows a
    secret.
options:
  _terms:
    description: Image references such as C(my.registry.tld:5000/ns/app:1) or C(alpine:3.20).
    type: list
    elements: str
    required: true
  username:
    description: User name for the registry.
    type: str
  password:
    description: Password or token for the registry.
    type: str
  docker_config:
    description:
      - A Docker client C(config.json) on the controller to take credentials from when O(username) is not given.
    type: path
  keep_tag:
    description:
      - Return C(name:tag@sha256:...) instead of C(name@sha256:...). The runner and Docker pull by the digest either
        way; the tag keeps the reference readable and lets C(allowed_images) globs such as C(ruby:*) match.
    type: bool
    default: false
  timeout:
    description:
      - Seconds the lookup of one image may take in all, every registry request together, however slowly
        the registry answers.
    type: int
    default: 10
extends_documentation_fragment:
  - runnerkit.gitlab_runner.registry_tls
notes:
  - The registry is reached from the controller, so O(ca_file) and the C(/etc/docker/certs.d) directories are
    those of the controller.
seealso:
  - module: runnerkit.gitlab_runner.runner_auth_info
"""

EXAMPLES = r"""
---
- name: Pin the default image of a runner in the inventory
  ansible.builtin.set_fact:
    runner_image: "{{ lookup('runnerkit.gitlab_runner.image_digest', 'my.registry.tld:5000/ns/app:1',
                              docker_config='~/.docker/config.json') }}"

- name: Several images, keeping the tag for readability
  ansible.builtin.debug:
    msg: "{{ query('runnerkit.gitlab_runner.image_digest', 'alpine:3.20', 'postgres:16', keep_tag=true) }}"

- name: With credentials from a vault
  ansible.builtin.debug:
    msg: "{{ lookup('runnerkit.gitlab_runner.image_digest', 'registry.example.com/team/tool:2',
                    username='puller', password=vault_registry_password) }}"
"""

RETURN = r"""
_raw:
  description: The pinned references, one per term, for example C(my.registry.tld:5000/ns/app@sha256:6c3c...).
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _helpers as helpers
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _registry_client as registry
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _resolve as resolve

HELPER_TIMEOUT = 30


def controller_helpers():
    """Helpers as docker/cli runs them on the controller: this user, its PATH and environment."""
    return helpers.HelperRunner(helpers.current_user(), os.environ.get("PATH", os.defpath), HELPER_TIMEOUT)


def credentials_from(path, image):
    """The credentials GitLab Runner would take for the image from this config.json."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise AnsibleLookupError("image_digest: cannot read docker_config %s: %s" % (path, exc.strerror or exc))
    source = resolve.read_source(resolve.SOURCE_HOME, path, text, controller_helpers().run)
    if source["status"] in ("discarded", "aborts"):
        raise AnsibleLookupError("image_digest: %s cannot be used: %s" % (path, source["error"]))
    match = resolve.config_for_image(resolve.all_configs([source]), image)
    if match is None:
        return registry.Credentials()
    return registry.Credentials(match["username"], match["password"], match["identitytoken"], match["registrytoken"])


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        transport = registry.Transport(ca_file=self.get_option("ca_file"),
                                       validate_certs=self.get_option("validate_certs"),
                                       timeout=self.get_option("timeout"))
        keep_tag = self.get_option("keep_tag")
        results = []
        for term in terms:
            if not isinstance(term, str):
                raise AnsibleLookupError("image_digest: %r is not an image reference" % (term,))
            if self.get_option("username") is not None:
                creds = registry.Credentials(self.get_option("username"), self.get_option("password") or "")
            elif self.get_option("docker_config"):
                creds = credentials_from(os.path.expanduser(self.get_option("docker_config")), term)
            else:
                creds = registry.Credentials()
            result = registry.probe(term, creds, transport, follow_tag=True)
            if result["status"] != registry.OK:
                raise AnsibleLookupError("image_digest: %s: %s (%s)" % (term, result["status"], result["message"]))
            if "@" in term and ":" not in term.partition("@")[0].rsplit("/", 1)[-1]:
                results.append(term)  # name@digest: nothing to follow, and it exists
            else:
                results.append(registry.with_digest(term, result.get("tag_digest") or result["digest"], keep_tag))
        return results
