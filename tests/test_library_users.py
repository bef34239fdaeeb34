"""MtlsHttpxUser and MtlsNiquestsUser run by `locust`: counted and checked like the other
user classes, failures below HTTP in their classes, a missing library in one line."""

import importlib.util
import json
from pathlib import Path

import pytest
import trustme

from locust_mtls.strategies import LIBRARIES

from conftest import row_of, run_locust

PROBES = str(Path(__file__).resolve().parent.parent / "locustfiles" / "strategies.py")
NIQUESTS = pytest.mark.skipif(
    importlib.util.find_spec("niquests") is None,
    reason=f"niquests not installed: {LIBRARIES['niquests'].install}",
)
CLIENTS = [
    pytest.param("httpx", "HttpxIdentityCacheUser", id="httpx"),
    pytest.param("niquests", "NiquestsIdentityCacheUser", id="niquests", marks=NIQUESTS),
]


def run_probe(tmp_path, user_class, *extra):
    done = run_locust(
        "-f", PROBES, user_class, "--mtls-summary-file", "s.json", *extra,
        cwd=tmp_path, users=6, run_time="2s",
    )  # fmt: skip
    summary = json.loads((tmp_path / "s.json").read_text())
    return done, summary


@pytest.mark.parametrize("client,user_class", CLIENTS)
def test_half_without_a_certificate_none_crossed(tmp_path, client, user_class):
    done, summary = run_probe(tmp_path, user_class, "--mtls-keepalive", "off")
    assert done.returncode == 0, done.stderr[-2000:]
    stats = row_of(summary, f"{client}/identity-cache [keep-alive off]")
    assert stats["requests"] > 50
    assert stats["with_cert"] > 0 and stats["without_cert"] > 0
    assert stats["failures"] == stats["wrong_identity"] == stats["bleed"] == 0
    assert client in stats["client_path"]
    assert stats["requests"] + stats["in_flight_at_stop"] == summary["echo_server"]["requests"]


@pytest.mark.parametrize("client,user_class", CLIENTS)
def test_an_untrusted_server_is_a_failure_class_not_a_crash(tmp_path, client, user_class):
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))
    done, summary = run_probe(tmp_path, user_class, "--mtls-ca", str(tmp_path / "other-ca.pem"))
    assert done.returncode == 1
    stats = row_of(summary, f"{client}/identity-cache")
    assert stats["requests"] > 0 and stats["failures"] == stats["requests"]
    assert stats["failure_classes"] == {"server certificate not trusted": stats["requests"]}


# Locust started with the library hidden, as if it were not installed.
WITHOUT_LIBRARY = """
import sys
sys.modules[sys.argv[1]] = None  # importlib.util.find_spec and import both say: missing
sys.argv = ["locust", *sys.argv[2:]]
from locust.main import main
main()
"""

LOCUSTFILE = """
from locust import task
from locust_mtls import {base}
from locust_mtls.strategies import LIBRARIES


class Api({base}):
    @task
    def get(self):
        self.client.get("/")
"""


@pytest.mark.parametrize(
    "library,base", [("httpx", "MtlsHttpxUser"), ("niquests", "MtlsNiquestsUser")]
)
def test_a_missing_library_is_one_line_and_exit_2(tmp_path, library, base):
    import subprocess
    import sys

    (tmp_path / "api.py").write_text(LOCUSTFILE.format(base=base))
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_LIBRARY, library, "-f", "api.py", "--headless",
         "-u", "1", "-t", "2s"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"locust-mtls: error: Api: {library} is not installed; install it: "
        f"{LIBRARIES[library].install}"
    )


def test_urllib3_under_requests_is_still_urllib3():
    # niquests brings urllib3-future, whose wheel replaces urllib3's files: requests and
    # Locust's HttpUser would then measure another library. Installed as niquests' Library says,
    # the module is the distribution pip lists.
    from importlib.metadata import version

    import urllib3

    assert urllib3.__version__ == version("urllib3")
