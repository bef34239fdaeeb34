"""Reliability: faults under Locust, a target restart, no orphans, 1,000 identities, security.

Locust runs in subprocesses only (importing it here would monkey-patch the test
process). bench/soak.py measures the 1,000-user run; this file keeps to what a test
can assert in a few seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from locust_mtls.engine import failures
from locust_mtls.engine.checks import DEFAULT_IDENTITY_HEADER as HEADER
from locust_mtls.engine.execution import execute_request
from locust_mtls.errors import ConfigError
from locust_mtls.processes import alive, descendants
from locust_mtls.server.echo import (
    EchoServer,
    InjectedFaults,
    start_echo_server_process,
)
from locust_mtls.strategies import Trust, create
from locust_mtls.tls.identity import load_identities
from locust_mtls.tls.pki import generate_pki

from conftest import strategies_here, wait_for

ROOT = Path(__file__).resolve().parent.parent
MTLS = str(ROOT / "locustfiles" / "mtls.py")
LOCUST = os.path.join(os.path.dirname(sys.executable), "locust")


class LoggedLocust(subprocess.Popen):
    """A Locust run whose output goes to files, not pipes: a pipe nobody reads until the
    end fills up on a busy machine (Locust's warnings) and stops the run mid-write."""

    def communicate(self, input=None, timeout=None):  # noqa: A002 - Popen's own signature
        self.wait(timeout)
        return self.out_path.read_text(), self.err_path.read_text()


def start_locust(*args, cwd, env=None, **popen) -> LoggedLocust:
    command = [LOCUST, "-f", MTLS, "--headless", "--only-summary", *args]
    out_path, err_path = Path(cwd) / "locust.out", Path(cwd) / "locust.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        locust = LoggedLocust(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, **popen
        )
    locust.out_path, locust.err_path = out_path, err_path
    return locust


def summary(path: Path) -> dict:
    """The strategy totals of a summary file (empty until the first write)."""
    try:
        document = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return next(iter(document["strategies"].values()), {})


def ids_file(generated_pki) -> str:
    return os.path.join(os.path.dirname(generated_pki.ca_file), "identities.json")


# -- failure classes, as Locust's failures table shows them (gevent, monkey-patched) --


def test_locust_names_each_fault_in_its_failures_table(generated_pki, tmp_path):
    faults = InjectedFaults(reject=["client-1"], drop_percent=20)
    certs = os.path.dirname(generated_pki.ca_file)
    with start_echo_server_process(certs, faults=faults) as server:
        locust = start_locust(
            *("-u", "4", "-r", "4", "-t", "2s", "--host", server.url),
            *("--mtls-identities", ids_file(generated_pki), "--mtls-keepalive", "off"),
            *("--mtls-summary-file", "summary.json"),
            cwd=tmp_path,
        )
        out, err = locust.communicate(timeout=60)
    assert "Traceback" not in err
    assert "TransportError('reset during handshake')" in err  # Locust logs its tables
    assert "TransportError('connection closed before response')" in err
    counted = summary(tmp_path / "summary.json")["failure_classes"]
    assert set(counted) == {failures.RESET_IN_HANDSHAKE, failures.CLOSED}


# -- survive: a target restart, and no orphans whatever ends Locust --


def test_the_run_survives_a_target_restart(generated_pki, tmp_path):
    certs = os.path.dirname(generated_pki.ca_file)
    server = start_echo_server_process(certs)
    port = urllib.parse.urlsplit(server.url).port
    summary_file = tmp_path / "summary.json"
    started = time.monotonic()
    # 12 s: under load Locust takes seconds to start, and the restart must not be the
    # last thing the run sees.
    locust = start_locust(
        *("-u", "8", "-r", "8", "-t", "12s", "--host", server.url),
        *("--mtls-identities", ids_file(generated_pki), "--mtls-timeout", "1,2"),
        *("--mtls-summary-file", "summary.json"),
        cwd=tmp_path,
    )
    try:
        wait_for(lambda: summary(summary_file).get("requests"), 20, "the first requests")
        before = summary(summary_file)
        time.sleep(1.5)
        at_stop = summary(summary_file)
        server.stop()
        time.sleep(1.0)
        server = start_echo_server_process(certs, port=port)  # same port, new process
        time.sleep(1.5)
        after_restart, restarted_at = summary(summary_file), time.time()
        out, err = locust.communicate(timeout=60)
    finally:
        locust.kill()
        server.stop()
    final = summary(summary_file)

    def successes(totals):
        return totals["requests"] - totals["failures"]

    assert time.monotonic() - started < 40  # no user hung past its timeouts
    assert "Traceback" not in err
    assert final["failure_classes"].get(failures.CONNECTION_REFUSED, 0) > 0
    assert "TransportError('connection refused')" in err
    rate_before = (successes(at_stop) - successes(before)) / 1.5
    seconds_after = final["last_request_at"] - restarted_at
    rate_after = (successes(final) - successes(after_restart)) / seconds_after
    print(f"{rate_before:.0f} ok/s before the stop, {rate_after:.0f} ok/s after the restart")
    print(f"failure classes {final['failure_classes']}")  # shown with pytest -s
    assert seconds_after > 0.5 and rate_after > 0.5 * rate_before > 0  # the rate came back


@pytest.mark.parametrize("strategy", strategies_here())
def test_no_strategy_hangs_on_a_silent_target(strategy, trust, identities):
    """A port that accepts TCP and never says a word: every strategy gives up after the
    connect timeout (which urllib3 also applies to the TLS handshake)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel completes accepts
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/"
        client = create(strategy, trust).new_client()
        started = time.perf_counter()
        outcome = execute_request(
            client, "GET", url, identities[0], identity_header=HEADER, timeout=(0.3, 0.3)
        )
        client.close()
    assert time.perf_counter() - started < 2.0
    assert outcome.failure_class == failures.HANDSHAKE_TIMEOUT


def test_fault_modes_are_checked_like_any_option(generated_pki):
    with pytest.raises(ConfigError, match="--drop-percent must be between 0 and 100"):
        InjectedFaults(drop_percent=150)
    with pytest.raises(ConfigError, match="--delay-ms must be 0 or more"):
        InjectedFaults(delay_ms=-1)
    with pytest.raises(ConfigError, match="--drop-percent must be between 0 and 100, not 101"):
        start_echo_server_process(
            os.path.dirname(generated_pki.ca_file), faults=FaultArgs(["--drop-percent", "101"])
        )


class FaultArgs:
    """Raw fault options, to reach the server's own check in its child process."""

    def __init__(self, args):
        self.args = args

    def to_args(self):
        return self.args


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM, signal.SIGSEGV])
def test_no_process_outlives_locust(tmp_path, signal_number):
    """Embedded echo server and native-thread engine both end with Locust, even when
    Locust itself dies by a segfault and cleans up nothing."""
    locust = start_locust(
        *("-u", "4", "-r", "4", "-t", "60s", "--mtls-concurrency", "native-threads"),
        *("--mtls-summary-file", "summary.json"),
        cwd=tmp_path,
    )
    try:
        wait_for(lambda: summary(tmp_path / "summary.json").get("requests"), 30, "requests")
        children = descendants(locust.pid)
        assert len(children) >= 2  # the echo server and the engine
        os.kill(locust.pid, signal_number)
        _, err = locust.communicate(timeout=30)
        wait_for(lambda: not any(alive(pid) for pid in children), 15, "children to exit")
        if signal_number != signal.SIGSEGV:
            # Users stop before the engine and the server do: an interrupted run shows
            # no made-up crashes or refused connections, and exits 0.
            assert summary(tmp_path / "summary.json")["failures"] == 0, err[-3000:]
            assert locust.returncode == 0
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()


# -- 1,000 identities: loaded in seconds, contexts only for identities in use --


class CountingTrust(Trust):
    """Trust that records every context it builds."""

    built: list = []

    def context(self, identity=None, **options):
        type(self).built.append(identity)
        return super().context(identity, **options)


def test_a_thousand_identities_load_fast_and_contexts_are_built_lazily(
    generated_pki, pki_server, tmp_path
):
    certs = tmp_path / "certs"
    shutil.copytree(os.path.dirname(generated_pki.ca_file), certs)
    generate_pki(str(certs), clients=1000)  # 996 more from the same CA
    started = time.perf_counter()
    identity_set = load_identities(str(certs / "identities.json"))
    load_seconds = time.perf_counter() - started
    assert len(identity_set.identities) == 1000
    assert load_seconds < 5.0
    CountingTrust.built = []
    strategy = create("identity-cache", CountingTrust(str(certs / "ca.pem"), "unused"))
    assert CountingTrust.built == []  # nothing built up front
    client = strategy.new_client()
    used = identity_set.identities[500]
    outcomes = [
        execute_request(client, "GET", pki_server.url, used, identity_header=HEADER)
        for _ in range(3)
    ]
    client.close()
    assert [o.reported for o in outcomes] == [used.fingerprint] * 3
    assert CountingTrust.built == [used]  # once, for the identity in use


# -- security --


def test_keys_are_private_files(generated_pki, tmp_path):
    from locust_mtls.tls.identity import load_identity

    directory = os.path.dirname(generated_pki.ca_file)
    keys = [p for p in Path(directory).iterdir() if p.suffix == ".key"]
    assert keys and all(p.stat().st_mode & 0o777 == 0o600 for p in keys)
    # An encrypted key is never written decrypted: it stays encrypted, in memory
    # (test_key_material.py proves nothing is left on disk after SIGKILL).
    encrypted = encrypt_key(generated_pki.identities[0].key_file, tmp_path, "pw")
    identity = load_identity("enc", generated_pki.identities[0].cert_file, encrypted, "pw")
    assert os.readlink(identity.key_file).startswith("/memfd:")


def encrypt_key(key_file: str, directory: Path, password: str | bytes) -> str:
    from cryptography.hazmat.primitives import serialization

    with open(key_file, "rb") as file:
        key = serialization.load_pem_private_key(file.read(), None)
    path = directory / "encrypted.key"
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(os.fsencode(password)),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return str(path)


def test_keys_and_passwords_never_reach_logs_or_reports(generated_pki, tmp_path):
    password = "Tr0ub4dor-and-3"
    identity = generated_pki.identities[0]
    encrypted = encrypt_key(identity.key_file, tmp_path, password)
    with start_echo_server_process(os.path.dirname(generated_pki.ca_file)) as server:
        locust = start_locust(
            *("-u", "2", "-r", "2", "-t", "2s", "--host", server.url, "--loglevel", "DEBUG"),
            *("--mtls-cert", identity.cert_file, "--mtls-key", encrypted),
            *("--mtls-key-password", password, "--mtls-ca", generated_pki.ca_file),
            *("--mtls-summary-file", "summary.json", "--logfile", "locust.log"),
            *("--html", "report.html", "--csv", "stats", "--json-file", "stats"),
            cwd=tmp_path,
        )
        out, err = locust.communicate(timeout=60)
    assert "TransportError" not in out and locust.returncode == 0, err[-2000:]
    with open(identity.key_file) as file:
        key_lines = [line for line in file.read().splitlines() if "-----" not in line]
    with open(encrypted) as file:
        key_lines += [line for line in file.read().splitlines() if "-----" not in line]
    outputs = {"stdout": out, "stderr": err}
    for path in tmp_path.iterdir():
        if path.is_file() and path.name != "encrypted.key":
            outputs[path.name] = path.read_text(errors="replace")
    assert {"summary.json", "locust.log", "report.html", "stats_stats.csv"} <= set(outputs)
    for name, text in outputs.items():
        assert password not in text, name
        assert "PRIVATE KEY" not in text, name
        assert not any(line in text for line in key_lines), name


def test_the_echo_server_binds_to_loopback_unless_told(generated_pki):
    files = (generated_pki.server_cert, generated_pki.server_key, generated_pki.ca_file)
    with pytest.raises(ConfigError, match="not a loopback address; add --bind"):
        EchoServer(*files, host="0.0.0.0")
    done = subprocess.run(
        [sys.executable, "-m", "locust_mtls.server.echo", "--host", "0.0.0.0", "--port", "0"]
        + ["--cert", files[0], "--key", files[1], "--ca", files[2]],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith("is not a loopback address; add --bind to serve on it")
    assert EchoServer(*files).host == "127.0.0.1"


# Ways to turn verification off, or to send no certificate although one was configured.
UNSAFE_PATTERNS = [
    r"verify\s*=\s*False",
    r"CERT_NONE",
    r"check_hostname\s*=\s*False",
    r"_create_unverified_context",
    r"assert_hostname\s*=\s*False",
    r"cert_reqs\s*=\s*['\"]?(?:ssl\.)?CERT_NONE",
]


def test_no_code_path_turns_verification_off():
    offenders = []
    for path in sorted((ROOT / "locust_mtls").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(re.search(pattern, line) for pattern in UNSAFE_PATTERNS):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize("strategy", strategies_here())
def test_every_strategy_refuses_an_untrusted_server(
    strategy, trust, identities, generated_pki, server_identities
):
    cert, key = server_identities.untrusted
    with EchoServer(cert, key, generated_pki.ca_file) as server:
        client = create(strategy, trust).new_client()
        outcomes = [
            execute_request(
                client,
                "GET",
                server.url,
                identity,
                identity_header=HEADER,
                timeout=(2, 2),
            )
            for identity in (identities[0], None)
        ]
        client.close()
        assert server.stats.requests == 0
    assert [o.failure_class for o in outcomes] == [failures.SERVER_NOT_TRUSTED] * 2
