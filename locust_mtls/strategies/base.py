"""The strategy protocol: which SSLContext a request uses, and who shares it.

A `Strategy` is built once per process and shared by every user; `new_client()`
gives each Locust user (or native thread) its own `Client`, used by one thread at a
time. Strategies never build contexts themselves: they ask `tls.client_context`.
A strategy drives one HTTP client library (`library`, requests unless it says otherwise);
its `Client` sends with that library and reads the library's answer into an `Answer`.
"""

from __future__ import annotations

import ssl
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import requests

from locust_mtls.settings import DEFAULT_CONTEXT_CACHE, TlsSettings
from locust_mtls.tls.context_cache import ContextCache
from locust_mtls.tls.contexts import URLLIB3_ALPN, client_context
from locust_mtls.tls.identity import Identity


@dataclass(frozen=True)
class Trust:
    """What the client trusts: the private CA alone (our contexts) and certifi + CA
    (requests' default path, see requests_path.trust_private_ca)."""

    ca_file: str
    ca_bundle_file: str
    trust_env: bool = False
    tls: TlsSettings = TlsSettings()  # versions, ciphers, resumption of our contexts
    context_cache: int = DEFAULT_CONTEXT_CACHE  # per-identity contexts a strategy keeps

    def context(
        self,
        identity: Identity | None = None,
        *,
        frozen: bool = True,
        alpn: Sequence[str] = URLLIB3_ALPN,
        mutable_class: type[ssl.SSLContext] | None = None,
    ):
        return client_context(
            self.ca_file, identity, frozen=frozen, tls=self.tls, alpn=alpn,
            mutable_class=mutable_class,
        )  # fmt: skip


@dataclass(slots=True)
class Answer:
    """An HTTP answer as every client's reader leaves it: what an Outcome is filled from."""

    status: int
    headers: Mapping[str, str]  # the library's own header map: its .get ignores case
    body: bytes
    encoding: str | None = None  # the charset the library read from Content-Type

    def text(self) -> str:
        # JSON (the echo server's answer) is UTF-8 when no charset is given (RFC 8259).
        return self.body.decode(self.encoding or "utf-8", errors="replace")


class Client:
    """One user's (or one thread's) handle on a strategy: keeps its sessions.

    This one sends with requests; a strategy of another library has a subclass that
    overrides `request` (a coroutine for asyncio libraries) and `answer_of`.
    """

    def __init__(self, strategy: Strategy):
        self.strategy = strategy
        self._sessions: dict[Hashable, object] = {}

    def sessions(self) -> dict[Hashable, object]:
        return self._sessions

    def session_for(self, identity: Identity | None):
        sessions = self.sessions()
        key = self.strategy.session_key(identity)
        session = sessions.get(key)
        if session is None:
            session = sessions[key] = self.strategy.new_session(identity)
        return session

    def request(self, method: str, url: str, identity: Identity | None = None, **kwargs):
        """Send one request presenting `identity` (None: no client certificate)."""
        session = self.session_for(identity)
        cert = self.strategy.cert_argument(identity)
        return session.request(method, url, cert=cert, verify=True, **kwargs)

    @staticmethod
    def answer_of(response: requests.Response) -> Answer:
        """The library's response, read: the one place each library's answer is read."""
        return Answer(response.status_code, response.headers, response.content, response.encoding)

    def close(self) -> None:
        for session in self.sessions().values():
            session.close()
        self.sessions().clear()


class Strategy(ABC):
    """How requests get their SSLContext. Subclasses set `name`, `safety`, `note` and a
    docstring saying what they share, what they lock and what they cost."""

    name: ClassVar[str]
    safety: ClassVar[str]  # settings.SAFE, UNSAFE (by design) or VERSION_DEPENDENT
    note: ClassVar[str]  # one line for legends (matrix report, README table)
    context_path: ClassVar[str]  # which SSLContext a request ends up on, in a few words
    library: ClassVar[str] = "requests"  # the client library it drives (libraries.py)
    client_class: ClassVar[type[Client]] = Client  # sends with the library
    # For docs/results/clients.md (matrix/clients_page.py): the code users write for this
    # pattern; what in the library makes it fail (file, function, line, version); and
    # the strategy whose pattern to write instead.
    pattern: ClassVar[str] = ""
    cause: ClassVar[str] = ""
    instead: ClassVar[str] = ""
    # Does every request go through a context built by Trust.context (so --mtls-tls-version
    # and --mtls-ciphers apply)? Does it keep contexts of one identity each (so sessions
    # can be resumed without ever crossing identities)?
    takes_tls_settings: ClassVar[bool] = True
    resumes_sessions: ClassVar[bool] = False

    def __init__(self, trust: Trust):
        self.trust = trust

    @abstractmethod
    def new_session(self, identity: Identity | None):
        """A session of the library (requests: a `requests.Session`) for requests that
        present `identity` (None: no certificate)."""

    def session_key(self, identity: Identity | None) -> Hashable:
        """Requests with equal keys share a session inside one client."""
        return identity

    def cert_argument(self, identity: Identity | None):
        """What goes into `cert=`: None when the certificate is already in the context."""
        return None

    def new_client(self) -> Client:
        return self.client_class(self)

    def context_cache_counts(self) -> dict:
        """{"size", "limit", "evictions"} of a bounded per-identity context cache, or {}."""
        return {}

    def client_path(self) -> str:
        """The code path this strategy's requests really take, for reports."""
        return self.context_path


class PerIdentityContexts:
    """For a strategy: one frozen context per identity (and one without a certificate),
    built by `Trust.context`, kept in the bounded cache of --mtls-context-cache and shared
    by every user (identity-cache's, and the other libraries' safe strategies')."""

    def __init__(self, trust: Trust):
        super().__init__(trust)
        # Keyed by the Identity itself, fingerprint included: a rotated identity (same
        # name, new certificate) gets a new context, and the old one is never changed.
        # And by the ALPN list the client library sets (HTTP/2 or not): one cache, one bound.
        self._contexts = ContextCache(
            lambda key: trust.context(key[0], alpn=key[1]), trust.context_cache
        )

    def context_for(self, identity: Identity | None, alpn: Sequence[str] = URLLIB3_ALPN):
        return self._contexts.get((identity, tuple(alpn)))

    def context_cache_counts(self) -> dict:
        return self._contexts.counts()
