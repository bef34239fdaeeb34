"""mTLS counters of a distributed run: each worker's latest snapshot, summed on the master.

Workers send their *cumulative* counters (`MtlsStats.to_dict()`) with every
`report_to_master`; the master keeps only the latest one per worker `client_id` and
sums on demand. A lost report is made good by the next one and a repeated one replaces
itself, so nothing is counted twice (Locust's own stats send deltas instead, which a
lost message would lose for good). No Locust import: plugin.py wires the events.
"""

from __future__ import annotations

from locust_mtls.engine.stats import MtlsStats

REPORT_KEY = "mtls"  # our key in Locust's worker report dict


class WorkerReports:
    """The latest counters of every worker that reported, keyed by its client id."""

    def __init__(self) -> None:
        self.by_worker: dict[str, dict] = {}

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

    def clear(self) -> None:
        """Forget every worker's counters: a new test starts from zero on every worker."""
        self.by_worker.clear()

    def total(self, local: MtlsStats | None = None) -> MtlsStats:
        """Every worker's counters summed, plus this process's own (`local`), if any."""
        snapshots = list(self.by_worker.values())
        if local is not None and local.rows:
            snapshots.append(local.to_dict())
        total = MtlsStats.merged(snapshots)
        if local is not None:
            total.client_path = total.client_path or local.client_path
            total.finished = local.finished
        return total
