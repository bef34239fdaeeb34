"""The echo server's listening socket: where it may listen, binding it, and accepting on it
without a traceback per retry when the process is out of file descriptors.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import time

import gevent
import gevent.pool
import gevent.server

from locust_mtls.errors import ConfigError

OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
ACCEPT_PAUSE_S = 0.1  # out of descriptors: accepting stops this long, so others close
OUT_OF_DESCRIPTORS_LOG_S = 10.0  # and it is said at most once in this long

logger = logging.getLogger("locust_mtls")


def check_loopback(host: str, allow_non_loopback: bool) -> None:
    """Refuse to listen beyond loopback unless explicitly allowed (--bind)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not (loopback or allow_non_loopback):
        raise ConfigError(f"--host {host} is not a loopback address; add --bind to serve on it")


def bind_listener(host: str, port: int) -> socket.socket:
    """Listening socket, or ConfigError if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family, backlog=1024)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use; pick another with --port or stop what holds it"
            ) from None
        raise ConfigError(f"cannot listen on {host} port {port}: {error.strerror}") from None
    listener.setblocking(False)
    return listener


class Listener(gevent.server.StreamServer):
    """gevent's StreamServer, each connection in a greenlet of one pool (so stop() can end
    keep-alive connections), that pauses when accept() finds no file descriptor free.

    gevent logs a traceback for every failed accept() and retries within a second at
    most: out of descriptors (`ulimit -n`), that was a traceback a second for as long
    as the connections stayed (#27). Here it is one line every OUT_OF_DESCRIPTORS_LOG_S,
    and accepting resumes after ACCEPT_PAUSE_S.
    """

    def __init__(self, listener: socket.socket, handle) -> None:
        super().__init__(listener, handle, spawn=gevent.pool.Pool())
        self.said_at = -OUT_OF_DESCRIPTORS_LOG_S

    def do_read(self):
        try:
            return super().do_read()
        except OSError as error:
            if error.errno not in OUT_OF_DESCRIPTORS:
                raise
            code = errno.errorcode[error.errno]
        now = time.monotonic()
        if now - self.said_at >= OUT_OF_DESCRIPTORS_LOG_S:
            self.said_at = now
            logger.warning(
                "echo server: out of file descriptors (errno %s) with %d connections open; "
                "new ones wait until some close (said at most every %.0f s)",
                code,
                len(self.pool),
                OUT_OF_DESCRIPTORS_LOG_S,
            )
        self.stop_accepting()
        gevent.spawn_later(ACCEPT_PAUSE_S, self.resume_accepting)
        return None  # nothing accepted this time

    def resume_accepting(self) -> None:
        if self.started:
            self.start_accepting()
