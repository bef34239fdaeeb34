"""The HTTP client libraries strategies drive: what each runs on, the version the matrix
measures by default, and the one line that says what to install when one is missing.

Importing this (or the registry) imports none of them: a strategy loads its library when
it is built, so a run that never picks an httpx strategy never needs httpx.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from locust_mtls.errors import ConfigError


@dataclass(frozen=True)
class Library:
    """One client library: its import and pip name, where its requests can run, and the
    version issue 30's table measured (the matrix's default; requests has its own axis)."""

    name: str
    concurrency: tuple[str, ...]
    measured: str = ""
    install_command: str = ""  # when plain `pip install NAME==MEASURED` is not the way
    extras: str = ""  # what its strategies need beside it, as pip's "[extra]" (matrix envs)

    @property
    def install(self) -> str:
        """The one command that installs this library where locust-mtls runs."""
        pin = f"=={self.measured}" if self.measured else ""
        return self.install_command or f"pip install '{self.name}{pin}'"

    def installed(self) -> bool:
        return importlib.util.find_spec(self.name) is not None

    def check(self, strategy: str) -> None:
        """ConfigError, one line saying what to install, when the library is missing."""
        if not self.installed():
            raise ConfigError(
                f"strategy {strategy} drives {self.name}, which this Python does not have; "
                f"{self.install}"
            )

    def load(self, strategy: str):
        """The library's module (imported now), or the ConfigError of `check`."""
        self.check(strategy)
        return importlib.import_module(self.name)


# requests first, then the others as the matrix's --clients and its reports list them.
LIBRARIES = {
    library.name: library
    for library in (
        Library("requests", ("greenlet", "native-threads")),
        # urllib3-future's wheel installs itself over `urllib3`, under requests and Locust's
        # HttpUser too; built from source with URLLIB3_NO_OVERRIDE it goes beside it.
        Library(
            "niquests",
            ("greenlet", "native-threads"),
            "3.21.2",
            "URLLIB3_NO_OVERRIDE=1 pip install --no-binary urllib3-future 'niquests==3.21.2'",
        ),
        # h2: the httpx-h2-* strategies' http2=True.
        Library(
            "httpx",
            ("greenlet", "native-threads"),
            "0.28.1",
            "pip install 'locust-mtls[httpx]'",
            "[http2]",
        ),
        Library("urllib3", ("greenlet", "native-threads"), "2.8.0"),
        Library("aiohttp", ("asyncio",), "3.14.5"),
        # A gevent client: on Locust's greenlets only, never in the native-thread engine.
        Library("geventhttpclient", ("greenlet",), "2.6.1"),
    )
}
