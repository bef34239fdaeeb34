"""Plugin options turned into validated settings, without Locust.

Every option is checked once at start; the first bad one raises ConfigError with one
line that names the option or file and says what to do. Checks run cheapest first
(values, then files, then one probe of the target), and none of them writes anything
before all the values are known to be good.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import ssl
import urllib.parse

from locust_mtls.config.input_checks import check_host, key_password
from locust_mtls.engine import failures
from locust_mtls.engine.run_options import RunOptions
from locust_mtls.errors import ConfigError
from locust_mtls.settings import (
    CONCURRENCY_MODES,
    DEFAULT_CONTEXT_CACHE,
    FAIL_ON_KINDS,
    IDENTITY_CHECK_MODES,
    RunSettings,
    TlsSettings,
)
from locust_mtls.strategies import LIBRARIES, Trust, strategy_class
from locust_mtls.tls import contexts as tls
from locust_mtls.tls.ca_bundles import with_certifi
from locust_mtls.tls.files import read_regular_file
from locust_mtls.tls.identity import (
    IdentitySet,
    ca_of,
    fingerprint_of,
    load_identities,
    load_identity,
)
from locust_mtls.tls.identity_set import SetFingerprint, listed_identities, set_fingerprint
from locust_mtls.tls.reported_identity import IDENTITY_FORMATS

PROBE_TIMEOUT_S = 3.0
UNTRUSTED_SERVER = {
    failures.SERVER_NOT_TRUSTED,
    failures.SERVER_CERT_EXPIRED,
    failures.SERVER_CERT_NOT_YET_VALID,
    failures.WRONG_HOST_NAME,
}

# RFC 9110 5.6.2: token = 1*tchar
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

logger = logging.getLogger("locust_mtls")


def _on_off(name: str, value) -> bool:
    text = str(value).strip().lower()
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise ConfigError(f"--{name} must be on or off, not {value!r}")


def _timeouts(value) -> tuple[float, float]:
    try:
        connect, read = (float(x) for x in str(value).split(","))
    except ValueError:
        connect = read = -1.0
    if not (0 < connect < math.inf and 0 < read < math.inf):
        raise ConfigError(f"--mtls-timeout must be CONNECT,READ seconds like 5,30, not {value!r}")
    return connect, read


def _one_of(option: str, value, valid: tuple[str, ...]) -> str:
    """`value` if it is one of `valid` (e.g. a user-class attribute), else ConfigError."""
    if value not in valid:
        raise ConfigError(f"--{option} must be one of {', '.join(valid)}, not {value!r}")
    return value


def settings_from(options, strategy: str | None = None, **overrides) -> RunSettings:
    """RunSettings from parsed options; user-class attributes come in as overrides
    (config/user_settings.py checks and passes them)."""
    name = strategy or options.mtls_strategy
    library = LIBRARIES[strategy_class(name).library]  # ConfigError listing the valid names
    library.check(name)  # one line saying what to pip install
    concurrency = overrides.get("concurrency") or options.mtls_concurrency
    if concurrency not in CONCURRENCY_MODES:
        raise ConfigError(
            f"--mtls-concurrency must be one of {', '.join(CONCURRENCY_MODES)}, not {concurrency!r}"
        )
    if concurrency not in library.concurrency:
        raise ConfigError(
            f"--mtls-concurrency {concurrency}: strategy {name} drives {library.name}, which "
            f"runs on {' or '.join(library.concurrency)}; pass --mtls-concurrency "
            f"{library.concurrency[0]} (or concurrency = {library.concurrency[0]!r} on the class)"
        )
    keepalive = overrides.get("keepalive")
    tls_settings = tls_settings_from(options, name, overrides)
    return RunSettings(
        strategy=name,
        concurrency=concurrency,
        keepalive=_on_off("mtls-keepalive", options.mtls_keepalive)
        if keepalive is None
        else keepalive,
        identity_header=_header_name(
            overrides.get("identity_header") or options.mtls_identity_header
        ),
        identity_check=_one_of(
            "mtls-identity-check",
            overrides.get("identity_check") or _identity_option(options, "check"),
            IDENTITY_CHECK_MODES,
        ),
        identity_format=_one_of(
            "mtls-identity-format",
            overrides.get("identity_format") or _identity_option(options, "format"),
            IDENTITY_FORMATS,
        ),
        timeout=_timeouts(options.mtls_timeout),
        crash_dir=options.mtls_crash_dir,
        tls=tls_settings,
        client=overrides.get("client", "requests"),
        identity=overrides.get("identity"),
    )


def _header_name(value) -> str:
    """--mtls-identity-header as an HTTP field name (RFC 9110 5.1: a token): an empty or
    invalid one would never be found in a response, and every check would say unreported."""
    if not isinstance(value, str) or not HEADER_NAME.fullmatch(value):
        raise ConfigError(
            f"--mtls-identity-header {value!r} is not an HTTP header name; "
            "give one like X-Client-Cert-Fingerprint"
        )
    return value


def _identity_option(options, which: str) -> str:
    # "auto" when options come from an older master or a library caller without them.
    return getattr(options, f"mtls_identity_{which}", None) or "auto"


def tls_settings_from(options, strategy: str, overrides: dict) -> TlsSettings:
    """TlsSettings from class attributes (tls_version, ciphers, resumption) or options,
    checked against OpenSSL and against what `strategy` can honour."""

    def pick(key: str, option: str, default):
        value = overrides.get(key)
        return value if value is not None else getattr(options, option, default)

    resumption = pick("resumption", "mtls_resumption", "off")
    settings = TlsSettings(
        version=str(pick("tls_version", "mtls_tls_version", "auto")),
        ciphers=str(pick("ciphers", "mtls_ciphers", "") or "").strip(),
        resumption=resumption
        if isinstance(resumption, bool)
        else _on_off("mtls-resumption", resumption),
    )
    tls.check_tls_settings(settings)
    chosen = strategy_class(strategy)
    if settings.resumption and not chosen.resumes_sessions:
        raise ConfigError(
            f"--mtls-resumption on: {strategy} shares one context between identities, so a "
            "session could carry one identity's certificate to another; use identity-cache, "
            "per-thread-session or thread-local"
        )
    if (settings.version != "auto" or settings.ciphers) and not chosen.takes_tls_settings:
        raise ConfigError(
            f"--mtls-tls-version/--mtls-ciphers: {strategy} uses {chosen.library}'"
            f"{'' if chosen.library.endswith('s') else 's'} own SSLContext, which they cannot "
            "reach; use another strategy"
        )
    return settings


def no_cert_fraction_from(value, where: str = "--mtls-no-cert-fraction") -> float | None:
    """A fraction from 0 to 1 (None: not given, "" from the option's default)."""
    if value is None or value == "":
        return None
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        fraction = -1.0
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"{where} must be between 0 and 1, not {value!r}")
    return fraction


def _check_values(options) -> float | None:
    """Every option that is a plain value; returns the no-cert fraction (None: not given)."""
    settings_from(options)
    _on_off("mtls-trust-env", options.mtls_trust_env)
    fraction = no_cert_fraction_from(options.mtls_no_cert_fraction)
    _non_negative_int(
        "mtls-context-cache", getattr(options, "mtls_context_cache", DEFAULT_CONTEXT_CACHE)
    )
    watch_interval(options)
    report_timeout(options)
    _check_identity_options(options)
    if options.host:
        check_host(options.host)
    key_password(options)  # a bad password file is an error even before it is needed
    for kind in filter(None, options.mtls_fail_on.split(",")):
        if kind.strip() not in FAIL_ON_KINDS:
            raise ConfigError(
                f"--mtls-fail-on: unknown {kind!r}; use any of {', '.join(FAIL_ON_KINDS)}"
            )
    return fraction


def _check_identity_options(options) -> None:
    """One way to name identities: --mtls-cert (with its --mtls-key), or a file of them."""
    if options.mtls_key and not options.mtls_cert:
        raise ConfigError(
            "--mtls-key without --mtls-cert; pass the certificate it belongs to with --mtls-cert"
        )
    if options.mtls_cert and options.mtls_identities:
        raise ConfigError(
            "--mtls-cert and --mtls-identities both given; pass one (--mtls-cert for one "
            "identity, --mtls-identities for a file of them)"
        )


def identities_path(options) -> str:
    """The identities file the options name (--mtls-identities, else the certs dir's)."""
    return options.mtls_identities or os.path.join(options.mtls_certs_dir, "identities.json")


def identity_set_fingerprint(options) -> SetFingerprint:
    """What the options' identity set lists, and its CA, without loading any key: what a
    worker proves to its master before a run (locust/workers.py)."""
    if options.mtls_cert:
        try:
            listed = [("client", fingerprint_of(read_regular_file(options.mtls_cert)))]
        except (ConfigError, ValueError) as error:
            raise ConfigError(f"--mtls-cert: {error}") from None
        return set_fingerprint(listed, options.mtls_ca or None)
    path = identities_path(options)
    try:
        listed = listed_identities(path)
        ca_file = options.mtls_ca or ca_of(path)
    except ConfigError as error:
        raise ConfigError(f"--mtls-identities: {error}") from None
    return set_fingerprint(listed, ca_file)


def _identity_set(options, part: tuple[int, int] | None = None) -> IdentitySet:
    if options.mtls_cert:
        try:
            identity = load_identity(
                "client",
                options.mtls_cert,
                options.mtls_key or None,
                key_password(options),
            )
        except ConfigError as error:
            # identity.py's hint speaks of identities.json; here the password is an option.
            hint = '("password" in identities.json)'
            message = str(error).replace(hint, "with --mtls-key-password")
            raise ConfigError(f"--mtls-cert: {message}") from None
        return IdentitySet(None, None, None, None, (identity,))
    try:
        return load_identities(identities_path(options), part)
    except ConfigError as error:
        raise ConfigError(f"--mtls-identities: {error}") from None


def _check_ca(ca_file: str, option: str) -> None:
    """A CA file that OpenSSL can load (tls.py builds, and discards, one context)."""
    try:
        read_regular_file(ca_file)  # OpenSSL would read /dev/zero or a FIFO forever
        tls.client_context(ca_file)
    except ConfigError as error:
        raise ConfigError(f"{option}: {error}") from None


def preflight(options) -> None:
    """Before an embedded server starts or certs/ is generated: every value, and the
    files the user named. Loading nothing twice: without --host only."""
    _check_values(options)
    if options.host:
        return  # run_options_from follows at once and checks the rest
    if options.mtls_cert or options.mtls_identities:
        _identity_set(options)
    if options.mtls_ca:
        _check_ca(options.mtls_ca, "--mtls-ca")


def run_options_from(
    options,
    *,
    probe: bool = True,
    untrusted_is_an_error: bool = False,
    part: tuple[int, int] | None = None,
) -> RunOptions:
    """Validate every option once, at start: ConfigError on the first bad one.

    With `probe`, the target (--host) gets one connection to tell "nothing listens" and
    "does not speak TLS" apart from faults the run itself will count; with
    `untrusted_is_an_error` (the web UI's start form), a server certificate the CA does
    not vouch for is refused too. `part` (index, parts): load only that worker's slice
    of the identities (--mtls-partition).
    """
    fraction = _check_values(options)
    identity_set = _identity_set(options, part)
    logger.debug("locust-mtls: %d identities loaded", len(identity_set.identities))
    ca_file = options.mtls_ca or identity_set.ca_file
    if not ca_file:
        raise ConfigError(
            "no CA to trust: pass --mtls-ca FILE (the CA that signed the "
            'server\'s certificate), or list "ca" in the identities file'
        )
    _check_ca(ca_file, "--mtls-ca" if options.mtls_ca else "--mtls-identities")
    if probe and options.host:
        probe_host(options.host, ca_file, untrusted_is_an_error=untrusted_is_an_error)
    # An explicit --mtls-ca wins over the identities file's bundle (requests-default).
    ca_bundle_file = (not options.mtls_ca and identity_set.ca_bundle_file) or with_certifi(ca_file)
    return RunOptions(
        trust=Trust(ca_file, ca_bundle_file, _on_off("mtls-trust-env", options.mtls_trust_env)),
        identities=identity_set.identities,
        no_cert_fraction=fraction,
        no_cert_split=getattr(options, "mtls_no_cert_split", "requests"),
        identity_check=_identity_option(options, "check"),
        identity_format=_identity_option(options, "format"),
        context_cache=_non_negative_int(
            "mtls-context-cache", getattr(options, "mtls_context_cache", DEFAULT_CONTEXT_CACHE)
        ),
    )


def _non_negative(name: str, value, cast=int, unit: str = "a whole number"):
    """`value` as a finite number >= 0, or ConfigError naming --`name` (nan, which
    compares false with everything, and inf are refused too)."""
    try:
        number = cast(str(value).strip())
    except ValueError:
        number = -1
    if not 0 <= number < math.inf:
        raise ConfigError(f"--{name} must be {unit} >= 0, not {value!r}")
    return number


def _non_negative_int(name: str, value) -> int:
    return _non_negative(name, value)


def report_timeout(options) -> float:
    """--mtls-report-timeout in seconds."""
    value = getattr(options, "mtls_report_timeout", "10")
    return _non_negative("mtls-report-timeout", value, float, "seconds")


def watch_interval(options) -> float:
    """--mtls-watch-identities in seconds (0: do not watch)."""
    value = getattr(options, "mtls_watch_identities", "0")
    return _non_negative("mtls-watch-identities", value, float, "seconds")


def probe_host(
    url: str, ca_file: str, timeout: float = PROBE_TIMEOUT_S, untrusted_is_an_error: bool = False
) -> None:
    """One TCP connection and TLS handshake (no client certificate) to `url`.

    ConfigError when nothing listens, the name does not resolve or the peer answers in
    something other than TLS; any other TLS failure (untrusted server, alert, reset)
    is only logged, because the run reports it per request, with its failure class.
    """
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "", parsed.port or 443
    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror:
        raise ConfigError(f"--host {url}: {host!r} does not resolve; fix --host") from None
    except ConnectionRefusedError:
        raise ConfigError(
            f"--host {url}: nothing listens on {where}; start the server or fix the port"
        ) from None
    except OSError as error:
        logger.warning("locust-mtls: --host %s: no TCP connection at start (%s)", url, error)
        return
    context = tls.client_context(ca_file)
    try:
        with context.wrap_socket(raw, server_hostname=host):
            pass
    except (OSError, ssl.SSLError) as error:
        failure_class = failures.classify(error)
        if failure_class == failures.NOT_TLS:
            raise ConfigError(
                f"--host {url} does not speak TLS on {where}; "
                "point --host at the server's https port"
            ) from None
        if untrusted_is_an_error and failure_class in UNTRUSTED_SERVER:
            raise ConfigError(
                f"--host {url}: {failure_class} by {ca_file}; give the CA that signed "
                "the server's certificate, or fix --host"
            ) from None
        logger.warning("locust-mtls: --host %s: TLS probe at start: %s", url, failure_class)
    finally:
        raw.close()
