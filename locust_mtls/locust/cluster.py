"""Before a distributed run starts: every worker proves it loaded the master's identity set
(names, certificate fingerprints and CA, never key material), and with --mtls-partition
each worker gets its slice of the identities.

At the master's test_start, before Locust sends the spawn messages, the master asks every
worker (IDENTITY_SET, a Locust custom message carrying the master's file options) for the
fingerprint of the set it will load: its own files where it was given some (they are its
host's), else the master's paths. A worker that differs, or does not answer, stops the run
before any user starts, with one line naming it and the difference (StopTest). A worker
that joins later is checked the same way and told to quit on a difference.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import gevent

from locust_mtls.config.options import HOST_FILES, host_files
from locust_mtls.config.validation import identity_set_fingerprint
from locust_mtls.errors import ConfigError
from locust_mtls.locust.state import RunState
from locust_mtls.tls.identity_set import SetFingerprint, difference

logger = logging.getLogger("locust_mtls")

IDENTITY_SET = "locust_mtls_identity_set"
PARTITION = "locust_mtls_partition"
ANSWER_TIMEOUT_S = 15.0  # reading a listing of 100,000 identities takes about a second
ASK_AGAIN_S = 1.0


def start_worker(environment, state: RunState) -> None:
    """Worker: answer the master's question, take the slice it gives."""
    runner = environment.runner
    state.own_options = argparse.Namespace(**vars(environment.parsed_options))

    def answer(msg, **_kwargs) -> None:
        options = with_host_files(state, argparse.Namespace(**msg.data))
        try:
            fingerprint = identity_set_fingerprint(options).to_dict()
        except ConfigError as error:
            fingerprint = {"error": str(error)}
        runner.send_message(IDENTITY_SET, fingerprint)

    def take_part(msg, **_kwargs) -> None:
        state.partition = (msg.data["index"], msg.data["parts"])

    runner.register_message(IDENTITY_SET, answer, concurrent=True)
    runner.register_message(PARTITION, take_part)  # in order: before the spawn that follows


def with_host_files(state: RunState, master) -> argparse.Namespace:
    """This worker's options with its own files where it was given some, else `master`'s."""
    own = state.own_options
    return argparse.Namespace(**{**vars(own), **host_files(own, master)})


def use_host_files(environment, state: RunState) -> None:
    """Worker, at each spawn: the master's options arrived (Locust copies them in); the
    files stay this host's own where it was given some."""
    options = environment.parsed_options
    vars(options).update(host_files(state.own_options, options))


def start_master(environment, state: RunState) -> None:
    """Master: collect the workers' answers; prove them at every test start."""
    answers: dict[str, dict] = {}

    def collect(msg, **_kwargs) -> None:
        answers[msg.node_id] = msg.data

    environment.runner.register_message(IDENTITY_SET, collect)
    environment.events.test_start.add_listener(
        lambda **_: prove_identity_sets(environment, state, answers)
    )
    gevent.spawn(report_partition_changes, environment, state)


def prove_identity_sets(environment, state: RunState, answers: dict[str, dict]) -> None:
    """Master, at test start: every worker lists the master's identities and CA, or the
    run stops before a user starts; then each gets its slice when partitioned."""
    runner = environment.runner
    workers = sorted(runner.clients.keys())
    mine = identity_set_fingerprint(state.options)
    answers.clear()
    request = {name: getattr(state.options, name) for name in HOST_FILES}
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    asked_at = 0.0
    while not set(answers) >= set(workers) and time.monotonic() < deadline:
        # Asked again each second until answered: a Locust worker says client_ready in its
        # runner's constructor, before the init event where it registers our handler, and
        # drops a question that comes first ("Unknown message type received"; the master
        # of a headless run with --expect-workers starts the test at once). Answers are
        # idempotent.
        if time.monotonic() - asked_at >= ASK_AGAIN_S:
            asked_at = time.monotonic()
            for client_id in set(workers) - set(answers):
                runner.send_message(IDENTITY_SET, request, client_id=client_id)
        gevent.sleep(0.05)
    problem = next(filter(None, (problem_of(w, answers.get(w), mine) for w in workers)), None)
    if problem:
        refuse(environment, f"{problem}; give every worker the master's identities file and CA")
    state.identity_set = {**mine.summary(), "workers_agree": len(workers)}
    logger.info(
        "locust-mtls: identity set %s (%d identities): the master and %d workers agree",
        *(mine.digest[:16], len(mine.listed), len(workers)),
    )
    state.proven_workers = set(workers)
    if state.partitioned:
        for index, client_id in enumerate(workers):
            runner.send_message(PARTITION, {"index": index, "parts": len(workers)}, client_id)


def report_partition_changes(environment, state: RunState) -> None:
    """Master: the slices are cut for the workers a test started with. A worker that joins
    or leaves mid-run changes what is presented (a joiner loads every identity, a leaver's
    slice goes unused): said once per change, and kept for the summary."""
    while not state.finished:
        gevent.sleep(1.0)
        if not state.partitioned or not state.proven_workers:
            continue
        now = set(environment.runner.clients.keys())
        joined, left = now - state.proven_workers, state.proven_workers - now
        for client_id, what in [*((c, "joined") for c in joined), *((c, "left") for c in left)]:
            change = {"worker": client_id, "what": what, "at": time.time()}
            state.partition_changes.append(change)
            logger.warning(
                "locust-mtls: worker %s %s the partitioned run: the identities stay cut for "
                "the %d workers it started with; start a new test to cut them again",
                client_id, what, len(state.proven_workers),
            )  # fmt: skip
        state.proven_workers = now


def refuse(environment, reason: str) -> None:
    """Stop the run before any user starts: one line and exit code 2 (headless), or the
    start refused (web UI). Called in the greenlet that is starting the test."""
    line = f"locust-mtls: error: {reason}"
    environment.process_exit_code = ConfigError.exit_code
    if not getattr(environment.parsed_options, "headless", False):
        # Imported here: Locust 2.42 has no StopTest, and the matrix's locust-httpuser rows
        # load this plugin into Locusts that old.
        from locust.exception import StopTest

        raise StopTest(line)  # the web UI's start fails with it; Locust stays up
    sys.stderr.write(line + "\n")
    gevent.spawn(environment.runner.quit)
    raise gevent.GreenletExit  # this start ends here, without a traceback or a spawn


def problem_of(worker: str, answer: dict | None, mine: SetFingerprint) -> str:
    """What is wrong with one worker's answer ("" when it lists the master's set)."""
    if answer is None:
        return f"worker {worker} did not say which identities it loaded"
    if "error" in answer:
        return f"worker {worker} cannot load its identities: {answer['error']}"
    differs = difference(SetFingerprint.from_dict(answer), mine)
    return f"worker {worker} loaded another identity set: {differs}" if differs else ""
