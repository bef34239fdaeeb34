"""locust_mtls.tls.pki: files and modes, identities.json, idempotence, --force, the CLI."""

from __future__ import annotations

import datetime
import json
import os
import stat
import subprocess
import sys

import pytest
import trustme
from cryptography import x509

from locust_mtls import cli
from locust_mtls.errors import ConfigError
from locust_mtls.tls import pki
from locust_mtls.tls.identity import fingerprint_of, load_identities, load_identity


def mode_of(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def fingerprints(identity_set) -> list[str]:
    return [identity.fingerprint for identity in identity_set.identities]


def test_writes_every_file_with_private_keys_0600(tmp_path):
    directory = str(tmp_path / "certs")
    pki.generate_pki(directory, clients=3)
    keys = ["ca.key", "server.key", "client-1.key", "client-2.key", "client-3.key"]
    public = ["ca.pem", "ca-bundle.pem", "server.pem", "identities.json"]
    public += ["client-1.pem", "client-2.pem", "client-3.pem"]
    assert sorted(os.listdir(directory)) == sorted(keys + public)  # no temporary files left
    for name in keys:
        assert mode_of(os.path.join(directory, name)) == 0o600, name


def test_identities_json_round_trips_and_fingerprints_match_files(tmp_path):
    directory = str(tmp_path)
    generated = pki.generate_pki(directory, clients=2)
    assert load_identities(os.path.join(directory, "identities.json")) == generated
    with open(os.path.join(directory, "identities.json")) as file:
        document = json.load(file)
    assert document["ca"] == "ca.pem" and document["ca_bundle"] == "ca-bundle.pem"
    assert document["server"] == {"cert": "server.pem", "key": "server.key"}
    for entry, identity in zip(document["identities"], generated.identities, strict=True):
        assert entry["name"] == identity.name
        with open(os.path.join(directory, entry["cert"]), "rb") as file:
            assert fingerprint_of(file.read()) == entry["fingerprint"] == identity.fingerprint
        assert (
            entry["subject"] == identity.subject == f"CN={entry['name']},OU=clients,O=locust-mtls"
        )
    assert len(set(fingerprints(generated))) == 2


def test_server_cert_covers_loopback_names_and_chains_to_the_ca(tmp_path):
    generated = pki.generate_pki(str(tmp_path), clients=1)
    with open(generated.server_cert, "rb") as file:
        server = x509.load_pem_x509_certificate(file.read())
    with open(generated.ca_file, "rb") as file:
        ca_pem = file.read()
    server.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    with open(generated.ca_bundle_file, "rb") as file:
        bundle = file.read()
    assert bundle.endswith(ca_pem) and bundle.count(b"BEGIN CERTIFICATE") > 10  # certifi first


def test_rerun_keeps_files_and_force_replaces_them(tmp_path):
    directory = str(tmp_path)
    first = pki.generate_pki(directory, clients=2)
    with open(first.ca_file, "rb") as file:
        first_ca = file.read()
    assert pki.generate_pki(directory, clients=2) == first
    forced = pki.generate_pki(directory, clients=2, force=True)
    assert not set(fingerprints(forced)) & set(fingerprints(first))
    with open(forced.ca_file, "rb") as file:
        assert file.read() != first_ca


def test_more_clients_keeps_the_ca_and_existing_identities_fewer_keeps_all(tmp_path):
    directory = str(tmp_path)
    notes: list[str] = []
    first = pki.generate_pki(directory, clients=2)
    grown = pki.generate_pki(directory, clients=4, echo=notes.append)
    assert fingerprints(grown)[:2] == fingerprints(first)
    assert [identity.name for identity in grown.identities][2:] == ["client-3", "client-4"]
    assert "client-3..client-4 from the same CA" in notes[-1]
    assert pki.generate_pki(directory, clients=1) == grown  # never deletes identities


def test_growing_without_the_ca_key_regenerates_and_says_so(tmp_path):
    directory = str(tmp_path)
    first = pki.generate_pki(directory, clients=1)
    os.unlink(os.path.join(directory, "ca.key"))
    notes: list[str] = []
    grown = pki.generate_pki(directory, clients=2, echo=notes.append)
    assert "ca.key is missing" in notes[0] and "regenerating" in notes[0]
    assert fingerprints(first)[0] not in fingerprints(grown)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: os.unlink(os.path.join(d, "identities.json")), id="no-index"),
        pytest.param(lambda d: os.unlink(os.path.join(d, "client-2.key")), id="missing-key"),
        pytest.param(lambda d: os.unlink(os.path.join(d, "server.pem")), id="missing-server"),
        pytest.param(
            lambda d: os.replace(os.path.join(d, "client-1.key"), os.path.join(d, "client-2.key")),
            id="wrong-key",
        ),
        pytest.param(
            lambda d: trustme.CA().cert_pem.write_to_path(os.path.join(d, "ca.pem")),
            id="other-ca",
        ),
    ],
)
def test_half_written_or_damaged_directory_is_regenerated(tmp_path, damage):
    directory = str(tmp_path)
    first = pki.generate_pki(directory, clients=2)
    damage(directory)
    again = pki.generate_pki(directory, clients=2)
    assert not set(fingerprints(again)) & set(fingerprints(first))
    assert load_identities(os.path.join(directory, "identities.json")) == again


def test_issue_identity_writes_expired_not_yet_valid_and_untrusted(tmp_path):
    directory = str(tmp_path)
    pki.generate_pki(directory, clients=1)
    ca = pki.load_ca(directory)
    now = datetime.datetime.now(datetime.UTC)
    expired = pki.issue_identity(
        ca,
        "expired",
        directory,
        not_before=now - datetime.timedelta(days=2),
        not_after=now - datetime.timedelta(days=1),
    )
    future = pki.issue_identity(
        ca, "future", directory, not_before=now + datetime.timedelta(days=1)
    )
    stranger = pki.issue_identity(trustme.CA(), "stranger", directory)
    with open(os.path.join(directory, "ca.pem"), "rb") as file:
        our_ca = x509.load_pem_x509_certificate(file.read())
    for identity in (expired, future, stranger):
        assert mode_of(identity.key_file) == 0o600
        assert load_identity(identity.name, *identity.requests_cert()) == identity
    with open(expired.cert_file, "rb") as file:
        assert x509.load_pem_x509_certificate(file.read()).not_valid_after_utc < now
    with open(future.cert_file, "rb") as file:
        leaf = x509.load_pem_x509_certificate(file.read())
    assert leaf.not_valid_before_utc > now
    leaf.verify_directly_issued_by(our_ca)  # issued by the reloaded, trusted CA
    with open(stranger.cert_file, "rb") as file, pytest.raises(ValueError):
        x509.load_pem_x509_certificate(file.read()).verify_directly_issued_by(our_ca)


def test_cli_certs_prints_files_and_fingerprints_but_no_key(tmp_path, capsys, cli_certs_only):
    directory = str(tmp_path / "certs")
    assert cli.main(["certs", "--dir", directory, "--clients", "2"]) == 0
    out = capsys.readouterr().out
    identity_set = load_identities(os.path.join(directory, "identities.json"))
    for identity in identity_set.identities:
        assert identity.fingerprint in out and f"{directory}/{identity.name}.pem" in out
    assert "PRIVATE KEY" not in out and "wrote" in out
    assert cli.main(["certs", "--dir", directory, "--clients", "2"]) == 0
    assert "kept" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["zero-clients", "dir-is-a-file"])
def test_cli_certs_bad_input_is_one_line_exit_2(tmp_path, capsys, cli_certs_only, case):
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    argv = {
        "zero-clients": ["certs", "--dir", str(tmp_path / "c"), "--clients", "0"],
        "dir-is-a-file": ["certs", "--dir", str(a_file)],
    }[case]
    assert cli.main(argv) == ConfigError.exit_code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("locust-mtls certs: error: ")
    assert ("--clients" if case == "zero-clients" else str(a_file)) in lines[0]
    assert "Traceback" not in captured.err + captured.out


@pytest.fixture
def cli_certs_only(monkeypatch):
    """cli.main with only the certs sub-command, so this file does not depend on the
    import health of modules other people own (serve, matrix, report)."""
    monkeypatch.setattr(cli, "COMMANDS", {"certs": cli.COMMANDS["certs"]})


def test_processes_generating_at_once_agree_on_one_pki(tmp_path):
    directory = str(tmp_path / "certs")
    program = (
        "import json, sys; from locust_mtls.tls.pki import generate_pki;"
        f"print(json.dumps([i.fingerprint for i in generate_pki({directory!r}, 20).identities]))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    processes = [
        subprocess.Popen([sys.executable, "-c", program], cwd=root, stdout=subprocess.PIPE)
        for _ in range(4)
    ]
    outputs = [json.loads(process.communicate(timeout=60)[0]) for process in processes]
    assert all(process.returncode == 0 for process in processes)
    final = fingerprints(load_identities(os.path.join(directory, "identities.json")))
    assert all(output == final for output in outputs) and len(final) == 20


def test_thousands_of_clients_are_issued_in_worker_processes_each_with_its_own_key(
    tmp_path, monkeypatch
):
    """The parallel path (here from 3 clients instead of thousands) writes the same files
    as the serial one, in order: distinct keys, certificates and fingerprints, all from
    the one CA, and a rotation of them goes the same way."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from locust_mtls.tls import pki_bulk

    monkeypatch.setattr(pki_bulk, "PARALLEL_FROM", 3)
    monkeypatch.setattr(pki_bulk.os, "cpu_count", lambda: 2)
    directory = str(tmp_path / "certs")
    issued = pki.generate_pki(directory, clients=7)
    rotated = pki.rotate_pki(directory)
    ca = x509.load_pem_x509_certificate(open(issued.ca_file, "rb").read())
    for identity_set in (issued, rotated):
        assert [i.name for i in identity_set.identities] == [f"client-{n}" for n in range(1, 8)]
        keys = set()
        for identity in identity_set.identities:
            leaf = x509.load_pem_x509_certificate(open(identity.cert_file, "rb").read())
            leaf.verify_directly_issued_by(ca)
            public = leaf.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            keys.add(public)
            assert mode_of(identity.key_file) == 0o600
        assert len(keys) == 7 and len(set(fingerprints(identity_set))) == 7
    assert not set(fingerprints(issued)) & set(fingerprints(rotated))
    assert load_identities(os.path.join(directory, "identities.json")) == rotated
