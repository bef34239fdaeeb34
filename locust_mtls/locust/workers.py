"""Locust's master/worker runs: each worker's counters travel with Locust's periodic
report, the master keeps the latest per worker (distributed.py), and at stop the master
waits for every worker's final counts before it judges the run.

At the master's test_stop it sends each worker FINAL_REPORT (a Locust custom message);
the worker stops its users (as Locust's own stop does), lets the engines answer every
request they were given, and sends one more report marked final, in Locust's own
"stats" message so Locust's tables get it too. A worker whose final report does not come
within --mtls-report-timeout is incomplete: named, with an upper bound of what may be
missing, and the gate fails unless --mtls-allow-incomplete.

No load left behind: a worker `--processes` forked dies with its master (SIGTERM from the
kernel, even when the master was SIGKILLed), and any worker stops its users when the
master's heartbeats stop for MASTER_SILENT_S.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import gevent
from locust.runners import STATE_MISSING, STATE_RUNNING, STATE_SPAWNING

from locust_mtls.config.validation import report_timeout
from locust_mtls.locust.distributed import WorkerReports
from locust_mtls.locust.state import RunState
from locust_mtls.processes import die_with_parent

logger = logging.getLogger("locust_mtls")

FINAL_REPORT = "locust_mtls_final_report"
DRAIN_TIMEOUT_S = 10.0  # at most this long for the engines' last answers
MASTER_SILENT_S = 5.0  # the master answers every heartbeat, one a second
# The process that imported this module: with --processes, the master the workers fork from.
LOADED_IN = os.getpid()
_forked_by: list[int] = [0]


def _die_with_the_master_if_forked_by_it() -> None:
    """In a child `--processes` forked from the master, at once: not at its init event, which
    a worker whose master is already gone (bad input there) never reaches: its runner
    retries connecting for minutes first. A fork made by any other process is left alone."""
    if _forked_by[0] == LOADED_IN:
        die_with_parent(LOADED_IN, signal.SIGTERM)


os.register_at_fork(
    before=lambda: _forked_by.__setitem__(0, os.getpid()),
    after_in_child=_die_with_the_master_if_forked_by_it,
)


def drain(state: RunState) -> None:
    """Let the engines answer every request they were given (those of stopped users too)."""
    if state.run is not None:
        state.run.drain(DRAIN_TIMEOUT_S)


def start_worker(environment, state: RunState) -> None:
    """Worker: counters with every report; a final report when the master asks; never
    running on without a master."""
    runner = environment.runner

    def attach(data: dict, **_kwargs) -> None:
        if state.run is not None:
            WorkerReports.attach(data, state.run.stats)

    def send_final_report(**_kwargs) -> None:
        runner.stop()  # as Locust's own "stop" does (a no-op when already stopped)
        drain(state)
        data: dict = {}
        environment.events.report_to_master.fire(client_id=runner.client_id, data=data)
        if state.run is not None:
            WorkerReports.attach(data, state.run.stats, final=True)
        runner.send_message("stats", data)

    environment.events.report_to_master.add_listener(attach)
    runner.register_message(FINAL_REPORT, send_final_report, concurrent=True)
    gevent.spawn(stop_when_the_master_is_silent, environment, state)


def stop_when_the_master_is_silent(environment, state: RunState) -> None:
    """Worker: a master that stopped answering heartbeats (killed, its host gone) gets
    this worker's users stopped within seconds, not after Locust's 60 s timeout."""
    runner = environment.runner
    while not state.finished:
        gevent.sleep(1.0)
        last = getattr(runner, "last_heartbeat_timestamp", None)
        silent = last is not None and time.time() - last > MASTER_SILENT_S
        if silent and runner.state in (STATE_SPAWNING, STATE_RUNNING):
            logger.error(
                "locust-mtls: no heartbeat from the master for %.0f s: stopping this "
                "worker's users",
                time.time() - last,
            )
            runner.stop()


def start_master(environment, state: RunState) -> None:
    """Master: every worker's latest counters, its final ones at stop, lost workers."""
    reports = state.worker_reports = WorkerReports()
    environment.events.worker_report.add_listener(
        lambda client_id, data, **_: reports.receive(client_id, data)
    )
    environment.events.test_stop.add_listener(
        lambda **_: collect_final_reports(environment, state, reports)
    )
    gevent.spawn(watch_for_lost_workers, environment, state, reports)


def collect_final_reports(environment, state: RunState, reports: WorkerReports) -> None:
    """Master, at stop: ask every worker for its final counts and wait for them (bounded:
    the stop timeout, which workers give their users, plus --mtls-report-timeout)."""
    runner = environment.runner
    workers = list(runner.clients.keys())
    for client_id in workers:
        runner.send_message(FINAL_REPORT, client_id=client_id)
    timeout = report_timeout(state.options)
    deadline = time.monotonic() + (environment.stop_timeout or 0) + timeout
    while not reports.final.issuperset(workers) and time.monotonic() < deadline:
        gevent.sleep(0.1)
    reports.mark_incomplete(workers)
    for client_id, missing in reports.incomplete.items():
        logger.error(
            "locust-mtls: worker %s sent no final report (%s): its last report counted %d "
            "requests, up to %d more may be missing",
            *(client_id, missing["why"], missing["requests_reported"]),
            missing["requests_possibly_missing"],
        )


def watch_for_lost_workers(environment, state: RunState, reports: WorkerReports) -> None:
    """Master: Locust marks a worker "missing" after 3 missed heartbeats (and fires no
    event for it); one that reported counters is then lost, with its last report kept."""
    while not state.finished:
        for client_id, worker in list(environment.runner.clients.items()):
            if worker.state == STATE_MISSING:
                reports.mark_lost(client_id)
        gevent.sleep(1.0)
