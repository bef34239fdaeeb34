"""The one exception type for input a user can fix, and the one way to exit on it."""

import sys


class ConfigError(Exception):
    """Bad input a user can act on: the message is one line that names the file or
    option and says what to do. Caught at the boundary (CLI, Locust start-up) and
    printed without a traceback; the process exits with code 2."""

    exit_code = 2


def exit_with(error: ConfigError, prefix: str = "locust-mtls: error: ") -> None:
    """Print `error` as its one line on stderr and exit with code 2 (no traceback)."""
    sys.stderr.write(f"{prefix}{error}\n")
    sys.exit(ConfigError.exit_code)
