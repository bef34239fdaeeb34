"""A private PKI for load tests, made with trustme: `locust-mtls certs`.

Writes into one directory: ca.pem + ca.key (the private CA), ca-bundle.pem (certifi's
bundle followed by the CA, for requests' default verify path), server.pem + server.key
(localhost, 127.0.0.1, ::1), client-N.pem + client-N.key, and identities.json last, so a
directory without identities.json is never taken as complete. Keys are created 0600.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import json
import os
from collections.abc import Callable

import certifi
import trustme
from cryptography import x509

from locust_mtls.errors import ConfigError
from locust_mtls.tls.identity import (
    REGENERATE,
    Identity,
    IdentitySet,
    fingerprint_of,
    load_identities,
    load_identity,
)
from locust_mtls.tls.pki_bulk import issue_identities

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
CA_BUNDLE = "ca-bundle.pem"
SERVER_CERT = "server.pem"
SERVER_KEY = "server.key"
INDEX = "identities.json"
SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
ORGANIZATION = "locust-mtls"


def generate_pki(
    directory: str = "certs",
    clients: int = 4,
    force: bool = False,
    echo: Callable[[str], None] = lambda message: None,
    option: str = "--dir",
    server_names: tuple[str, ...] = (),
) -> IdentitySet:
    """Create (or keep) a CA, a server certificate and `clients` client identities.

    An existing, valid directory with at least `clients` identities is kept as it is;
    with more clients requested, the extra ones are issued by the existing CA (ca.key).
    `force=True` always starts over with a new CA and exactly `clients` identities.
    `echo` receives one-line notes on what happened (the CLI prints them). Errors name
    the directory as `option` (Locust's start-up passes "--mtls-certs-dir").
    `server_names`: names and addresses the server certificate holds besides localhost,
    127.0.0.1 and ::1 (a target host of its own: a gateway's name, a test host's address).
    """
    try:
        return _generate(directory, clients, force, echo, tuple(server_names))
    except ConfigError as error:
        if option == "--dir":
            raise
        raise ConfigError(str(error).replace("--dir", option)) from None


def _generate(
    directory: str, clients: int, force: bool, echo: Callable[[str], None], server_names=()
) -> IdentitySet:
    if clients < 1:
        raise ConfigError(f"--clients must be at least 1 (got {clients}); pass --clients 4")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ConfigError(f"--dir {directory} is a file, not a directory; choose another --dir")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"--dir {directory} cannot be created ({error.strerror})") from None
    with _exclusive(directory):
        identity_set = _generate_locked(directory, clients, force, echo, server_names)
    missing = set(server_names) - set(server_names_of(identity_set.server_cert))
    if missing:
        raise ConfigError(
            f"{identity_set.server_cert} does not name {', '.join(sorted(missing))}; "
            "pass --force to issue a new PKI with them"
        )
    return identity_set


@contextlib.contextmanager
def _exclusive(directory: str):
    """Hold an flock on the directory: two processes starting at once (e.g. Locust
    --processes) would otherwise mix files from two different CAs."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _generate_locked(
    directory: str, clients: int, force: bool, echo: Callable[[str], None], server_names=()
) -> IdentitySet:
    existing = None if force else _load_own(directory, echo)
    if existing is None:
        return _generate_all(directory, clients, echo, server_names)
    identity_set, ca = existing
    have = len(identity_set.identities)
    if have >= clients:
        # Keep extra clients: another caller (e.g. Locust start-up with the default count)
        # must never delete identities someone generated on purpose.
        echo(f"kept {directory}/: it already holds a valid CA, server and {have} clients")
        return identity_set
    if ca is None:
        echo(f"{directory}/{CA_KEY} is missing, so new clients cannot be issued: regenerating all")
        return _generate_all(directory, clients, echo, server_names)
    echo(f"kept {directory}/; issuing client-{have + 1}..client-{clients} from the same CA")
    names = [f"client-{i}" for i in range(have + 1, clients + 1)]
    new = issue_identities(issue_identity, ca, [(name, name) for name in names], directory)
    return _write_index(directory, identity_set.identities + tuple(new))


def issue_identity(
    ca: trustme.CA,
    name: str,
    directory: str,
    *,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    file_stem: str | None = None,
) -> Identity:
    """Issue `name`.pem + `name`.key (0600) signed by `ca` into `directory`.

    For tests: pass a fresh trustme.CA() for an untrusted identity, or not_before /
    not_after for a not-yet-valid or expired one (trustme >= 1.2 for not_before).
    """
    validity = {"not_before": not_before, "not_after": not_after}
    leaf = ca.issue_cert(
        f"{name}@locust-mtls.test",
        common_name=name,
        organization_name=ORGANIZATION,
        organization_unit_name="clients",
        **{field: value for field, value in validity.items() if value is not None},
    )
    cert_path = os.path.join(directory, f"{file_stem or name}.pem")
    key_path = os.path.join(directory, f"{file_stem or name}.key")
    _write_file(cert_path, b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    _write_file(key_path, leaf.private_key_pem.bytes(), private=True)
    return load_identity(name, cert_path, key_path)


def rotate_pki(
    directory: str = "certs", echo: Callable[[str], None] = lambda m: None
) -> IdentitySet:
    """A new generation of every client identity: same names, same CA, new keys and
    certificates, written to new files (client-1.g2.pem, ...) so that a running test that
    rebuilds an old identity's context still finds the old files; identities.json is
    replaced last, atomically, so a watcher sees either generation, never a mix."""
    with _exclusive(directory):
        existing = _load_own(directory, echo)
        if existing is None or existing[1] is None:
            raise ConfigError(
                f"--rotate needs an existing {directory}/ with its ca.key; "
                "run 'locust-mtls certs' first"
            )
        identity_set, ca = existing
        generation = 1 + max(_generation(i.cert_file) for i in identity_set.identities)
        jobs = [(i.name, f"{i.name}.g{generation}") for i in identity_set.identities]
        new = issue_identities(issue_identity, ca, jobs, directory)
        echo(f"rotated {len(new)} client identities in {directory}/ (generation {generation})")
        return _write_index(directory, new)


def _generation(cert_file: str) -> int:
    """client-1.pem -> 1, client-1.g3.pem -> 3."""
    stem = os.path.basename(cert_file).removesuffix(".pem")
    _, _, suffix = stem.rpartition(".g")
    return int(suffix) if suffix.isdigit() and ".g" in stem else 1


def load_ca(directory: str = "certs") -> trustme.CA:
    """The private CA written by generate_pki, to issue more identities from it."""
    cert_path, key_path = os.path.join(directory, CA_CERT), os.path.join(directory, CA_KEY)
    ca_identity = load_identity("ca", cert_path, key_path)  # checks both files and the match
    with open(ca_identity.cert_file, "rb") as cert, open(ca_identity.key_file, "rb") as key:
        return trustme.CA.from_pem(cert.read(), key.read())


def server_names_of(cert_file: str) -> list[str]:
    """The DNS names and IP addresses a server certificate's leaf holds."""
    with open(cert_file, "rb") as file:
        leaf = x509.load_pem_x509_certificates(file.read())[0]
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [
        *names.get_values_for_type(x509.DNSName),
        *map(str, names.get_values_for_type(x509.IPAddress)),
    ]


def _generate_all(
    directory: str, clients: int, echo: Callable[[str], None], server_names=()
) -> IdentitySet:
    # Remove the index first: until it is rewritten, the directory counts as incomplete.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(directory, INDEX))
    ca = trustme.CA(organization_name=ORGANIZATION)
    ca_pem = ca.cert_pem.bytes()
    _write_file(os.path.join(directory, CA_CERT), ca_pem)
    _write_file(os.path.join(directory, CA_KEY), ca.private_key_pem.bytes(), private=True)
    with open(certifi.where(), "rb") as bundle:
        _write_file(os.path.join(directory, CA_BUNDLE), bundle.read().rstrip() + b"\n" + ca_pem)
    server = ca.issue_cert(
        *SERVER_NAMES,
        *server_names,
        common_name="localhost",
        organization_name=ORGANIZATION,
        organization_unit_name="server",
    )
    chain = b"".join(blob.bytes() for blob in server.cert_chain_pems)
    _write_file(os.path.join(directory, SERVER_CERT), chain)
    _write_file(os.path.join(directory, SERVER_KEY), server.private_key_pem.bytes(), private=True)
    names = [f"client-{i}" for i in range(1, clients + 1)]
    identities = issue_identities(issue_identity, ca, [(name, name) for name in names], directory)
    echo(f"wrote {directory}/: new CA, server certificate and {clients} client identities")
    return _write_index(directory, identities)


def _write_index(directory: str, identities: tuple[Identity, ...] | list[Identity]) -> IdentitySet:
    document = {
        "ca": CA_CERT,
        "ca_bundle": CA_BUNDLE,
        "server": {"cert": SERVER_CERT, "key": SERVER_KEY},
        "identities": [
            {
                "name": identity.name,
                "cert": os.path.basename(identity.cert_file),
                "key": os.path.basename(identity.key_file),
                "fingerprint": identity.fingerprint,
                "subject": identity.subject,
            }
            for identity in identities
        ],
    }
    index = os.path.join(directory, INDEX)
    _write_file(index, (json.dumps(document, indent=2) + "\n").encode())
    return load_identities(index)


def _load_own(
    directory: str, echo: Callable[[str], None]
) -> tuple[IdentitySet, trustme.CA | None] | None:
    """The existing set and its CA (None without ca.key), or None if absent or invalid."""
    index = os.path.join(directory, INDEX)
    if not os.path.exists(index):
        return None
    try:
        identity_set = load_identities(index)
        _check_own(identity_set, index)
    except ConfigError as error:
        echo(f"regenerating {directory}/ from scratch: {error}")
        return None
    try:
        ca = load_ca(directory)
    except ConfigError:
        ca = None
    return identity_set, ca


def _check_own(identity_set: IdentitySet, index: str) -> None:
    """Raise ConfigError unless the set is complete and signed by its own CA."""
    files = (identity_set.ca_file, identity_set.ca_bundle_file)
    if None in files or identity_set.server_cert is None or identity_set.server_key is None:
        raise ConfigError(f"{index} lacks ca, ca_bundle or server; {REGENERATE}")
    names = [identity.name for identity in identity_set.identities]
    if names != [f"client-{i}" for i in range(1, len(names) + 1)]:
        raise ConfigError(f"{index} was not written by 'locust-mtls certs'; {REGENERATE}")
    with open(identity_set.ca_file, "rb") as file:
        ca_pem = file.read()
    with open(identity_set.ca_bundle_file, "rb") as file:
        if ca_pem.strip() not in file.read():
            raise ConfigError(f"{identity_set.ca_bundle_file} lacks the CA; {REGENERATE}")
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    server = load_identity("server", identity_set.server_cert, identity_set.server_key)
    for identity in (server, *identity_set.identities):
        with open(identity.cert_file, "rb") as file:
            leaf = x509.load_pem_x509_certificates(file.read())[0]
        try:
            leaf.verify_directly_issued_by(ca_cert)
        except Exception:  # ValueError, TypeError or InvalidSignature: all mean "not ours"
            raise ConfigError(f"{identity.cert_file} is not signed by {CA_CERT}") from None


def _write_file(path: str, data: bytes, private: bool = False) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file.

    Keys are created 0600 by os.open itself, never readable by others even briefly.
    """
    temporary = f"{path}.tmp{os.getpid()}"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644
        )
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError as error:
        raise ConfigError(
            f"{path} cannot be written ({error.strerror}); choose another --dir"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `locust-mtls certs`."""
    parser.add_argument("--dir", default="certs", help="output directory (default: certs)")
    parser.add_argument("--clients", type=int, default=4, help="client identities (default: 4)")
    parser.add_argument("--force", action="store_true", help="start over with a new CA")
    parser.add_argument(
        "--server-name",
        action="append",
        default=[],
        metavar="NAME_OR_IP",
        help="also name this host or address in the server certificate (repeatable), e.g. "
        "a target host of its own",
    )
    parser.add_argument(
        "--rotate",
        action="store_true",
        help="issue a new generation of the same client names from the same CA",
    )


def run(args: argparse.Namespace) -> int:
    """`locust-mtls certs`: generate or keep the PKI and list its files and fingerprints."""
    if getattr(args, "rotate", False):
        identity_set = rotate_pki(args.dir, echo=print)
    else:
        identity_set = generate_pki(
            args.dir, args.clients, args.force, echo=print, server_names=args.server_name
        )

    def shown(path: str) -> str:
        return os.path.join(args.dir, os.path.basename(path))

    with open(identity_set.ca_file, "rb") as file:
        ca_fingerprint = fingerprint_of(file.read())
    print(f"  {shown(identity_set.ca_file)}  sha256:{ca_fingerprint}  private CA")
    print(f"  {os.path.join(args.dir, CA_KEY)}  CA key, kept to issue more clients")
    print(f"  {shown(identity_set.ca_bundle_file)}  certifi bundle + private CA")
    server = load_identity("server", identity_set.server_cert, identity_set.server_key)
    for identity in (server, *identity_set.identities):
        cert, key = (shown(path) for path in identity.requests_cert())
        print(f"  {cert} {key}  sha256:{identity.fingerprint}  {identity.subject}")
    print(f"  {os.path.join(args.dir, INDEX)}  lists {len(identity_set.identities)} clients")
    return 0
