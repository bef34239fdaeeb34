"""Files a run or a matrix writes for a pipeline: checked at start, replaced atomically.

One writer serves them all (--mtls-summary-file, --mtls-junit, --mtls-markdown, the mTLS
CSV and HTML section, the matrix's results): the new text goes to a temporary file
created exclusively, under an unpredictable name, next to the target (a symlink planted
at a predictable `<file>.tmp` once made the writer overwrite its target, #27), and then
replaces the target. A reader never sees half a file; a failed write (a full disk) leaves
the old file and no temporary one. A path that is not a regular file (a device such as
/dev/full, a FIFO) is refused at start and never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets

from locust_mtls.errors import ConfigError

NOT_REGULAR = "is not a regular file (a device or a pipe)"

logger = logging.getLogger("locust_mtls")
_failing: set[str] = set()  # outputs whose last write failed: said once, until they work again


def check_output_file(path: str, option: str) -> None:
    """A file the run will (re)write: a regular file or none yet, in a writable directory."""
    if not path:
        return
    if os.path.isdir(path):
        raise ConfigError(f"{option} {path} is a directory; name a file")
    if os.path.exists(path) and not os.path.isfile(path):
        raise ConfigError(f"{option} {path} {NOT_REGULAR}; name a file")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"{option} {path}: directory {directory} does not exist; create it")
    if not os.access(directory, os.W_OK):
        raise ConfigError(f"{option} {path}: directory {directory} is not writable")


def write_atomically(path: str, text: str) -> None:
    """Replace `path` with `text` (UTF-8), or raise OSError and leave `path` as it was."""
    if os.path.exists(path) and not os.path.isfile(path):
        # It may have become one since the start's check; os.replace would replace it.
        raise OSError(errno.EINVAL, f"{NOT_REGULAR}, not replaced")
    directory, name = os.path.split(os.path.abspath(path))
    # A leading dot keeps it out of a pipeline's `*.xml` glob; O_EXCL fails on anything
    # already there, a symlink included, instead of following it; 0o666 minus the umask
    # is the mode open() would give.
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_output(path: str, text: str, option: str) -> bool:
    """Write a file of a run; False, and one line naming it, when it cannot be written.

    The run goes on, and so do its other files, its console summary and its gate. A file
    rewritten every second (the summary) says so once, and again once it is written.
    """
    try:
        write_atomically(path, text)
    except OSError as error:
        if path not in _failing:
            _failing.add(path)
            logger.error("locust-mtls: cannot write %s %s: %s", option, path, error.strerror)
        return False
    if path in _failing:
        _failing.discard(path)
        logger.info("locust-mtls: %s %s written again", option, path)
    return True
