"""Reading a file a user named: regular files only, with a size limit.

`/dev/zero` would grow memory without end, a FIFO would block forever, a directory would
fail with a bare errno: each becomes one ConfigError line that names the file instead.
"""

from __future__ import annotations

import os
import stat

from locust_mtls.errors import ConfigError

PEM_LIMIT = 1 << 20  # a certificate chain or key: a few KB; 1 MiB is plenty
JSON_LIMIT = 64 << 20  # identities.json: about 300 bytes per identity


def read_regular_file(
    path: str, limit: int = PEM_LIMIT, if_missing: str = "fix the path or run 'locust-mtls certs'"
) -> bytes:
    """The bytes of `path`, or ConfigError naming it (missing: then `if_missing` says what
    to do; unreadable, not a regular file, larger than `limit`)."""
    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ConfigError(f"{path} not found; {if_missing}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory; name a file") from None
    except PermissionError:
        # Also when a directory above it may not be searched (which os.path.exists
        # reports as "does not exist").
        raise ConfigError(
            f"{path}: permission denied (the file or a directory above it); fix the permissions"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path} cannot be read ({error.strerror}); fix the path") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{path} is a directory; name a file")
        raise ConfigError(f"{path} is not a regular file (a device or a pipe); name a file")
    with os.fdopen(descriptor, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"{path} is larger than {limit >> 20} MiB; name the right file")
    return data
