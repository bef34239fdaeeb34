"""The run over time: every row's cumulative counters sampled every few seconds into a
bounded ring, turned into per-interval rates for the live charts and the HTML report.

Samples are taken from the run's *totals* (on a master, the workers' counters summed),
so a distributed run's timeline is merged by construction. When the ring is full, every
other sample is dropped and the interval doubles: a long run keeps its whole history at a
coarser resolution instead of losing its start.
"""

from __future__ import annotations

import time
from itertools import pairwise

from locust_mtls.engine.stats import MtlsStats

# The cumulative counters a sample keeps, per row.
SAMPLED = ("requests", "failures", "wrong_identity", "bleed", "unreported", "crashes")
# What the charts show: (series key, title, unit). Identity failures are a share of the
# interval's requests (comparable across rows of different speed); crashes are counted.
SERIES = (
    ("requests_per_s", "Requests/s", "req/s"),
    ("wrong_identity_pct", "Wrong identity", "% of requests"),
    ("bleed_pct", "Cert bleed", "% of requests"),
    ("unreported_pct", "Identity not reported", "% of requests"),
    ("crashes", "Client crashes (cumulative)", "crashes"),
)


class Timeline:
    """Samples of every row's counters: (time, {row: {counter: cumulative value}})."""

    def __init__(self, interval: float = 2.0, capacity: int = 900):
        self.interval = interval
        self.capacity = capacity
        self.samples: list[tuple[float, dict[str, dict]]] = []

    def sample(self, stats: MtlsStats, now: float | None = None) -> None:
        """Record the counters of every row now (a no-op before the first request)."""
        rows = {
            name: {key: getattr(row, key) for key in SAMPLED} | {"meta": meta(row)}
            for name, row in stats.rows.items()
        }
        if not rows:
            return
        self.samples.append((time.time() if now is None else now, rows))
        if len(self.samples) > self.capacity:
            # Keep the first sample (the run's start) and every other one after it.
            self.samples = self.samples[:1] + self.samples[2::2]
            self.interval *= 2

    def clear(self) -> None:
        self.samples.clear()

    def series(self) -> dict:
        """Per-interval rates per row: {"start": t0, "rows": {row: {"t": [...], key: [...]}}}.

        A row's series start at its first sample; `t` is seconds since the run's first
        sample, at the end of each interval.
        """
        if len(self.samples) < 2:
            return {"start": self.samples[0][0] if self.samples else 0.0, "rows": {}}
        start = self.samples[0][0]
        rows: dict[str, dict] = {}
        for (t0, before), (t1, after) in pairwise(self.samples):
            for name, now in after.items():
                previous = before.get(name, {key: 0 for key in SAMPLED})
                out = rows.setdefault(name, {"t": [], **now["meta"]} | {k: [] for k, *_ in SERIES})
                requests = now["requests"] - previous["requests"]
                out["t"].append(round(t1 - start, 1))
                out["requests_per_s"].append(round(requests / (t1 - t0), 2) if t1 > t0 else 0.0)
                for kind in ("wrong_identity", "bleed", "unreported"):
                    share = (now[kind] - previous[kind]) / requests * 100 if requests else 0.0
                    out[f"{kind}_pct"].append(round(share, 3))
                out["crashes"].append(now["crashes"])
        return {"start": start, "rows": dict(sorted(rows.items()))}


def meta(row) -> dict:
    return {"strategy": row.strategy, "concurrency": row.concurrency, "keepalive": row.keepalive}
