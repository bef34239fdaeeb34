"""tls.py: the contexts we build, and the frozen context's refusals."""

import ssl

import pytest

from locust_mtls.errors import ConfigError
from locust_mtls.tls.contexts import FrozenSSLContext, client_context
from locust_mtls.tls.identity import Identity


def test_client_context_is_frozen_and_complete(generated_pki, identities):
    context = client_context(generated_pki.ca_file, identities[0])
    assert isinstance(context, FrozenSSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_frozen_context_accepts_urllib3s_repeated_settings(generated_pki):
    # urllib3 re-applies ALPN and verify_mode at every new connection (urllib3#3036).
    context = client_context(generated_pki.ca_file)
    context.set_alpn_protocols(["http/1.1"])
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True


@pytest.mark.parametrize(
    "change",
    [
        lambda c, i: c.load_cert_chain(i.cert_file, i.key_file),
        lambda c, i: c.load_verify_locations(cafile=i.cert_file),
        lambda c, i: c.set_alpn_protocols(["h2"]),
        lambda c, i: setattr(c, "verify_mode", ssl.CERT_OPTIONAL),
        lambda c, i: setattr(c, "check_hostname", False),
        lambda c, i: c.set_ciphers("ECDHE+AESGCM"),
    ],
    ids=[
        "load_cert_chain",
        "load_verify_locations",
        "alpn",
        "verify_mode",
        "check_hostname",
        "ciphers",
    ],
)
def test_frozen_context_refuses_real_changes(generated_pki, identities, change):
    context = client_context(generated_pki.ca_file)
    with pytest.raises(RuntimeError, match="frozen"):
        change(context, identities[0])


def test_unfrozen_context_is_for_the_unsafe_strategies_only(generated_pki, identities):
    context = client_context(generated_pki.ca_file, frozen=False)
    assert not isinstance(context, FrozenSSLContext)
    context.load_cert_chain(identities[0].cert_file, identities[0].key_file)


def test_a_ca_file_that_is_not_pem_is_one_clear_error(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"ca\.pem: cannot load CA certificates"):
        client_context(str(bad))


def test_a_key_that_does_not_match_is_one_clear_error(generated_pki, identities):
    first, second = identities[0], identities[1]
    mixed = Identity("mixed", first.cert_file, second.key_file, first.fingerprint, first.subject)
    with pytest.raises(ConfigError, match="cannot load the client identity mixed"):
        client_context(generated_pki.ca_file, mixed)
