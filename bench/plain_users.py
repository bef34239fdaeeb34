"""Baseline locustfile: what users write today without this plugin. Imports nothing of ours.

    locust -f bench/plain_users.py PlainHttpUser       # self.client.get(url, cert=, verify=ca)
    locust -f bench/plain_users.py PlainFastHttpUser   # FastHttpUser + one SSLContext per cert

Users take identities round-robin from the identities.json in $BENCH_IDENTITIES; with
BENCH_KEEPALIVE=off every request asks for `Connection: close` (a new TLS connection per
request, like --mtls-keepalive off). Counters go to $BENCH_SUMMARY (bench/counting.py).
"""

import itertools
import json
import os
import ssl

from locust import FastHttpUser, HttpUser, task

import bench.counting  # noqa: F401  (registers the counters)

with open(os.environ["BENCH_IDENTITIES"]) as _file:
    _INDEX = json.load(_file)
_BASE = os.path.dirname(os.path.abspath(os.environ["BENCH_IDENTITIES"]))
CA_FILE = os.path.join(_BASE, _INDEX["ca"])
CERTS = [
    (os.path.join(_BASE, entry["cert"]), os.path.join(_BASE, entry["key"]))
    for entry in _INDEX["identities"]
]
HEADERS = {"Connection": "close"} if os.environ.get("BENCH_KEEPALIVE") == "off" else None
_user_numbers = itertools.count()


def _cert_context(cert: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=CA_FILE)  # chain and host name checked
    context.load_cert_chain(*cert)
    return context


class PlainHttpUser(HttpUser):
    def on_start(self):
        self.cert = CERTS[next(_user_numbers) % len(CERTS)]

    @task
    def get(self):
        self.client.get("/", cert=self.cert, verify=CA_FILE, headers=HEADERS)


class PlainFastHttpUser(FastHttpUser):
    insecure = False

    def __init__(self, environment):
        context = _cert_context(CERTS[next(_user_numbers) % len(CERTS)])
        self.ssl_context_factory = lambda **_kwargs: context
        super().__init__(environment)

    @task
    def get(self):
        self.client.get("/", headers=HEADERS)
