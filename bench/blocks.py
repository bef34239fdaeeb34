"""The cost of the building blocks behind the numbers, from timeit (N single runs each).

Each block reports its minimum (what the machine can do; timeit's own advice) and its
median (what a busy, shared machine gave).

A new connection on requests' default path (2.31.0, 2.32.5+) pays create_urllib3_context
+ load_verify_locations(CA bundle) + load_cert_chain + a handshake; identity-cache pays
only the handshake. Also measured: a TLS 1.3 resumed handshake (session ticket), the
opt-in that would cut the handshake itself.
"""

from __future__ import annotations

import socket
import ssl
import statistics
import timeit
import urllib.parse

from urllib3.util.ssl_ import create_urllib3_context

from locust_mtls.tls.contexts import client_context
from locust_mtls.tls.identity import IdentitySet


def _median_ms(stmt, setup=lambda: None, repeat: int = 50) -> dict:
    times = timeit.repeat(stmt, setup, number=1, repeat=repeat)
    return {
        "min_ms": round(min(times) * 1000.0, 3),
        "median_ms": round(statistics.median(times) * 1000.0, 3),
    }


def _fresh_context_timer(action, repeat: int) -> dict:
    """Time `action(context)` on a fresh urllib3 context each run (setup not timed)."""
    holder = {}

    def setup():
        holder["context"] = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)

    return _median_ms(lambda: action(holder["context"]), setup, repeat)


def _connect(url: str, context: ssl.SSLContext, session=None) -> ssl.SSLSocket:
    parsed = urllib.parse.urlsplit(url)
    raw = socket.create_connection((parsed.hostname, parsed.port), timeout=5)
    return context.wrap_socket(raw, server_hostname=parsed.hostname, session=session)


def handshake_ms(url: str, context: ssl.SSLContext, repeat: int = 50) -> dict:
    """TCP connect + full TLS handshake + close, median ms."""
    return _median_ms(lambda: _connect(url, context).close(), repeat=repeat)


def resumed_handshake_ms(url: str, context: ssl.SSLContext, repeat: int = 50) -> dict:
    """TCP connect + handshake resuming a TLS session ticket; says whether it resumed."""
    first = _connect(url, context)
    host = urllib.parse.urlsplit(url).hostname
    first.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    while first.recv(65536):  # TLS 1.3 tickets arrive after the handshake
        pass
    session = first.session
    first.close()
    resumed = []

    def once():
        sock = _connect(url, context, session)
        resumed.append(sock.session_reused)
        sock.close()

    return {**_median_ms(once, repeat=repeat), "resumed_fraction": sum(resumed) / len(resumed)}


def measure(identity_set: IdentitySet, targets: dict[str, str], repeat: int = 50) -> dict:
    """Every building block's median ms; handshakes against each target URL."""
    identity = identity_set.identities[0]
    results = {
        "create_urllib3_context": _median_ms(
            lambda: create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED), repeat=repeat
        ),
        "load_verify_locations(CA bundle: certifi + private CA)": _fresh_context_timer(
            lambda c: c.load_verify_locations(cafile=identity_set.ca_bundle_file), repeat
        ),
        "load_verify_locations(private CA only)": _fresh_context_timer(
            lambda c: c.load_verify_locations(cafile=identity_set.ca_file), repeat
        ),
        "load_cert_chain(client cert + key)": _fresh_context_timer(
            lambda c: c.load_cert_chain(*identity.requests_cert()), repeat
        ),
        "tls.client_context(identity) (identity-cache, once per identity)": _median_ms(
            lambda: client_context(identity_set.ca_file, identity), repeat=repeat
        ),
    }
    context = client_context(identity_set.ca_file, identity)
    no_cert = client_context(identity_set.ca_file)
    for name, url in targets.items():
        results[f"full handshake with client cert ({name})"] = handshake_ms(url, context, repeat)
        results[f"full handshake without cert ({name})"] = handshake_ms(url, no_cert, repeat)
        resumed = resumed_handshake_ms(url, context, repeat)
        fraction = resumed.pop("resumed_fraction")
        results[f"resumed handshake, TLS 1.3 ticket ({name}; resumed {fraction:.0%})"] = resumed
    return results
