"""niquests' strategies, in the matrix's niquests env: niquests brings urllib3-future, which
replaces `import urllib3` for requests and Locust too, so it never enters the test venv.
Slow on the first run (the env is built once, in .ci-venvs/matrix-envs)."""

import json
import subprocess
from pathlib import Path

import pytest
import urllib3

from locust_mtls.matrix.envs import current_python
from locust_mtls.strategies import LIBRARIES

pytestmark = pytest.mark.slow

# Run in the env: each strategy's requests, one at a time, each presenting the identity
# listed (null: none) on a new connection; prints the fingerprint the server saw for each.
SEQUENCE = """
import json, sys, urllib3
from locust_mtls.engine.execution import execute_request
from locust_mtls.strategies import Trust, create
from locust_mtls.tls.identity import load_identities
config = json.loads(sys.argv[1])
identities = load_identities(config["identities"]).identities
trust = Trust(config["ca"], config["ca"])
seen = {}
for name, sequence in config["sequences"].items():
    client = create(name, trust).new_client()
    seen[name] = [
        execute_request(client, "GET", config["url"], identities[i] if i is not None else None,
                        "X-Client-Cert-Fingerprint", False).reported
        for i in sequence
    ]
print(json.dumps({"urllib3": urllib3.__version__, "seen": seen}))
"""


@pytest.fixture(scope="module")
def niquests_env(matrix_envs):
    interpreter, label = current_python()
    measured = LIBRARIES["niquests"].measured
    return matrix_envs.ensure(interpreter, label, "", client="niquests", client_version=measured)


def run_sequences(env, pki_server, generated_pki, sequences: dict) -> dict:
    config = {
        "url": pki_server.url,
        "ca": generated_pki.ca_file,
        "identities": str(Path(generated_pki.ca_file).parent / "identities.json"),
        "sequences": sequences,
    }
    done = subprocess.run(
        [env.python, "-c", SEQUENCE, json.dumps(config)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_shared_session_presents_the_last_cert_even_one_request_at_a_time(
    niquests_env, pki_server, generated_pki, identities
):
    """adapters.py cert_verify sets the pool's cert_file only `if cert:`: a request without
    cert= after one with it presents that one, on a new connection (requests#2863 again)."""
    sequences = {
        "niquests-shared-session": [0, None, 1, None],
        "niquests-session-per-identity": [0, None, 1, None],
    }
    found = run_sequences(niquests_env, pki_server, generated_pki, sequences)
    first, second = identities[0].fingerprint, identities[1].fingerprint
    assert found["seen"] == {
        "niquests-shared-session": [first, first, second, second],
        "niquests-session-per-identity": [first, "none", second, "none"],
    }
    # The env's `import urllib3` is urllib3-future; this venv's is not.
    assert found["urllib3"] == niquests_env.facts["urllib3-future"] != urllib3.__version__
