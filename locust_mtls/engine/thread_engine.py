"""Native-thread engine: a child process that performs requests on real OS threads.

Locust runs users on gevent greenlets, where OpenSSL's data races cannot happen (one
greenlet runs at a time). To reproduce them, requests must run on OS threads, and a
race can end in SIGSEGV; so they run in this child process, without gevent, one
thread per Locust user. The Locust process stays up, records the crash and restarts
the engine. The parent side lives in runners.py. With `"concurrency": "asyncio"` (an
asyncio library such as aiohttp) the same child runs one event loop instead, one task
per request, each user's own client on it.

Protocol (JSON lines): the first stdin line is the configuration, then one job per
line `{"id", "thread", "method", "url", "identity", "keep_body"}` (identity: a fingerprint;
plus `"request"`, a whole prepared request from wire.py, for MtlsHttpUser), or
`{"identities": [...]}` after a rotation; stdout carries one result per line
`{"id", ...Outcome}`. For tests, `LOCUST_MTLS_ENGINE_CRASH_AFTER=N` in the
Locust process makes each engine kill itself with a real SIGSEGV (or
`LOCUST_MTLS_ENGINE_CRASH_SIGNAL`) after N answers. faulthandler writes a crash's
stacks to `faulthandler_fd`, an unlinked file the parent keeps only after a crash.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import queue
import signal
import sys
import threading

from locust_mtls.engine.execution import Outcome, execute_request, execute_request_async
from locust_mtls.engine.wire import send_encoded
from locust_mtls.processes import die_with_parent
from locust_mtls.settings import DEFAULT_CONTEXT_CACHE, TlsSettings
from locust_mtls.strategies import Trust, create
from locust_mtls.tls import key_material
from locust_mtls.tls.identity import Identity


class Engine:
    def __init__(self, config: dict, output):
        self.config = config
        self.output = output
        self.output_lock = threading.Lock()
        trust = Trust(
            config["ca_file"],
            config["ca_bundle_file"],
            config.get("trust_env", False),
            TlsSettings(**config.get("tls", {})),
            config.get("context_cache", DEFAULT_CONTEXT_CACHE),
        )
        self.strategy = create(config["strategy"], trust)
        self.identities: dict[str, Identity] = {}
        self.add_identities(config["identities"])
        self.queues: dict[int, queue.Queue] = {}
        self.requests_done = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        if config.get("concurrency") == "asyncio":
            self.loop = asyncio.new_event_loop()
            self.clients: dict[int, object] = {}  # each user's client, used on the loop only
            threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def add_identities(self, identities: list[dict]) -> None:
        """By fingerprint: after a rotation, old and new generations share names."""
        for fields in identities:
            identity = Identity(**fields)
            self.identities[identity.fingerprint] = identity

    def submit(self, job: dict) -> None:
        if "identities" in job:
            self.add_identities(job["identities"])
            return
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self.work_async(job), self.loop)
            return
        jobs = self.queues.get(job["thread"])
        if jobs is None:
            jobs = self.queues[job["thread"]] = queue.Queue()
            threading.Thread(target=self.work, args=(jobs,), daemon=True).start()
        jobs.put(job)

    def work(self, jobs: queue.Queue) -> None:
        client = self.strategy.new_client()  # this thread's own client
        while True:
            job = jobs.get()
            if "request" in job:  # a full-API request (MtlsHttpUser), see wire.py
                identity = self.identity_of(job)
                header = self.config["identity_header"]
                outcome = send_encoded(client, job["request"], identity, header)
            else:
                outcome = execute_request(client, *self.arguments(job))
            self.answer(job, outcome)

    async def work_async(self, job: dict) -> None:
        """One request of a user on the event loop (users send one request at a time)."""
        client = self.clients.get(job["thread"])
        if client is None:
            client = self.clients[job["thread"]] = self.strategy.new_client()
        self.answer(job, await execute_request_async(client, *self.arguments(job)))

    def identity_of(self, job: dict) -> Identity | None:
        return self.identities.get(job["identity"]) if job["identity"] else None

    def arguments(self, job: dict) -> tuple:
        """execute_request's arguments after the client, for `job`."""
        config = self.config
        return (
            job["method"],
            job["url"],
            self.identity_of(job),
            config["identity_header"],
            config["keepalive"],
            tuple(config["timeout"]),
            job.get("keep_body", False),
        )

    def answer(self, job: dict, outcome: Outcome) -> None:
        line = json.dumps({"id": job["id"], **outcome.to_dict()})
        with self.output_lock:
            self.requests_done += 1
            self.output.write(line + "\n")
            self.output.flush()
            if self.requests_done == self.config.get("crash_after"):
                # fault injection for tests
                os.kill(os.getpid(), signal.Signals[self.config["crash_signal"]])


def main() -> None:
    key_material.forbid_core_dumps()  # an exec resets the flag Locust's process set
    config = json.loads(sys.stdin.readline())
    # Not a request more once the Locust process is gone, whatever killed it: stdin's EOF
    # ends the loop below, but the threads' requests in flight would run on.
    die_with_parent(config["parent_pid"])
    faulthandler.enable(file=config["faulthandler_fd"], all_threads=True)
    key_material.adopt_password(config["key_password"])
    engine = Engine(config, sys.stdout)
    for line in sys.stdin:  # EOF: the Locust process is gone or done; so are we
        engine.submit(json.loads(line))


if __name__ == "__main__":
    main()
