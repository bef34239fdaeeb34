"""MtlsFastHttpUser: identity-cache's contexts on Locust's FastHttpUser, run by `locust`."""

import json
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
