"""Checks of inputs that are neither a value of the run nor a certificate: the target URL,
the files a run will write, the key password file. Each bad one is one ConfigError line.

Run at start, before anything is started or written, so a run never ends in a traceback
from its summary writer or its crash handler.
"""

from __future__ import annotations

import os
import re
import urllib.parse

from locust_mtls.errors import ConfigError
from locust_mtls.results.files import check_output_file  # noqa: F401 (here for the run's checks)
from locust_mtls.tls.files import read_regular_file

PASSWORD_FILE_LIMIT = 64 << 10


def check_host(url: str) -> None:
    """An https:// base URL: a host, if any a port in 1..65535 and a path, no query."""
    if url != url.strip():
        raise ConfigError(f"--host {url!r} has spaces around it; remove them")
    if not url.startswith("https://"):
        raise ConfigError(f"--host {url} is not https://; mTLS needs an https:// URL")
    authority = re.split("[/?#]", url.removeprefix("https://"))[0].rpartition("@")[2]
    if authority.count(":") > 1 and not authority.startswith("["):
        raise ConfigError(f"--host {url}: an IPv6 address needs brackets, like https://[::1]:8443")
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError:  # a "[" without its "]" (or the reverse), or no IPv6 address inside
        unmatched = authority.count("[") != authority.count("]")
        what = "the brackets do not match" if unmatched else "no IPv6 address in the brackets"
        raise ConfigError(f"--host {url}: {what}; write one like https://[::1]:8443") from None
    if "?" in url or "#" in url:
        # Users' paths are appended to --host (as Locust's HttpSession does): a query
        # here would end up before them, https://h/api?x=1/x?y=2.
        raise ConfigError(
            f"--host {url} has a query or fragment; give --host as https://HOST[:PORT][/PATH] "
            "and the query in each request's path"
        )
    try:
        port = parsed.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"--host {url}: the port must be a number from 1 to 65535")
    if not parsed.hostname:
        raise ConfigError(f"--host {url} names no host; use https://HOST[:PORT]")


def check_output_dir(path: str, option: str) -> None:
    """A directory the run creates when it has something to keep: not an existing file,
    and its nearest existing ancestor is a writable directory."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"{option} {path} is a file, not a directory; name a directory")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError(f"{option} {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK):
        raise ConfigError(f"{option} {path}: {existing} is not writable")


def key_password(options) -> bytes | None:
    """--mtls-key-password, or the first line of --mtls-key-password-file (which, unlike
    the option, does not show in `ps`), as the bytes the user gave; None without either.

    Bytes, because a key's password is bytes: a Latin-1 password in the file, or one
    typed in a non-UTF-8 terminal (Python keeps such argv and environment bytes as
    surrogate escapes, which os.fsencode turns back), is tried exactly as given.
    """
    path = getattr(options, "mtls_key_password_file", "")
    if path and options.mtls_key_password:
        raise ConfigError("--mtls-key-password and --mtls-key-password-file both given; pass one")
    if not path:
        return os.fsencode(options.mtls_key_password) if options.mtls_key_password else None
    try:
        data = read_regular_file(path, PASSWORD_FILE_LIMIT)
    except ConfigError as error:
        raise ConfigError(f"--mtls-key-password-file: {error}") from None
    lines = data.splitlines()
    if not lines or not lines[0]:
        raise ConfigError(f"--mtls-key-password-file: {path} is empty; put the password in it")
    return lines[0]


def check_users(options) -> None:
    """Locust's -u/--users: a negative count passes its parser, then ends in a traceback
    from the runner and a run that idles until -t (Locust checks the spawn rate itself)."""
    users = getattr(options, "num_users", None)
    if users is not None and users < 0:
        raise ConfigError(f"-u/--users must be 0 or more, not {users}")
