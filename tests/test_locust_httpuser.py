"""locust-httpuser: a plain HttpUser's path, measured without importing Locust here.

The test process never imports Locust (its import monkey-patches everything), so these
tests go through the per-process stand-in for Locust's shared context; run through
Locust, the real `locust.clients._preloaded_ssl_context` is used (tests/test_audit.py).
"""

import json
import sys
from pathlib import Path

import pytest

from locust_mtls import settings
from locust_mtls.engine.checks import failure_for
from locust_mtls.engine.execution import execute_request
from locust_mtls.engine.identity_check import IdentityChecker
from locust_mtls.matrix.envs import Environments, current_python
from locust_mtls.strategies import STRATEGIES, create
from locust_mtls.tls import requests_path

from conftest import row_of, run_locust

HEADER = "X-Client-Cert-Fingerprint"
MTLS = str(Path(__file__).resolve().parent.parent / "locustfiles" / "mtls.py")
SHARES = requests_path.locust_uses_preloaded_context()


def verdict(client, url, identity, identities):
    outcome = execute_request(client, "GET", url, identity, identity_header=HEADER, keepalive=False)
    assert outcome.error is None, outcome.error
    failure = failure_for(IdentityChecker(identities).verdict(identity, outcome.reported))
    return failure.kind if failure else "ok"


def test_registered_as_version_dependent():
    cls = STRATEGIES["locust-httpuser"]
    assert cls.safety == settings.VERSION_DEPENDENT
    assert "Shares:" in cls.__doc__ and "Locks:" in cls.__doc__ and "Cost:" in cls.__doc__
    assert "locust" not in sys.modules  # detecting Locust's path did not import it


def test_installed_locust_is_read_from_its_source(tmp_path, monkeypatch):
    fake = tmp_path / "locust"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (fake / "clients.py").write_text("class HttpSession: pass\n")  # like Locust <= 2.42
    monkeypatch.syspath_prepend(str(tmp_path))
    requests_path._installed_locust_shares_context.cache_clear()
    try:
        assert requests_path.locust_uses_preloaded_context() is False
        (fake / "clients.py").write_text("_preloaded_ssl_context = create_urllib3_context()\n")
        requests_path._installed_locust_shares_context.cache_clear()
        assert requests_path.locust_uses_preloaded_context() is True
    finally:
        requests_path._installed_locust_shares_context.cache_clear()


@pytest.mark.skipif(not SHARES, reason="the installed Locust has no shared preloaded context")
def test_a_request_without_cert_presents_the_last_loaded_one(trust, identities, pki_server):
    """One user, one after the other: a cert request then a cert-less one, each on a new
    connection. Through Locust 2.43.0+'s shared context the second presents the first's
    certificate: bleed without any concurrency."""
    strategy = create("locust-httpuser", trust)
    assert "Locust's shared preloaded SSLContext" in strategy.client_path()
    assert strategy.client_path().startswith(f"locust {requests_path.locust_version()}")
    client = strategy.new_client()
    try:
        assert verdict(client, pki_server.url, identities[0], identities) == "ok"
        assert verdict(client, pki_server.url, None, identities) == "bleed"
    finally:
        client.close()


@pytest.mark.skipif(SHARES, reason="the installed Locust shares a preloaded context")
def test_without_locust_context_it_is_requests_own_path(trust):
    path = create("locust-httpuser", trust).client_path()
    assert "no shared context of its own" in path or "Locust not installed" in path
    assert requests_path.describe() in path


def plain_httpuser_row(tmp_path, env) -> dict:
    """locust-httpuser in `env`'s Locust for 5 s, keep-alive off, no gate: its row."""
    summary = tmp_path / "summary.json"
    done = run_locust(
        "-f", MTLS, "--mtls-strategy", "locust-httpuser", "--mtls-keepalive", "off",
        "--mtls-summary-file", str(summary), "--mtls-fail-on", "", "--exit-code-on-error", "0",
        cwd=tmp_path, python=env.python, users=8, run_time="5s", timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    row = row_of(json.loads(summary.read_text()), "locust-httpuser")
    # On 2.42 every new connection re-reads certifi's bundle: slow, so few requests.
    assert row["requests"] > 20 and row["crashes"] == 0
    return row


@pytest.mark.slow
@pytest.mark.parametrize(
    ("locust_version", "shares"), [("2.42.0", False), ("2.47.0", True)], ids=["2.42", "2.47"]
)
def test_a_plain_httpuser_is_clean_before_locust_2_43_and_bleeds_after(
    locust_version, shares, tmp_path
):
    """requests 2.34.2 keeps no shared context, so only Locust's own one can bleed."""
    env = Environments().ensure(*current_python(), "2.34.2", locust_version)
    assert env.facts["locust"] == locust_version
    row = plain_httpuser_row(tmp_path, env)
    if shares:
        assert "Locust's shared preloaded SSLContext" in row["client_path"]
        assert row["bleed"] > 0.3 * row["requests"]  # about every no-cert request
    else:
        assert "no shared context of its own" in row["client_path"]
        assert row["bleed"] == row["wrong_identity"] == row["failures"] == 0


@pytest.mark.slow
@pytest.mark.skipif(not requests_path.locust_has_shared_context(), reason="Locust < 2.43.0")
def test_on_requests_2_31_it_measures_the_path_that_version_takes(tmp_path):
    """requests 2.31.0 never calls the hook that installs Locust's context, and Locust's
    adapter gives urllib3 no CA file: a context per connection with OpenSSL's default CAs,
    where the private CA is trusted (SSL_CERT_FILE). The pool is keyed by host only
    (psf/requests#2863), so a connection made with one certificate is reused by the next
    request, whichever certificate (or none) it was made with: measured."""
    env = Environments().ensure(*current_python(), "2.31.0")  # the runner's own Locust
    row = plain_httpuser_row(tmp_path, env)
    reuse = {"cert bleed", "wrong identity", "missing certificate"}  # by host, any identity
    assert set(row["failure_classes"]) <= reuse  # no "server certificate not trusted": trusted
    assert "requests 2.31.0 (Locust's shared context unused" in row["client_path"]
    assert row["client_path"].endswith(requests_path.VerifyPath.DEFAULT_STORE.value)
