"""The one exception type for input a user can fix."""


class ConfigError(Exception):
    """Bad input a user can act on: the message is one line that names the file or
    option and says what to do. Caught at the boundary (CLI, Locust start-up) and
    printed without a traceback; the process exits with code 2."""

    exit_code = 2
