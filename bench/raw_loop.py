"""The ceiling without Locust: N native threads, each a requests loop with its own Session.

    python -m bench.raw_loop --url URL --identities certs/identities.json --client requests \
        --threads 10 --seconds 4 --keepalive off

`--client requests`: `session.get(url, cert=..., verify=ca)`, exactly what the plain
HttpUser does. `--client identity-cache`: the same loop through our strategy client.
Prints one JSON line: requests, failures, elapsed_s, rps.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import requests

from locust_mtls.strategies import Trust, create
from locust_mtls.tls.identity import load_identities


def loop(args, identity, trust, deadline: float, counts: list[int]) -> None:
    headers = None if args.keepalive == "on" else {"Connection": "close"}
    if args.client == "requests":
        session = requests.Session()
        send = lambda: session.get(  # noqa: E731
            args.url, cert=identity.requests_cert(), verify=trust.ca_file, headers=headers
        )
    else:
        client = create(args.client, trust).new_client()
        send = lambda: client.request("GET", args.url, identity, headers=headers)  # noqa: E731
    done = failed = 0
    while time.perf_counter() < deadline:
        try:
            failed += send().status_code != 200
        except requests.RequestException:
            failed += 1
        done += 1
    counts.append((done, failed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--identities", required=True)
    parser.add_argument("--client", default="requests")
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--keepalive", choices=("on", "off"), default="on")
    args = parser.parse_args()
    identity_set = load_identities(args.identities)
    trust = Trust(identity_set.ca_file, identity_set.ca_bundle_file)
    identities = identity_set.identities
    started_at = time.time()
    started = time.perf_counter()
    deadline = started + args.seconds
    counts: list[tuple[int, int]] = []
    threads = [
        threading.Thread(
            target=loop, args=(args, identities[n % len(identities)], trust, deadline, counts)
        )
        for n in range(args.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    done = sum(c[0] for c in counts)
    print(
        json.dumps(
            {
                "requests": done,
                "failures": sum(c[1] for c in counts),
                "elapsed_s": round(elapsed, 2),
                "rps": round(done / elapsed, 1),
                "started_at": started_at,
                "ended_at": started_at + elapsed,
            }
        )
    )


if __name__ == "__main__":
    main()
