"""The validated options every user class of a run shares (config/validation.py builds
them once at start). Plain data: importable without gevent, by `config/` and the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from locust_mtls.settings import DEFAULT_CONTEXT_CACHE
from locust_mtls.strategies import Trust
from locust_mtls.tls.identity import Identity


@dataclass(frozen=True)
class RunOptions:
    """Validated plugin options shared by every user class of the run."""

    trust: Trust
    identities: tuple[Identity, ...]
    no_cert_fraction: float | None = None  # --mtls-no-cert-fraction; None: not given
    no_cert_split: str = "requests"  # see settings.NO_CERT_SPLITS
    identity_check: str = "auto"  # --mtls-identity-check, unless a user class says
    identity_format: str = "auto"  # --mtls-identity-format, unless a user class says
    context_cache: int = DEFAULT_CONTEXT_CACHE  # identity-cache: contexts kept (LRU)
