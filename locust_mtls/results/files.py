"""Files a run or a matrix writes for a pipeline: checked at start, written atomically."""

from __future__ import annotations

import os

from locust_mtls.errors import ConfigError


def check_output_file(path: str, option: str) -> None:
    """A file the run will (re)write: its directory exists and it is not a directory."""
    if not path:
        return
    if os.path.isdir(path):
        raise ConfigError(f"{option} {path} is a directory; name a file")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"{option} {path}: directory {directory} does not exist; create it")
    if not os.access(directory, os.W_OK):
        raise ConfigError(f"{option} {path}: directory {directory} is not writable")


def write_text_atomically(path: str, text: str) -> None:
    """Replace `path` with `text` (UTF-8): a CI step reading it never sees half a file."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, path)
