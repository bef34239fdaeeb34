"""config/user_settings.py: one set of class attributes, one builder, for every user class
(no Locust here: the builder reads plain classes and an options namespace)."""

import pytest

from locust_mtls.config.options import default_options
from locust_mtls.config.user_settings import (
    ATTRIBUTES,
    MtlsAttributes,
    options_not_taken,
    user_settings,
)
from locust_mtls.errors import ConfigError
from locust_mtls.settings import RunSettings, TlsSettings


class Probe(MtlsAttributes):
    default_no_cert_fraction = 0.5


class Api(MtlsAttributes):
    pass


class Fast(MtlsAttributes):
    concurrency = 10  # FastHttpUser's own attribute: connections per host


def test_every_attribute_has_an_option_of_the_same_name_or_is_the_pinned_identity():
    options = vars(default_options())
    assert ATTRIBUTES and all(
        f"mtls_{name}" in options or name in ("identity",) for name in ATTRIBUTES
    )


def test_real_endpoint_classes_send_every_request_with_a_certificate_by_default():
    built = user_settings(default_options(), Api)
    assert built.no_cert_fraction == 0.0
    assert built.settings == RunSettings("identity-cache")
    assert user_settings(default_options(), Probe).no_cert_fraction == 0.5


def test_the_option_applies_to_every_class_that_does_not_say_and_the_class_wins():
    options = default_options(mtls_no_cert_fraction="0.2", mtls_keepalive="off")
    assert user_settings(options, Api).no_cert_fraction == 0.2
    assert user_settings(options, Probe).no_cert_fraction == 0.2
    assert user_settings(options, Api).settings.keepalive is False
    pinned = type("Pinned", (Api,), {"no_cert_fraction": 0.0, "keepalive": True})
    assert user_settings(options, pinned).no_cert_fraction == 0.0
    assert user_settings(options, pinned).settings.keepalive is True


def test_every_attribute_reaches_the_settings():
    cls = type(
        "Everything",
        (Api,),
        {
            "strategy": "per-thread-session",
            "concurrency": "native-threads",
            "keepalive": False,
            "identity": "client-2",
            "identity_check": "require",
            "identity_format": "sha1",
            "identity_header": "X-SSL-Client-SHA1",
            "tls_version": "1.2",
            "ciphers": "ECDHE-RSA-AES128-GCM-SHA256",
            "resumption": True,
        },
    )
    settings = user_settings(default_options(), cls).settings
    assert settings == RunSettings(
        "per-thread-session",
        "native-threads",
        False,
        identity_header="X-SSL-Client-SHA1",
        identity_check="require",
        identity_format="sha1",
        tls=TlsSettings("1.2", "ECDHE-RSA-AES128-GCM-SHA256", True),
        identity="client-2",
    )
    assert settings.row == (
        "per-thread-session [native-threads, keep-alive off, TLS 1.2, "
        "ciphers ECDHE-RSA-AES128-GCM-SHA256, resumption on, check require, identity client-2]"
    )


def test_fasthttp_keeps_its_own_concurrency_and_fixed_settings():
    options = default_options(mtls_concurrency="native-threads", mtls_resumption="on")
    settings = user_settings(options, Fast, client="fasthttp").settings
    assert (settings.client, settings.strategy) == ("fasthttp", "identity-cache")
    assert (settings.concurrency, settings.tls.resumption) == ("greenlet", False)
    assert settings.row == "fasthttp/identity-cache"
    with pytest.raises(ConfigError, match=r"^Wrong\.strategy = 'shared-context': this user"):
        user_settings(options, type("Wrong", (Fast,), {"strategy": "shared-context"}), "fasthttp")


@pytest.mark.parametrize(
    "attribute, value, message",
    [
        ("strategy", "identity-cahce", "Bad.strategy = 'identity-cahce': use one of"),
        ("keepalive", "maybe", "Bad.keepalive = 'maybe': use one of True, False"),
        ("concurrency", "threads", "Bad.concurrency = 'threads': use one of 'greenlet'"),
        ("no_cert_fraction", 2, "Bad.no_cert_fraction must be between 0 and 1, not 2"),
        ("identity_check", "strict", "Bad.identity_check = 'strict': use one of 'auto'"),
    ],
)
def test_a_bad_attribute_is_one_line_naming_the_class_attribute(attribute, value, message):
    with pytest.raises(ConfigError) as raised:
        user_settings(default_options(), type("Bad", (Api,), {attribute: value}))
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_rows_differ_by_everything_that_changes_a_result_and_only_that():
    base = RunSettings("identity-cache")
    rows = {
        base.row,
        RunSettings("identity-cache", tls=TlsSettings(resumption=True)).row,
        RunSettings("identity-cache", tls=TlsSettings(version="1.2")).row,
        RunSettings("identity-cache", identity_check="require").row,
        RunSettings("identity-cache", client="fasthttp").row,
    }
    assert len(rows) == 5
    assert RunSettings("identity-cache", identity_format="sha1").row == base.row  # how to read


@pytest.mark.parametrize("client", ["fasthttp", "httpx", "niquests"])
def test_options_a_fixed_client_does_not_take_are_named_not_dropped(client):
    given = default_options(
        mtls_strategy="shared-context", mtls_concurrency="native-threads", mtls_resumption="on"
    )
    assert options_not_taken(given, client) == [
        "--mtls-strategy shared-context",
        "--mtls-concurrency native-threads",
        "--mtls-resumption on",
    ]
    # What it would use anyway is no news; requests' classes take them all.
    assert options_not_taken(default_options(mtls_strategy="identity-cache"), client) == []
    assert options_not_taken(given, "requests") == []
