from locust import task

from locust_mtls import MtlsHttpxUser


class OrdersUser(MtlsHttpxUser):
    # self.client takes httpx's arguments, plus name=, catch_response= and identity=.
    @task
    def create_and_read(self):
        created = self.client.post("/orders", json={"item": "book", "quantity": 2})
        order_id = created.json()["id"]
        with self.client.get(f"/orders/{order_id}", name="/orders/[id]", catch_response=True) as r:
            if r.json().get("item") != "book":
                r.failure(f"order {order_id} came back as {r.text}")

    @task
    def health(self):
        self.client.get("/health", identity=None)  # this request without a certificate
