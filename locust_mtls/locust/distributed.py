"""mTLS counters of a distributed run: each worker's latest snapshot, summed on the master.

Workers send their *cumulative* counters (`MtlsStats.to_dict()`) with every
`report_to_master`; the master keeps only the latest one per worker `client_id` and
sums on demand. A lost report is made good by the next one and a repeated one replaces
itself, so nothing is counted twice (Locust's own stats send deltas instead, which a
lost message would lose for good). No Locust import: workers.py wires Locust's events.

At stop the master asks every worker for a final report (workers.py): its users stopped
and every answer counted. A worker whose final report does not come is incomplete, and a
worker that dies (SIGKILL, OOM) is lost: what it reported is kept, with an upper bound
of what it may have sent since.
"""

from __future__ import annotations

import math
import time

from locust_mtls.engine.stats import MtlsStats

REPORT_KEY = "mtls"  # our key in Locust's worker report dict


class WorkerReports:
    """The latest counters of every worker that reported, keyed by its client id."""

    def __init__(self) -> None:
        self.by_worker: dict[str, dict] = {}
        self.received_at: dict[str, float] = {}
        self.peak_rate: dict[str, float] = {}  # most requests/s between two of its reports
        self.final: set[str] = set()  # workers whose report after their stop came
        self.lost: dict[str, dict] = {}
        self.incomplete: dict[str, dict] = {}  # no final report: what may be missing

    @staticmethod
    def attach(data: dict, stats: MtlsStats, final: bool = False) -> None:
        """Worker side: put this process's cumulative counters into a report; `final`:
        its users are stopped and every answer is counted."""
        data[REPORT_KEY] = {**stats.to_dict(), "final": final}

    def receive(self, client_id: str, data: dict, now: float | None = None) -> None:
        """Master side: keep the newest snapshot of `client_id` (reports without ours are
        ignored: a worker of another locustfile, or one that has not started a test)."""
        snapshot = data.get(REPORT_KEY)
        if snapshot is None:
            return
        now = time.time() if now is None else now
        before, then = self.by_worker.get(client_id), self.received_at.get(client_id)
        if before is not None and then is not None and now > then:
            rate = (sent(snapshot) - sent(before)) / (now - then)
            self.peak_rate[client_id] = max(self.peak_rate.get(client_id, 0.0), rate)
        self.by_worker[client_id] = snapshot
        self.received_at[client_id] = now
        self.lost.pop(client_id, None)  # it reports again: it was only late
        if snapshot.get("final"):
            self.final.add(client_id)
            self.incomplete.pop(client_id, None)

    def possibly_missing(self, client_id: str, now: float) -> dict:
        """What the master knows of a worker whose last counts may be short: its last
        report, and an upper bound of what it sent after it (its fastest rate yet, over
        the whole time since that report)."""
        last = self.received_at.get(client_id, now)
        snapshot = self.by_worker.get(client_id, {})
        rate = self.peak_rate.get(client_id) or reported_rate(snapshot)
        return {
            "last_report_at": last,
            "requests_reported": sent(snapshot),
            "requests_possibly_missing": math.ceil(rate * max(now - last, 0.0)),
        }

    def mark_lost(self, client_id: str, now: float | None = None) -> None:
        """The master stopped hearing from `client_id`: keep its last counters, and say
        how many more it may have made."""
        if client_id in self.lost or client_id not in self.by_worker:
            return
        now = time.time() if now is None else now
        self.lost[client_id] = {"lost_at": now, **self.possibly_missing(client_id, now)}

    def mark_incomplete(self, workers, now: float | None = None) -> None:
        """At stop: every worker of `workers` without a final report is incomplete."""
        now = time.time() if now is None else now
        for client_id in workers:
            if client_id not in self.final:
                why = "lost" if client_id in self.lost else "no final report"
                self.incomplete[client_id] = {"why": why, **self.possibly_missing(client_id, now)}

    def clear(self) -> None:
        """Forget every worker's counters: a new test starts from zero on every worker."""
        for kept in (self.by_worker, self.received_at, self.peak_rate, self.lost):
            kept.clear()
        self.final.clear()
        self.incomplete.clear()

    def total(self, local: MtlsStats | None = None) -> MtlsStats:
        """Every worker's counters summed, plus this process's own (`local`), if any."""
        snapshots = list(self.by_worker.values())
        if local is not None and local.rows:
            snapshots.append(local.to_dict())
        total = MtlsStats.merged(snapshots)
        if local is not None:
            total.client_path = total.client_path or local.client_path
            total.finished = local.finished
            total.identities_loaded = local.identities_loaded
        total.workers_lost = dict(self.lost)
        total.workers_incomplete = dict(self.incomplete)
        return total


def sent(snapshot: dict) -> int:
    """Requests a snapshot accounts for: counted, and stopped in flight."""
    rows = snapshot.get("strategies", {}).values()
    return sum(row.get("requests", 0) + row.get("in_flight_at_stop", 0) for row in rows)


def reported_rate(snapshot: dict) -> float:
    """The requests/s a snapshot's rows report (for a worker with one report only)."""
    return sum(row.get("rps", 0.0) for row in snapshot.get("strategies", {}).values())
