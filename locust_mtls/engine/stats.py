"""mTLS counters per run setting (strategy, concurrency, keep-alive): plain data, mergeable
across workers, flushed to disk.

Locust's own stats hold requests, failures and response times; these add what Locust
does not count: wrong identities, cert bleed, client crashes and TLS handshakes.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata

from locust_mtls.settings import row_name

FAILURE_KINDS = ("wrong_identity", "bleed", "unreported")


def handshake_bucket(ms: float) -> float:
    """Round a handshake time so histograms stay small and merge exactly across workers."""
    if ms < 10:
        return round(ms, 1)
    if ms < 100:
        return float(round(ms))
    return float(round(ms, -1))


def percentile(histogram: Counter, fraction: float) -> float:
    total = sum(histogram.values())
    if not total:
        return 0.0
    rank, seen = fraction * total, 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)


@dataclass
class StrategyStats:
    """Counters of one run setting (a row) in one process (or summed over workers)."""

    strategy: str = ""
    requests: int = 0
    failures: int = 0
    wrong_identity: int = 0
    bleed: int = 0
    unreported: int = 0
    crashes: int = 0
    crash: dict | None = None
    handshake_histogram: Counter = field(default_factory=Counter)
    failure_classes: Counter = field(default_factory=Counter)  # failures.py name -> count
    identities_in_use: set[str] = field(default_factory=set)
    first_request_at: float = 0.0
    last_request_at: float = 0.0
    concurrency: str = ""
    keepalive: bool = True
    client_path: str = ""

    def record(
        self,
        *,
        failed: bool,
        failure_kind: str | None,
        handshakes_ms,
        identity_name,
        failure_class: str | None = None,
    ):
        now = time.time()
        self.first_request_at = self.first_request_at or now
        self.last_request_at = now
        self.requests += 1
        self.failures += failed
        if failure_kind in FAILURE_KINDS:
            setattr(self, failure_kind, getattr(self, failure_kind) + 1)
        if failure_class:
            self.failure_classes[failure_class] += 1
        for ms in handshakes_ms:
            self.handshake_histogram[handshake_bucket(ms)] += 1
        if identity_name:
            self.identities_in_use.add(identity_name)

    def record_ok(self, identity_name: str | None) -> None:
        """`record` of a request that passed and opened no new connection: the same
        counts, without the branches (this runs once per request)."""
        now = time.time()
        self.first_request_at = self.first_request_at or now
        self.last_request_at = now
        self.requests += 1
        if identity_name and identity_name not in self.identities_in_use:
            self.identities_in_use.add(identity_name)

    def record_crash(self, crash: dict) -> None:
        self.crashes += 1
        self.crash = crash

    def to_dict(self) -> dict:
        elapsed = self.last_request_at - self.first_request_at
        handshakes = sum(self.handshake_histogram.values())
        return {
            "requests": self.requests,
            "failures": self.failures,
            "wrong_identity": self.wrong_identity,
            "bleed": self.bleed,
            "unreported": self.unreported,
            "crashes": self.crashes,
            "crash": self.crash,
            "handshakes": handshakes,
            "handshake_ms": {
                "p50": percentile(self.handshake_histogram, 0.50),
                "p95": percentile(self.handshake_histogram, 0.95),
            },
            "handshake_histogram": {str(k): v for k, v in self.handshake_histogram.items()},
            "failure_classes": dict(self.failure_classes.most_common()),
            "identities_in_use": sorted(self.identities_in_use),
            "rps": round(self.requests / elapsed, 1) if elapsed > 0 else 0.0,
            "first_request_at": self.first_request_at,
            "last_request_at": self.last_request_at,
            "elapsed_s": round(elapsed, 2),
            "strategy": self.strategy,
            "concurrency": self.concurrency,
            "keepalive": self.keepalive,
            "client_path": self.client_path,
        }

    @classmethod
    def from_dict(cls, data: dict) -> StrategyStats:
        stats = cls(
            strategy=data.get("strategy", ""),
            concurrency=data.get("concurrency", ""),
            keepalive=data.get("keepalive", True),
            client_path=data.get("client_path", ""),
        )
        for name in ("requests", "failures", "crashes", *FAILURE_KINDS):
            setattr(stats, name, data.get(name, 0))
        stats.crash = data.get("crash")
        stats.handshake_histogram = Counter(
            {float(k): v for k, v in data.get("handshake_histogram", {}).items()}
        )
        stats.identities_in_use = set(data.get("identities_in_use", ()))
        stats.failure_classes = Counter(data.get("failure_classes", {}))
        stats.first_request_at = data.get("first_request_at", 0.0)
        stats.last_request_at = data.get("last_request_at", 0.0)
        return stats

    def add(self, other: StrategyStats) -> None:
        for name in ("requests", "failures", "crashes", *FAILURE_KINDS):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.crash = other.crash or self.crash
        self.handshake_histogram.update(other.handshake_histogram)
        self.failure_classes.update(other.failure_classes)
        self.identities_in_use |= other.identities_in_use
        starts = [t for t in (self.first_request_at, other.first_request_at) if t]
        self.first_request_at = min(starts, default=0.0)
        self.last_request_at = max(self.last_request_at, other.last_request_at)
        if not self.strategy:
            self.strategy = other.strategy
            self.concurrency, self.keepalive = other.concurrency, other.keepalive
        self.client_path = self.client_path or other.client_path


class MtlsStats:
    """Counters of every run setting in this process, plus the facts of the run.

    Rows are keyed by `settings.row_name`: the strategy name, plus the concurrency and
    keep-alive when they are not the defaults, so two user classes with one strategy but
    different modes never merge into one row.
    """

    def __init__(self, client_path: str = ""):
        self.rows: dict[str, StrategyStats] = {}
        self.client_path = client_path
        self.finished = False

    def row(
        self, strategy: str, concurrency: str = "greenlet", keepalive: bool = True
    ) -> StrategyStats:
        """The counters of one run setting, created on first use."""
        name = row_name(strategy, concurrency, keepalive)
        stats = self.rows.get(name)
        if stats is None:
            stats = self.rows[name] = StrategyStats(
                strategy=strategy, concurrency=concurrency, keepalive=keepalive
            )
        return stats

    def to_dict(self) -> dict:
        return {
            "finished": self.finished,
            "environment": environment_facts(),
            "client_path": self.client_path,
            "strategies": {name: s.to_dict() for name, s in sorted(self.rows.items())},
        }

    @classmethod
    def merged(cls, snapshots: list[dict]) -> MtlsStats:
        """Sum the snapshots (to_dict output) of several processes, e.g. Locust workers."""
        total = cls()
        for snapshot in snapshots:
            total.client_path = total.client_path or snapshot.get("client_path", "")
            for name, data in snapshot.get("strategies", {}).items():
                incoming = StrategyStats.from_dict(data)
                if name in total.rows:
                    total.rows[name].add(incoming)
                else:
                    total.rows[name] = incoming
        return total


def write_json(path: str, document: dict) -> None:
    """Replace `path` atomically, so a crash mid-write never leaves half a file."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(document, file, indent=1)
    os.replace(temporary, path)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_facts() -> dict:
    """Exact versions that decide a run's behaviour; recorded in every result."""
    return dict(_environment_facts())


@functools.cache
def _environment_facts() -> dict:
    # Cached: each metadata lookup scans sys.path, and the summary file is rewritten
    # every second while users run (~3% of a keep-alive run's CPU, bench/profile.py).
    return {
        "requests": _version("requests"),
        "urllib3": _version("urllib3"),
        "locust": _version("locust"),
        "gevent": _version("gevent"),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
    }
