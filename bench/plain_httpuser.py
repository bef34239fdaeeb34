"""Baseline locustfile: what users write today, `self.client.get(url, cert=..., verify=ca)`.

Deliberately does not import locust_mtls. Users take identities round-robin from the
identities.json in $BENCH_IDENTITIES; with BENCH_KEEPALIVE=off every request asks for
`Connection: close` (a new TLS connection per request, like --mtls-keepalive off).
Counters go to $BENCH_SUMMARY at exit (bench/counting.py).
"""

import itertools
import json
import os

from locust import HttpUser, task

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


class PlainHttpUser(HttpUser):
    def on_start(self):
        self.cert = CERTS[next(_user_numbers) % len(CERTS)]

    @task
    def get(self):
        self.client.get("/", cert=self.cert, verify=CA_FILE, headers=HEADERS)
