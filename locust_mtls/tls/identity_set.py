"""An identity set as facts two processes can compare without key material: the names and
certificate fingerprints it lists and the CA it trusts; and the part of it one of N
workers loads when identities are partitioned.

A master and its workers each read their own identities file (the files are each host's):
`fingerprint` digests what a file lists, so the master can prove every worker loaded the
same set before a run starts, and name the first difference when one did not.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from cryptography import x509

from locust_mtls.errors import ConfigError
from locust_mtls.tls.files import read_regular_file
from locust_mtls.tls.identity import fingerprint_of

SHOWN_FINGERPRINT = 16  # hex digits of each certificate sent to the master for a diff


@dataclass(frozen=True)
class SetFingerprint:
    """What an identity set lists (`name` -> leaf SHA-256 prefix) and its CA's digest."""

    listed: tuple[tuple[str, str], ...]
    ca: str

    @property
    def digest(self) -> str:
        lines = "".join(f"{name} {fingerprint}\n" for name, fingerprint in sorted(self.listed))
        return hashlib.sha256(f"{lines}ca {self.ca}\n".encode()).hexdigest()

    def to_dict(self) -> dict:
        return {"listed": [list(pair) for pair in self.listed], "ca": self.ca}

    @classmethod
    def from_dict(cls, data: dict) -> SetFingerprint:
        return cls(tuple((str(name), str(fp)) for name, fp in data["listed"]), str(data["ca"]))

    def summary(self) -> dict:
        """For the summary file and the tab: the digest, how many, the CA's digest."""
        return {"digest": self.digest[:16], "identities": len(self.listed), "ca": self.ca[:16]}


def set_fingerprint(identities: list[tuple[str, str]], ca_file: str | None) -> SetFingerprint:
    """The fingerprint of `identities` ((name, SHA-256 hex) pairs) and the CA file."""
    listed = tuple((name, fp[:SHOWN_FINGERPRINT]) for name, fp in identities)
    return SetFingerprint(listed, ca_digest(ca_file) if ca_file else "none")


def ca_digest(ca_file: str) -> str:
    """The SHA-256 of the sorted DER fingerprints of the certificates in `ca_file`: the same
    CA whatever its PEM text looks like (line lengths, order, comments)."""
    certificates = x509.load_pem_x509_certificates(read_regular_file(ca_file))
    fingerprints = sorted(hashlib.sha256(c.tbs_certificate_bytes).hexdigest() for c in certificates)
    return hashlib.sha256("\n".join(fingerprints).encode()).hexdigest()


def difference(theirs: SetFingerprint, mine: SetFingerprint) -> str:
    """How `theirs` differs from `mine`, in a few words: the CA, the counts, the first
    name missing, extra or with another certificate ("" when they are the same)."""
    if theirs.digest == mine.digest:
        return ""
    if theirs.ca != mine.ca:
        return f"another CA (digest {theirs.ca[:16]} vs {mine.ca[:16]})"
    their_map, my_map = dict(theirs.listed), dict(mine.listed)
    words = [f"{len(their_map):,} identities vs {len(my_map):,}"]
    missing = sorted(set(my_map) - set(their_map))
    extra = sorted(set(their_map) - set(my_map))
    both = set(my_map) & set(their_map)
    changed = sorted(name for name in both if my_map[name] != their_map[name])
    if missing:
        words.append(f"first missing: {missing[0]}")
    if extra:
        words.append(f"first not in the master's: {extra[0]}")
    if changed:
        words.append(f"first with another certificate: {changed[0]}")
    return "; ".join(words)


def listed_identities(path: str) -> list[tuple[str, str]]:
    """(name, SHA-256) of every identity identities.json lists, reading no key: the
    recorded fingerprint, else the certificate file's (a PKCS#12 entry must record it)."""
    try:
        document = json.loads(read_regular_file(path))
        entries = document["identities"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{path} is not an identities file; regenerate it") from None
    listed = []
    for entry in entries:
        name, recorded = entry.get("name"), entry.get("fingerprint")
        if recorded:
            listed.append((name, recorded.replace(":", "").lower()))
        elif entry.get("cert"):
            cert = read_regular_file(os.path.join(os.path.dirname(path), entry["cert"]))
            listed.append((name, fingerprint_of(cert)))
        else:
            raise ConfigError(f'{path}: identity {name!r} records no "fingerprint"; add it')
    return listed
