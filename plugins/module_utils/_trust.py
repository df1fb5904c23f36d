# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Registry trust: the CA bundle and client certificate files of certs.d, validated before writing.

Docker reads /etc/docker/certs.d/<host[:port]>/ (ca.crt, client.cert, client.key) at every pull;
podman and skopeo read /etc/containers/certs.d/ with the same names. Certificates are inspected with
the `openssl` command line: runner hosts often lack python `cryptography`, while Debian and Red Hat
install openssl with their CA store. Key material goes to openssl on stdin only (no temp file, no
argument); openssl's stderr is dropped and its stdout holds public data only.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _ecr as ecr
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _process as process

CA_FILE = "ca.crt"
CERT_FILE = "client.cert"
KEY_FILE = "client.key"
MANAGED_FILES = (CA_FILE, CERT_FILE, KEY_FILE)
PUBLIC_MODE = 0o644
KEY_MODE = 0o600
DIR_MODE = 0o755
OPENSSL_TIMEOUT = 30
CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.DOTALL)
KEY_BLOCK = re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----\s.*?-----END \1PRIVATE KEY-----", re.DOTALL)
DAY = 86400


class TrustError(ValueError):
    """A registry's certificates cannot be used; the message names the registry and the problem."""


# --------------------------------------------------------------------------- registry keys

def certs_d_name(registry, where):
    """The certs.d directory name of a registry: host[:port], normalized like credential keys.

    certs.d is per host, so a namespace is refused; Docker Hub is refused as it is served with a
    public CA (and its hosts are not one directory)."""
    try:
        key = auth.normalize_registry_key(registry, where)
    except auth.AuthConfigError as exc:
        raise TrustError(str(exc)) from exc
    if key == auth.DOCKER_HUB_KEY or key.startswith("docker.io"):
        raise TrustError("%s: %r is Docker Hub, which uses a public CA; certs.d is for private registries"
                         % (where, registry))
    if "/" in key:
        raise TrustError("%s: %r names a namespace; certs.d trust is per registry host, write %r"
                         % (where, registry, key.split("/")[0]))
    return key


# --------------------------------------------------------------------------- openssl

class OpenSSL(object):
    """Runs the openssl binary with a deadline; returns its stdout text or raises TrustError(reason)."""

    def __init__(self, binary, timeout=OPENSSL_TIMEOUT):
        self.binary = binary
        self.timeout = timeout

    def run(self, args, data):
        try:
            code, out = process.run_bounded([self.binary] + args, data.encode("utf-8"), self.timeout,
                                            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
        except process.ProcessTimeout as exc:
            raise TrustError("openssl %s" % exc) from exc
        except OSError as exc:
            raise TrustError("cannot run %s: %s" % (self.binary, exc.strerror or exc)) from exc
        if code != 0:
            return None
        return out.decode("utf-8", "replace")

    def certificate(self, pem):
        """Facts of one PEM certificate (dict), or None when openssl cannot parse it."""
        out = self.run(["x509", "-noout", "-subject", "-fingerprint", "-sha256", "-enddate", "-ext",
                        "basicConstraints", "-pubkey", "-nameopt", "RFC2253"], pem)
        return None if out is None else parse_x509_output(out)

    def public_key(self, key_pem):
        """The public key (PEM) of a private key, or None when it cannot be read (or has a passphrase)."""
        out = self.run(["pkey", "-pubout", "-passin", "pass:"], key_pem)
        return out.strip() if out and "PUBLIC KEY" in out else None


def parse_not_after(value):
    """Seconds since the epoch of openssl's notAfter text ('Dec  6 17:00:13 2026 GMT')."""
    return calendar.timegm(time.strptime(" ".join(value.split()), "%b %d %H:%M:%S %Y GMT"))


def parse_x509_output(out):
    facts = {"subject": "", "fingerprint": "", "not_after": None, "ca": False, "public_key": ""}
    public = re.search(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", out, re.DOTALL)
    facts["public_key"] = public.group(0) if public else ""
    for line in out.splitlines():
        if line.startswith("subject="):
            facts["subject"] = line[len("subject="):].strip()
        elif line.startswith("sha256 Fingerprint="):
            facts["fingerprint"] = line.split("=", 1)[1].strip()
        elif line.startswith("notAfter="):
            facts["not_after"] = parse_not_after(line.split("=", 1)[1])
        elif line.strip().startswith("CA:"):
            facts["ca"] = line.strip().startswith("CA:TRUE")
    return facts


# --------------------------------------------------------------------------- validation

def certificate_blocks(text):
    return CERT_BLOCK.findall(text or "")


def expiry_problem(name, facts, now, warn_days, warnings):
    """Fail on an expired certificate, warn on one that expires within warn_days."""
    days = int((facts["not_after"] - now) // DAY)
    if facts["not_after"] <= now:
        raise TrustError("%s (%s) expired on %s" % (name, facts["subject"], ecr.format_time(facts["not_after"])))
    if days < warn_days:
        warnings.append("%s (%s) expires in %d days, on %s"
                        % (name, facts["subject"], days, ecr.format_time(facts["not_after"])))
    return days


def inspect_ca_bundle(openssl, text, now, warn_days, warnings):
    """Facts of every certificate of a CA bundle; each must parse, be a CA and be valid now."""
    blocks = certificate_blocks(text)
    if not blocks:
        raise TrustError("ca_cert holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    found = []
    for index, block in enumerate(blocks):
        name = "ca_cert certificate %d" % (index + 1) if len(blocks) > 1 else "ca_cert"
        facts = openssl.certificate(block)
        if facts is None or facts["not_after"] is None:
            raise TrustError("%s is not a valid PEM certificate" % name)
        if not facts["ca"]:
            raise TrustError("%s (%s) is not a CA certificate (basicConstraints CA:TRUE is missing); give the CA "
                             "that signed the registry's certificate, not the registry's own" % (name, facts["subject"]))
        facts["expires_in_days"] = expiry_problem(name, facts, now, warn_days, warnings)
        found.append(facts)
    return blocks, found


def inspect_client_pair(openssl, cert_text, key_text, now, warn_days, warnings):
    """Facts of the client certificate, which must parse, be valid now and match the private key."""
    blocks = certificate_blocks(cert_text)
    if not blocks:
        raise TrustError("client_cert holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    facts = openssl.certificate(blocks[0])
    if facts is None or facts["not_after"] is None:
        raise TrustError("client_cert is not a valid PEM certificate")
    facts["expires_in_days"] = expiry_problem("client_cert", facts, now, warn_days, warnings)
    if not KEY_BLOCK.search(key_text or ""):
        raise TrustError("client_key holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
    public = openssl.public_key(key_text)
    if public is None:
        raise TrustError("client_key is not a readable PEM private key (a key with a passphrase cannot be used "
                         "by the Docker daemon)")
    if public != facts["public_key"].strip():
        raise TrustError("client_key does not match client_cert (%s)" % facts["subject"])
    return blocks, facts


def public_facts(facts):
    """What may be shown of a certificate: never key material."""
    return {"subject": facts["subject"], "fingerprint_sha256": facts["fingerprint"],
            "not_after": ecr.format_time(facts["not_after"]), "expires_in_days": facts["expires_in_days"]}


def pem_text(blocks):
    return "\n".join(block.strip() for block in blocks) + "\n"


def key_text(text):
    return text.strip() + "\n"


def desired_files(openssl, entry, now, warn_days, warnings):
    """{file name: (text, mode)} and the certificate facts of one present registry entry."""
    notes = []
    ca_blocks, ca_facts = inspect_ca_bundle(openssl, entry["ca_cert"], now, warn_days, notes)
    wanted = {CA_FILE: (pem_text(ca_blocks), PUBLIC_MODE)}
    shown = {"ca_cert": [public_facts(facts) for facts in ca_facts]}
    if entry.get("client_cert") or entry.get("client_key"):
        if not (entry.get("client_cert") and entry.get("client_key")):
            raise TrustError("client_cert and client_key go together: Docker refuses a client certificate "
                             "without its key")
        cert_blocks, cert_facts = inspect_client_pair(openssl, entry["client_cert"], entry["client_key"], now,
                                                      warn_days, notes)
        wanted[CERT_FILE] = (pem_text(cert_blocks), PUBLIC_MODE)
        wanted[KEY_FILE] = (key_text(entry["client_key"]), KEY_MODE)
        shown["client_cert"] = public_facts(cert_facts)
    warnings.extend(notes)
    return wanted, shown


def build_entries(openssl, registries, now, warn_days):
    """Validate every registry before anything is written: (entries by key, warnings).

    An entry is {"key", "state", "containers", "files" ({name: (text, mode)}), "certificates"}."""
    entries, warnings, seen = {}, [], {}
    for index, entry in enumerate(registries):
        where = "registries[%d]" % index
        key = certs_d_name(entry["registry"], where)
        if key in seen:
            raise TrustError("%s: %r is the same registry as registries[%d] (%s): one registry, one directory"
                             % (where, entry["registry"], seen[key], key))
        seen[key] = index
        item = {"key": key, "state": entry.get("state") or "present", "containers": bool(entry.get("containers")),
                "files": {}, "certificates": {}}
        if item["state"] == "present":
            if not entry.get("ca_cert"):
                raise TrustError("%s (%s): ca_cert is required unless state is absent" % (where, key))
            notes = []
            try:
                item["files"], item["certificates"] = desired_files(openssl, entry, now, warn_days, notes)
            except TrustError as exc:
                raise TrustError("%s (%s): %s" % (where, key, exc)) from exc
            warnings.extend("%s: %s" % (key, note) for note in notes)
        entries[key] = item
    return entries, warnings


# --------------------------------------------------------------------------- plans

def plan_directory(current, wanted):
    """Operations that turn a directory's managed files `current` ({name: (text, mode)}) into `wanted`:
    a list of (name, text, mode) to write and a list of names to remove."""
    writes = [(name, text, mode) for name, (text, mode) in sorted(wanted.items()) if current.get(name) != (text, mode)]
    removals = [name for name in MANAGED_FILES if name in current and name not in wanted]
    return writes, removals


def describe_files(openssl, files):
    """Diff text of a directory's managed files: subjects and fingerprints, never key material."""
    lines = []
    for name in MANAGED_FILES:
        if name not in files:
            continue
        text, mode = files[name]
        if name == KEY_FILE:
            public = openssl.public_key(text)
            summary = ("private key, public key sha256 %s" % hashlib.sha256(public.encode()).hexdigest()
                       if public else "unreadable private key")
        else:
            summary = "; ".join(describe_certificate(openssl, block) for block in certificate_blocks(text)) or \
                "no PEM certificate"
        lines.append("%s (%04o): %s" % (name, mode, summary))
    return "\n".join(lines) + ("\n" if lines else "")


def describe_certificate(openssl, block):
    facts = openssl.certificate(block)
    if facts is None or facts["not_after"] is None:
        return "unparsable certificate"
    return "subject=%s sha256=%s notAfter=%s" % (facts["subject"], facts["fingerprint"], ecr.format_time(facts["not_after"]))
