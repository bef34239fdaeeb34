"""Plain value types and constants of a run: one source per fact, no gevent, no Locust.

Everything that more than one room needs to agree on (concurrency modes, what a run
setting is, which counters `--mtls-fail-on` can gate on, how safe a strategy is) lives
here, so the matrix, the report and the Locust glue read the same definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

CONCURRENCY_MODES = ("greenlet", "native-threads")
# requests: every user mixes cert and no-cert requests; users: whole users go without.
NO_CERT_SPLITS = ("requests", "users")

# How safe a strategy is, as the registry states it (Strategy.safety).
SAFE = "safe"
UNSAFE = "unsafe"  # unsafe by design: a baseline that shows the bug
VERSION_DEPENDENT = "version-dependent"  # safe or not with the installed requests/Locust
SAFETY_LEVELS = (SAFE, UNSAFE, VERSION_DEPENDENT)

# `--mtls-fail-on` kind -> the counter (StrategyStats field) it gates on.
FAIL_ON_KINDS = {"wrong-identity": "wrong_identity", "bleed": "bleed", "crash": "crashes"}


@dataclass(frozen=True)
class RunSettings:
    """How every request of a user class is sent (from Locust options or class attributes).

    Frozen and hashable: it keys the counters (two user classes that differ only in
    concurrency or keep-alive get separate rows) and the native-thread engines.
    """

    strategy: str
    concurrency: str = "greenlet"
    keepalive: bool = True
    identity_header: str = "X-Client-Cert-Fingerprint"
    timeout: tuple[float, float] = (5.0, 30.0)  # connect, read
    crash_dir: str = "mtls-crashes"

    @property
    def row(self) -> str:
        """The counters row of this setting: 'identity-cache' plus any non-default mode."""
        return row_name(self.strategy, self.concurrency, self.keepalive)


def row_name(strategy: str, concurrency: str = "greenlet", keepalive: bool = True) -> str:
    """'identity-cache', 'identity-cache [native-threads, keep-alive off]': one row per
    run setting, and the plain strategy name for the default setting."""
    modes = [
        m
        for m in (concurrency != "greenlet" and concurrency, not keepalive and "keep-alive off")
        if m
    ]
    return f"{strategy} [{', '.join(modes)}]" if modes else strategy


# Environment variables that hold secrets: children we start get none of them (the engine
# child receives only a per-process key password over its stdin; see tls/key_material).
SECRET_ENV_VARS = ("LOCUST_MTLS_KEY_PASSWORD",)


def child_environment(environ) -> dict[str, str]:
    """A copy of `environ` for a child process: everything but the secrets."""
    return {name: value for name, value in environ.items() if name not in SECRET_ENV_VARS}
