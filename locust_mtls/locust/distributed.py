"""mTLS counters of a distributed run: each worker's latest snapshot, summed on the master.

Workers send their *cumulative* counters (`MtlsStats.to_dict()`) with every
`report_to_master`; the master keeps only the latest one per worker `client_id` and
sums on demand. A lost report is made good by the next one and a repeated one replaces
itself, so nothing is counted twice (Locust's own stats send deltas instead, which a
lost message would lose for good). No Locust import: workers.py wires Locust's events.

A worker that dies (SIGKILL, OOM) takes the requests it made since its last report
with it: `mark_lost` keeps what it reported, and says how many more it may have made.
"""

from __future__ import annotations

import time

from locust_mtls.engine.stats import MtlsStats

REPORT_KEY = "mtls"  # our key in Locust's worker report dict


class WorkerReports:
    """The latest counters of every worker that reported, keyed by its client id."""

    def __init__(self) -> None:
        self.by_worker: dict[str, dict] = {}
        self.received_at: dict[str, float] = {}
        self.lost: dict[str, dict] = {}

    @staticmethod
    def attach(data: dict, stats: MtlsStats) -> None:
        """Worker side: put this process's cumulative counters into a report."""
        data[REPORT_KEY] = stats.to_dict()

    def receive(self, client_id: str, data: dict) -> None:
        """Master side: keep the newest snapshot of `client_id` (reports without ours are
        ignored: a worker of another locustfile, or one that has not started a test)."""
        snapshot = data.get(REPORT_KEY)
        if snapshot is not None:
            self.by_worker[client_id] = snapshot
            self.received_at[client_id] = time.time()
            self.lost.pop(client_id, None)  # it reports again: it was only late

    def mark_lost(self, client_id: str, report_interval: float, now: float | None = None) -> None:
        """The master stopped hearing from `client_id`: keep its last counters, and
        estimate the requests it made after them (its rate, for at most one report
        interval: it would have reported again by then, had it been alive)."""
        if client_id in self.lost or client_id not in self.by_worker:
            return
        now = time.time() if now is None else now
        last = self.received_at[client_id]
        rows = self.by_worker[client_id].get("strategies", {}).values()
        rate = sum(row.get("rps", 0.0) for row in rows)
        self.lost[client_id] = {
            "lost_at": now,
            "last_report_at": last,
            "requests_reported": sum(row.get("requests", 0) for row in rows),
            "requests_possibly_missing": round(rate * min(max(now - last, 0.0), report_interval)),
        }

    def clear(self) -> None:
        """Forget every worker's counters: a new test starts from zero on every worker."""
        self.by_worker.clear()
        self.received_at.clear()
        self.lost.clear()

    def total(self, local: MtlsStats | None = None) -> MtlsStats:
        """Every worker's counters summed, plus this process's own (`local`), if any."""
        snapshots = list(self.by_worker.values())
        if local is not None and local.rows:
            snapshots.append(local.to_dict())
        total = MtlsStats.merged(snapshots)
        if local is not None:
            total.client_path = total.client_path or local.client_path
            total.finished = local.finished
        total.workers_lost = dict(self.lost)
        return total
