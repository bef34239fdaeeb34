"""locust_mtls.tls.key_material: a decrypted key never reaches a disk, not even after
SIGKILL; the key password reaches no child process.

Locust runs in subprocesses only (importing it here would monkey-patch the test process).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from test_reliability import start_locust, wait_for

from locust_mtls.processes import alive, descendants
from locust_mtls.server.process import start_echo_server_process
from locust_mtls.tls import key_material

PASSWORD = "Corr3ct-Horse"


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


def test_the_key_password_reaches_no_child(generated_pki, tmp_path):
    """LOCUST_MTLS_KEY_PASSWORD is for Locust: the engine child and the echo server get
    none of it (the engine gets a per-process password over its stdin)."""
    certs, _ = protected_identities(os.path.dirname(generated_pki.ca_file), tmp_path)
    env = {**os.environ, "LOCUST_MTLS_KEY_PASSWORD": PASSWORD}
    command = ["-u", "2", "-r", "2", "-t", "60s", "--mtls-certs-dir", str(tmp_path / "embedded")]
    command += ["--mtls-cert", str(certs / "client-2.pem"), "--mtls-key", str(certs / "two.key")]
    command += ["--mtls-ca", str(certs / "ca.pem"), "--mtls-concurrency", "native-threads"]
    command += ["--mtls-summary-file", "summary.json"]
    locust = start_locust(*command, cwd=tmp_path, env=env)
    try:
        wait_for(lambda: requests_done(tmp_path / "summary.json") >= 4, 60, "requests")
        children = descendants(locust.pid)
        assert len(children) >= 2  # the echo server and the engine
        environments = [environ_of(pid) for pid in children]
        assert environ_of(locust.pid).get("LOCUST_MTLS_KEY_PASSWORD") == PASSWORD
    finally:
        locust.kill()
        locust.communicate(timeout=30)
    assert all(environments)
    assert [e for e in environments if "LOCUST_MTLS_KEY_PASSWORD" in e] == []
    assert not any(PASSWORD in " ".join(e.values()) for e in environments)
