"""Which certificate chain was loaded into which SSLContext, for the audit of clients whose
contexts are built by user code (a FastHttpUser's ssl_context_factory).

An SSLContext cannot say which chain it holds: Python has no getter for it. So, while
`recording()` is on, every `SSLContext.load_cert_chain(certfile, keyfile)` is noted: the
file names only, never a password or key bytes. A load inside `loads_into()` belongs to
that block (one connection pool being set up); any other load is the context's own, e.g.
one context built with a certificate when a locustfile is imported.
"""

from __future__ import annotations

import _ssl
import contextvars
import ssl
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

Chain = tuple[str, str | None]  # (certfile, keyfile), as given to load_cert_chain

_original_load = _ssl._SSLContext.load_cert_chain
_own_chains: weakref.WeakKeyDictionary[ssl.SSLContext, Chain] = weakref.WeakKeyDictionary()
_block: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "locust_mtls_chain_loads", default=None
)
_install_lock = threading.Lock()


def _recorded_load(self, certfile, keyfile=None, password=None):
    _original_load(self, certfile, keyfile, password)
    chain = (str(certfile), None if keyfile is None else str(keyfile))
    block = _block.get()
    if block is None:
        _own_chains[self] = chain
    else:
        block.append((self, chain))


def recording() -> None:
    """Note every chain loaded from now on (idempotent; for audit runs only)."""
    # On the stdlib class itself: under gevent's monkey-patching `ssl.SSLContext` is
    # gevent's subclass, and contexts of either class must be seen.
    stdlib_class = next(c for c in ssl.SSLContext.__mro__ if _ssl._SSLContext in c.__bases__)
    with _install_lock:
        if stdlib_class.__dict__.get("load_cert_chain") is not _recorded_load:
            stdlib_class.load_cert_chain = _recorded_load


@contextmanager
def loads_into() -> Iterator[list[tuple[ssl.SSLContext, Chain]]]:
    """The (context, chain) loads made inside the block, in order."""
    loads: list[tuple[ssl.SSLContext, Chain]] = []
    token = _block.set(loads)
    try:
        yield loads
    finally:
        _block.reset(token)


def chain_presented(context: ssl.SSLContext, loads) -> Chain | None:
    """The chain `context` presents after `loads`: the last one loaded into it in the block,
    else its own (loaded outside any block), else None (no certificate)."""
    for loaded_into, chain in reversed(loads):
        if loaded_into is context:
            return chain
    return _own_chains.get(context)
