"""wire.py: a prepared request out to the engine child and its answer back, through
JSON, as the requests.Response a greenlet request would get."""

import gzip
import json

import pytest
import requests
from requests.adapters import HTTPAdapter

from locust_mtls.engine import wire
from locust_mtls.strategies import create


def prepared(**kwargs) -> requests.PreparedRequest:
    return requests.Request("POST", "https://127.0.0.1:1/x", **kwargs).prepare()


def test_a_request_survives_json_and_is_sent_the_same(pki_server, trust, identities):
    body = {"name": "naïve ☃", "n": 1}
    request = requests.Request(
        "POST", pki_server.url + "/echo", json=body, params={"q": "a b"}, headers={"X-A": "1"}
    ).prepare()
    job = json.loads(json.dumps(wire.encode_request(request, (5, 10), None)))
    client = create("identity-cache", trust).new_client()
    try:
        outcome = wire.send_encoded(client, job, identities[0], "X-Client-Cert-Fingerprint")
    finally:
        client.close()
    assert outcome.error is None and outcome.status == 200
    answer = json.loads(json.dumps(outcome.response))
    response = wire.build_response(HTTPAdapter(), request, answer)
    echo = response.json()
    assert echo["method"] == "POST" and echo["query"] == {"q": ["a b"]}
    assert echo["fingerprint"] == identities[0].fingerprint
    assert response.headers["X-Client-Cert-Fingerprint"] == identities[0].fingerprint
    assert response.url == request.url and response.ok


def test_repeated_cookies_and_compressed_bodies_come_back_as_requests_reads_them():
    request = prepared(data=b"x")
    answer = {
        "status": 201,
        "reason": "Created",
        "headers": [
            ["Set-Cookie", "a=1; Path=/"],
            ["Set-Cookie", "b=2; Path=/"],
            ["Content-Encoding", "gzip"],
            ["Content-Type", "application/json"],
        ],
        "body": __import__("base64").b64encode(gzip.compress(b'{"ok": true}')).decode(),
    }
    response = wire.build_response(HTTPAdapter(), request, answer)
    assert response.status_code == 201 and response.reason == "Created"
    assert response.cookies.get_dict() == {"a": "1", "b": "2"}
    assert response.json() == {"ok": True}
    session = requests.Session()
    requests.cookies.extract_cookies_to_jar(session.cookies, request, response.raw)
    assert session.cookies.get_dict() == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    "data,named",
    [
        ((chunk for chunk in [b"a"]), "data=generator"),
        (open(__file__, "rb"), "data=BufferedReader"),  # noqa: SIM115 - closed by the GC
    ],
)
def test_a_streamed_body_is_one_line_naming_the_argument(data, named):
    with pytest.raises(wire.UnsendableArgument) as raised:
        wire.check_sendable(data, None)
    message = str(raised.value)
    assert message.startswith(named + ": ") and "\n" not in message
    assert "data=f.read()" in message


def test_bodies_in_memory_and_ordinary_timeouts_pass():
    for data in (None, b"x", "x", {"a": "b"}, [("a", "b")]):
        wire.check_sendable(data, (1, 2))
    assert wire.timeout_pair(3) == [3.0, 3.0]
    with pytest.raises(wire.UnsendableArgument, match="timeout="):
        wire.timeout_pair(object())
