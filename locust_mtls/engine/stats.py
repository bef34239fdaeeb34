"""mTLS counters per run setting (strategy, concurrency, keep-alive): plain data, mergeable
across workers, flushed to disk.

Locust's own stats hold requests, failures and response times; these add what Locust
does not count: wrong identities, cert bleed, client crashes and TLS handshakes.
"""

from __future__ import annotations

import functools
import platform
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata

import urllib3

from locust_mtls.settings import RunSettings, TlsSettings
from locust_mtls.tls.connections import ConnectionLog
from locust_mtls.tls.reported_identity import NO_CERTIFICATE, Verdict, VerdictKind

FAILURE_KINDS = ("wrong_identity", "missing_certificate", "bleed", "unreported")
# in_flight_at_stop: requests written to the server whose answer never came back to be
# checked because the test stopped (sent = requests + in_flight_at_stop). with_cert and
# without_cert split the checked requests: the bases of the rates (settings.RATE_BASES).
COUNTERS = (
    "requests", "with_cert", "without_cert", "failures", "crashes", "checked",
    "in_flight_at_stop", *FAILURE_KINDS,
)  # fmt: skip
# The server said who it saw, and we read it; the others are counted as unreported.
CHECKED_VERDICTS = (VerdictKind.RIGHT, VerdictKind.WRONG, VerdictKind.MISSING, VerdictKind.BLEED)
UNCHECKED_VERDICTS = (VerdictKind.UNREPORTED, VerdictKind.UNPARSED)
MISMATCHES = (VerdictKind.WRONG, VerdictKind.MISSING, VerdictKind.BLEED)
SEEN_PAIRS_MAX = 100  # distinct (sent, seen) pairs kept per row; later ones go to OTHER
SEEN_PAIRS_SHOWN = 10  # the most frequent pairs in snapshots, the tab and the summary
OTHER_PAIR = ("…", "other pairs")
# The strictest --mtls-identity-check of the user classes sharing a row wins.
CHECK_STRICTNESS = {"": 0, "off": 1, "auto": 2, "require": 3}
# Every crash of a run is kept (signal, time, stack file), up to this many per row: a
# strategy that crashes every second would otherwise grow the summary without end.
MAX_CRASH_RECORDS = 100


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
    row: str = ""  # the row's name (settings.row_name): what every exported series carries
    client: str = "requests"
    requests: int = 0
    with_cert: int = 0  # requests that presented a client certificate
    without_cert: int = 0  # requests sent without one
    failures: int = 0
    wrong_identity: int = 0
    missing_certificate: int = 0  # sent with a certificate, the server saw none
    bleed: int = 0
    unreported: int = 0  # responses that did not say (readably) who the server saw
    checked: int = 0  # responses whose identity was checked
    in_flight_at_stop: int = 0  # written to the server, never answered: the test stopped
    identity_check: str = ""  # --mtls-identity-check of this row's user classes
    seen_pairs: Counter = field(default_factory=Counter)  # (sent, seen) of mismatches
    crashes: int = 0
    crash: dict | None = None  # the latest crash
    crash_list: list[dict] = field(default_factory=list)  # every crash, oldest first
    handshake_histogram: Counter = field(default_factory=Counter)  # full handshakes
    resumed_histogram: Counter = field(default_factory=Counter)  # resumed handshakes
    tls_versions: Counter = field(default_factory=Counter)  # negotiated version -> handshakes
    generations: Counter = field(default_factory=Counter)  # identity generation -> requests
    failure_classes: Counter = field(default_factory=Counter)  # failures.py name -> count
    identities_in_use: set[str] = field(default_factory=set)
    first_request_at: float = 0.0
    last_request_at: float = 0.0
    concurrency: str = ""
    keepalive: bool = True
    client_path: str = ""
    tls: dict = field(default_factory=dict)  # TlsSettings of the row, as asked for
    context_cache: dict = field(default_factory=dict)  # size, limit, evictions (identity-cache)
    # Where a live row reads those counts when it is snapshot (not at every request).
    context_cache_source: Callable[[], dict] | None = field(default=None, repr=False, compare=False)

    def record(
        self,
        *,
        failed: bool,
        failure_kind: str | None = None,
        failure_class: str | None = None,
        connections: ConnectionLog | None = None,
        identity_name: str | None = None,
        verdict: Verdict | None = None,
        generation: int | None = None,
    ) -> None:
        """Count one judged request (engine/checkpoint.py is the one caller in a run);
        `identity_name` is the identity it presented, None when it was sent without one."""
        now = time.time()
        self.first_request_at = self.first_request_at or now
        self.last_request_at = now
        self.requests += 1
        if identity_name:
            self.with_cert += 1
            self.identities_in_use.add(identity_name)
        else:
            self.without_cert += 1
        self.failures += failed
        kind = verdict.kind if verdict is not None else None
        if failure_kind in FAILURE_KINDS:
            setattr(self, failure_kind, getattr(self, failure_kind) + 1)
        elif kind in UNCHECKED_VERDICTS:  # auto: counted, not failed
            self.unreported += 1
        self.checked += kind in CHECKED_VERDICTS
        if kind in MISMATCHES:
            self.count_pair(verdict.sent or NO_CERTIFICATE, verdict.seen)
        if failure_class:
            self.failure_classes[failure_class] += 1
        if connections is not None:
            for ms in connections.full_ms:
                self.handshake_histogram[handshake_bucket(ms)] += 1
            for ms in connections.resumed_ms:
                self.resumed_histogram[handshake_bucket(ms)] += 1
            if connections.versions:  # none on a kept-alive connection: skip Counter.update
                self.tls_versions.update(connections.versions)
        if generation is not None:
            self.generations[str(generation)] += 1

    def count_pair(self, sent: str, seen: str, count: int = 1) -> None:
        """Count a (sent, seen) mismatch; bounded: new pairs beyond the cap go to OTHER."""
        pair = (sent, seen)
        if pair not in self.seen_pairs and len(self.seen_pairs) >= SEEN_PAIRS_MAX:
            pair = OTHER_PAIR
        self.seen_pairs[pair] += count

    def use_check(self, identity_check: str) -> None:
        """Note a user class's --mtls-identity-check; the strictest one wins."""
        if CHECK_STRICTNESS.get(identity_check, 0) > CHECK_STRICTNESS.get(self.identity_check, 0):
            self.identity_check = identity_check

    def record_crash(self, crash: dict) -> None:
        self.crashes += 1
        self.crash = crash
        if len(self.crash_list) < MAX_CRASH_RECORDS:
            self.crash_list.append(crash)

    def to_dict(self) -> dict:
        elapsed = self.last_request_at - self.first_request_at
        full = sum(self.handshake_histogram.values())
        resumed = sum(self.resumed_histogram.values())
        return {
            "requests": self.requests,
            "with_cert": self.with_cert,
            "without_cert": self.without_cert,
            "failures": self.failures,
            "wrong_identity": self.wrong_identity,
            "missing_certificate": self.missing_certificate,
            "bleed": self.bleed,
            "unreported": self.unreported,
            "checked": self.checked,
            "in_flight_at_stop": self.in_flight_at_stop,
            "identity_check": self.identity_check,
            "seen_pairs": [
                {"sent": sent, "seen": seen, "count": count}
                for (sent, seen), count in self.seen_pairs.most_common(SEEN_PAIRS_SHOWN)
            ],
            "crashes": self.crashes,
            "crash": self.crash,
            "crash_list": list(self.crash_list),
            "handshakes": full + resumed,
            "handshake_ms": {  # full handshakes only
                "p50": percentile(self.handshake_histogram, 0.50),
                "p95": percentile(self.handshake_histogram, 0.95),
            },
            "handshake_histogram": {str(k): v for k, v in self.handshake_histogram.items()},
            "full_handshakes": full,
            "resumed_handshakes": resumed,
            "resumed_handshake_ms": {
                "p50": percentile(self.resumed_histogram, 0.50),
                "p95": percentile(self.resumed_histogram, 0.95),
            },
            "resumed_histogram": {str(k): v for k, v in self.resumed_histogram.items()},
            "tls_versions": dict(self.tls_versions),
            "tls": self.tls,
            "generations": dict(self.generations),
            "context_cache": (
                self.context_cache_source() if self.context_cache_source else self.context_cache
            ),
            "failure_classes": dict(self.failure_classes.most_common()),
            "identities_in_use": sorted(self.identities_in_use),
            "rps": round(self.requests / elapsed, 1) if elapsed > 0 else 0.0,
            "first_request_at": self.first_request_at,
            "last_request_at": self.last_request_at,
            "elapsed_s": round(elapsed, 2),
            "strategy": self.strategy,
            "row": self.row,
            "client": self.client,
            "concurrency": self.concurrency,
            "keepalive": self.keepalive,
            "client_path": self.client_path,
        }

    @classmethod
    def from_dict(cls, data: dict) -> StrategyStats:
        stats = cls(
            strategy=data.get("strategy", ""),
            row=data.get("row", ""),
            client=data.get("client", "requests"),
            concurrency=data.get("concurrency", ""),
            keepalive=data.get("keepalive", True),
            client_path=data.get("client_path", ""),
            tls=data.get("tls", {}),
        )
        for name in COUNTERS:
            setattr(stats, name, data.get(name, 0))
        stats.identity_check = data.get("identity_check", "")
        for pair in data.get("seen_pairs", ()):
            stats.count_pair(pair["sent"], pair["seen"], pair["count"])
        stats.crash = data.get("crash")
        stats.crash_list = list(data.get("crash_list") or ([stats.crash] if stats.crash else []))
        stats.handshake_histogram = Counter(
            {float(k): v for k, v in data.get("handshake_histogram", {}).items()}
        )
        stats.resumed_histogram = Counter(
            {float(k): v for k, v in data.get("resumed_histogram", {}).items()}
        )
        stats.tls_versions = Counter(data.get("tls_versions", {}))
        stats.generations = Counter(data.get("generations", {}))
        stats.context_cache = data.get("context_cache", {})
        stats.identities_in_use = set(data.get("identities_in_use", ()))
        stats.failure_classes = Counter(data.get("failure_classes", {}))
        stats.first_request_at = data.get("first_request_at", 0.0)
        stats.last_request_at = data.get("last_request_at", 0.0)
        return stats

    def add(self, other: StrategyStats) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.use_check(other.identity_check)
        for (sent, seen), count in other.seen_pairs.items():
            self.count_pair(sent, seen, count)
        self.crash = other.crash or self.crash
        merged = sorted(self.crash_list + other.crash_list, key=lambda c: c.get("time") or "")
        self.crash_list = merged[:MAX_CRASH_RECORDS]
        self.handshake_histogram.update(other.handshake_histogram)
        self.resumed_histogram.update(other.resumed_histogram)
        self.tls_versions.update(other.tls_versions)
        self.generations.update(other.generations)
        cache = Counter(self.context_cache)
        cache.update(other.context_cache)  # summed over workers: each keeps its own
        self.context_cache = dict(cache)
        self.failure_classes.update(other.failure_classes)
        self.identities_in_use |= other.identities_in_use
        starts = [t for t in (self.first_request_at, other.first_request_at) if t]
        self.first_request_at = min(starts, default=0.0)
        self.last_request_at = max(self.last_request_at, other.last_request_at)
        if not self.strategy:
            self.strategy, self.row, self.client = other.strategy, other.row, other.client
            self.concurrency, self.keepalive = other.concurrency, other.keepalive
            self.tls = other.tls
        self.client_path = self.client_path or other.client_path


class MtlsStats:
    """Counters of every run setting in this process, plus the facts of the run.

    Rows are keyed by `settings.row_name`: the strategy name, plus every mode that changes
    a result, so two user classes with one strategy but different modes never merge.
    """

    def __init__(self, client_path: str = "", identities_loaded: int = 0):
        self.rows: dict[str, StrategyStats] = {}
        self.client_path = client_path
        self.identities_loaded = identities_loaded  # by this process (a worker: its slice)
        self.finished = False
        # Master only: workers that died, and workers whose final counts never came,
        # {client_id: what they reported, what may be missing}
        self.workers_lost: dict[str, dict] = {}
        self.workers_incomplete: dict[str, dict] = {}
        # Master only: the identity set every worker proved it loaded (locust/cluster.py).
        self.identity_set: dict | None = None

    def row_for(self, settings: RunSettings) -> StrategyStats:
        """The counters of one run setting, created on first use."""
        name = settings.row
        stats = self.rows.get(name)
        if stats is None:
            stats = self.rows[name] = StrategyStats(
                strategy=settings.strategy,
                row=name,
                client=settings.client,
                concurrency=settings.concurrency,
                keepalive=settings.keepalive,
                tls=asdict(settings.tls),
                identity_check=settings.identity_check,
            )
        return stats

    def row(
        self,
        strategy: str,
        concurrency: str = "greenlet",
        keepalive: bool = True,
        tls: TlsSettings | None = None,
    ) -> StrategyStats:
        """The row of a strategy in these modes (for callers without whole settings)."""
        return self.row_for(RunSettings(strategy, concurrency, keepalive, tls=tls or TlsSettings()))

    def to_dict(self) -> dict:
        document = {
            "finished": self.finished,
            "environment": environment_facts(),
            "client_path": self.client_path,
            "identities_loaded": self.identities_loaded,
            "strategies": {name: s.to_dict() for name, s in sorted(self.rows.items())},
        }
        if self.workers_lost:
            document["workers_lost"] = self.workers_lost
        if self.workers_incomplete:
            document["workers_incomplete"] = self.workers_incomplete
        if self.identity_set is not None:
            document["identity_set"] = self.identity_set
        return document

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
        # What requests runs on: in an env holding niquests, urllib3-future's copy.
        "urllib3": urllib3.__version__,
        "locust": _version("locust"),
        "gevent": _version("gevent"),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
    }
