"""A realistic API scenario on MtlsHttpUser: copy this to start your own.

    locust -f locustfiles/api.py                      # embedded mTLS echo server
    locust -f locustfiles/api.py --host https://api.example.internal:8443 \
        --mtls-identities my-identities.json --mtls-ca my-ca.pem

Each user logs in with its client certificate (round-robin over the identities file),
creates orders, reads them back and checks the JSON, and now and then calls the
health check without a certificate, as a load balancer would. Everything else is
Locust's HttpUser API: `self.client` is Locust's HttpSession.
"""

from locust import between, task

from locust_mtls import MtlsHttpUser


class ApiUser(MtlsHttpUser):
    strategy = "identity-cache"  # or --mtls-strategy (remove this line)
    wait_time = between(0, 0)  # as fast as it goes; use e.g. between(1, 3) for people

    def on_start(self) -> None:
        # The session cookie set here comes back on every later request.
        self.client.post("/login", json={"user": f"load-test-{self.client.identity.name}"})

    @task(3)
    def create_and_read_order(self) -> None:
        created = self.client.post("/orders", json={"item": "book", "quantity": 2})
        if created.status_code != 201:
            return  # counted as failed by Locust already
        order_id = created.json()["id"]
        with self.client.get(
            f"/orders/{order_id}", name="/orders/[id]", catch_response=True
        ) as response:
            if response.status_code == 200 and response.json().get("quantity") != 2:
                response.failure("order read back with the wrong quantity")

    @task(1)
    def health_without_certificate(self) -> None:
        self.client.get("/health", identity=None)
