"""locust_mtls.tls.key_material: a decrypted key never reaches a disk, not even after
SIGKILL; the key password reaches no child process.

Locust runs in subprocesses only (importing it here would monkey-patch the test process).
"""

from __future__ import annotations

import base64
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from test_reliability import start_locust

from locust_mtls.processes import alive, descendants
from locust_mtls.server.process import start_echo_server_process
from locust_mtls.tls import key_material

from conftest import processes, wait_for

PASSWORD = "Corr3ct-Horse"
ENGINE = "locust_mtls.engine.thread_engine"


def protected_identities(pki_dir: str, directory: Path) -> tuple[Path, list[bytes]]:
    """certs/ with identities.json listing a PKCS#12 and an encrypted-PEM identity;
    returns its path and the secret bytes of both keys (DER, and PEM body lines)."""
    certs = directory / "certs"
    certs.mkdir()
    for name in ("ca.pem", "client-1.pem", "client-2.pem"):
        shutil.copy(os.path.join(pki_dir, name), certs)
    secrets = []
    entries = []
    for number, kind in ((1, "p12"), (2, "pem")):
        key_file = os.path.join(pki_dir, f"client-{number}.key")
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), None)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        body = base64.b64encode(der)
        secrets += [der, body[:64], der[-64:]]  # a PEM line, and raw DER
        protection = serialization.BestAvailableEncryption(PASSWORD.encode())
        if kind == "p12":
            cert = (certs / f"client-{number}.pem").read_bytes()
            data = pkcs12.serialize_key_and_certificates(
                b"one", key, x509.load_pem_x509_certificate(cert), None, protection
            )
            (certs / "one.p12").write_bytes(data)
            entries.append({"name": "one", "p12": "one.p12", "password": PASSWORD})
        else:
            encrypted = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection
            )
            (certs / "two.key").write_bytes(encrypted)
            entries.append(
                {"name": "two", "cert": "client-2.pem", "key": "two.key", "password": PASSWORD}
            )
    (certs / "mine.json").write_text(json.dumps({"ca": "ca.pem", "identities": entries}))
    return certs, secrets


def files_holding(roots: list[Path], secrets: list[bytes]) -> list[str]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                if any(secret in data for secret in secrets):
                    found.append(str(path))
    return found


def requests_done(path: Path) -> int:
    try:
        rows = json.loads(path.read_text())["strategies"].values()
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return sum(row["requests"] for row in rows)


def test_no_decrypted_key_is_left_on_disk_after_sigkill(generated_pki, tmp_path):
    """requests-default needs a key *file* (cert=), on native threads in the engine child
    too: after SIGKILL of Locust, no temp dir, no working dir holds the key's bytes."""
    certs, secrets = protected_identities(os.path.dirname(generated_pki.ca_file), tmp_path)
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = start_echo_server_process(os.path.dirname(generated_pki.ca_file))
    env = {**os.environ, "TMPDIR": str(temp)}
    command = ["-u", "4", "-r", "4", "-t", "60s", "--host", server.url]
    command += ["--mtls-identities", str(certs / "mine.json"), "--mtls-no-cert-fraction", "0"]
    command += ["--mtls-strategy", "requests-default", "--mtls-concurrency", "native-threads"]
    command += ["--mtls-summary-file", "summary.json"]
    locust = start_locust(*command, cwd=tmp_path, env=env)
    try:
        wait_for(lambda: requests_done(tmp_path / "summary.json") >= 8, 60, "requests")
        children = descendants(locust.pid)
        locust.send_signal(signal.SIGKILL)
        _, err = locust.communicate(timeout=30)
        wait_for(lambda: not any(alive(pid) for pid in children), 15, "children to exit")
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()
        server.stop()
    summary = json.loads((tmp_path / "summary.json").read_text())
    row = next(iter(summary["strategies"].values()))
    assert row["failures"] == 0, (row["failure_classes"], err[-2000:])
    roots = [temp, tmp_path, Path("/dev/shm")]
    assert files_holding(roots, secrets) == []
    assert not list(temp.glob("locust-mtls-keys-*"))


def test_orphaned_fallback_directories_are_removed(tmp_path):
    """Without memfd_create the keys go to a per-pid directory; a later run removes the
    ones whose owner died."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    orphan = tmp_path / f"{key_material.FALLBACK_PREFIX}{dead.stdout.strip()}-abc123"
    living = tmp_path / f"{key_material.FALLBACK_PREFIX}{os.getpid()}-def456"
    for directory in (orphan, living):
        directory.mkdir()
        (directory / "x.pem").write_text("key")
    assert key_material.remove_orphaned_dirs(str(tmp_path)) == [str(orphan)]
    assert living.exists() and not orphan.exists()


def environ_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    items = raw.decode(errors="replace").split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)


def test_a_process_scrubs_the_password_from_its_environment_block_and_is_undumpable():
    """In one child: /proc/self/environ loses the value, os.environ keeps it (options are
    parsed from it), a child exec'd without an environment gets none, no core dumps."""
    script = """if True:
        import ctypes, json, os, resource, subprocess, sys
        from locust_mtls.tls import key_material
        key_material.scrub_secret_environment()
        key_material.forbid_core_dumps()
        inherited = subprocess.run(["cat", "/proc/self/environ"], capture_output=True).stdout
        print(json.dumps({
            "block": open("/proc/self/environ", "rb").read().decode(errors="replace"),
            "os.environ": os.environ.get("LOCUST_MTLS_KEY_PASSWORD"),
            "exec'd child": inherited.decode(errors="replace"),
            "dumpable": ctypes.CDLL(None).prctl(3, 0, 0, 0, 0),  # PR_GET_DUMPABLE
            "RLIMIT_CORE": resource.getrlimit(resource.RLIMIT_CORE)[0],
        }))
    """
    env = {**os.environ, "LOCUST_MTLS_KEY_PASSWORD": PASSWORD, "AFTER": "kept"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    seen = json.loads(done.stdout)
    assert seen["os.environ"] == PASSWORD
    assert PASSWORD not in seen["block"] and PASSWORD not in seen["exec'd child"]
    assert "LOCUST_MTLS_KEY_PASSWORD=\0" in seen["block"] and "AFTER=kept" in seen["block"]
    assert (seen["dumpable"], seen["RLIMIT_CORE"]) == (0, 0)


def leaves_a_core(directory: Path) -> bool:
    """Whether a process that segfaults in `directory` (RLIMIT_CORE unlimited) leaves a core
    there: the control that proves this machine writes core files where we look."""
    script = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    subprocess.run([sys.executable, "-c", script], cwd=directory, preexec_fn=unlimited_cores)
    return any(directory.glob("core*"))


def unlimited_cores() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def test_no_process_of_a_run_shows_the_password_or_dumps_a_core(generated_pki, tmp_path):
    """`locust --processes 2` on native threads with a protected key: master, workers and
    their engine children (and the echo server) have no password in /proc/PID/environ, and
    a SIGSEGV of each, with RLIMIT_CORE unlimited, leaves no core file (#27)."""
    control = tmp_path / "control"
    control.mkdir()
    cores_are_written = leaves_a_core(control)
    certs, _ = protected_identities(os.path.dirname(generated_pki.ca_file), tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {**os.environ, "LOCUST_MTLS_KEY_PASSWORD": PASSWORD}
    command = ["-u", "2", "-r", "2", "-t", "60s", *processes()]
    command += ["--mtls-cert", str(certs / "client-2.pem"), "--mtls-key", str(certs / "two.key")]
    command += ["--mtls-ca", str(certs / "ca.pem"), "--mtls-concurrency", "native-threads"]
    command += ["--mtls-certs-dir", str(tmp_path / "embedded"), "--mtls-summary-file", "s.json"]
    locust = start_locust(*command, cwd=run_dir, env=env, preexec_fn=unlimited_cores)
    ours: set[int] = set()
    try:
        wait_for(lambda: requests_done(run_dir / "s.json") >= 4, 90, "requests")
        ours = {locust.pid, *descendants(locust.pid)}
        command_lines = {pid: psutil.Process(pid).cmdline() for pid in ours}
        engines = [pid for pid, line in command_lines.items() if ENGINE in line]
        workers = [
            pid for pid in ours - {locust.pid} if command_lines[pid] == command_lines[locust.pid]
        ]
        assert (len(engines), len(workers)) == (2, 2), command_lines
        environments = {pid: environ_of(pid) for pid in ours}
        for pid in [*engines, *workers, locust.pid]:  # children first
            os.kill(pid, signal.SIGSEGV)
            wait_for(lambda pid=pid: not alive(pid), 30, f"{command_lines[pid]} to end")
    finally:
        for pid in ours:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        locust.communicate(timeout=30)
    assert all(environments.values()), environments.keys()
    holding = {pid for pid, env in environments.items() if PASSWORD in "\0".join(env.values())}
    assert holding == set()
    assert sorted(path.name for path in run_dir.iterdir() if path.name.startswith("core")) == []
    if not cores_are_written:
        pytest.skip("this machine writes no core file into the working directory")
