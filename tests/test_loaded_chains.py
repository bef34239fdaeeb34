"""tls/loaded_chains: which chain an SSLContext holds, as the FastHttpUser audit reads it."""

import ssl

import pytest

from locust_mtls.tls import loaded_chains


@pytest.fixture
def recording(monkeypatch):
    # Put the stdlib method back afterwards: the wrapper is for audit processes.
    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", ssl.SSLContext.load_cert_chain)
    loaded_chains.recording()
    loaded_chains.recording()  # idempotent: one wrapper, not two


def test_the_last_chain_loaded_in_the_block_is_the_one_presented(recording, identities):
    first, second = identities[0], identities[1]
    shared, other = ssl.create_default_context(), ssl.create_default_context()
    shared.load_cert_chain(first.cert_file, first.key_file)  # its own, e.g. at import
    assert loaded_chains.chain_presented(shared, []) == (first.cert_file, first.key_file)
    with loaded_chains.loads_into() as loads:
        other.load_cert_chain(first.cert_file, first.key_file)
        shared.load_cert_chain(second.cert_file, second.key_file)
    assert [chain for _, chain in loads] == [
        (first.cert_file, first.key_file),
        (second.cert_file, second.key_file),
    ]
    assert loaded_chains.chain_presented(shared, loads) == (second.cert_file, second.key_file)
    assert loaded_chains.chain_presented(other, loads) == (first.cert_file, first.key_file)
    # A load in a block is that block's, not the context's own.
    assert loaded_chains.chain_presented(other, []) is None


def test_a_context_without_a_chain_presents_none(recording):
    assert loaded_chains.chain_presented(ssl.create_default_context(), []) is None


def test_a_failed_load_is_not_noted(recording, tmp_path):
    context = ssl.create_default_context()
    with loaded_chains.loads_into() as loads, pytest.raises(FileNotFoundError):
        context.load_cert_chain(str(tmp_path / "missing.pem"))
    assert loads == []
