"""MtlsFastHttpUser: identity-cache's contexts on Locust's FastHttpUser, run by `locust`."""

import json
import subprocess
import sys
from pathlib import Path

import trustme

from conftest import row_of, run_locust

STRATEGIES_FILE = str(Path(__file__).resolve().parent.parent / "locustfiles" / "strategies.py")
ROW = "fasthttp/identity-cache"


def run_fast_user(tmp_path, *extra):
    done = run_locust(
        "-f", STRATEGIES_FILE, "FastHttpIdentityCacheUser", "--mtls-summary-file", "s.json",
        *extra, cwd=tmp_path, users=4, run_time="3s",
    )  # fmt: skip
    return done, row_of(json.loads((tmp_path / "s.json").read_text()), ROW)


def test_checked_and_counted_like_mtls_user(tmp_path):
    done, stats = run_fast_user(tmp_path, "--mtls-keepalive", "off")
    assert done.returncode == 0, done.stderr[-2000:]
    assert stats["requests"] > 50
    assert stats["failures"] == stats["wrong_identity"] == stats["bleed"] == 0
    assert len(stats["identities_in_use"]) == 4
    output = done.stdout + done.stderr
    assert f"{ROW} / (cert)" in output and f"{ROW} / (no cert)" in output


def test_the_servers_certificate_is_always_verified(tmp_path):
    # FastHttpUser's own default is insecure=True; ours must never be.
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))
    done, stats = run_fast_user(tmp_path, "--mtls-ca", str(tmp_path / "other-ca.pem"))
    assert done.returncode == 1
    assert stats["requests"] > 0
    assert stats["failures"] == stats["requests"]
    assert stats["failure_classes"] == {"server certificate not trusted": stats["requests"]}


def run_in_child(script: str, *args: str) -> subprocess.CompletedProcess:
    """`script` in a child Python: Locust monkey-patches ssl at import, which this test
    process must not; the scripts patch like Locust does before using ssl."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


RESOLVE_ONCE_CHECK = """
from gevent import monkey; monkey.patch_all()  # as Locust does, before ssl is used
import ssl, sys
from geventhttpclient.client import HTTPClientPool
from locust_mtls.locust.fast_user import watch_client_pool

context = ssl.create_default_context(cafile=sys.argv[1])
pool = HTTPClientPool(ssl_context_factory=lambda **_: context, insecure=False)
watch_client_pool(pool)
by_address = pool.get_client("https://127.0.0.1:8443/")._connection_pool
by_name = pool.get_client("https://localhost:8443/")._connection_pool
assert "_resolve" in vars(by_address) and "_resolve" not in vars(by_name)
first = by_address._resolve()
assert by_address._resolve() is first and first[0][-1][:2] == ("127.0.0.1", 8443), first
print("ok")
"""


def test_an_ip_address_is_resolved_once_per_pool_a_host_name_at_each_connection(echo_pki):
    # Nothing is sent; the runs above (--host 127.0.0.1) send through such pools.
    done = run_in_child(RESOLVE_ONCE_CHECK, echo_pki.ca_file)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


COOKIE_JARS_CHECK = """
from gevent import monkey; monkey.patch_all()  # as Locust does, before ssl is used
import json, ssl, sys
from http.cookiejar import CookieJar
from geventhttpclient.useragent import UserAgent
from locust_mtls.locust.fast_user import SkippingCookieJar

url, ca_file, cert_file, key_file = sys.argv[1:]
context = ssl.create_default_context(cafile=ca_file)
context.load_cert_chain(cert_file, key_file)
for jar in (CookieJar(), SkippingCookieJar()):
    agent = UserAgent(ssl_context_factory=lambda **_: context, cookiejar=jar)
    seen = []
    for method, path in (("GET", "/before"), ("POST", "/login"), ("GET", "/after")):
        echo = json.loads(agent.urlopen(url + path, method=method).content)
        seen.append((path, echo["cookie_session"] is not None, len(jar)))
    print(type(jar).__name__, json.dumps(seen))
"""


def test_the_skipping_cookie_jar_keeps_and_sends_cookies_like_cookiejar(echo_pki, echo_server):
    # A jar that skips the empty cases must still take the login's
    # Set-Cookie and send it back, exactly like http.cookiejar.CookieJar.
    client = echo_pki.clients[0]
    done = run_in_child(
        COOKIE_JARS_CHECK, echo_server.url, echo_pki.ca_file, client.cert_file, client.key_file
    )
    runs = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    expected = [["/before", False, 0], ["/login", False, 1], ["/after", True, 1]]
    assert json.loads(runs["CookieJar"]) == expected, done.stderr[-2000:]
    assert json.loads(runs["SkippingCookieJar"]) == expected
