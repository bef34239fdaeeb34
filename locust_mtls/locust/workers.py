"""Locust's master/worker runs: each worker's counters travel with Locust's periodic
report, the master keeps the latest per worker (distributed.py) and notices workers
that go missing.
"""

from __future__ import annotations

import gevent
from locust.runners import STATE_MISSING, WORKER_REPORT_INTERVAL

from locust_mtls.locust.distributed import WorkerReports


def start_worker(environment, state) -> None:
    """Worker: this process's cumulative counters travel with Locust's periodic report."""

    def attach(data: dict, **_kwargs) -> None:
        if state.run is not None:
            WorkerReports.attach(data, state.run.stats)

    environment.events.report_to_master.add_listener(attach)


def start_master(environment, state) -> None:
    """Master: keep every worker's latest counters, and notice workers that go missing."""
    reports = state.worker_reports = WorkerReports()
    environment.events.worker_report.add_listener(
        lambda client_id, data, **_: reports.receive(client_id, data)
    )
    gevent.spawn(watch_for_lost_workers, environment, state, reports)


def watch_for_lost_workers(environment, state, reports: WorkerReports) -> None:
    """Master: Locust marks a worker "missing" after 3 missed heartbeats (and fires no
    event for it); one that reported counters is then lost, with its last report kept."""
    while not state.finished:
        for client_id, worker in list(environment.runner.clients.items()):
            if worker.state == STATE_MISSING:
                reports.mark_lost(client_id, WORKER_REPORT_INTERVAL)
        gevent.sleep(1.0)
