"""Drives MtlsHttpUser / MtlsFastHttpUser in a Locust Environment, outside pytest's
process (importing locust monkey-patches everything): tests/test_http_user.py runs

    python tests/http_user_scenarios.py CONFIG_JSON

and reads one JSON document from stdout. CONFIG: {"host", "identities", "kind":
"http"|"fast"|"httpx"|"niquests", "cells": [[strategy, concurrency], ...]}. Every cell
runs one fixed scenario (no timing, no randomness) and reports what the server and
Locust saw.
"""

from __future__ import annotations

import hashlib
import json
import sys

from locust import events
from locust.argument_parser import parse_options
from locust.env import Environment

import locust_mtls.locust.plugin  # noqa: F401 - registers the --mtls-* options
from locust_mtls.engine.run import MtlsRun
from locust_mtls.locust.fast_user import MtlsFastHttpUser
from locust_mtls.locust.http_user import MtlsHttpUser
from locust_mtls.locust.httpx_user import MtlsHttpxUser


def niquests_user():
    from locust_mtls.locust.niquests_user import MtlsNiquestsUser  # only where installed

    return MtlsNiquestsUser


# The full-API users besides MtlsHttpUser: the same scenario, their own client.
FULL_API = {"fast": lambda: MtlsFastHttpUser, "httpx": lambda: MtlsHttpxUser}
FULL_API["niquests"] = niquests_user

ORDER = {"item": "book", "quantity": 2, "note": "naïve ☃"}


def environment(host: str, identities: str) -> tuple[Environment, list[dict]]:
    options = parse_options(["--host", host, "--mtls-identities", identities])
    env = Environment(events=events, host=host, parsed_options=options)
    events.init.fire(environment=env, runner=None, web_ui=None)
    reported: list[dict] = []
    env.events.request.add_listener(lambda **meta: reported.append(meta))
    return env, reported


def echo_of(response) -> dict:
    return response.json()


def http_scenario(user) -> dict:
    """The acceptance scenario on one MtlsHttpUser (its identity: client-1)."""
    client, facts = user.client, {}
    login = client.post("/login", json={"user": "alice"})
    facts["login_cookie"] = login.cookies.get("session")
    sent = client.post(
        "/things?colour=blue&size=l%20xl",
        json=ORDER,
        headers={"X-Request-Id": "r-1"},
        params={"page": "2"},
    )
    echo = echo_of(sent)
    facts["echo"] = {k: echo[k] for k in ("method", "path", "query", "body_sha256")}
    facts["sent_sha256"] = hashlib.sha256(sent.request.body).hexdigest()
    facts["cookie_back"] = echo["cookie_session"]
    facts["status_ok_elapsed"] = [sent.status_code, sent.ok, sent.elapsed.total_seconds() > 0]
    created = client.post("/orders", json=ORDER, name="/orders")
    with client.get(
        f"/orders/{created.json()['id']}", name="/orders/[id]", catch_response=True
    ) as r:
        facts["read_back"] = r.json() == {"id": created.json()["id"], **ORDER}
        r.failure("deliberate: the task rejected this answer")
    with client.get("/orders/999999999", catch_response=True) as r:
        facts["missing_status"] = r.status_code
        r.success()  # a 404 the task expects
    no_cert = client.get("/health", identity=None)
    facts["no_cert_seen"] = no_cert.headers["X-Client-Cert-Fingerprint"]
    facts["after_seen"] = echo_of(client.get("/after"))["fingerprint"]
    facts["other_seen"] = echo_of(client.get("/other", identity="client-2"))["fingerprint"]
    try:
        client.post("/stream", data=(chunk for chunk in [b"a", b"b"]))
        facts["generator_body"] = "sent"
    except Exception as error:  # noqa: BLE001 - reported to the test
        facts["generator_body"] = f"{type(error).__name__}: {error}"
    with user.rest("POST", "/rest", json={"a": 1}) as r:
        facts["rest_js_method"] = r.js["method"]
    client.identity = "client-3"
    facts["switched_seen"] = echo_of(client.get("/switched"))["fingerprint"]
    try:
        client.get("/unknown", identity="no-such-identity")
        facts["unknown_identity"] = "sent"
    except Exception as error:  # noqa: BLE001 - reported to the test
        facts["unknown_identity"] = f"{type(error).__name__}: {error}"
    return facts


def fast_scenario(user) -> dict:
    client, facts = user.client, {}
    client.post("/login", json={"user": "alice"})
    sent = client.post("/things?colour=blue", json=ORDER, headers={"X-Request-Id": "r-1"})
    echo = sent.json()
    facts["echo"] = {k: echo[k] for k in ("method", "path", "query", "body_sha256")}
    # The body as this client serialised json= (httpx: compact UTF-8; the others json.dumps).
    body = getattr(getattr(sent, "request", None), "content", None)
    body = body if isinstance(body, bytes) else json.dumps(ORDER).encode()
    facts["sent_sha256"] = hashlib.sha256(body).hexdigest()
    facts["cookie_back"] = echo["cookie_session"]
    with client.get("/health", catch_response=True) as r:
        r.failure("deliberate: the task rejected this answer")
    facts["no_cert_seen"] = client.get("/health", identity=None).headers[
        "X-Client-Cert-Fingerprint"
    ]
    facts["after_seen"] = client.get("/after").json()["fingerprint"]
    facts["other_seen"] = client.get("/other", identity="client-2").json()["fingerprint"]
    return facts


def run_cell(env, reported, kind, strategy, concurrency) -> dict:
    base = MtlsHttpUser if kind == "http" else FULL_API[kind]()
    attributes = {"identity": "client-1", "abstract": False, "host": env.host}
    if kind != "http":
        attributes["no_cert_fraction"] = 0.0
    if kind == "http":
        attributes.update(strategy=strategy, concurrency=concurrency)
    user_class = type(f"Cell{kind}", (base,), attributes)
    reported.clear()
    state = env.mtls
    state.run = MtlsRun(state.validated())  # each cell counts from zero
    user = user_class(env)
    facts = (http_scenario if kind == "http" else fast_scenario)(user)
    user.client.close()
    row = user.client.mtls_checks.settings.row
    stats = state.run.stats.rows[row].to_dict()
    facts["events"] = len(reported)
    facts["failed_events"] = sorted(
        f"{meta['name']}: {str(meta['exception']).split(':')[0]}"
        for meta in reported
        if meta["exception"]
    )
    facts["counters"] = {
        k: stats[k] for k in ("requests", "failures", "wrong_identity", "bleed", "handshakes")
    }
    facts["row"] = row
    facts["client_path"] = stats["client_path"]
    state.run.close()
    return facts


def main() -> None:
    config = json.loads(sys.argv[1])
    env, reported = environment(config["host"], config["identities"])
    results = {}
    for strategy, concurrency in config["cells"]:
        results[f"{strategy}/{concurrency}"] = run_cell(
            env, reported, config["kind"], strategy, concurrency
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
