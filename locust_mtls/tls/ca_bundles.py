"""CA bundles that add the private CA to a public set of CAs, for the paths on which
`verify=True` reads a file of CAs (see requests_path): certifi's (requests' own
`DEFAULT_CA_BUNDLE_PATH`) or OpenSSL's default store (`SSL_CERT_FILE`).

Written into a private (0700) cache directory, never next to the user's CA (which may
sit among system files), named after their content, atomically, so a reader never sees
half a bundle and runs with the same CAs share one file.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile

from locust_mtls.errors import ConfigError


def with_certifi(ca_file: str) -> str:
    """certifi's CAs + `ca_file`: what requests' own path reads at each new connection."""
    import certifi

    return _bundle(certifi.where(), ca_file, "with-certifi")


def with_default_store(ca_file: str) -> str:
    """OpenSSL's default CA file (the system's, or the SSL_CERT_FILE in force) + `ca_file`:
    what `SSLContext.load_default_certs()` reads once SSL_CERT_FILE names it."""
    return _bundle(ssl.get_default_verify_paths().cafile, ca_file, "with-system-cas")


def _bundle(public_file: str | None, ca_file: str, kind: str) -> str:
    public = b""
    if public_file:  # None: no default file (the system's CAs may live in a directory only)
        with open(public_file, "rb") as file:
            public = file.read()
    with open(ca_file, "rb") as private:
        data = public + b"\n" + private.read()
    name = f"{hashlib.sha256(data).hexdigest()[:32]}.{kind}.pem"
    for directory in _cache_dirs():
        bundle = os.path.join(directory, name)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            if os.stat(directory).st_uid != os.getuid():
                continue  # someone else's directory: do not trust what is in it
            if os.path.isfile(bundle):
                return bundle
            temporary = f"{bundle}.tmp{os.getpid()}"
            with open(temporary, "wb") as file:
                file.write(data)
            os.replace(temporary, bundle)
            return bundle
        except OSError:
            continue
    raise ConfigError("cannot write a CA bundle to the cache or temp directory; set TMPDIR")


def _cache_dirs() -> list[str]:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    temp = os.path.join(tempfile.gettempdir(), f"locust-mtls-{os.getuid()}")
    return [os.path.join(cache, "locust-mtls", "ca-bundles"), temp]
