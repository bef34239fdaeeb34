"""Baseline for bench/api_scenario.py: locustfiles/api.py's scenario on plain Locust
HttpUser, the way users write it today (`cert=` and `verify=` on every request).

Deliberately does not import locust_mtls. Identities round-robin from
$BENCH_IDENTITIES; BENCH_KEEPALIVE=off asks for `Connection: close` on every request.
Counters go to $BENCH_SUMMARY at exit (bench/counting.py).
"""

import itertools

from locust import HttpUser, between, task

import bench.counting  # noqa: F401  (registers the counters)
from bench.plain_users import CA_FILE, CERTS, HEADERS  # the same identities and headers

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
