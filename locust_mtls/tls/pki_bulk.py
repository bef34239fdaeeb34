"""Issue many client identities at once, in worker processes when there are thousands.

One identity costs ~2 ms of CPU (a new P-256 key, a signature, two files, and loading
them back to check the pair), so `locust-mtls certs --clients 100000` is minutes on one
core; the work is split over every core. Each identity keeps its own key pair: distinct
keys, certificates and fingerprints, exactly as with a few clients.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence

import trustme

from locust_mtls.tls.identity import Identity

PARALLEL_FROM = 2000  # below this, starting worker processes costs more than it saves
CHUNK = 250

_worker: dict = {}  # in each worker process: the CA and what to call


def issue_identities(
    issue: Callable[..., Identity],
    ca: trustme.CA,
    jobs: Sequence[tuple[str, str]],
    directory: str,
) -> list[Identity]:
    """`issue(ca, name, directory, file_stem=stem)` for each (name, stem) in `jobs`, in order."""
    processes = min(os.cpu_count() or 1, len(jobs) // PARALLEL_FROM + 1)
    if processes < 2:
        return [issue(ca, name, directory, file_stem=stem) for name, stem in jobs]
    ca_pems = (ca.cert_pem.bytes(), ca.private_key_pem.bytes())
    # spawn, not fork: the caller may be a gevent-patched Locust process.
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, _start, (issue, ca_pems, directory)) as pool:
        return pool.map(_issue_one, jobs, chunksize=CHUNK)


def _start(issue: Callable[..., Identity], ca_pems: tuple[bytes, bytes], directory: str) -> None:
    _worker.update(issue=issue, ca=trustme.CA.from_pem(*ca_pems), directory=directory)


def _issue_one(job: tuple[str, str]) -> Identity:
    name, stem = job
    return _worker["issue"](_worker["ca"], name, _worker["directory"], file_stem=stem)
