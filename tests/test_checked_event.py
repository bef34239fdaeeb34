"""The one checked request: every user class (and Locust used as a library) reports each
request through the one checked request event, so a locustfile converted by changing only
its import and base class behaves as on plain Locust, with a certificate on every request.
Real Locust runs in subprocesses against the embedded echo server or one on loopback."""

import csv
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from locust_mtls.strategies import LIBRARIES

from conftest import row_of, run_locust

# A realistic class body (log in, POST JSON, GET with catch_response), no other attribute.
REALISTIC = """
from locust import constant, task
from locust_mtls import {base}


class Api({base}):
    wait_time = constant(0)

    def on_start(self):
        self.client.post("/login", json={{"user": "alice"}})

    @task(3)
    def create_order(self):
        self.client.post("/orders", json={{"item": "book", "quantity": 2}})

    @task(1)
    def read_order(self):
        with self.client.get("/orders/0", name="/orders/[id]", catch_response=True) as r:
            if r.status_code == 404:
                r.success()
"""


def run(tmp_path, source: str, *args: str, users=4, run_time="3s", name="theirs.py"):
    (tmp_path / name).write_text(textwrap.dedent(source))
    done = run_locust(
        "-f", name, "--mtls-summary-file", "s.json", "--json-file", "locust", "--csv", "out",
        *args,
        cwd=tmp_path, users=users, run_time=run_time,
    )  # fmt: skip
    summary_file = tmp_path / "s.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return done, summary


def request_names(tmp_path) -> dict[str, int]:
    """Locust's own final stats: request name -> count (--json-file)."""
    entries = json.loads((tmp_path / "locust.json").read_text())
    return {entry["name"]: entry["num_requests"] for entry in entries}


def every_request_had_a_certificate(summary: dict) -> bool:
    seen = summary["echo_server"]["requests_by_fingerprint"]
    return seen.get("none", 0) == 0 and sum(seen.values()) > 0


NIQUESTS = pytest.mark.skipif(
    importlib.util.find_spec("niquests") is None,
    reason=f"niquests not installed: {LIBRARIES['niquests'].install}",
)
ROW_OF_BASE = {
    "MtlsHttpUser": "identity-cache",
    "MtlsFastHttpUser": "fasthttp/identity-cache",
    "MtlsHttpxUser": "httpx/identity-cache",
    "MtlsNiquestsUser": "niquests/identity-cache",
}


@pytest.mark.parametrize(
    "base",
    [
        "MtlsHttpUser",
        "MtlsFastHttpUser",
        "MtlsHttpxUser",
        pytest.param("MtlsNiquestsUser", marks=NIQUESTS),
    ],
)
def test_the_same_class_body_runs_only_its_tasks_with_a_certificate_each_time(tmp_path, base):
    done, summary = run(tmp_path, REALISTIC.format(base=base))
    assert done.returncode == 0, done.stderr[-2000:]
    names = request_names(tmp_path)
    assert set(names) == {"/login", "/orders", "/orders/[id]"}  # no inherited probe task
    (row,) = summary["strategies"].values()
    assert row["requests"] == sum(names.values())  # one path: Locust and we count alike
    assert row["checked"] == row["requests"] and row["failures"] == 0
    assert row["wrong_identity"] == row["bleed"] == 0
    assert every_request_had_a_certificate(summary)
    assert row["row"] == ROW_OF_BASE[base] and row["strategy"] == "identity-cache"


def test_rows_of_the_full_api_classes_have_the_same_shape(tmp_path):
    shapes = []
    for base in ("MtlsHttpUser", "MtlsFastHttpUser", "MtlsHttpxUser"):
        workdir = tmp_path / base
        workdir.mkdir()
        _, summary = run(workdir, REALISTIC.format(base=base), run_time="2s")
        (row,) = summary["strategies"].values()
        shapes.append(sorted(row))
    assert shapes[0] == shapes[1] == shapes[2]


# Locust's own kinds of example locustfile (TaskSets, rest(), catch_response, events,
# a second session for another host), converted by changing the import and base class.
CONVERTED = """
from locust import TaskSet, between, events, task
from locust_mtls import MtlsHttpSession, MtlsHttpUser

seen = []
events.request.add_listener(lambda name, **_: seen.append(name))


class Browse(TaskSet):
    @task(2)
    def index(self):
        self.client.get("/")

    @task(1)
    def validated(self):
        with self.client.get("/health", catch_response=True) as response:
            if response.status_code != 200:
                response.failure("not healthy")

    @task(1)
    def rest(self):
        with self.user.rest("POST", "/orders", json={"item": "pen"}) as response:
            if response.js is None or "id" not in response.js:
                response.failure("no id")

    @task(1)
    def other_host(self):
        self.user.api_client.get("/stats/requests", name="api /stats/requests")


class WebsiteUser(MtlsHttpUser):
    wait_time = between(0, 0.01)
    tasks = [Browse]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # As Locust's multiple_hosts.py builds its second session.
        self.api_client = MtlsHttpSession(
            base_url=self.host, request_event=self.client.request_event, user=self
        )


@events.quitting.add_listener
def counted(environment, **_):
    print("EVENTS", len(seen))
"""


def test_a_converted_locust_example_keeps_its_tasks_names_and_events(tmp_path):
    done, summary = run(tmp_path, CONVERTED)
    assert done.returncode == 0, done.stderr[-2000:]
    names = request_names(tmp_path)
    assert set(names) == {"/", "/health", "/orders", "api /stats/requests"}
    row = row_of(summary, "identity-cache")
    events = int(done.stdout.split("EVENTS ")[1].split()[0])
    assert events == sum(names.values()) == row["requests"]
    assert row["failures"] == row["wrong_identity"] == row["bleed"] == 0
    assert every_request_had_a_certificate(summary)  # the second session's too


FAST = """
from locust import task
from locust_mtls import MtlsFastHttpUser


class WebsiteUser(MtlsFastHttpUser):
    # some things you can configure on FastHttpUser
    connection_timeout = 60.0
    network_timeout = 60.0

    @task
    def index(self):
        self.client.get("/")

    @task
    def stats(self):
        self.client.get("/stats/requests")
"""


def test_a_converted_fast_http_example_sends_every_request_with_a_certificate(tmp_path):
    done, summary = run(tmp_path, FAST, "--mtls-keepalive", "off")
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(request_names(tmp_path)) == {"/", "/stats/requests"}
    assert every_request_had_a_certificate(summary)
    row = row_of(summary, "fasthttp/identity-cache")
    assert row["failures"] == row["bleed"] == 0 and len(row["identities_in_use"]) == 4


CLASS_HOST = """
from locust import task
from locust_mtls import MtlsHttpUser


class Api(MtlsHttpUser):
    host = "{host}"

    @task
    def index(self):
        self.client.get("/from-class-host")
"""


def test_a_class_host_is_the_target_and_no_embedded_server_starts(
    tmp_path, pki_server, generated_pki
):
    identities = str(Path(generated_pki.ca_file).parent / "identities.json")
    before = pki_server.stats.requests
    done, summary = run(
        tmp_path, CLASS_HOST.format(host=pki_server.url), "--mtls-identities", identities
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "embedded mTLS echo server" not in done.stderr
    assert not (tmp_path / "certs").exists()
    row = row_of(summary, "identity-cache")
    assert row["requests"] > 0 and row["failures"] == 0
    assert pki_server.stats.requests - before >= row["requests"]


LIBRARY = """
import json, sys
import gevent
from locust import events, task, constant
from locust.env import Environment
from locust_mtls import MtlsHttpUser


class MyUser(MtlsHttpUser):
    host = sys.argv[1]
    wait_time = constant(0.05)

    @task
    def t(self):
        self.client.get("/")


env = Environment(user_classes=[MyUser], events=events)
runner = env.create_local_runner()
env.events.init.fire(environment=env, runner=runner, web_ui=None)
runner.start(2, spawn_rate=10)
gevent.spawn_later(2, runner.quit)
runner.greenlet.join()
row = env.mtls.run.stats.rows["identity-cache"]
print(json.dumps({"requests": row.requests, "failures": row.failures,
                  "errors": len(runner.errors), "locust": env.stats.total.num_requests}))
"""


def test_locust_as_a_library_works_with_the_plugins_defaults(tmp_path, pki_server, generated_pki):
    # No parsed options: the defaults find the identities under ./certs.
    certs = tmp_path / "certs"
    certs.mkdir()
    for path in Path(generated_pki.ca_file).parent.iterdir():
        (certs / path.name).write_bytes(path.read_bytes())
    (tmp_path / "lib.py").write_text(LIBRARY)
    done = subprocess.run(
        [sys.executable, "lib.py", pki_server.url], cwd=tmp_path, capture_output=True,
        text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["requests"] == counts["locust"] > 0
    assert counts["failures"] == counts["errors"] == 0


THREE_ROWS = """
from locust import constant, task
from locust_mtls import MtlsHttpUser
from locust_mtls.strategies import LIBRARIES


class Plain(MtlsHttpUser):
    wait_time = constant(0.01)

    @task
    def get(self):
        self.client.get("/")


class Resuming(Plain):
    resumption = True


class Pinned12(Plain):
    tls_version = "1.2"
"""


def test_classes_that_differ_in_resumption_or_tls_version_are_rows_and_series(tmp_path):
    done, summary = run(tmp_path, THREE_ROWS, "--mtls-keepalive", "off", users=6)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {name: row["requests"] for name, row in summary["strategies"].items()}
    assert set(rows) == {
        "identity-cache [keep-alive off]",
        "identity-cache [keep-alive off, resumption on]",
        "identity-cache [keep-alive off, TLS 1.2]",
    }
    assert all(count > 0 for count in rows.values())
    with open(tmp_path / "out_mtls.csv", newline="") as file:
        assert sorted(row["row"] for row in csv.DictReader(file)) == sorted(rows)
