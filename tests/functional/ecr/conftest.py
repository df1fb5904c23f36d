# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the ECR tests: moto with TLS, the CONNECT proxy, and a local registry under an ECR name.

Session fixtures:

* ``aws_certs``: a throwaway CA and a certificate naming loopback, the AWS API endpoints
  (moto_harness.aws_api_names) and ``ECR_HOST`` (so a local registry can be reached under it).
* ``moto``: :class:`moto_harness.MotoServer` on it; ``aws_proxy``: :class:`moto_harness.ConnectProxy`
  sending the AWS names to moto.  After each test moto's token overrides are dropped and its IAM
  enforcement is off again.
* ``ecr_registry``: a distribution registry with htpasswd user ``AWS`` / moto's token for
  ``ECR_ACCOUNT``, behind the header-logging proxy, reachable as ``ECR_HOST`` through ``aws_proxy``.

Functional fixtures: ``aws_env`` (boto3/module environment through the proxy, test CA, test keys).
"""

from __future__ import annotations

import os

import pytest

import moto_harness as mh
import registry as reg

ECR_ACCOUNT, ECR_HOST = mh.ACCOUNT, mh.ECR_HOST


@pytest.fixture(scope="session")
def aws_certs(tmp_path_factory):
    missing = reg.tools_missing() + ([] if os.access(mh.HELPER, os.X_OK) else [mh.HELPER])
    if missing:
        pytest.fail("the ECR tests need %s (Debian packages docker-registry, skopeo, apache2-utils, openssl, "
                    "amazon-ecr-credential-helper: run 'make deps')" % ", ".join(missing))
    return mh.make_certs(tmp_path_factory.mktemp("aws-pki"), extra_names=(ECR_HOST,))


@pytest.fixture(scope="session")
def moto(aws_certs):
    server = mh.MotoServer(aws_certs).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def aws_proxy(moto):
    proxy = mh.ConnectProxy(moto.port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(autouse=True)
def _reset_moto(request):
    yield
    if "moto" in request.fixturenames:
        server = request.getfixturevalue("moto")
        server.clear_ecr_tokens()
        server.enforce_iam(False)


@pytest.fixture(scope="session")
def ecr_registry(tmp_path_factory, aws_certs, aws_proxy):
    server = reg.Registry(tmp_path_factory.mktemp("ecr-registry"), aws_certs,
                          users={"AWS": mh.moto_password(ECR_ACCOUNT)}, log_headers=True)
    try:
        server.start()
        aws_proxy.route(ECR_HOST, server.port)
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_env(aws_certs, aws_proxy):
    """Environment overrides for run_playbook: AWS endpoint names go to moto through the proxy."""
    return mh.boto_env(aws_certs.ca_file, aws_proxy.url)


@pytest.fixture(scope="session")
def ecr_cert_dir(aws_certs):
    return aws_certs.cert_dir
