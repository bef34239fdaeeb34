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

import functools
import importlib.util
import os
import sys
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import requests
import requests.adapters

ENVIRONMENT_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

_trust_lock = threading.Lock()
_trusted: set[tuple[str, int]] = set()  # (CA file, id of the context or bundle path it went into)
LOCUST_SHARED_CONTEXT_NAME = "_preloaded_ssl_context"


def preloaded_context():
    """The shared module-level context of requests 2.32.0-2.32.4, or None elsewhere."""
    return getattr(requests.adapters, "_preloaded_ssl_context", None)


def uses_preloaded_context() -> bool:
    """Does `verify=True` on this requests go through one shared, preloaded SSLContext?"""
    return preloaded_context() is not None


def locust_version() -> str | None:
    """The installed Locust's version (package metadata, no import), or None."""
    try:
        return version("locust")
    except PackageNotFoundError:
        return None


def locust_preloaded_context():
    """Locust's shared `verify=True` context (locust.clients, 2.43.0+) when Locust is
    loaded in this process; None when it is not loaded or has no such context."""
    return getattr(sys.modules.get("locust.clients"), LOCUST_SHARED_CONTEXT_NAME, None)


def locust_uses_preloaded_context() -> bool:
    """Does the installed Locust's HttpSession put one shared context into every
    `verify=True` pool? Asked of the live module, else of its installed source."""
    clients = sys.modules.get("locust.clients")
    if clients is not None:
        return hasattr(clients, LOCUST_SHARED_CONTEXT_NAME)
    return _installed_locust_shares_context()


@functools.cache
def _installed_locust_shares_context() -> bool:
    spec = importlib.util.find_spec("locust")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        return False
    source = Path(next(iter(spec.submodule_search_locations)), "clients.py")
    try:
        return f"{LOCUST_SHARED_CONTEXT_NAME} = " in source.read_text(errors="replace")
    except OSError:
        return False


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
    certifi's CAs and the private one. Locust's own shared context (2.43.0+), when
    Locust is loaded, gets the CA added once too. Idempotent per context.
    """
    with _trust_lock:
        for context in (preloaded_context(), locust_preloaded_context()):
            if context is not None and (ca_file, id(context)) not in _trusted:
                context.load_verify_locations(cafile=ca_file)
                _trusted.add((ca_file, id(context)))
        if preloaded_context() is None:
            requests.adapters.DEFAULT_CA_BUNDLE_PATH = ca_bundle_file


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


def describe_locust(trust_env: bool = False) -> str:
    """One line naming the code path Locust's `HttpSession.request(..., verify=True,
    cert=...)` takes: Locust's shared context, requests' own, or a context per connection."""
    installed = locust_version()
    if installed is None:
        return f"Locust not installed; {describe(trust_env)}"
    if locust_uses_preloaded_context():
        return (
            f"locust {installed} (2.43.0+) with requests {requests.__version__}: Locust's "
            "shared preloaded SSLContext (locust.clients), client cert loaded into it per "
            "connection"
        )
    return f"locust {installed}: no shared context of its own; {describe(trust_env)}"
