"""Debian's HAProxy and nginx as real TLS terminators: does each documented way of
reporting the client certificate parse, via tls/reported_identity.py, to the identity
that was sent (or to none)? And Locust runs behind them: identity-cache clean, shared-
context bleeding, HAProxy's trap failing under `require` and passing loudly under
`auto`. Skipped, with the apt command, when a server is missing."""

from __future__ import annotations

import json
import os

import psutil
import pytest
import requests

from bench import gateways, nginx
from bench.gateway_table import locust_args
from locust_mtls.tls.reported_identity import IdentityIndex, describe, match_seen, parse_reported

from conftest import run_locust

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.gateway


@pytest.fixture(scope="module")
def backend_port():
    with gateways.plain_backend() as port:
        yield port


def _start(name, generated_pki, backend_port):
    """Start variant `name` (skip, naming the apt command, when its server is missing)."""
    chosen = gateways.variant(name)
    reason = gateways.missing_reason(chosen)
    if reason:
        pytest.skip(reason)
    pki = generated_pki
    return chosen, gateways.start_gateway(
        chosen, pki.server_cert, pki.server_key, pki.ca_file, backend_port
    )


@pytest.fixture(scope="module", params=[variant.name for variant in gateways.VARIANTS])
def gateway(request, generated_pki, backend_port):
    chosen, server = _start(request.param, generated_pki, backend_port)
    with server:
        yield chosen, server


def _reported(server, ca_file, identity):
    cert = identity.requests_cert() if identity else None
    response = requests.get(server.url + "/", verify=ca_file, cert=cert, timeout=10)
    assert response.status_code == 200
    assert response.text.strip() == "ok"  # the backend (or HAProxy's own `return`) answered
    return response


def test_each_gateway_reports_the_certificate_it_saw(gateway, generated_pki):
    chosen, server = gateway
    identities = generated_pki.identities[:2]
    index = IdentityIndex.of(generated_pki.identities)
    for sent in (*identities, None):
        value = _reported(server, generated_pki.ca_file, sent).headers.get(chosen.header)
        for identity_format in (chosen.identity_format, "auto"):
            verdict = match_seen(sent, parse_reported(value, identity_format), index)
            expected = "right" if chosen.reports else "unreported"
            if not chosen.reports and identity_format != "auto":
                expected = "right" if sent is None else "missing"  # absent read as "none"
            assert verdict.kind == expected, (chosen.name, identity_format, sent, value)


def test_a_mix_up_is_named(gateway, generated_pki):
    chosen, server = gateway
    if not chosen.reports:
        pytest.skip("this variant never reports")
    first, second = generated_pki.identities[:2]
    value = _reported(server, generated_pki.ca_file, first).headers[chosen.header]
    verdict = match_seen(
        second, parse_reported(value, chosen.identity_format), IdentityIndex.of([first, second])
    )
    assert (verdict.kind, describe(verdict)) == (
        "wrong",
        f"sent {second.name}, server saw {first.name}",
    )


def test_the_haproxy_trap_never_sets_the_header(generated_pki, backend_port):
    chosen, server = _start("haproxy-trap", generated_pki, backend_port)
    with server:
        response = _reported(server, generated_pki.ca_file, generated_pki.identities[0])
        pid = server.pid
    assert chosen.header not in response.headers
    assert parse_reported(response.headers.get(chosen.header)).kind == "unreported"
    assert not psutil.pid_exists(pid) and not os.path.exists(server.prefix)


def test_haproxy_config_is_loopback_with_optional_client_certs():
    config = gateways.haproxy_config(8443, 8080, "/p/crt.pem", "/c/ca.pem", "http-request deny\n")
    assert "bind 127.0.0.1:8443 ssl crt /p/crt.pem ca-file /c/ca.pem verify optional" in config
    assert "    http-request deny\n" in config
    assert "server app 127.0.0.1:8080" in config


def test_missing_haproxy_names_the_apt_command(monkeypatch):
    monkeypatch.setattr(gateways, "find_haproxy", lambda: None)
    reason = gateways.missing_reason(gateways.variant("haproxy-sha256"))
    assert reason == "haproxy is not installed; run: apt-get install -y haproxy"


@pytest.mark.parametrize("name", [variant.name for variant in gateways.VARIANTS])
def test_docs_show_the_tested_snippet(name):
    with open(os.path.join(REPO, "docs", "gateways.md"), encoding="utf-8") as file:
        doc = file.read()
    chosen = gateways.variant(name)
    assert gateways.markdown(chosen) in doc, f"docs/gateways.md lacks the {name} snippet"
    assert f"--mtls-identity-format {chosen.identity_format}" in doc
    if "js_" in chosen.http_lines:
        assert nginx.FINGERPRINT_JS in doc, "docs/gateways.md lacks fingerprint.js"


# -- Locust runs against the gateways: the identity check end to end (issue 13) --


@pytest.fixture(scope="module")
def started(generated_pki, backend_port):
    """start(name) -> a running gateway of that variant, started once per module."""
    import contextlib

    with contextlib.ExitStack() as stack:
        running = {}

        def start(name):
            if name not in running:
                chosen, server = _start(name, generated_pki, backend_port)
                running[name] = chosen, stack.enter_context(server)
            return running[name]

        yield start


def _run(started, generated_pki, tmp_path, name, strategy, identity_format, check="auto"):
    """One short Locust run (6 users, 2 s, keep-alive off, half without a certificate)."""
    chosen, server = started(name)
    identities_file = os.path.join(os.path.dirname(generated_pki.ca_file), "identities.json")
    args = locust_args(server.url, chosen, identities_file, strategy, identity_format, check)
    done = run_locust(*args, cwd=tmp_path, users=6, run_time="2s")
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    (row,) = json.loads((tmp_path / "summary.json").read_text())["strategies"].values()
    assert row["requests"] > 0, done.stderr[-3000:]
    return done, row


RECIPES = [("haproxy-sha256", "sha256"), ("nginx-sha1", "sha1"), ("nginx-subject", "subject")]


@pytest.mark.parametrize("name, identity_format", RECIPES)
def test_identity_cache_is_clean_behind_each_gateway(
    started, generated_pki, tmp_path, name, identity_format
):
    done, row = _run(started, generated_pki, tmp_path, name, "identity-cache", identity_format)
    assert (row["wrong_identity"], row["bleed"], row["unreported"]) == (0, 0, 0)
    assert row["checked"] == row["requests"]  # every response said who it saw
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("name, identity_format", RECIPES)
def test_shared_context_bleeds_behind_each_gateway(
    started, generated_pki, tmp_path, name, identity_format
):
    done, row = _run(started, generated_pki, tmp_path, name, "shared-context", identity_format)
    assert row["bleed"] > 0 and row["unreported"] == 0
    assert row["seen_pairs"][0]["sent"] == "no certificate"  # and who was seen instead
    assert row["seen_pairs"][0]["seen"].startswith("client-")
    assert done.returncode == 1  # the gate, although --exit-code-on-error is 0
    assert "failed its mTLS gate" in done.stderr


def test_the_trap_fails_under_require(started, generated_pki, tmp_path):
    done, row = _run(
        started, generated_pki, tmp_path, "haproxy-trap", "identity-cache", "auto", "require"
    )
    assert row["unreported"] == row["failures"] == row["requests"]
    assert row["checked"] == 0
    assert done.returncode == 1  # with --exit-code-on-error 0: the default gate adds unreported
    assert "'unreported'" in done.stderr and "identity checked on 0 of" in done.stdout


def test_the_trap_passes_under_auto_and_says_so_loudly(started, generated_pki, tmp_path):
    done, row = _run(started, generated_pki, tmp_path, "haproxy-trap", "identity-cache", "auto")
    assert row["unreported"] == row["requests"] and row["failures"] == 0
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        f"identity checked on 0 of {row['requests']:,} responses: your target does not "
        "report it, see docs/gateways.md"
    ) in done.stdout


def test_check_off_against_a_target_that_reports_nothing(started, generated_pki, tmp_path):
    done, row = _run(
        started, generated_pki, tmp_path, "haproxy-trap", "shared-context", "auto", "off"
    )
    assert (row["failures"], row["unreported"], row["checked"]) == (0, 0, 0)
    assert row["identity_check"] == "off"
    assert done.returncode == 0 and "identity checked on" not in done.stdout
