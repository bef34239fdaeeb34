"""aiohttp's strategy against the echo server over real TLS: many tasks on one event loop,
and the engine child's asyncio mode, which runs them for a Locust run."""

import asyncio
from collections import Counter

import pytest

from locust_mtls.engine.checkpoint import Sent
from locust_mtls.engine.execution import execute_request_async
from locust_mtls.engine.identity_check import IdentityChecker
from locust_mtls.engine.runners import ThreadEngine
from locust_mtls.settings import RunSettings
from locust_mtls.strategies import create

HEADER = "X-Client-Cert-Fingerprint"


@pytest.mark.parametrize("keepalive", [False, True], ids=["new-connection", "keep-alive"])
def test_a_context_per_request_stays_clean_with_many_tasks(
    trust, identities, pki_server, keepalive
):
    strategy = create("aiohttp-per-request-context", trust)
    checker = IdentityChecker(identities)

    async def user(number: int) -> list:
        client = strategy.new_client()
        identity = identities[number % len(identities)]
        verdicts = []
        for i in range(12):  # every other request without a certificate
            sent = identity if i % 2 else None
            options = (HEADER, keepalive, (5.0, 5.0), False)
            outcome = await execute_request_async(client, "GET", pki_server.url, sent, *options)
            assert outcome.error is None, outcome.error
            verdicts.append(checker.verdict(sent, outcome.reported).kind.value)
        await client.aclose()
        return verdicts

    async def users() -> list:
        return await asyncio.gather(*(user(n) for n in range(8)))

    verdicts = Counter(kind for run in asyncio.run(users()) for kind in run)
    assert sum(verdicts.values()) == 96 and set(verdicts) == {"right"}


def test_the_engine_child_runs_asyncio_users_on_one_loop(trust, identities, pki_server, tmp_path):
    settings = RunSettings(
        "aiohttp-per-request-context", concurrency="asyncio", keepalive=False,
        crash_dir=str(tmp_path),
    )  # fmt: skip
    engine = ThreadEngine(settings, trust, identities, on_crash=lambda record: None)
    try:
        outcomes = [
            engine.call(user, "GET", pki_server.url, Sent(identity, None))
            for user, identity in enumerate([identities[0], None, identities[1]])
        ]
    finally:
        engine.close()
    seen = [outcome.reported for outcome in outcomes]
    assert seen == [identities[0].fingerprint, "none", identities[1].fingerprint]
    for outcome in outcomes:  # aiohttp's trace config: one new connection, one request
        assert outcome.connections.requests_written == 1
        assert len(outcome.connections.full_ms) == 1
