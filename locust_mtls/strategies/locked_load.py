from __future__ import annotations

import ssl
import threading

from locust_mtls.settings import UNSAFE

from .shared_context import SharedContext


class LoadLockedSSLContext(ssl.SSLContext):
    """A plain context whose load_cert_chain takes one lock (and nothing else does)."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.load_lock = threading.Lock()

    def load_cert_chain(self, *args, **kwargs):
        with self.load_lock:
            super().load_cert_chain(*args, **kwargs)


class LockedLoad(SharedContext):
    """ "Lock while modifying the context", taken literally: a lock around load_cert_chain only.

    Deliberately unsafe, to show that common advice is not enough. Shares: one mutable
    context for every request. Locks: only `load_cert_chain()`; wrapping and the
    handshake run outside the lock, so between thread A's load and A's handshake,
    thread B may load its chain: A presents B's certificate (wrong identity), and
    requests without a certificate present the last chain loaded (cert bleed).
    Cost: like shared-context, which it is, plus the lock.
    """

    name = "locked-load"
    safety = UNSAFE
    note = (
        "the common advice 'lock while modifying the context' taken literally: only "
        "load_cert_chain() is locked, the handshake runs outside the lock, so another thread's "
        "chain can be loaded in between (wrong identity) and no-cert requests present the last "
        "chain loaded (bleed). Deliberately unsafe: a lock around the load alone is not enough"
    )
    context_path = "one shared SSLContext, a lock around load_cert_chain only"

    mutable_class = LoadLockedSSLContext
