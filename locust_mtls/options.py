"""Plugin options turned into validated settings, without Locust.

Every option is checked once at start; the first bad one raises ConfigError with one
line that names the option or file and says what to do.
"""

from __future__ import annotations

import os

from .concurrency import CONCURRENCY_MODES, RunSettings
from .errors import ConfigError
from .identity import IdentitySet, load_identities, load_identity
from .mtls_run import RunOptions
from .strategies import Trust, strategy_class

FAIL_ON_KINDS = {"wrong-identity": "wrong_identity", "bleed": "bleed", "crash": "crashes"}


def _on_off(name: str, value) -> bool:
    text = str(value).strip().lower()
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise ConfigError(f"--{name} must be on or off, not {value!r}")


def settings_from(options, strategy: str | None = None, **overrides) -> RunSettings:
    """RunSettings from parsed options; user-class attributes come in as overrides."""
    name = strategy or options.mtls_strategy
    strategy_class(name)  # ConfigError listing the valid names
    concurrency = overrides.get("concurrency") or options.mtls_concurrency
    if concurrency not in CONCURRENCY_MODES:
        raise ConfigError(
            f"--mtls-concurrency must be one of {', '.join(CONCURRENCY_MODES)}, not {concurrency!r}"
        )
    keepalive = overrides.get("keepalive")
    try:
        connect, read = (float(x) for x in str(options.mtls_timeout).split(","))
    except ValueError:
        raise ConfigError(
            f"--mtls-timeout must be CONNECT,READ seconds like 5,30, not {options.mtls_timeout!r}"
        ) from None
    return RunSettings(
        strategy=name,
        concurrency=concurrency,
        keepalive=_on_off("mtls-keepalive", options.mtls_keepalive)
        if keepalive is None
        else keepalive,
        identity_header=options.mtls_identity_header,
        timeout=(connect, read),
        crash_dir=options.mtls_crash_dir,
    )


def _identity_set(options) -> IdentitySet:
    if options.mtls_cert:
        identity = load_identity(
            "client", options.mtls_cert, options.mtls_key or None, options.mtls_key_password or None
        )
        return IdentitySet(None, None, None, None, (identity,))
    return load_identities(
        options.mtls_identities or os.path.join(options.mtls_certs_dir, "identities.json")
    )


def run_options_from(options) -> RunOptions:
    """Validate every option once, at start: ConfigError on the first bad one."""
    identity_set = _identity_set(options)
    ca_file = options.mtls_ca or identity_set.ca_file
    if not ca_file:
        raise ConfigError(
            "no CA to trust: pass --mtls-ca FILE (the CA that signed the "
            'server\'s certificate), or list "ca" in the identities file'
        )
    ca_bundle_file = identity_set.ca_bundle_file or ensure_ca_bundle(ca_file)
    try:
        fraction = float(options.mtls_no_cert_fraction)
    except ValueError:
        fraction = -1.0
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(
            f"--mtls-no-cert-fraction must be between 0 and 1, "
            f"not {options.mtls_no_cert_fraction!r}"
        )
    if options.host and not options.host.startswith("https://"):
        raise ConfigError(f"--host {options.host} is not https://; mTLS needs an https:// URL")
    for kind in filter(None, options.mtls_fail_on.split(",")):
        if kind.strip() not in FAIL_ON_KINDS:
            raise ConfigError(
                f"--mtls-fail-on: unknown {kind!r}; use any of {', '.join(FAIL_ON_KINDS)}"
            )
    return RunOptions(
        trust=Trust(ca_file, ca_bundle_file, _on_off("mtls-trust-env", options.mtls_trust_env)),
        identities=identity_set.identities,
        no_cert_fraction=fraction,
        defaults=settings_from(options),
    )


def ensure_ca_bundle(ca_file: str) -> str:
    """certifi's CAs + `ca_file`, for requests' default verify path (see requests_path)."""
    import certifi

    bundle = f"{ca_file}.with-certifi.pem"
    if not os.path.exists(bundle) or os.path.getmtime(bundle) < os.path.getmtime(ca_file):
        with open(certifi.where(), "rb") as public, open(ca_file, "rb") as private:
            data = public.read() + b"\n" + private.read()
        with open(bundle, "wb") as file:
            file.write(data)
    return bundle
