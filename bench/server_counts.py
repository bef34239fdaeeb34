"""Requests counted by the server, read while a cell runs: req/s no client can overstate.

nginx: its `stub_status` counter over plain HTTP (bench/nginx.py, `status=True`); every
read is itself a request there, which `requests_served` subtracts. The echo server:
`GET /stats`, which does not count itself. Both keep one connection open across reads.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse

from locust_mtls.tls.contexts import client_context


class ServerCounter:
    """`read()` -> requests the server has answered so far (monotonic)."""

    def __init__(self, url: str, ca_file: str | None = None):
        parsed = urllib.parse.urlsplit(url)
        self._path = parsed.path or "/"
        if parsed.scheme == "https":
            self._connection = http.client.HTTPSConnection(
                parsed.hostname, parsed.port, context=client_context(ca_file), timeout=5
            )
            self._counts_itself = False  # the echo server's /stats
        else:
            self._connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
            self._counts_itself = True  # nginx's stub_status
        self._reads = 0

    def read(self) -> int:
        """Requests served so far, not counting our own reads."""
        try:
            body = self._get()
        except (OSError, http.client.HTTPException):
            self._connection.close()  # a dropped keep-alive connection: one retry
            body = self._get()
        self._reads += 1
        if self._counts_itself:
            # "Active connections: 1\nserver accepts handled requests\n 5 5 42\n..."
            return int(re.search(rb"\n\s*\d+\s+\d+\s+(\d+)", body)[1]) - self._reads
        return json.loads(body)["requests"]

    def _get(self) -> bytes:
        self._connection.request("GET", self._path)
        response = self._connection.getresponse()
        return response.read()

    def close(self) -> None:
        self._connection.close()
