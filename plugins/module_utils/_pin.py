# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Digest pinning of runners' default images and services: parsed config.toml + probe rows -> the
`runners` list for runner_config. Pure."""

from __future__ import annotations

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _registry_client as registry
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _resolve as resolve


def pinned_ref(image, probe, keep_tag):
    """(new reference, None) or (None, why not) for one image and its runner_auth_info probe."""
    if not probe:
        return None, "not probed (run runner_auth_info with probe=true)"
    if probe.get("status") != registry.OK:
        return None, "%s: %s" % (probe.get("status"), probe.get("message") or "")
    try:
        _registry, _api, _repo, tag, digest = registry.split_image(image)
    except registry.ImageRefError as exc:
        return None, str(exc)
    if digest and not tag:
        return None, "pinned without a tag: no tag to follow"
    target = probe.get("tag_digest") if digest else probe.get("digest")
    if not target:
        return None, "the registry sent no digest"
    return registry.with_digest(image, target, keep_tag), None


def _pin(out, probes, runner, origin, image, keep_tag):
    row = probes.get((runner, origin))
    new, why = pinned_ref(image, (row or {}).get("probe"), keep_tag)
    if new is None:
        out["skipped"].append({"runner": runner, "origin": origin, "image": image, "reason": why})
        out["lines"].append("%s %s: %s not pinned (%s)" % (runner, origin, image, why))
        return image
    out["pins"].append({"runner": runner, "origin": origin, "before": image, "after": new, "changed": new != image})
    out["lines"].append("%s %s: %s" % (runner, origin, ("%s -> %s" % (image, new)) if new != image else
                                       "%s (unchanged)" % image))
    return new


def plan_pins(data, rows, keep_tag=True, runners=None):
    """{runners: [runner_config entries], pins, skipped, lines (for display)} for parsed config.toml data.

    Only `docker.image` and the `name` of each `[[runners.docker.services]]` change; every other key
    of a service is passed on as it is, because runner_config replaces the services list whole.
    """
    probes = {(row.get("runner"), row.get("origin")): row for row in rows or []}
    out = {"runners": [], "pins": [], "skipped": [], "lines": []}
    for runner in data.get("runners") or []:
        if not isinstance(runner, dict) or not resolve.uses_docker_resolver(runner):
            continue
        name = runner.get("name")
        if runners is not None and name not in runners:
            continue
        docker = runner.get("docker") if isinstance(runner.get("docker"), dict) else {}
        desired = {}
        if isinstance(docker.get("image"), str) and docker["image"]:
            desired["image"] = _pin(out, probes, name, "docker.image", docker["image"], keep_tag)
        services = docker.get("services")
        if isinstance(services, list) and services and all(isinstance(s, dict) for s in services):
            new_services = []
            for index, service in enumerate(services):
                service = dict(service)
                if isinstance(service.get("name"), str) and service["name"]:
                    service["name"] = _pin(out, probes, name, "docker.services[%d]" % index, service["name"],
                                           keep_tag)
                new_services.append(service)
            desired["services"] = new_services
        if desired:
            out["runners"].append({"name": name, "docker": desired})
    return out
