"""Exploration locustfile: FastHttpUser (geventhttpclient) with identity-cache's contexts.

Each user presents one identity through the frozen per-identity SSLContext that
identity-cache builds (shared by every user of that identity), and every response is
checked like MtlsUser does. Not a product feature yet: it measures how much faster the
geventhttpclient stack is than requests for the same safe contexts.
"""

import itertools
import os

from locust import FastHttpUser, task

import bench.counting  # noqa: F401  (registers the counters)
from locust_mtls.engine.checks import check_identity
from locust_mtls.strategies import Trust, create
from locust_mtls.tls.identity import load_identities

IDENTITY_SET = load_identities(os.environ["BENCH_IDENTITIES"])
STRATEGY = create("identity-cache", Trust(IDENTITY_SET.ca_file, IDENTITY_SET.ca_bundle_file))
HEADERS = {"Connection": "close"} if os.environ.get("BENCH_KEEPALIVE") == "off" else {}
_user_numbers = itertools.count()


class FastMtlsUser(FastHttpUser):
    def __init__(self, environment):
        identities = IDENTITY_SET.identities
        self.identity = identities[next(_user_numbers) % len(identities)]
        context = STRATEGY.context_for(self.identity)
        self.ssl_context_factory = lambda **_kwargs: context
        self.insecure = False
        super().__init__(environment)

    @task
    def get(self):
        with self.client.get("/", headers=HEADERS, catch_response=True) as response:
            reported = response.headers.get("X-Client-Cert-Fingerprint")
            failure = check_identity(self.identity, reported)
            if failure is not None:
                response.failure(failure)
