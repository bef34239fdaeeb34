"""Generated subjects through real nginx and HAProxy (issue 26): a certificate with an
unusual but legal subject, signed by the run's CA, is never judged a wrong identity in
any form the gateway prints it, and shared-context's bleed is still seen behind it.

Each gateway starts once per module with one header per form (bench/gateways.py's
helpers); each hypothesis example issues one certificate and sends it. Skipped, with
the apt command, when a server is missing.
"""

from __future__ import annotations

import datetime
import os

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings

from bench import gateways, nginx
from locust_mtls.strategies import create
from locust_mtls.tls.identity import load_identity
from locust_mtls.tls.pki import load_ca
from locust_mtls.tls.reported_identity import IdentityIndex, match_seen, parse_reported

from generated_subjects import SUBJECTS, legacy_ambiguous

pytestmark = pytest.mark.gateway

# (header, --mtls-identity-format, legacy form?) -> what each gateway puts in it.
XFCC = 'By=spiffe://gateway;Subject=\\"{}\\"'  # built in the config, as Envoy would send it
NGINX_FORMS = {
    ("X-Subject", "subject", False): "$ssl_client_s_dn",
    ("X-Subject-Legacy", "subject", True): "$ssl_client_s_dn_legacy",
    ("X-Sha1", "sha1", False): "$ssl_client_fingerprint",
    ("X-Sha256", "sha256", False): "$client_cert_sha256",  # njs (nginx.NJS_HTTP_LINES)
    ("X-Pem", "pem", False): "$ssl_client_escaped_cert",
    ("X-Xfcc", "xfcc", False): '"' + XFCC.format("$ssl_client_s_dn") + '"',
}
HAPROXY_FORMS = {
    ("X-Subject", "subject", False): "%[ssl_c_s_dn(,0,rfc2253)]",
    ("X-Subject-Legacy", "subject", True): "%[ssl_c_s_dn]",
    ("X-Sha1", "sha1", False): "%[ssl_c_sha1,hex]",
    ("X-Sha256", "sha256", False): gateways.HAPROXY_SHA256,
    ("X-Der", "pem", False): "%[ssl_c_der,base64]",  # HAProxy has no PEM: base64 DER
    ("X-Xfcc", "xfcc", False): '"' + XFCC.format("%[ssl_c_s_dn(,0,rfc2253)]") + '"',
}
FORMS = {"nginx": NGINX_FORMS, "haproxy": HAPROXY_FORMS}


def nginx_lines() -> tuple[str, str]:
    """(http lines, location lines): a header per form, "none" without a certificate."""
    http, location = nginx.NJS_HTTP_LINES, ""
    for number, ((header, _, _), source) in enumerate(NGINX_FORMS.items()):
        if source == "$client_cert_sha256":  # njs says "none" itself
            target = source
        else:
            target = f"$form_{number}"
            http += gateways.nginx_map("ssl_client_raw_cert", target[1:], source)
        location += f"add_header {header} {target} always;\n"
    return http, location + 'return 200 "ok\\n";\n'


def start(server: str, pki, backend_port: int) -> nginx.ServerProcess:
    if server == "nginx":
        http_lines, location_lines = nginx_lines()
        return nginx.start_nginx(
            pki.server_cert, pki.server_key, pki.ca_file,
            http_lines=http_lines, location_lines=location_lines,
        )  # fmt: skip
    lines = 'http-request return status 200 content-type text/plain string "ok"\n'
    for (header, _, _), value in HAPROXY_FORMS.items():
        lines += gateways.haproxy_report(header, value)
    chosen = gateways.Variant("haproxy-every-form", "haproxy", "", "auto", lines)
    return gateways.start_gateway(
        chosen, pki.server_cert, pki.server_key, pki.ca_file, backend_port
    )


@pytest.fixture(scope="module", params=list(FORMS))
def gateway(request, generated_pki):
    """(name, running server): each gateway once per module."""
    if request.param == "nginx":
        reason = nginx.missing_reason(needs_js=True)
    else:
        reason = gateways.missing_reason(gateways.variant("haproxy-sha256"))
    if reason:
        pytest.skip(reason)
    with gateways.plain_backend() as backend_port:
        with start(request.param, generated_pki, backend_port) as server:
            yield request.param, server


class Issuer:
    """Issues a client certificate with any subject, signed by generated_pki's CA."""

    def __init__(self, pki, directory):
        ca = load_ca(os.path.dirname(pki.ca_file))
        self.ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
        self.ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
        self.directory, self.issued = directory, 0

    def issue(self, subject: x509.Name):
        self.issued += 1
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.ca_key, hashes.SHA256())
        )
        name = f"subject-{self.issued}"
        cert_file, key_file = (os.path.join(self.directory, f"{name}.{x}") for x in ("pem", "key"))
        with open(cert_file, "wb") as file:
            file.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_file, "wb") as file:
            file.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return load_identity(name, cert_file, key_file)


@pytest.fixture(scope="module")
def issuer(generated_pki, tmp_path_factory):
    return Issuer(generated_pki, str(tmp_path_factory.mktemp("subjects")))


def forms_to_check(server: str, subject: x509.Name):
    """The gateway's forms, less the legacy one when the subject cannot be read back from it
    (tests/test_distinguished_names.py shows what it cannot say)."""
    ambiguous = legacy_ambiguous(subject)
    return [(h, fmt) for (h, fmt, legacy) in FORMS[server] if not (legacy and ambiguous)]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(subject=SUBJECTS)
def test_no_form_calls_a_generated_subject_a_wrong_identity(
    gateway, issuer, generated_pki, subject
):
    server_name, server = gateway
    identity, other = issuer.issue(subject), generated_pki.identities[0]
    index = IdentityIndex.of([identity, other])
    cert = identity.requests_cert()
    response = requests.get(server.url + "/", verify=generated_pki.ca_file, cert=cert, timeout=10)
    assert response.status_code == 200
    for header, identity_format in forms_to_check(server_name, subject):
        value = response.headers[header]
        for each_format in (identity_format, "auto"):
            seen = parse_reported(value, each_format)
            assert match_seen(identity, seen, index).kind == "right", (header, value)
            assert match_seen(other, seen, index).kind == "wrong", (header, value)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(subject=SUBJECTS)
def test_shared_context_still_bleeds_a_generated_subject(gateway, issuer, trust, subject):
    server_name, server = gateway
    identity = issuer.issue(subject)
    index = IdentityIndex.of([identity])
    client = create("shared-context", trust).new_client()
    close = {"Connection": "close"}  # keep-alive off: the no-cert request handshakes anew
    try:
        client.request("GET", server.url + "/", identity, headers=close)
        response = client.request("GET", server.url + "/", None, headers=close)
    finally:
        client.close()
    for header, identity_format in forms_to_check(server_name, subject):
        seen = parse_reported(response.headers[header], identity_format)
        assert match_seen(None, seen, index).kind == "bleed", (header, seen)
