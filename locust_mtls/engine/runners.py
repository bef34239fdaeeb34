"""Where requests run: in the user's greenlet (Locust's way), on native OS threads, or on
an asyncio event loop.

`MtlsRun.runner_for()` gives each Locust user a runner with one method,
`run(method, url, sent)`, which fills `sent.outcome`. Greenlet runners call the strategy
directly; native-thread runners hand the request to a `ThreadEngine` child process (see
thread_engine.py; in asyncio mode the child runs it on its event loop) and wait for its
answer without blocking other greenlets. An answer
whose user was stopped while waiting is still checked and counted, by the engine's reader.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import sys
import tempfile
import time

import gevent
from gevent import subprocess  # cooperative pipes, with or without monkey-patching
from gevent.event import AsyncResult
from gevent.lock import Semaphore

from locust_mtls.engine.checkpoint import Sent, http_error_of, seen_by_hook
from locust_mtls.engine.execution import Outcome, execute_request
from locust_mtls.engine.failures import NO_ENGINE_ANSWER
from locust_mtls.settings import RunSettings, child_environment
from locust_mtls.strategies import Strategy
from locust_mtls.tls import key_material
from locust_mtls.tls.connections import ConnectionLog


class GreenletRunner:
    """Runs requests in the calling greenlet, with this user's own strategy client."""

    def __init__(self, strategy: Strategy, settings: RunSettings):
        self.client = strategy.new_client()
        self.settings = settings

    def run(self, method: str, url: str, sent: Sent, keep_body: bool = False) -> None:
        execute_request(
            self.client,
            method,
            url,
            sent.identity,
            identity_header=self.settings.identity_header,
            keepalive=self.settings.keepalive,
            timeout=self.settings.timeout,
            keep_body=keep_body,
            into=sent.outcome,
        )

    def close(self) -> None:
        self.client.close()


class NativeThreadRunner:
    """Runs requests on one OS thread of the shared engine child process."""

    def __init__(self, engine: ThreadEngine, thread_id: int):
        self.engine = engine
        self.thread_id = thread_id

    def run(self, method: str, url: str, sent: Sent, keep_body: bool = False) -> None:
        sent.outcome = self.engine.call(self.thread_id, method, url, sent, keep_body)

    def send(self, request: dict, sent: Sent) -> Outcome:
        """One full-API request encoded by wire.encode_request; the answer in `response`."""
        return self.engine.call(
            self.thread_id, request["method"], request["url"], sent, request=request
        )

    def close(self) -> None:
        pass  # the engine is shared, closed once at the end of the run


class ThreadEngine:
    """The Locust-side handle on a thread_engine child process; restarts it after a crash.

    `on_crash(record)` is called once per crash with a dict: signal, strategy, time,
    requests_done, faulthandler_file.
    """

    def __init__(self, settings: RunSettings, trust, identities, on_crash):
        self.settings = settings
        self.trust = trust
        self.identities = list(identities)
        self.on_crash = on_crash
        self.process: subprocess.Popen | None = None
        # job id -> (its waiter, the request); `orphans`: jobs whose user stopped waiting
        self.pending: dict[int, tuple[AsyncResult, Sent]] = {}
        self.orphans: set[int] = set()
        self.job_ids = itertools.count()
        self.generation = 0
        self.requests_done = 0
        self.write_lock = Semaphore()
        self.start_lock = Semaphore()
        self.closed = False

    def _start(self) -> None:
        self.generation += 1
        self.requests_done = 0
        # Unlinked at once: faulthandler writes a crash's stacks here, and only a crash
        # turns them into a file in the crash dir (a clean run leaves nothing behind).
        self.stack_log = tempfile.TemporaryFile()
        config = {
            "strategy": self.settings.strategy,
            "concurrency": self.settings.concurrency,  # native-threads, or asyncio's one loop
            "ca_file": self.trust.ca_file,
            "ca_bundle_file": self.trust.ca_bundle_file,
            "trust_env": self.trust.trust_env,
            "tls": dataclasses.asdict(self.trust.tls),
            "context_cache": self.trust.context_cache,
            "identities": [dataclasses.asdict(i) for i in self.identities],
            "identity_header": self.settings.identity_header,
            "keepalive": self.settings.keepalive,
            "timeout": list(self.settings.timeout),
            "faulthandler_fd": self.stack_log.fileno(),
            "parent_pid": os.getpid(),
            # Protected keys are memory files under this process's random password: the
            # child gets their descriptors (pass_fds) and the password over this pipe.
            "key_password": key_material.password().decode(),
            "crash_after": int(os.environ.get("LOCUST_MTLS_ENGINE_CRASH_AFTER", 0)) or None,
            "crash_signal": os.environ.get("LOCUST_MTLS_ENGINE_CRASH_SIGNAL", "SIGSEGV"),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "locust_mtls.engine.thread_engine"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            pass_fds=[self.stack_log.fileno(), *key_material.inheritable_descriptors()],
            env=child_environment(os.environ),
        )
        self.process.stdin.write(json.dumps(config) + "\n")
        self.process.stdin.flush()
        gevent.spawn(self._read_results, self.process, self.stack_log)

    def _read_results(self, process: subprocess.Popen, stack_log) -> None:
        for line in process.stdout:
            result = json.loads(line)
            self.requests_done += 1
            self._answer(result.pop("id"), Outcome.from_dict(result))
        returncode = process.wait()
        if process is self.process:
            self.process = None
        if returncode < 0 and not self.closed:
            self._crashed(signal.Signals(-returncode).name, self._keep_stacks(stack_log))
        stack_log.close()
        self._answer_all(Outcome(error="ClientCrash: native-thread engine exited", crash="exit"))

    def _answer(self, job_id: int, outcome: Outcome) -> None:
        """Hand an answer to its user, or check and count it if the user stopped."""
        waiter, sent = self.pending.pop(job_id, (None, None))
        if job_id in self.orphans:
            self.orphans.discard(job_id)
            sent.outcome = outcome
            sent.checkpoint.check(sent, http_error_of(outcome), seen=seen_by_hook(sent))
        elif waiter is not None:
            waiter.set(outcome)

    def _answer_all(self, outcome: Outcome) -> None:
        """Every pending job gets `outcome` (their own answers will never come)."""
        for job_id in list(self.pending):
            self._answer(job_id, dataclasses.replace(outcome, connections=ConnectionLog()))

    def _keep_stacks(self, stack_log) -> str | None:
        """The crash's faulthandler stacks as a file in the crash dir (None: none written)."""
        stack_log.seek(0)
        stacks = stack_log.read()
        if not stacks:
            return None
        os.makedirs(self.settings.crash_dir, exist_ok=True)
        path = os.path.join(
            os.path.abspath(self.settings.crash_dir),
            f"{self.settings.strategy}-{os.getpid()}-{self.generation}.faulthandler.log",
        )
        with open(path, "wb") as file:
            file.write(stacks)
        return path

    def _crashed(self, signal_name: str, faulthandler_file: str | None) -> None:
        record = {
            "signal": signal_name,
            "strategy": self.settings.strategy,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "requests_done": self.requests_done,
            "faulthandler_file": faulthandler_file,
        }
        self._answer_all(Outcome(error=f"ClientCrash: {signal_name}", crash=signal_name))
        self.on_crash(record)

    def call(
        self,
        thread_id: int,
        method: str,
        url: str,
        sent: Sent,
        keep_body: bool = False,
        request: dict | None = None,
    ) -> Outcome:
        if self.closed:
            return Outcome(error="ClientCrash: engine closed", crash="closed")
        with self.start_lock:
            if self.process is None:
                self._start()
        job_id = next(self.job_ids)
        waiter = AsyncResult()
        self.pending[job_id] = (waiter, sent)
        identity = sent.identity
        job = {
            "id": job_id,
            "thread": thread_id,
            "method": method,
            "url": url,
            "identity": identity.fingerprint if identity else None,
            "keep_body": keep_body,
        }
        if request is not None:
            job["request"] = request
        try:
            with self.write_lock:
                self.process.stdin.write(json.dumps(job) + "\n")
                self.process.stdin.flush()
        except (BrokenPipeError, OSError, AttributeError):
            pass  # the reader sees the death and answers every pending job
        # Bounded: a wedged engine must not hang the user forever.
        timeout = (request or {}).get("timeout") or self.settings.timeout
        wait = sum(t or 0.0 for t in timeout) + 10.0
        try:
            outcome = waiter.get(timeout=wait, block=True) if waiter.wait(wait) else None
        except BaseException:  # the user was stopped: its answer is still checked
            if job_id in self.pending:
                self.orphans.add(job_id)  # the reader checks it when it comes
            elif waiter.ready():  # it came just before the stop: check it now
                sent.outcome = waiter.value
                sent.checkpoint.check(sent, http_error_of(sent.outcome), seen=seen_by_hook(sent))
            raise
        if outcome is None:
            self.pending.pop(job_id, None)
            return Outcome(
                error=f"Timeout: no answer from native thread in {wait:.0f}s",
                failure_class=NO_ENGINE_ANSWER,
            )
        return outcome

    def add_identities(self, identities) -> None:
        """A rotation: the child learns the new identities (it keeps the old ones, for
        jobs already queued); a restarted child gets them all."""
        self.identities.extend(identities)
        if self.process is None:
            return
        line = {"identities": [dataclasses.asdict(i) for i in identities]}
        try:
            with self.write_lock:
                self.process.stdin.write(json.dumps(line) + "\n")
                self.process.stdin.flush()
        except (BrokenPipeError, OSError, AttributeError):
            pass  # a dead child restarts with self.identities

    def drain(self, timeout: float) -> None:
        """Wait up to `timeout` s for the child to answer every job it was given."""
        deadline = time.monotonic() + timeout
        while self.pending and self.process is not None and time.monotonic() < deadline:
            gevent.sleep(0.05)

    def close(self, timeout: float = 5.0) -> None:
        """End the child: closing its stdin ends its loop; SIGKILL by PID if it lingers."""
        self.closed = True
        for job_id in list(self.orphans):  # given to the child, not answered in time
            waiter, sent = self.pending.pop(job_id)
            sent.outcome.connections.requests_written += 1  # the child had it: assume sent
            sent.checkpoint.stopped(sent)
        self.orphans.clear()
        process = self.process
        if process is None:
            return
        try:
            process.stdin.close()
            process.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
