"""Locust's session API over an HTTP library that takes a whole SSLContext (httpx,
niquests): one library client per identity, each on identity-cache's frozen context for
it, so no certificate is ever loaded into a context another request uses.

Every request is a `Sent` while it is on its way and is reported through the checked
request event with Locust's standard fields, at once or when a `catch_response` block
ends: the same path as MtlsHttpUser's and MtlsFastHttpUser's (checked_event.py). A
subclass says how to build one client (`new_client`) and how to send through it (`send`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import ClassVar

from locust import User
from locust.exception import CatchResponseError, LocustError

from locust_mtls.config.user_settings import MtlsAttributes
from locust_mtls.engine import failures
from locust_mtls.engine.checkpoint import sending
from locust_mtls.engine.failures import HTTPStatusError
from locust_mtls.errors import ConfigError
from locust_mtls.locust.checked_event import checked_request_event, remember
from locust_mtls.locust.user_checks import (
    SCHEDULED,
    SessionIdentity,
    UserChecks,
    library_missing,
)
from locust_mtls.tls.contexts import URLLIB3_ALPN


def status_error(response) -> HTTPStatusError | None:
    """Locust's rule for an answer: a status of 400 or more fails it (as HttpSession's
    raise_for_status), counted in its HTTP class."""
    status = response.status_code
    if status < 400:
        return None
    return HTTPStatusError(f"HTTP {status} for {response.url}", failures.http_class(status))


class CatchResponse:
    """The answer of a `catch_response=True` request: the library's response (its
    attributes are this object's), reported when the `with` block ends, as Locust's
    ResponseContextManager does: `success()`, `failure(text)`, else failed on a status
    of 400 or more or on no answer."""

    def __init__(self, response, error, request_event, request_meta: dict):
        self._response = response
        self.error = error  # the failure below HTTP, None when answered
        self._request_event = request_event
        self.request_meta = request_meta
        self._said: bool | Exception | None = None

    def __getattr__(self, name):
        if self._response is None:
            raise AttributeError(f"{name}: this request got no answer ({self.error})")
        return getattr(self._response, name)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, _traceback):
        if exc is not None and self._said is None:
            return False  # the task's own error: not this request's result
        meta = self.request_meta
        if self._said is True:
            meta["exception"] = None
        elif isinstance(self._said, Exception):
            meta["exception"] = self._said
        self._request_event.fire(**meta)
        return exc is None or self._said is not None

    def success(self) -> None:
        self._said = True

    def failure(self, exc) -> None:
        self._said = exc if isinstance(exc, Exception) else CatchResponseError(exc)


class LibrarySession(SessionIdentity, ABC):
    """A Locust session over one library client per identity (see the module docstring).

    Built like Locust's sessions (`base_url`, `request_event`, `user`, then the library
    client's own options); the checks are the user's own when it is an mTLS user."""

    mtls_client: ClassVar[str]  # settings.CONTEXT_PER_IDENTITY_CLIENTS key: the row's client
    # The library's errors for a request that got no answer (refused, reset, not trusted,
    # timeout): a result. Any other error (a wrong argument) is the task's, and raised.
    transport_errors: ClassVar[tuple[type[Exception], ...]]
    library: ClassVar[object]  # the library's module, None when it is not installed

    def __init__(self, base_url, request_event=None, user=None, **client_options):
        if self.library is None:
            raise ConfigError(library_missing(self.mtls_client))
        checks = getattr(user, "mtls_checks", None) or UserChecks(user, self.mtls_client)
        self.mtls_checks = checks
        self.base_url = base_url
        self.user = user
        self.request_event = checked_request_event(user.environment)
        self.request_name: str | None = None
        self.contexts = checks.run.strategy(checks.settings.strategy, checks.settings.tls)
        self._client_options = client_options
        self._clients: dict = {}
        self.cookies = self.new_cookie_jar()  # one for every identity's client, like HttpSession

    @abstractmethod
    def new_cookie_jar(self):
        """The library's cookie jar, shared by the clients of every identity."""

    @abstractmethod
    def new_client(self, context, **client_options):
        """A library client whose every connection uses `context` (a frozen SSLContext) and
        whose cookies are `self.cookies`."""

    @abstractmethod
    def send(self, client, method: str, url: str, **kwargs):
        """Send one request through `client`; raise the library's error when unanswered."""

    def alpn(self) -> tuple[str, ...]:
        """The ALPN list the library sets on a context at every connection (its contexts
        are built with it, as a frozen context refuses a change)."""
        return URLLIB3_ALPN

    def client_for(self, identity):
        # Keyed by fingerprint: a rotated identity has a new one, so a new client and context.
        key = identity.fingerprint if identity is not None else None
        client = self._clients.get(key)
        if client is None:
            context = self.contexts.context_for(identity, self.alpn())
            client = self._clients[key] = self.new_client(context, **self._client_options)
        return client

    def request(
        self,
        method,
        url,
        name=None,
        catch_response=False,
        context={},  # noqa: B006 - Locust's sessions' own signature
        *,
        identity=SCHEDULED,
        **kwargs,
    ):
        """Send one request (the library's keyword arguments), presenting `identity` (a
        name, or None for no certificate; default: the user's)."""
        checks = self.mtls_checks
        chosen = checks.choose(identity)
        if not checks.settings.keepalive:
            kwargs["headers"] = {"Connection": "close", **(kwargs.get("headers") or {})}
        user_context = self.user.context() if self.user is not None else {}
        request_meta = {
            "request_type": method,
            "name": name or self.request_name or url,
            "context": {**user_context, **checks.context(chosen), **context},
            "start_time": time.time(),
            "url": url,
        }
        sent = checks.sent(chosen)
        started = time.perf_counter()
        with sending(sent):
            response = error = None
            try:
                response = self.send(self.client_for(chosen), method, url, **kwargs)
            except self.transport_errors as failure:
                error = failure
                sent.outcome.fail(error)
            request_meta["response_time"] = (time.perf_counter() - started) * 1000.0
            answered = response is not None  # not truth: a requests-like 404 is falsy
            request_meta["response_length"] = len(response.content) if answered else 0
            request_meta["exception"] = status_error(response) if answered else error
            if catch_response:
                answer = CatchResponse(response, error, self.request_event, request_meta)
                request_meta["response"] = answer
                remember(answer, sent)  # its report comes when the task's block ends
                return answer
            request_meta["response"] = response
            self.request_event.fire(**request_meta)
        return response

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)

    def put(self, url, **kwargs):
        return self.request("PUT", url, **kwargs)

    def patch(self, url, **kwargs):
        return self.request("PATCH", url, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("DELETE", url, **kwargs)

    def head(self, url, **kwargs):
        return self.request("HEAD", url, **kwargs)

    def options(self, url, **kwargs):
        return self.request("OPTIONS", url, **kwargs)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


class LibraryUser(User, MtlsAttributes):
    """A Locust user whose `self.client` is a LibrarySession (`session_class`).

    Class attributes as MtlsHttpUser's (see MtlsAttributes), except: the strategy is
    always identity-cache (the library takes a whole SSLContext), it runs on greenlets,
    and resumption does not apply. `client_options`: more arguments for each of the
    library's clients.
    """

    abstract = True
    session_class: ClassVar[type[LibrarySession]]
    client_options: ClassVar[dict] = {}

    @classmethod
    def options_error(cls) -> ConfigError | None:
        """What `client_options` needs that this Python lacks: checked at start."""
        return None

    def __init__(self, environment):
        super().__init__(environment)
        if self.host is None:  # as Locust's HttpUser says it
            raise LocustError(
                "You must specify the base host. Either in the host attribute in the User "
                "class, or on the command line using the --host option."
            )
        self.mtls_checks = UserChecks(self, self.mtls_client)
        self.client = self.session_class(self.host, user=self, **self.client_options)

    def on_stop(self) -> None:
        self.client.close()
