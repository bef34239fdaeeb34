"""What the installed requests does with `verify=True`, in one place.

requests 2.32.0-2.32.4 keep one module-level SSLContext
(`requests.adapters._preloaded_ssl_context`) for every `verify=True` request whose
adapter has no context of its own; with `cert=`, urllib3 loads the client chain into
that shared context at each new connection (psf/requests#6667, reverted in 2.32.5).
Other versions build a context per connection and re-read the CA bundle each time.

`REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` turn `verify=True` into a path when a session
trusts the environment, and a path bypasses the shared context: runs therefore use
`trust_env=False` unless asked, and `describe()` says which path was really taken.
"""

from __future__ import annotations

import os
import threading

import requests
import requests.adapters

ENVIRONMENT_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

_trust_lock = threading.Lock()
_trusted_ca_files: set[str] = set()


def preloaded_context():
    """The shared module-level context of requests 2.32.0-2.32.4, or None elsewhere."""
    return getattr(requests.adapters, "_preloaded_ssl_context", None)


def uses_preloaded_context() -> bool:
    """Does `verify=True` on this requests go through one shared, preloaded SSLContext?"""
    return preloaded_context() is not None


def environment_bundle() -> tuple[str, str] | None:
    """(variable, path) of the CA-bundle variable a trusting session would use, if set."""
    for variable in ENVIRONMENT_BUNDLE_VARIABLES:
        if os.environ.get(variable):
            return variable, os.environ[variable]
    return None


def trust_private_ca(ca_file: str, ca_bundle_file: str) -> None:
    """Make `verify=True` trust the private CA *on the path requests really takes*.

    On 2.32.0-2.32.4 the CA is added once to the preloaded shared context (before any
    connection uses it, so this one change is safe); elsewhere requests reads
    `DEFAULT_CA_BUNDLE_PATH` per connection, so it is pointed at a bundle holding
    certifi's CAs and the private one. Idempotent.
    """
    with _trust_lock:
        if ca_file in _trusted_ca_files:
            return
        context = preloaded_context()
        if context is not None:
            context.load_verify_locations(cafile=ca_file)
        else:
            requests.adapters.DEFAULT_CA_BUNDLE_PATH = ca_bundle_file
        _trusted_ca_files.add(ca_file)


def describe(trust_env: bool = False) -> str:
    """One line naming the code path `session.request(..., verify=True, cert=...)` takes."""
    version = f"requests {requests.__version__}"
    bundle = environment_bundle() if trust_env else None
    if bundle is not None:
        variable, path = bundle
        return (
            f"{version}: verify=True replaced by {variable}={path}; CA bundle re-read per "
            "connection (shared preloaded context bypassed)"
        )
    if uses_preloaded_context():
        return f"{version}: shared preloaded SSLContext, client cert loaded into it per connection"
    return f"{version}: new SSLContext per connection, CA bundle re-read each time"
