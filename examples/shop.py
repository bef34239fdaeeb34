from locust import HttpUser, task
from locust_mtls import MtlsHttpUser


class ShopUser(MtlsHttpUser):
    def on_start(self):
        self.client.post("/login", json={"user": "alice"})

    @task
    def order(self):
        order_id = self.client.post("/orders", json={"item": "book"}).json()["id"]
        with self.client.get(
            f"/orders/{order_id}", name="/orders/[id]", catch_response=True
        ) as response:
            if response.json()["item"] != "book":
                response.failure("wrong order")

    @task
    def health(self):
        self.client.get("/health")
