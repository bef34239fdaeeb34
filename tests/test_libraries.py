"""The client libraries strategies drive: none loaded by the registry, one line (exit 2)
naming what to install when one is missing, and where each can run."""

import subprocess
import sys

import pytest

from locust_mtls.config.options import parse_options
from locust_mtls.config.validation import settings_from
from locust_mtls.errors import ConfigError
from locust_mtls.settings import CONCURRENCY_MODES
from locust_mtls.strategies import LIBRARIES, STRATEGIES, Library


def test_importing_the_registry_loads_no_client_library():
    others = [name for name in LIBRARIES if name not in ("requests", "urllib3")]
    code = (
        "import sys, locust_mtls.strategies\n"
        f"print([m for m in {others + ['gevent', 'urllib3_future']!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_missing_library_is_one_line_saying_what_to_install():
    missing = Library("no-such-client-library", ("greenlet",), "1.2.3")
    assert not missing.installed()
    with pytest.raises(ConfigError) as error:
        missing.load("no-such-client-library-shared-thing")
    assert str(error.value) == (
        "strategy no-such-client-library-shared-thing drives no-such-client-library, which "
        "this Python does not have; pip install 'no-such-client-library==1.2.3'"
    )


def test_a_run_whose_strategy_needs_a_missing_library_stops_at_its_settings(monkeypatch):
    # Whatever this venv has: the library is swapped for one that is nowhere.
    monkeypatch.setitem(LIBRARIES, "httpx", Library("no_such_httpx", ("greenlet",), "0.28.1"))
    options = parse_options(["--mtls-strategy", "httpx-client-per-identity"])
    with pytest.raises(ConfigError, match="pip install 'no_such_httpx==0.28.1'"):
        settings_from(options)


def test_every_library_runs_somewhere_and_every_strategy_names_one():
    for library in LIBRARIES.values():
        assert library.concurrency and set(library.concurrency) <= set(CONCURRENCY_MODES)
    assert {cls.library for cls in STRATEGIES.values()} == set(LIBRARIES)
