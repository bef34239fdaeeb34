"""Identities replaced while a test runs, as a fleet rotates certificates: from a task or
hook (`rotate_identities`), or when the identities file changes (`--mtls-watch-identities`).

New connections present the new generation; open ones finish with the old; nothing
mutates a context in use (MtlsRun.rotate).
"""

from __future__ import annotations

import logging
import os

import gevent

from locust_mtls.errors import ConfigError
from locust_mtls.locust.state import state_of
from locust_mtls.tls.identity import load_identities

logger = logging.getLogger("locust_mtls")


def rotate_identities(environment, path: str | None = None) -> int:
    """Replace the run's identities with those of `path` (default: the identities file of
    the run), e.g. a new generation from 'locust-mtls certs --rotate'. New connections
    present the new certificates, open ones finish with the old; returns the generation.
    Raises ConfigError (nothing changed) if the file cannot be loaded."""
    state = state_of(environment)
    run, options = state.mtls_run(), state.options
    path = (
        path or options.mtls_identities or os.path.join(options.mtls_certs_dir, "identities.json")
    )
    generation = run.rotate(load_identities(path).identities)
    logger.info("locust-mtls: identities rotated from %s (generation %d)", path, generation)
    return generation


def watch_identities(environment, seconds: float) -> None:
    """Rotate when the identities file's mtime changes (--mtls-watch-identities)."""
    state = state_of(environment)
    options = state.options
    path = options.mtls_identities or os.path.join(options.mtls_certs_dir, "identities.json")
    seen = os.path.getmtime(path) if os.path.exists(path) else 0.0
    while not state.finished:
        gevent.sleep(seconds)
        mtime = os.path.getmtime(path) if os.path.exists(path) else seen
        if mtime != seen:
            seen = mtime
            try:
                rotate_identities(environment, path)
            except ConfigError as error:  # half-written file: keep the old ones, retry
                seen = 0.0
                logger.warning("locust-mtls: identities not rotated: %s", error)
