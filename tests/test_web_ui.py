"""web_ui: the mTLS table (tab rows, CSV, HTML report section), and the tab live in
Locust's web UI, run the way users run it (`locust` in a subprocess on 127.0.0.1)."""

import csv
import io
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from bench.nginx import free_port
from locust_mtls.engine.stats import MtlsStats
from locust_mtls.locust import web_ui
from locust_mtls.results import tables
from locust_mtls.settings import RunSettings
from locust_mtls.strategies import STRATEGIES
from locust_mtls.tls.connections import ConnectionLog
from locust_mtls.tls.reported_identity import Verdict, VerdictKind

from conftest import row_of, run_locust

REPO = Path(__file__).resolve().parent.parent
MTLS = str(REPO / "locustfiles" / "mtls.py")


def sample_stats() -> MtlsStats:
    stats = MtlsStats(client_path="requests 2.32.3: shared preloaded SSLContext <&>")
    shared = stats.row("shared-context", "greenlet", False)
    shared.record(
        failed=True, failure_kind="bleed", connections=ConnectionLog([3.0]), identity_name=None
    )
    shared.record(
        failed=False, failure_kind=None, connections=ConnectionLog([5.0]), identity_name="client-1"
    )
    cache = stats.row("identity-cache", "native-threads", True)
    cache.record(failed=False, failure_kind=None, identity_name="client-2")
    return stats


def test_rows_have_every_column_once_per_strategy():
    rows = {row["strategy"]: row for row in tables.rows(sample_stats())}
    assert sorted(rows) == ["identity-cache", "shared-context"]
    shared = rows["shared-context"]
    assert list(shared) == [key for key, _ in tables.COLUMNS]
    assert (shared["requests"], shared["failures"], shared["bleed"]) == (2, 1, 1)
    assert shared["handshakes"] == 2 and shared["handshake_p95_ms"] == 5.0
    assert shared["identities_in_use"] == "1: client-1"
    assert shared["mode"] == "greenlet, keep-alive off"
    assert rows["identity-cache"]["mode"] == "native-threads, keep-alive on"
    assert shared["client_path"]  # the strategy's own path, never empty


def test_rates_are_shares_of_the_requests_that_can_have_them_everywhere():
    """Every request sent without a certificate bled: 100 % of those, not the 50 % of all
    requests it used to read; the tab, CSV, console and Markdown say what it is of."""
    from locust_mtls.results.markdown_summary import markdown_summary

    stats = MtlsStats()
    row = stats.row("shared-context")
    for _ in range(30):
        row.record(failed=True, failure_kind="bleed", identity_name=None)
        row.record(failed=False, identity_name="client-1")
    row.record(failed=True, failure_kind="wrong_identity", identity_name="client-2")
    (cells,) = tables.rows(stats)
    assert (cells["with_cert"], cells["without_cert"]) == (31, 30)
    assert cells["bleed_rate"] == "100.0% of 30 requests sent without a certificate"
    assert cells["wrong_identity_rate"] == "3.2% of 31 requests sent with a certificate"
    assert "100.0% of 30 requests sent without a certificate" in tables.csv_text(stats)
    console = tables.text_table(stats)
    assert "wrong id 3.2% of 31 requests sent with a certificate" in console
    assert "bleed 100.0% of 30 requests sent without a certificate" in console
    markdown = markdown_summary(stats, [], [])
    assert "| 100.0% of 30 requests sent without a certificate |" in markdown
    # Merged across workers like every counter, and kept through the summary file.
    merged = MtlsStats.merged([stats.to_dict(), stats.to_dict()]).rows["shared-context"]
    assert (merged.with_cert, merged.without_cert) == (62, 60)


def test_tls_controls_in_the_tab_csv_and_console():
    """Full vs resumed handshakes, versions, generations and the context cache: one
    compact cell each, the same in the tab, the CSV and the console."""
    stats = MtlsStats()
    row = stats.row("identity-cache", "greenlet", False)
    row.record(
        failed=False, identity_name="client-1", generation=0,
        connections=ConnectionLog([4.0], versions=["TLSv1.3"]),
    )  # fmt: skip
    for _ in range(3):
        row.record(
            failed=False, identity_name="client-1", generation=1,
            connections=ConnectionLog(resumed_ms=[1.0], versions=["TLSv1.3"]),
        )  # fmt: skip
    row.context_cache = {"size": 2, "limit": 2, "evictions": 1500}
    (cells,) = tables.rows(stats)
    assert cells["tls"] == "1.3 · 1 full / 3 resumed"
    assert (cells["handshake_p50_ms"], cells["resumed_p50_p95_ms"]) == (4.0, "1.0 / 1.0")
    assert cells["generations"] == "g0 1 · g1 3"
    assert cells["context_cache"] == "2 / 2, 1,500 evicted"
    (parsed,) = csv.DictReader(io.StringIO(tables.csv_text(stats)))
    assert parsed["tls"] == cells["tls"] and parsed["generations"] == "g0 1 · g1 3"
    assert (
        "  TLS 1.3 · 1 full / 3 resumed · resumed p50/p95 1.0 / 1.0 ms · generations g0 1 · g1 3"
        " · context cache 2 / 2, 1,500 evicted" in tables.text_table(stats).splitlines()
    )  # no response was checked (no verdict): nothing to say about it
    empty = stats.row("shared-context", "greenlet", True)
    empty.record(failed=False, failure_kind=None, identity_name=None)
    shared = {r["strategy"]: r for r in tables.rows(stats)}["shared-context"]
    assert (shared["tls"], shared["context_cache"]) == ("no handshakes", "")


def test_the_headline_names_the_paths_the_rows_take_and_every_row_says_what_was_checked():
    """A run of identity-cache alone never took requests' own path, so the headline does
    not describe it; generations appear only after a rotation; 'identity checked on N of
    M' is said for every row, quietly when all were checked."""
    requests_own = "requests 2.34.2: new SSLContext per connection, CA bundle re-read each time"
    stats = MtlsStats(client_path=requests_own)
    cache = stats.row("identity-cache")
    cache.client_path = STRATEGIES["identity-cache"].context_path
    right = Verdict(VerdictKind.RIGHT, "client-1", "client-1")
    for _ in range(2):
        cache.record(failed=False, identity_name="client-1", generation=0, verdict=right)
    text = tables.text_table(stats)
    assert text.splitlines()[1] == f"mTLS summary ({cache.client_path})"
    assert "CA bundle re-read" not in text and "generations" not in text
    assert "  identity checked on 2 of 2 · TLS no handshakes" in text.splitlines()
    assert tables.unchecked_lines(stats) == []  # nothing loud: every response was checked
    fast = stats.row_for(RunSettings("identity-cache", client="fasthttp"))
    fast.client_path = "geventhttpclient on identity-cache's frozen contexts"
    fast.record(failed=False, identity_name=None)
    lines = tables.text_table(stats).splitlines()
    assert lines[1:4] == [
        "mTLS summary, client paths:",
        f"  fasthttp/identity-cache: {fast.client_path}",
        f"  identity-cache: {cache.client_path}",
    ]


def test_thousands_of_identities_in_use_keep_the_cell_bounded():
    names = [f"client-{n}" for n in range(1, 5001)]
    cell = tables.identities_cell(sorted(names))
    assert cell.startswith("5,000: client-1, client-10, ") and cell.endswith(", … 4,992 more")
    assert tables.identities_cell(["a", "b"]) == "2: a, b"


def test_requests_default_row_names_requests_own_path():
    stats = MtlsStats(client_path="requests 2.32.3: shared preloaded SSLContext")
    stats.row("requests-default", "greenlet", True)
    (row,) = tables.rows(stats)
    assert row["client_path"].startswith("requests 2.32.3")


def test_csv_has_the_tab_columns_and_rows():
    parsed = list(csv.DictReader(io.StringIO(tables.csv_text(sample_stats()))))
    assert [row["strategy"] for row in parsed] == ["identity-cache", "shared-context"]
    assert parsed[1]["bleed"] == "1"
    assert list(parsed[0]) == [key for key, _ in tables.COLUMNS]


def test_report_section_is_escaped_and_replaced_not_duplicated():
    report = "<html><body><div id='root'></div></body></html>"
    stats = sample_stats()
    stats.rows["shared-context [keep-alive off]"].client_path = "a path <&>"
    once = tables.insert_into_report(report, stats)
    twice = tables.insert_into_report(once, MtlsStats())
    assert once.count('<section id="locust-mtls"') == 1
    assert "&lt;&amp;&gt;" in once and "<&>" not in once
    assert once.index("locust-mtls") < once.index("</body>")
    assert twice.count('<section id="locust-mtls"') == 1
    assert "no mTLS requests" in twice


def get(url: str, data: dict | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(url, data=body, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for_rows(base: str, deadline: float) -> list[dict]:
    """The mTLS tab's rows once requests were counted (the UI polls the same answer)."""
    while time.monotonic() < deadline:
        try:
            _, body = get(f"{base}/stats/requests")
            tab, seen_tab = json.loads(body)["extended_stats"]
            assert seen_tab["key"] == web_ui.SEEN_TAB_KEY
            if tab["data"] and tab["data"][0]["requests"] > 0:
                return tab["data"]
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.3)
    raise AssertionError("the mTLS tab never showed a request")


def test_mtls_tab_csv_json_report_and_start_form_in_the_web_ui(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "locust", "-f", MTLS, "--web-host", "127.0.0.1"]
    command += ["--web-port", str(port), "--autostart", "-u", "4", "-r", "4", "-t", "6s"]
    command += ["--autoquit", "0", "--mtls-keepalive", "off"]
    with open(tmp_path / "locust.log", "w") as log:
        locust = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        rows = wait_for_rows(base, time.monotonic() + 20)
        assert rows[0]["strategy"] == "identity-cache"
        assert rows[0]["mode"] == "greenlet, keep-alive off"

        _, page = get(f"{base}/")
        template_args = json.loads(re.search(r"window\.templateArgs = (.*)", page).group(1))
        assert template_args["extended_tabs"] == [
            {"title": "mTLS", "key": "mtls"},
            {"title": "mTLS: sent → seen", "key": "mtls_seen"},
        ]
        structure = template_args["extended_tables"][0]["structure"]
        assert [column["key"] for column in structure] == [key for key, _ in tables.COLUMNS]
        csv_link = template_args["extended_csv_files"][0]["href"]
        # The start form: the options that make sense per test, dropdowns where fixed.
        form = template_args["extra_options"]
        assert sorted(form) == [
            "mtls_ciphers",
            "mtls_concurrency",
            "mtls_identities",
            "mtls_identity_check",
            "mtls_identity_format",
            "mtls_identity_header",
            "mtls_keepalive",
            "mtls_no_cert_fraction",
            "mtls_no_cert_split",
            "mtls_resumption",
            "mtls_strategy",
            "mtls_tls_version",
        ]
        assert form["mtls_strategy"]["choices"] == list(STRATEGIES)
        assert form["mtls_keepalive"]["choices"] == ["on", "off"]
        assert form["mtls_identity_check"]["choices"] == ["auto", "require", "off"]
        # The echo server reports every identity: nothing unreported, no loud note.
        assert rows[0]["unreported"] == 0
        assert re.fullmatch(r"[\d,]+ of [\d,]+", rows[0]["identity_checked"])

        status, body = get(f"{base}/{csv_link.removeprefix('./')}")
        assert status == 200 and body.startswith("row,strategy,mode,requests,")
        status, body = get(f"{base}/mtls/stats")
        assert row_of(json.loads(body), "identity-cache")["requests"] > 0
        status, body = get(f"{base}/stats/report")
        assert status == 200 and '<section id="locust-mtls"' in body

        # A bad value typed into the start form: one line back, no test started.
        status, body = get(
            f"{base}/swarm",
            {"user_count": "1", "spawn_rate": "1", "mtls_no_cert_fraction": "2"},
        )
        answer = json.loads(body)
        assert answer["success"] is False
        assert "--mtls-no-cert-fraction must be between 0 and 1" in answer["message"]

        assert locust.wait(timeout=30) == 0
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()
    output = (tmp_path / "locust.log").read_text()
    assert "mTLS summary" in output and "Traceback" not in output


def test_html_report_carries_the_mtls_table(tmp_path):
    done = run_locust("-f", MTLS, "--html", "report.html", cwd=tmp_path, users=4, run_time="2s")
    assert done.returncode == 0, done.stderr[-2000:]
    report = (tmp_path / "report.html").read_text()
    assert report.count('<section id="locust-mtls"') == 1
    assert ">identity-cache</td>" in report


def unreported_stats() -> MtlsStats:
    stats = MtlsStats(client_path="path")
    trap = stats.row("identity-cache")
    trap.use_check("auto")
    for _ in range(3):
        trap.record(
            failed=False,
            failure_kind=None,
            identity_name="client-1",
            verdict=Verdict(VerdictKind.UNREPORTED, "client-1"),
        )
    shared = stats.row("shared-context")
    shared.record(
        failed=True,
        failure_kind="bleed",
        identity_name=None,
        verdict=Verdict(VerdictKind.BLEED, "no certificate", "client-2"),
    )
    return stats


def test_unchecked_responses_are_said_loudly_everywhere():
    stats = unreported_stats()
    line = (
        "locust-mtls: identity-cache: identity checked on 0 of 3 responses: "
        "your target does not report it, see docs/gateways.md"
    )
    assert tables.unchecked_lines(stats) == [line]
    rows = {row["strategy"]: row for row in tables.rows(stats)}
    assert rows["identity-cache"]["unreported"] == 3
    assert rows["shared-context"]["identity_checked"] == "1 of 1"
    (parsed,) = [
        row
        for row in csv.DictReader(io.StringIO(tables.csv_text(stats)))
        if row["strategy"] == "identity-cache"
    ]
    assert parsed["unreported"] == "3" and "does not report it" in parsed["identity_checked"]
    section = tables.html_section(stats)
    assert "identity checked on 0 of 3 responses" in section and ">Unreported</th>" in section
    assert "unrep" in tables.text_table(stats)


def test_off_is_said_and_never_loud():
    stats = MtlsStats()
    row = stats.row_for(RunSettings("identity-cache", identity_check="off"))
    row.record(failed=False, failure_kind=None, identity_name=None)
    assert tables.unchecked_lines(stats) == []
    (table_row,) = tables.rows(stats)
    assert table_row["identity_checked"] == "off (--mtls-identity-check off)"
    assert table_row["unreported"] == 0


def test_sent_seen_pairs_in_the_tab_report_and_console():
    stats = unreported_stats()
    assert tables.seen_rows(stats) == [
        {"strategy": "shared-context", "sent": "no certificate", "seen": "client-2", "count": 1}
    ]
    assert "<td" in tables.html_section(stats) and ">client-2</td>" in tables.html_section(stats)
    assert "shared-context: no certificate -> client-2: 1" in tables.text_table(stats)


def test_the_start_form_refuses_an_untrusted_server_and_the_echo_query_keeps_its_trust(
    tmp_path, generated_pki, pki_server
):
    """The embedded server's CA does not vouch for pki_server: the form says so, like any
    bad option. With identities whose CA does trust it, the test runs; the end-of-run
    query of the embedded server still uses the embedded server's own CA."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "locust", "-f", MTLS, "--web-host", "127.0.0.1"]
    command += ["--web-port", str(port), "--mtls-keepalive", "off"]
    with open(tmp_path / "locust.log", "w") as log:
        locust = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    swarm = {"user_count": "2", "spawn_rate": "2", "host": pki_server.url}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = get(f"{base}/swarm", swarm)
                break
            except OSError:
                assert time.monotonic() < deadline, "the web UI never came up"
                time.sleep(0.3)
        answer = json.loads(body)
        assert answer["success"] is False
        assert "server certificate not trusted" in answer["message"]

        ids = str(Path(generated_pki.ca_file).parent / "identities.json")
        status, body = get(f"{base}/swarm", {**swarm, "mtls_identities": ids})
        assert json.loads(body)["success"] is True, body
        rows = wait_for_rows(base, time.monotonic() + 20)
        assert rows[0]["requests"] > 0
        get(f"{base}/stop")
        locust.terminate()
        locust.wait(timeout=30)
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()
    output = (tmp_path / "locust.log").read_text()
    assert "could not read the echo server's counters" not in output
    assert "echo server saw" in output and "Traceback" not in output
