"""Baseline for bench/api_scenario.py: locustfiles/api.py's scenario on plain Locust
HttpUser, the way users write it today (`cert=` and `verify=` on every request).

Deliberately does not import locust_mtls. Identities round-robin from
$BENCH_IDENTITIES; BENCH_KEEPALIVE=off asks for `Connection: close` on every request.
Counters go to $BENCH_SUMMARY at exit (bench/counting.py).
"""

import itertools
import json
import os

from locust import HttpUser, between, task

import bench.counting  # noqa: F401  (registers the counters)

with open(os.environ["BENCH_IDENTITIES"]) as _file:
    _INDEX = json.load(_file)
_BASE = os.path.dirname(os.path.abspath(os.environ["BENCH_IDENTITIES"]))
CA_FILE = os.path.join(_BASE, _INDEX["ca"])
CERTS = [
    (os.path.join(_BASE, entry["cert"]), os.path.join(_BASE, entry["key"]))
    for entry in _INDEX["identities"]
]
HEADERS = {"Connection": "close"} if os.environ.get("BENCH_KEEPALIVE") == "off" else {}
_user_numbers = itertools.count()


class PlainApiUser(HttpUser):
    wait_time = between(0, 0)

    def on_start(self) -> None:
        self.cert = CERTS[next(_user_numbers) % len(CERTS)]
        self.client.post(
            "/login", json={"user": "load-test"}, cert=self.cert, verify=CA_FILE, headers=HEADERS
        )

    @task(3)
    def create_and_read_order(self) -> None:
        created = self.client.post(
            "/orders", json={"item": "book", "quantity": 2},
            cert=self.cert, verify=CA_FILE, headers=HEADERS,
        )  # fmt: skip
        if created.status_code != 201:
            return
        order_id = created.json()["id"]
        with self.client.get(
            f"/orders/{order_id}", name="/orders/[id]", catch_response=True,
            cert=self.cert, verify=CA_FILE, headers=HEADERS,
        ) as response:  # fmt: skip
            if response.status_code == 200 and response.json().get("quantity") != 2:
                response.failure("order read back with the wrong quantity")

    @task(1)
    def health_without_certificate(self) -> None:
        self.client.get("/health", verify=CA_FILE, headers=HEADERS)
