"""Beyond one machine: Locust's master and two workers on test hosts of their own (network
namespaces, one address and name each) against a target host; every worker proves it
loaded the master's identity set before a run; identities partitioned between workers."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_distributed import kill_all, locust_process

from bench import netns
from bench.nginx import free_port
from locust_mtls.server.process import READY_PREFIX
from locust_mtls.tls.identity import part_of
from locust_mtls.tls.identity_set import SetFingerprint, difference, set_fingerprint
from locust_mtls.tls.pki import generate_pki

MTLS = str(Path(__file__).resolve().parent.parent / "locustfiles" / "mtls.py")
PYTHON = sys.executable
FETCH = (
    "import json, sys; from locust_mtls.server.process import fetch_stats; "
    "print(json.dumps(fetch_stats(sys.argv[1], sys.argv[2])))"
)


def test_the_slices_are_disjoint_contiguous_and_cover_everything():
    for count, parts in ((1000, 2), (7, 3), (5, 5), (100_000, 7)):
        slices = [part_of(count, index, parts) for index in range(parts)]
        assert [n for part in slices for n in part] == list(range(count))
        assert max(map(len, slices)) - min(map(len, slices)) <= 1


def test_the_difference_names_counts_and_the_first_name_that_differs():
    mine = set_fingerprint([(f"c-{n}", f"{n:064x}") for n in range(5)], None)
    fewer = set_fingerprint([(f"c-{n}", f"{n:064x}") for n in range(4)], None)
    changed = set_fingerprint(
        [("c-0", "f" * 64), *((f"c-{n}", f"{n:064x}") for n in (1, 2, 3, 4))], None
    )
    assert difference(mine, mine) == ""
    assert difference(fewer, mine) == "4 identities vs 5; first missing: c-4"
    assert difference(changed, mine) == "5 identities vs 5; first with another certificate: c-0"
    assert SetFingerprint.from_dict(json.loads(json.dumps(mine.to_dict()))) == mine


# --- test hosts: network namespaces -------------------------------------------------


@pytest.fixture(scope="module")
def network():
    reason = netns.missing_reason()
    if reason:
        pytest.skip(f"{reason} (the multi-host tests make network namespaces)")
    with netns.TestNetwork(["target", "master", "worker1", "worker2"]) as hosts:
        yield hosts


@pytest.fixture(scope="module")
def target(network, tmp_path_factory):
    """The echo server on the target host, its certificate naming target.mtls.test."""
    certs = tmp_path_factory.mktemp("cluster-certs")
    generate_pki(str(certs), clients=4, server_names=("target.mtls.test",))
    host = network["target"]
    server = host.start(
        [PYTHON, "-m", "locust_mtls.server.echo", "--certs", str(certs), "--host", host.address,
         "--port", "8443", "--bind"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout.readline().startswith(READY_PREFIX)
    return f"https://{host.fqdn}:8443", certs


def target_count(network, url: str, certs: Path) -> int:
    """Requests the target answered, asked from the master's host."""
    done = network["master"].run(
        [PYTHON, "-c", FETCH, url, str(certs / "ca.pem")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["requests"]


def run_cluster(network, target, tmp_path, *options: str) -> dict:
    """Master on its host, a worker on each worker host, against the target host: the
    master's summary document (the commands are docs/distributed.md's plain-hosts recipe)."""
    url, certs = target
    identities = str(certs / "identities.json")
    master, port = network["master"], "5557"
    master_run = master.start(
        [PYTHON, "-m", "locust", "-f", MTLS, "--master", "--headless", "--only-summary",
         "--master-bind-host", master.address, "--master-bind-port", port,
         "--expect-workers", "2", "--host", url, "--mtls-identities", identities,
         "-u", "8", "-r", "8", "-t", "4s", "--stop-timeout", "2",
         "--mtls-summary-file", "summary.json", *options],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "master.log", "w"),
    )  # fmt: skip
    for name in ("worker1", "worker2"):
        network[name].start(
            [PYTHON, "-m", "locust", "-f", MTLS, "--worker", "--master-host",
             master.fqdn, "--master-port", port, "--mtls-identities", identities],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"{name}.log", "w"),
        )  # fmt: skip
    assert master_run.wait(timeout=120) in (0, 1), (tmp_path / "master.log").read_text()[-2000:]
    return json.loads((tmp_path / "summary.json").read_text())


@pytest.mark.parametrize(
    "strategy, mode", [("identity-cache", "greenlet"), ("shared-context", "native-threads")]
)
def test_master_and_two_workers_on_their_own_hosts_count_exactly(
    network, target, tmp_path, strategy, mode
):
    url, certs = target
    before = target_count(network, url, certs)
    summary = run_cluster(
        network, target, tmp_path, "--mtls-strategy", strategy, "--mtls-concurrency", mode,
        "--mtls-keepalive", "off",
    )  # fmt: skip
    seen = target_count(network, url, certs) - before
    rows = summary["strategies"].values()
    counted = sum(row["requests"] + row["in_flight_at_stop"] for row in rows)
    assert len(summary["workers_reported"]) == 2 and summary["identity_set"]["workers_agree"] == 2
    (row,) = rows
    if strategy == "identity-cache":
        assert counted == seen > 0  # every request accounted for, across hosts
        assert row["wrong_identity"] == row["bleed"] == row["failures"] == 0
    else:  # one context loaded per connection by every thread: the bug, seen across hosts
        # (some of its requests fail in the handshake: counted, never seen by the target).
        # Bleed needs no race; a wrong identity needs two threads to interleave inside a
        # handshake, which test_strategies forces deterministically.
        assert counted >= seen > 0
        assert row["bleed"] > 0


# --- the identity set proved at connect, partitioning (on loopback) ------------------


def loopback_cluster(tmp_path, master_args: list[str], worker_args: list[list[str]]):
    port = str(free_port())
    master = locust_process(
        ["-f", MTLS, "--master", "--headless", "--only-summary", "--expect-workers", "2",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "-u", "40", "-r", "40",
         "-t", "3s", "--mtls-summary-file", "summary.json", *master_args],
        tmp_path, "master.log",
    )  # fmt: skip
    workers = [
        locust_process(
            ["-f", MTLS, "--worker", "--master-host", "127.0.0.1", "--master-port", port, *args],
            tmp_path,
            f"worker{n}.log",
        )  # fmt: skip
        for n, args in enumerate(worker_args, 1)
    ]
    return master, workers


@pytest.mark.parametrize("other", ["identities", "ca"])
def test_a_worker_with_another_identity_set_is_refused_before_the_run(tmp_path, other):
    generate_pki(str(tmp_path / "certs"), clients=4)
    if other == "ca":  # the same identities, trusted through another CA
        generate_pki(str(tmp_path / "theirs"), clients=4)
        worker_files = ["--mtls-ca", str(tmp_path / "theirs" / "ca.pem")]
    else:  # a stale copy of the identities file: one identity short
        shutil.copytree(tmp_path / "certs", tmp_path / "theirs")
        index = tmp_path / "theirs" / "identities.json"
        document = json.loads(index.read_text())
        document["identities"] = document["identities"][:-1]
        index.write_text(json.dumps(document))
        worker_files = ["--mtls-identities", str(index)]
    identities = ["--mtls-identities", str(tmp_path / "certs" / "identities.json")]
    master, workers = loopback_cluster(tmp_path, identities, [[], worker_files])
    try:
        assert master.wait(timeout=90) == 2
    finally:
        kill_all([master, *workers])
    log = (tmp_path / "master.log").read_text()
    (line,) = [line for line in log.splitlines() if line.startswith("locust-mtls: error: worker")]
    assert "loaded another identity set: " in line
    assert ("another CA" if other == "ca" else "3 identities vs 4; first missing: client-4") in line
    assert "Traceback" not in log
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert sum(row["requests"] for row in summary["strategies"].values()) == 0


def test_partitioned_workers_load_and_present_disjoint_halves(tmp_path):
    generate_pki(str(tmp_path / "certs"), clients=1000)
    master, workers = loopback_cluster(
        tmp_path, ["--mtls-partition", "on", "--mtls-no-cert-fraction", "0"], [[], []]
    )
    try:
        assert master.wait(timeout=120) == 0, (tmp_path / "master.log").read_text()[-2000:]
    finally:
        kill_all([master, *workers])
    summary = json.loads((tmp_path / "summary.json").read_text())
    per_worker = list(summary["workers"].values())
    assert [worker["identities_loaded"] for worker in per_worker] == [500, 500]
    first, second = (set(worker["identities_in_use"]) for worker in per_worker)
    assert first and second and not first & second
    halves = [{f"client-{n + 1}" for n in part_of(1000, i, 2)} for i in (0, 1)]
    assert sum(used <= half for used in (first, second) for half in halves) == 2
