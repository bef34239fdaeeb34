"""What the installed requests (and Locust's HttpSession) do with `verify=True`, in one place.

requests 2.32.0-2.32.4 keep one module-level SSLContext
(`requests.adapters._preloaded_ssl_context`) for every `verify=True` request whose
adapter has no context of its own; with `cert=`, urllib3 loads the client chain into
that shared context at each new connection (psf/requests#6667, reverted in 2.32.5).
Other versions build a context per connection and re-read the CA bundle each time.

Locust 2.43.0+ re-implements the shared context (`locust.clients._preloaded_ssl_context`)
in its adapter's `build_connection_pool_key_attributes`, a hook requests calls from 2.32.3
on. On older requests the hook is never called: 2.32.0-2.32.2 put requests' own shared
context into the pool, and 2.31.0 none at all, while Locust's `cert_verify` hands urllib3
no CA file, so urllib3 builds a context per connection with OpenSSL's default CAs
(`load_default_certs`: the system's, or the file SSL_CERT_FILE names).

`REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` turn `verify=True` into a path when a session
trusts the environment, and a path bypasses the shared context: runs therefore use
`trust_env=False` unless asked (Locust's HttpUser sets it too), and `describe()` says
which path was really taken.
"""

from __future__ import annotations

import enum
import functools
import importlib.util
import os
import sys
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import requests
import requests.adapters

from locust_mtls.tls.ca_bundles import with_default_store

ENVIRONMENT_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
DEFAULT_STORE_VARIABLE = "SSL_CERT_FILE"  # OpenSSL reads it at every load_default_certs()

_trust_lock = threading.Lock()
_trusted: set[tuple[str, int]] = set()  # (CA file, id of the context it went into)
_in_default_store: set[str] = set()  # CA files put into SSL_CERT_FILE's bundle
LOCUST_SHARED_CONTEXT_NAME = "_preloaded_ssl_context"


class VerifyPath(enum.Enum):
    """Which SSLContext a `verify=True` request ends up on, and which CAs it reads."""

    LOCUST_SHARED = (
        "Locust's shared preloaded SSLContext (locust.clients), client cert loaded into it "
        "per connection"
    )
    REQUESTS_SHARED = (
        "requests' shared preloaded SSLContext, client cert loaded into it per connection"
    )
    CA_BUNDLE = "new SSLContext per connection, CA bundle re-read each time"
    DEFAULT_STORE = (
        "new SSLContext per connection, OpenSSL's default CAs (SSL_CERT_FILE) read each time"
    )
    ENVIRONMENT_BUNDLE = "CA bundle re-read per connection (shared preloaded context bypassed)"


def preloaded_context():
    """The shared module-level context of requests 2.32.0-2.32.4, or None elsewhere."""
    return getattr(requests.adapters, "_preloaded_ssl_context", None)


def uses_preloaded_context() -> bool:
    """Does `verify=True` on this requests go through one shared, preloaded SSLContext?"""
    return preloaded_context() is not None


def asks_adapter_for_pool_settings() -> bool:
    """Does this requests (2.32.3+) call `HTTPAdapter.build_connection_pool_key_attributes`,
    the hook through which Locust 2.43.0+ installs its shared context?"""
    return hasattr(requests.adapters.HTTPAdapter, "build_connection_pool_key_attributes")


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


def locust_has_shared_context() -> bool:
    """Does the installed Locust's HttpSession adapter (2.43.0+) carry one shared context
    for `verify=True`? Asked of the live module, else of its installed source. Whether
    requests ever hands it to a pool is `locust_session_path()`'s question."""
    clients = sys.modules.get("locust.clients")
    if clients is not None:
        return hasattr(clients, LOCUST_SHARED_CONTEXT_NAME)
    return _installed_locust_shares_context()


def locust_uses_preloaded_context() -> bool:
    """Does a `verify=True` request of Locust's HttpSession really go through Locust's one
    shared context (Locust 2.43.0+ on requests 2.32.3+)?"""
    return locust_session_path() is VerifyPath.LOCUST_SHARED


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


def requests_session_path(trust_env: bool = False) -> VerifyPath:
    """The path of `verify=True` on a session with requests' own HTTPAdapter."""
    if trust_env and environment_bundle() is not None:
        return VerifyPath.ENVIRONMENT_BUNDLE
    return VerifyPath.REQUESTS_SHARED if uses_preloaded_context() else VerifyPath.CA_BUNDLE


def locust_session_path(trust_env: bool = False) -> VerifyPath:
    """The path of `verify=True` on Locust's HttpSession (its LocustHttpAdapter, 2.43.0+;
    requests' own adapter before)."""
    path = requests_session_path(trust_env)
    if not locust_has_shared_context() or path is VerifyPath.ENVIRONMENT_BUNDLE:
        return path
    if asks_adapter_for_pool_settings():
        return VerifyPath.LOCUST_SHARED
    # Locust's hook is never called; its cert_verify gives urllib3 no CA file.
    return VerifyPath.REQUESTS_SHARED if uses_preloaded_context() else VerifyPath.DEFAULT_STORE


def trust_private_ca(path: VerifyPath, ca_file: str, ca_bundle_file: str) -> str:
    """Make `verify=True` trust the private CA on `path`, for this process; says where.

    A shared context gets the CA added once (before any connection uses it, so this one
    change is safe); requests' per-connection path reads `DEFAULT_CA_BUNDLE_PATH`, pointed
    at `ca_bundle_file` (certifi's CAs and the private one); the default-store path reads
    SSL_CERT_FILE, pointed at the system's CAs and the private one. A user's own
    REQUESTS_CA_BUNDLE is left alone. Idempotent.
    """
    with _trust_lock:
        if path is VerifyPath.LOCUST_SHARED:
            # Not loaded (no Locust in this process): the strategy's stand-in trusts the bundle.
            return _add_to(locust_preloaded_context(), ca_file, "added to Locust's shared context")
        if path is VerifyPath.REQUESTS_SHARED:
            return _add_to(preloaded_context(), ca_file, "added to requests' shared context")
        if path is VerifyPath.CA_BUNDLE:
            requests.adapters.DEFAULT_CA_BUNDLE_PATH = ca_bundle_file
            return f"requests' CA bundle is {ca_bundle_file} (certifi + the CA)"
        if path is VerifyPath.DEFAULT_STORE:
            if ca_file not in _in_default_store:  # the bundle keeps the file in force before
                os.environ[DEFAULT_STORE_VARIABLE] = with_default_store(ca_file)
                _in_default_store.add(ca_file)
            bundle = os.environ[DEFAULT_STORE_VARIABLE]
            return f"{DEFAULT_STORE_VARIABLE}={bundle} (the system's CAs + the CA)"
        variable, bundle = environment_bundle()
        return f"not added: {variable}={bundle} decides"


def _add_to(context, ca_file: str, where: str) -> str:
    if context is not None and (ca_file, id(context)) not in _trusted:
        context.load_verify_locations(cafile=ca_file)
        _trusted.add((ca_file, id(context)))
    return where


def describe(trust_env: bool = False) -> str:
    """One line naming the code path `session.request(..., verify=True, cert=...)` takes."""
    return _in_words(requests_session_path(trust_env), f"requests {requests.__version__}")


def describe_locust(trust_env: bool = False) -> str:
    """One line naming the code path Locust's `HttpSession.request(..., verify=True,
    cert=...)` takes: Locust's shared context, requests' own, or a context per connection."""
    installed = locust_version()
    if installed is None:
        return f"Locust not installed; {describe(trust_env)}"
    path = locust_session_path(trust_env)
    versions = f"locust {installed} with requests {requests.__version__}"
    if not locust_has_shared_context():
        return f"locust {installed}: no shared context of its own; {describe(trust_env)}"
    if path is not VerifyPath.LOCUST_SHARED and path is not VerifyPath.ENVIRONMENT_BUNDLE:
        # Locust 2.43.0+'s context needs requests 2.32.3+'s hook: name what happens instead.
        versions += " (Locust's shared context unused: requests < 2.32.3 never asks for it)"
    return _in_words(path, versions)


def _in_words(path: VerifyPath, versions: str) -> str:
    if path is VerifyPath.ENVIRONMENT_BUNDLE:
        variable, bundle = environment_bundle()
        return f"{versions}: verify=True replaced by {variable}={bundle}; {path.value}"
    return f"{versions}: {path.value}"
