"""The class attributes every mTLS user class takes, declared once, and the one function
that turns a class's attributes plus the `--mtls-*` options into its settings.

`MtlsAttributes` is the mixin MtlsUser, MtlsHttpUser and MtlsFastHttpUser share, so the
three cannot drift apart in their defaults: an attribute left at None takes the option,
and `no_cert_fraction` falls back to the class's own default (the probe's 0.5, 0 for
classes meant for real endpoints) only when the option was not given either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from locust_mtls.config.options import options_given
from locust_mtls.config.validation import no_cert_fraction_from, settings_from
from locust_mtls.errors import ConfigError
from locust_mtls.settings import (
    CONCURRENCY_MODES,
    CONTEXT_PER_IDENTITY_CLIENTS,
    IDENTITY_CHECK_MODES,
    TLS_VERSIONS,
    RunSettings,
)
from locust_mtls.strategies import STRATEGIES, strategy_class
from locust_mtls.tls.reported_identity import IDENTITY_FORMATS


class MtlsAttributes:
    """Class attributes of an mTLS user class; None: the `--mtls-*` option of that name."""

    strategy: str | None = None  # --mtls-strategy
    concurrency: str | None = None  # --mtls-concurrency: greenlet | native-threads
    keepalive: bool | None = None  # --mtls-keepalive
    no_cert_fraction: float | None = None  # --mtls-no-cert-fraction, else the class default
    identity: str | None = None  # one identity for every request (None: round-robin)
    identity_check: str | None = None  # --mtls-identity-check: auto | require | off
    identity_format: str | None = None  # --mtls-identity-format
    identity_header: str | None = None  # --mtls-identity-header
    tls_version: str | None = None  # --mtls-tls-version: "1.2", "1.3", "auto"
    ciphers: str | None = None  # --mtls-ciphers: an OpenSSL cipher string (TLS 1.2)
    resumption: bool | None = None  # --mtls-resumption
    partition: bool | None = None  # --mtls-partition (the whole run's: see partitioned())
    # When neither the class nor --mtls-no-cert-fraction says: every request presents a
    # certificate (a real API), unless the class is a probe that shows bleed (MtlsUser).
    default_no_cert_fraction: ClassVar[float] = 0.0
    # The client libraries whose strategies the class can send through: Locust's sessions
    # run on requests; the probe (MtlsUser) sends through any strategy's own client.
    mtls_libraries: ClassVar[tuple[str, ...]] = ("requests",)


CLASS_CONSTANTS = ("default_no_cert_fraction", "mtls_libraries")
ATTRIBUTES = tuple(name for name in MtlsAttributes.__annotations__ if name not in CLASS_CONSTANTS)
# What each client does not take from a class: the libraries that take a whole SSLContext
# send on greenlets, through identity-cache's contexts, and give no hook to read a
# connection's session back (and FastHttpUser's own `concurrency` is its connections per host).
FIXED = {
    client: {"strategy": "identity-cache", "concurrency": "greenlet", "resumption": False}
    for client in CONTEXT_PER_IDENTITY_CLIENTS
}
NOT_OURS = {"fasthttp": {"concurrency"}}
# Attribute -> the values it may take (None: anything; checked by settings_from).
CHOICES = {
    "strategy": tuple(STRATEGIES),
    "concurrency": CONCURRENCY_MODES,
    "keepalive": (True, False),
    "identity_check": IDENTITY_CHECK_MODES,
    "identity_format": IDENTITY_FORMATS,
    "tls_version": TLS_VERSIONS,
    "resumption": (True, False),
    "partition": (True, False),
}


@dataclass(frozen=True)
class UserSettings:
    """A user class's settings: how its requests are sent and checked, and how many go
    without a certificate."""

    settings: RunSettings
    no_cert_fraction: float


def user_settings(options, user_class: type, client: str = "requests") -> UserSettings:
    """The settings of `user_class` (its MtlsAttributes, else `options`); ConfigError
    naming the class attribute or option to fix."""
    not_ours = NOT_OURS.get(client, set())
    given = {name: getattr(user_class, name, None) for name in ATTRIBUTES if name not in not_ours}
    fixed = FIXED.get(client, {})
    for name, value in given.items():
        if value is None or name in fixed:
            continue
        if name in CHOICES and value not in CHOICES[name]:
            choices = ", ".join(map(repr, CHOICES[name]))
            raise ConfigError(
                f"{user_class.__name__}.{name} = {value!r}: use one of {choices}, or None "
                f"for --mtls-{name.replace('_', '-')}"
            )
    for name, value in fixed.items():
        if given.get(name) not in (None, value):
            raise ConfigError(
                f"{user_class.__name__}.{name} = {given[name]!r}: this user class always "
                f"uses {value!r}; remove the attribute"
            )
    overrides = {name: value for name, value in given.items() if value is not None}
    overrides.update(fixed)
    fraction = overrides.pop("no_cert_fraction", None)
    settings = settings_from(options, client=client, **overrides)
    library = strategy_class(settings.strategy).library
    if library not in getattr(user_class, "mtls_libraries", MtlsAttributes.mtls_libraries):
        raise ConfigError(
            f"{user_class.__name__}: strategy {settings.strategy} drives {library}, and this "
            "class sends through Locust's session on requests; pick a requests strategy, or "
            "MtlsUser (the probe), which sends through any strategy's own client"
        )
    if fraction is not None:
        fraction = no_cert_fraction_from(fraction, f"{user_class.__name__}.no_cert_fraction")
    else:
        fraction = no_cert_fraction_from(getattr(options, "mtls_no_cert_fraction", ""))
    if fraction is None:
        fraction = getattr(user_class, "default_no_cert_fraction", 0.0)
    return UserSettings(settings, fraction)


def options_not_taken(options, client: str) -> list[str]:
    """The --mtls-* options given that `client`'s user classes do not take (FIXED), each
    as '--name value': said at start, never silently dropped."""
    fixed = FIXED.get(client, {})
    names = [f"--mtls-{name.replace('_', '-')}" for name in fixed]
    return [
        given
        for given in options_given(options, names)
        if given.split(" ", 1)[1] not in (str(value) for value in fixed.values())
    ]


def partitioned(options, user_classes) -> bool:
    """Whether a distributed run gives each worker a slice of the identities: a class's
    `partition` (True or False) wins over --mtls-partition; classes must not disagree, as
    a worker loads one slice for all of them."""
    said = {
        cls.__name__: cls.partition
        for cls in user_classes
        if getattr(cls, "partition", None) is not None
    }
    if len(set(said.values())) > 1:
        raise ConfigError(
            "partition: "
            + ", ".join(f"{name}.partition = {value}" for name, value in sorted(said.items()))
            + "; a worker loads one slice of the identities for every class: make them agree"
        )
    if said:
        return next(iter(said.values()))
    return str(getattr(options, "mtls_partition", "off")).lower() == "on"
