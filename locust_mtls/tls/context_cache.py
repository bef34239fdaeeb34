"""A bounded, least-recently-used cache of SSLContexts by key, with evictions counted.

identity-cache keeps one frozen context per identity; with 100,000 identities (or an
identity rotated every few minutes) an unbounded dict would keep every key and chain in
memory. An evicted context is only dropped from the cache: connections and sessions
that still hold it keep using it, unchanged, until they close.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class ContextCache:
    """`get(key)` returns the cached context or builds one with `build(key)`; at most
    `limit` are kept (0: no bound), the least recently used evicted first."""

    def __init__(self, build: Callable[[Hashable], object], limit: int = 0):
        self.build = build
        self.limit = limit
        self.evictions = 0
        self._contexts: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()  # builds are rare; a hit holds it for a dict move

    def get(self, key: Hashable):
        with self._lock:
            context = self._contexts.get(key)
            if context is None:
                context = self._contexts[key] = self.build(key)
                if self.limit and len(self._contexts) > self.limit:
                    self._contexts.popitem(last=False)
                    self.evictions += 1
            else:
                self._contexts.move_to_end(key)
            return context

    def __len__(self) -> int:
        return len(self._contexts)

    def counts(self) -> dict:
        return {"size": len(self._contexts), "limit": self.limit, "evictions": self.evictions}
