"""Many identities (slow): 20,000 by default (LOCUST_MTLS_MANY_IDENTITIES=100000 for the
full fleet), generated once and kept in ~/.cache/locust-mtls/, then 200 users of
identity-cache, each request the fleet's next identity, against the echo server (a child
process serving that PKI's certificate) with a context cache of 1,000.

`locust-mtls certs --clients 100000` took 2 min 38 s on 2 busy cores (thousands are
issued in worker processes, each identity with its own key pair), so CI generates 20,000
(under a minute) on its first run and reuses them.
"""

import json
import os
from pathlib import Path

import pytest

from locust_mtls.server.process import start_echo_server_process
from locust_mtls.tls.pki import generate_pki

from conftest import row_of, run_locust

pytestmark = pytest.mark.slow

CLIENTS = int(os.environ.get("LOCUST_MTLS_MANY_IDENTITIES", "20000"))
CACHE = Path.home() / ".cache" / "locust-mtls" / f"clients-{CLIENTS}"
CONTEXTS_KEPT = 1000
# Round-robin gives each user one identity (200 users: 200 contexts); a device fleet
# behind fewer users sends each request as the next identity of the whole set.
FLEET = """
import itertools, os
from locust import constant, task
from locust_mtls import MtlsHttpUser

CLIENTS = int(os.environ["FLEET_CLIENTS"])
NEXT = itertools.count()

class FleetUser(MtlsHttpUser):
    strategy = "identity-cache"
    wait_time = constant(0)

    @task
    def next_device(self):
        self.client.get("/", identity=f"client-{next(NEXT) % CLIENTS + 1}")
"""


@pytest.fixture(scope="module")
def many_identities() -> Path:
    """identities.json of CLIENTS identities, generated on first use only."""
    index = CACHE / "identities.json"
    if not index.exists():
        generate_pki(str(CACHE), CLIENTS)
    return index


def test_200_users_over_many_identities_keep_the_context_cache_bounded(tmp_path, many_identities):
    (tmp_path / "fleet.py").write_text(FLEET)
    # The embedded server would serve --mtls-certs-dir's certificate: serve this PKI's.
    server = start_echo_server_process(str(many_identities.parent))
    try:
        done = run_locust(
            "-f", "fleet.py", "--host", server.url, "--mtls-identities", str(many_identities),
            "--mtls-context-cache", str(CONTEXTS_KEPT), "--mtls-keepalive", "off",
            "--mtls-summary-file", "s.json", env={"FLEET_CLIENTS": str(CLIENTS)},
            cwd=tmp_path, users=200, run_time="25s", timeout=900,
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    row = row_of(json.loads((tmp_path / "s.json").read_text()), "identity-cache")
    cache = row["context_cache"]
    assert cache["limit"] == CONTEXTS_KEPT
    assert 0 < cache["size"] <= CONTEXTS_KEPT
    assert cache["evictions"] > 0  # more identities were used than contexts are kept
    assert len(row["identities_in_use"]) > CONTEXTS_KEPT
    assert row["wrong_identity"] == row["bleed"] == row["crashes"] == 0
    assert "context cache" in done.stdout  # the console line under the row
