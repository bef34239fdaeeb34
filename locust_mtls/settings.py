"""Plain value types and constants of a run: one source per fact, no gevent, no Locust.

Everything that more than one room needs to agree on (concurrency modes, what a run
setting is, which counters `--mtls-fail-on` can gate on, how safe a strategy is) lives
here, so the matrix, the report and the Locust glue read the same definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

# Where a user's requests run: its greenlet in Locust's process, its own OS thread in the
# engine child, or (asyncio libraries: aiohttp) its tasks on the engine child's event loop.
CONCURRENCY_MODES = ("greenlet", "native-threads", "asyncio")
# requests: every user mixes cert and no-cert requests; users: whole users go without.
NO_CERT_SPLITS = ("requests", "users")

# How safe a strategy is, as the registry states it (Strategy.safety).
SAFE = "safe"
UNSAFE = "unsafe"  # unsafe by design: a baseline that shows the bug
VERSION_DEPENDENT = "version-dependent"  # safe or not with the installed library/Locust

# `--mtls-fail-on` kind -> the counter (StrategyStats field) it gates on.
FAIL_ON_KINDS = {
    "wrong-identity": "wrong_identity",
    "missing-certificate": "missing_certificate",
    "bleed": "bleed",
    "crash": "crashes",
    "unreported": "unreported",
}
DEFAULT_FAIL_ON = "wrong-identity,missing-certificate,bleed,crash"

# --mtls-identity-check: require (a response must say which certificate the server saw),
# auto (checked when it does, else counted unreported), off (not checked, not counted).
IDENTITY_CHECK_MODES = ("auto", "require", "off")


def fail_on_counters(fail_on: str, identity_check: str = "auto") -> list[str]:
    """The counters `--mtls-fail-on` gates on; the default adds `unreported` under
    `--mtls-identity-check require`, where a response that does not say is a failure."""
    kinds = [kind.strip() for kind in fail_on.split(",") if kind.strip()]
    if identity_check == "require" and fail_on.strip() == DEFAULT_FAIL_ON:
        kinds.append("unreported")
    return [FAIL_ON_KINDS[kind] for kind in kinds]


# A rate is a count's share of the requests it can happen to (issue 26): only a request sent
# without a certificate can bleed one, only one sent with a certificate can reach the
# server as another identity; anything else can happen to any request. Counter -> base.
RATE_BASES = {
    "bleed": "without_cert",
    "wrong_identity": "with_cert",
    "missing_certificate": "with_cert",
}
BASE_WORDS = {
    "without_cert": "requests sent without a certificate",
    "with_cert": "requests sent with a certificate",
    "requests": "requests",
    "all": "requests",  # counters from before issue 26 do not split requests by certificate
}


def rate_base(counters: Mapping, counter: str) -> tuple[str, int]:
    """(what `counter` is a share of, a key of BASE_WORDS; how many requests that is).
    Counters from before issue 26, without `with_cert`/`without_cert`: all requests."""
    base = RATE_BASES.get(counter, "requests")
    if base not in counters:
        return "all", counters.get("requests") or 0
    return base, counters[base] or 0


def rate_of(counters: Mapping, counter: str) -> float | None:
    """`counter` / its base, as a fraction; 0.0 when requests were counted but none of
    them could have it (without a request sent without a certificate, nothing bled), so a
    limit like `bleed_rate<=0` means what it always meant; None before any request."""
    _, base = rate_base(counters, counter)
    if not base:
        return 0.0 if counters.get("requests") else None
    return (counters.get(counter) or 0) / base


# `--mtls-context-cache`: how many identity contexts a process keeps (LRU); a context costs
# a chain load to rebuild, and its memory is the key and certificate plus OpenSSL's state.
DEFAULT_CONTEXT_CACHE = 10_000

# `--mtls-tls-version`: pin one version, or auto (TLS 1.2 to 1.3, the highest both speak).
TLS_VERSIONS = ("auto", "1.2", "1.3")


def frozen_hash(settings) -> int:
    """The hash of a frozen settings dataclass, computed once: settings are hashed at every
    request (they key counters, contexts and engines), the fields never change."""
    cached = settings.__dict__.get("_hash")
    if cached is None:
        cached = hash(tuple(getattr(settings, field.name) for field in fields(settings)))
        object.__setattr__(settings, "_hash", cached)
    return cached


@dataclass(frozen=True)
class TlsSettings:
    """How client contexts speak TLS: version, ciphers (TLS <= 1.2) and session resumption.

    `ciphers` is an OpenSSL cipher string ("" keeps urllib3's default); it cannot change
    the TLS 1.3 suites. With `resumption`, a context keeps its sessions per server and
    offers them on new connections (tls/contexts.py ResumingContext).
    """

    version: str = "auto"
    ciphers: str = ""
    resumption: bool = False

    __hash__ = frozen_hash

    @property
    def modes(self) -> tuple[str, ...]:
        """What differs from the defaults, for row names: ('TLS 1.2', 'resumption on')."""
        return tuple(
            m
            for m in (
                self.version != "auto" and f"TLS {self.version}",
                self.ciphers and f"ciphers {self.ciphers}",
                self.resumption and "resumption on",
            )
            if m
        )


@dataclass(frozen=True)
class RunSettings:
    """How every request of a user class is sent and checked (class attributes, else the
    `--mtls-*` options; config/user_settings.py builds it, the one builder).

    Frozen and hashable: it keys the checkpoints that judge requests and the native-thread
    engines. `row` names the counters row: user classes whose settings differ in anything
    that changes a result (client, strategy, concurrency, keep-alive, TLS settings, check
    mode, pinned identity) get separate rows, and every exported series carries the row.
    """

    strategy: str
    concurrency: str = "greenlet"
    keepalive: bool = True
    identity_header: str = "X-Client-Cert-Fingerprint"
    identity_check: str = "auto"  # see IDENTITY_CHECK_MODES
    identity_format: str = "auto"  # tls.reported_identity.IDENTITY_FORMATS
    timeout: tuple[float, float] = (5.0, 30.0)  # connect, read
    crash_dir: str = "mtls-crashes"
    tls: TlsSettings = TlsSettings()
    client: str = "requests"  # see CLIENTS: which HTTP client sends
    identity: str | None = None  # the identity every request presents (None: round-robin)

    __hash__ = frozen_hash

    @property
    def row(self) -> str:
        """The counters row of this setting: 'identity-cache' plus any non-default mode."""
        return row_name(self)


# Which HTTP client sends a user class's requests: requests through a strategy (MtlsUser,
# MtlsHttpUser), another library with one client per identity on identity-cache's frozen
# contexts (below), or the audited locustfile's own client (rows named after the class).
# Those libraries take a whole SSLContext, never a strategy: client -> the path its rows say.
CONTEXT_PER_IDENTITY_CLIENTS = {
    "fasthttp": "geventhttpclient with identity-cache's frozen SSLContexts",
    "httpx": "httpx: one httpx.Client per identity, verify= identity-cache's frozen SSLContext",
    "niquests": "niquests: one Session per identity, its adapter on identity-cache's frozen "
    "SSLContext",
}
CLIENTS = ("requests", *CONTEXT_PER_IDENTITY_CLIENTS, "audit")
ROW_PREFIX = {
    "requests": "",
    "audit": "",
    **{client: f"{client}/" for client in CONTEXT_PER_IDENTITY_CLIENTS},
}


def row_name(settings: RunSettings) -> str:
    """'identity-cache', 'identity-cache [native-threads, keep-alive off, TLS 1.2]': one
    row per setting that changes a result; the plain strategy name for the defaults."""
    modes = [
        m
        for m in (
            settings.concurrency != "greenlet" and settings.concurrency,
            not settings.keepalive and "keep-alive off",
            *(settings.tls.modes if settings.tls else ()),
            settings.identity_check != "auto" and f"check {settings.identity_check}",
            settings.identity is not None and f"identity {settings.identity}",
        )
        if m
    ]
    name = ROW_PREFIX.get(settings.client, f"{settings.client}/") + settings.strategy
    return f"{name} [{', '.join(modes)}]" if modes else name


# Environment variables that hold secrets: children we start get none of them (the engine
# child receives only a per-process key password over its stdin; see tls/key_material).
SECRET_ENV_VARS = ("LOCUST_MTLS_KEY_PASSWORD",)


def child_environment(environ) -> dict[str, str]:
    """A copy of `environ` for a child process: everything but the secrets."""
    return {name: value for name, value in environ.items() if name not in SECRET_ENV_VARS}
