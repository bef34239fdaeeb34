"""MtlsHttpUser (and MtlsFastHttpUser's full API): Locust's own sessions on our
transports, checked on every response. Real TLS on loopback against the echo server."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from locust_mtls.settings import SAFE
from locust_mtls.strategies import LIBRARIES, STRATEGIES, strategies_of

from conftest import row_of, run_locust

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = str(Path(__file__).resolve().parent / "http_user_scenarios.py")
NIQUESTS = pytest.mark.skipif(
    importlib.util.find_spec("niquests") is None,
    reason=f"niquests not installed: {LIBRARIES['niquests'].install}",
)
# Locust's HttpSession runs on requests: the strategies of requests only.
CELLS = [
    [name, mode] for name in strategies_of("requests") for mode in ("greenlet", "native-threads")
]


def run_scenarios(server, pki, kind, cells, workdir) -> dict:
    """Every cell's facts, from one subprocess (importing locust monkey-patches it)."""
    config = {
        "host": server.url,
        "identities": os.path.join(os.path.dirname(pki.ca_file), "identities.json"),
        "kind": kind,
        "cells": cells,
    }
    done = subprocess.run(
        [sys.executable, SCENARIOS, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(workdir),  # the engines' mtls-crashes/ goes there
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def http_cells(pki_server, generated_pki, tmp_path_factory):
    return run_scenarios(
        pki_server, generated_pki, "http", CELLS, tmp_path_factory.mktemp("http-cells")
    )


@pytest.fixture(scope="module")
def fingerprints(generated_pki):
    return {identity.name: identity.fingerprint for identity in generated_pki.identities}


@pytest.mark.parametrize("strategy,mode", CELLS)
def test_the_whole_client_api_crosses_every_strategy(http_cells, strategy, mode):
    facts = http_cells[f"{strategy}/{mode}"]
    # POST with json=, headers=, params= and a query: the server saw exactly that.
    assert facts["echo"]["method"] == "POST"
    assert facts["echo"]["path"] == "/things"
    assert facts["echo"]["query"] == {"colour": ["blue"], "size": ["l xl"], "page": ["2"]}
    assert facts["echo"]["body_sha256"] == facts["sent_sha256"]
    assert facts["status_ok_elapsed"] == [200, True, True]
    # The cookie set by /login came back on the next request.
    assert facts["login_cookie"] and facts["cookie_back"] == facts["login_cookie"]
    assert facts["read_back"] and facts["missing_status"] == 404
    assert facts["rest_js_method"] == "POST"
    # One Locust event per request; the task's failure() counted by Locust and by us.
    assert facts["events"] == facts["counters"]["requests"]
    assert "/orders/[id]: deliberate" in facts["failed_events"]


@pytest.mark.parametrize("strategy,mode", CELLS)
def test_identity_per_request_and_the_check(http_cells, fingerprints, strategy, mode):
    facts = http_cells[f"{strategy}/{mode}"]
    # identity=None went without a certificate on a safe strategy; the next request
    # presents the user's identity again, and identity="client-2" that one.
    assert facts["after_seen"] == fingerprints["client-1"]
    assert facts["other_seen"] == fingerprints["client-2"]
    assert facts["switched_seen"] == fingerprints["client-3"]  # self.client.identity = ...
    assert facts["unknown_identity"].startswith("ConfigError: identity='no-such-identity': ")
    assert "client-1, client-2" in facts["unknown_identity"]
    counters = facts["counters"]
    if STRATEGIES[strategy].safety == SAFE:
        assert facts["no_cert_seen"] == "none"
        assert counters["wrong_identity"] == counters["bleed"] == 0
        assert facts["failed_events"] == ["/orders/[id]: deliberate"]
        assert counters["failures"] == 1
    if strategy == "shared-context":  # the unsafe baseline still shows its bleed
        assert facts["no_cert_seen"] == fingerprints["client-1"]
        assert counters["bleed"] >= 1
        assert "/health: cert bleed" in facts["failed_events"]


@pytest.mark.parametrize("strategy,mode", CELLS)
def test_a_streamed_body_cannot_go_to_a_native_thread(http_cells, strategy, mode):
    outcome = http_cells[f"{strategy}/{mode}"]["generator_body"]
    if mode == "greenlet":
        assert outcome == "sent"
    else:
        assert outcome.startswith("UnsendableArgument: data=generator: ")
        assert "data=f.read()" in outcome and "\n" not in outcome


@pytest.mark.parametrize("kind", ["fast", "httpx", pytest.param("niquests", marks=NIQUESTS)])
def test_the_other_full_api_users_have_the_api_and_the_check(
    pki_server, generated_pki, fingerprints, tmp_path, kind
):
    # MtlsFastHttpUser, MtlsHttpxUser, MtlsNiquestsUser: the same scenario, the same
    # checked request path.
    cells = [["identity-cache", "greenlet"]]
    facts = run_scenarios(pki_server, generated_pki, kind, cells, tmp_path)[
        "identity-cache/greenlet"
    ]
    assert facts["row"].startswith(f"{'fasthttp' if kind == 'fast' else kind}/identity-cache")
    assert facts["echo"] == {
        "method": "POST",
        "path": "/things",
        "query": {"colour": ["blue"]},
        "body_sha256": facts["sent_sha256"],
    }
    assert facts["cookie_back"]
    assert facts["no_cert_seen"] == "none"
    assert facts["after_seen"] == fingerprints["client-1"]
    assert facts["other_seen"] == fingerprints["client-2"]
    assert facts["events"] == facts["counters"]["requests"] == 6
    assert facts["failed_events"] == ["/health: deliberate"]
    assert facts["counters"]["wrong_identity"] == facts["counters"]["bleed"] == 0
    assert ("geventhttpclient" if kind == "fast" else kind) in facts["client_path"]
    if kind == "httpx":  # httpcore's trace gives handshakes; geventhttpclient, niquests don't
        assert facts["counters"]["handshakes"] >= 3  # client-1, no certificate, client-2


SHOP = REPO / "examples" / "shop.py"


def test_readmes_two_line_change_is_the_example_file():
    """README's diff, applied, is a stretch of examples/shop.py (which the next test runs);
    undone, the file is a plain HttpUser locustfile, with no locust_mtls in it."""
    readme = (REPO / "README.md").read_text()
    diff = readme.split("## Make your locustfile safe")[1].split("```diff\n")[1].split("```")[0]
    lines = diff.splitlines()
    after = [line[1:] for line in lines if not line.startswith("-")]
    before = [line[1:] for line in lines if not line.startswith("+")]
    changed = [line for line in lines if line[:1] in ("+", "-")]
    # two lines: the import added, the base class changed
    assert [line[0] for line in changed] == ["+", "-", "+"], changed
    shop = SHOP.read_text().splitlines()
    start = next(i for i in range(len(shop)) if shop[i : i + len(after)] == after)
    plain = shop[:start] + before + shop[start + len(after) :]
    assert "locust_mtls" not in "\n".join(plain) and "(HttpUser):" in "\n".join(plain)


@pytest.mark.parametrize("mode", ["greenlet", "native-threads"])
def test_a_converted_httpuser_locustfile_runs_unchanged(tmp_path, mode):
    done = run_locust(
        "-f", str(SHOP), "--mtls-concurrency", mode, "--mtls-summary-file", "s.json",
        cwd=tmp_path, users=4, run_time="4s",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    stats = row_of(json.loads((tmp_path / "s.json").read_text()), "identity-cache")
    assert stats["requests"] > 20
    assert stats["failures"] == stats["wrong_identity"] == stats["bleed"] == 0
    assert "/orders/[id]" in done.stderr and "/health" in done.stderr


def test_the_api_example_runs_out_of_the_box(tmp_path):
    done = run_locust(
        "-f", str(REPO / "locustfiles" / "api.py"), "--mtls-summary-file", "s.json",
        cwd=tmp_path, users=4, run_time="4s",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads((tmp_path / "s.json").read_text())
    stats = row_of(document, "identity-cache")
    assert stats["requests"] > 20
    assert stats["failures"] == stats["wrong_identity"] == stats["bleed"] == 0
    assert len(stats["identities_in_use"]) == 4
    # /health went without a certificate, the rest with one.
    assert document["echo_server"]["requests_by_fingerprint"]["none"] > 0
    assert "POST     /orders" in done.stderr and "GET      /orders/[id]" in done.stderr


def test_an_unknown_identity_on_the_class_is_one_line_and_exit_code_2(tmp_path):
    (tmp_path / "bad.py").write_text(
        "from locust import task\nfrom locust_mtls import MtlsHttpUser\n\n\n"
        "class Svc(MtlsHttpUser):\n    identity = 'svc-a'\n\n"
        "    @task\n    def t(self):\n        self.client.get('/')\n"
    )
    done = run_locust("-f", "bad.py", cwd=tmp_path, users=1, run_time="2s")
    assert done.returncode == 2
    assert "locust-mtls: error: Svc.identity = 'svc-a': no such identity" in done.stderr
    assert "client-1, client-2" in done.stderr and "Traceback" not in done.stderr
