"""The run over time: every row's cumulative counters sampled every few seconds into a
bounded ring, turned into per-interval rates for the live charts and the HTML report.

Samples are taken from the run's *totals*, per source: this process's live counters, or
on a master each worker's latest report (its cumulative counters and when it came).
Workers report every 3 s and the master samples every 2 s, so an interval may bring no
report at all: it is a gap (None, which the charts leave undrawn), never 0 req/s. A
worker's rate is taken over the time between its own reports, and a worker that did not
report in an interval adds the rate of its latest reports until its next one is due, so
two workers whose reports straddle a sample never draw a spike. When the ring is full,
every other sample is dropped and the interval doubles: a long run keeps its whole
history at a coarser resolution instead of losing its start.
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import pairwise

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.settings import BASE_WORDS, RATE_BASES, rate_of

# The cumulative counters a sample keeps, per row (the rates' bases with them).
SAMPLED = (
    "requests", *dict.fromkeys(RATE_BASES.values()), "failures", "wrong_identity",
    "missing_certificate", "bleed", "unreported", "crashes",
)  # fmt: skip
SHARES = ("wrong_identity", "missing_certificate", "bleed", "unreported")  # of their base


def share_unit(counter: str) -> str:
    """'% of requests sent without a certificate': what a share series is of."""
    return f"% of {BASE_WORDS[RATE_BASES.get(counter, 'requests')]}"


# What the charts show: (series key, title, unit). Identity failures are a share of the
# interval's requests that can have them (comparable across rows of different speed);
# crashes are counted.
SERIES = (
    ("requests_per_s", "Requests/s", "req/s"),
    ("wrong_identity_pct", "Wrong identity", share_unit("wrong_identity")),
    ("missing_certificate_pct", "Missing certificate", share_unit("missing_certificate")),
    ("bleed_pct", "Cert bleed", share_unit("bleed")),
    ("unreported_pct", "Identity not reported", share_unit("unreported")),
    ("crashes", "Client crashes (cumulative)", "crashes"),
)


class Timeline:
    """Samples of every row's counters: (time, {row: {"meta", "sources": {source: {counter:
    cumulative value, "as_of": when the source counted it, "started": its first request}}}})."""

    def __init__(self, interval: float = 2.0, capacity: int = 900):
        self.interval = interval
        self.capacity = capacity
        self.samples: list[tuple[float, dict[str, dict]]] = []

    def sample(
        self,
        stats: MtlsStats,
        now: float | None = None,
        reports: dict[str, tuple[float, dict]] | None = None,
    ) -> None:
        """Record the counters of every row now (a no-op before the first row).

        `stats` is the run's totals; on a master, `reports` holds each worker's latest
        (received at, `MtlsStats.to_dict()` snapshot), the sources of those totals.
        """
        now = time.time() if now is None else now
        if reports is None:  # live counters, counted until now
            reports = {"": (now, stats.to_dict() if stats.rows else {})}
        rows = {name: {"meta": meta(row), "sources": {}} for name, row in stats.rows.items()}
        for source, (as_of, snapshot) in reports.items():
            for name, counters in snapshot.get("strategies", {}).items():
                if name in rows:
                    rows[name]["sources"][source] = {
                        key: counters.get(key, 0) for key in SAMPLED
                    } | {
                        "as_of": as_of,
                        "started": counters.get("first_request_at") or 0.0,
                    }
        if not rows:
            return
        self.samples.append((now, rows))
        if len(self.samples) > self.capacity:
            # Keep the first sample (the run's start) and every other one after it.
            self.samples = self.samples[:1] + self.samples[2::2]
            self.interval *= 2

    def clear(self) -> None:
        self.samples.clear()

    def series(self) -> dict:
        """Per-interval rates per row: {"start": t0, "rows": {row: {"t": [...], key: [...]}}}.

        A row's series start at its first sample; `t` is seconds since the run's first
        sample, at the end of each interval. An interval in which no source brought new
        counters for a row is None in its rates (a gap); a share is of the requests the
        fresh sources counted, None when they counted none (`settings.rate_of`).
        """
        if len(self.samples) < 2:
            return {"start": self.samples[0][0] if self.samples else 0.0, "rows": {}}
        start = self.samples[0][0]
        rows: dict[str, dict] = {}
        sources: dict[tuple[str, str], SourceRate] = {}
        # The first sample only sets each source's counting start and rate: no interval.
        for (t0, before), (t1, after) in pairwise([(start, {}), *self.samples]):
            for name, now in after.items():
                earlier = before.get(name, {}).get("sources", {})
                fresh = Counter()
                requests_per_s, any_fresh = 0.0, False
                for source, counters in now["sources"].items():
                    rate = sources.setdefault((name, source), SourceRate())
                    delta = rate.update(counters, earlier.get(source), t0)
                    if delta is not None:
                        fresh.update(delta)
                        any_fresh = True
                    requests_per_s += rate.per_second(t1, t1 - t0)
                if t1 == start:
                    continue
                out = rows.setdefault(name, {"t": [], **now["meta"]} | {k: [] for k, *_ in SERIES})
                out["t"].append(round(t1 - start, 1))
                crashes = sum(counters["crashes"] for counters in now["sources"].values())
                out["crashes"].append(crashes)
                out["requests_per_s"].append(round(requests_per_s, 2) if any_fresh else None)
                for kind in SHARES:
                    share = rate_of(fresh, kind) if any_fresh else None
                    out[f"{kind}_pct"].append(None if share is None else round(share * 100, 3))
        return {"start": start, "rows": dict(sorted(rows.items()))}


class SourceRate:
    """One source's (a worker's) request rate over its own latest reports."""

    def __init__(self) -> None:
        self.per_s = 0.0
        self.as_of = 0.0
        self.spacing = 0.0  # time between its latest two reports

    def update(self, counters: dict, previous: dict | None, t0: float) -> dict | None:
        """The counters it added since `previous` (None: it brought nothing new)."""
        if previous is None:  # first seen: counting since its first request (a worker's
            # clock, the report's time is the master's: the sample before it if they differ)
            started = counters["started"]
            since = started if 0 < started < counters["as_of"] else t0
            previous = {key: 0 for key in SAMPLED} | {"as_of": since}
        elapsed = counters["as_of"] - previous["as_of"]
        if elapsed <= 0:
            return None
        delta = {key: counters[key] - previous[key] for key in SAMPLED}
        self.per_s = delta["requests"] / elapsed
        self.as_of, self.spacing = counters["as_of"], elapsed
        return delta

    def per_second(self, now: float, sampling: float) -> float:
        """Its latest rate, until its next report is overdue (a lost worker adds nothing)."""
        return self.per_s if now - self.as_of <= self.spacing + sampling else 0.0


def meta(row) -> dict:
    return {"strategy": row.strategy, "concurrency": row.concurrency, "keepalive": row.keepalive}
