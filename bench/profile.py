"""Where a client's CPU goes: py-spy (with native frames) on one Locust run against nginx.

    .venv/bin/pip install py-spy
    .venv/bin/python -m bench.profile --client mtls-fasthttp --keepalive off --seconds 8

Prints the top frames by own samples (where the CPU is spent; unnamed native
addresses are dropped, so a C function calling one shows as its own) and by inclusive samples
(what a frame and everything it calls cost), each as a percentage of all samples of the
Locust process. `--client` is one of bench/cells.py's Locust clients. Not a test.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from bench import nginx
from bench.clients import LOCUST_CLIENTS, locust_command
from locust_mtls.tls.pki import generate_pki

STARTUP = 4.0  # seconds before attaching: Locust imported, users spawned
# Threads waiting for work (gevent's resolver pool) are sampled too: not CPU.
IDLE = ("acquire_with_timeout (", "pthread_cond_timedwait (", "epoll_wait (")
# In every sample of a Locust user: not informative in the inclusive list.
SCAFFOLDING = ("greenlet::", "run (_gevent", "green_switch", "single_result", "User.", "TaskSet.",
               "DefaultTaskSet.")  # fmt: skip
FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """`do_handshake (ssl.py:1346)` -> `do_handshake (ssl.py)`; native frames stay as given."""
    match = FRAME.match(frame)
    if not match:
        return frame
    return f"{match['function']} ({os.path.basename(match['file'])})"


def top_frames(raw: str, limit: int = 15) -> dict:
    """From py-spy's raw (collapsed) output: the top frames by own and inclusive samples."""
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame_name(f) for f in stack.split(";") if not f.startswith("0x")]
        if len(frames) < 3 or any(f.startswith(IDLE) for f in frames):
            # Idle waits, and stacks py-spy could not unwind (a stripped libpython's
            # nearest symbol, typically the hub's epoll wait): not attributable CPU.
            continue
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for name in set(frames):
            if not name.startswith(SCAFFOLDING):
                inclusive[name] += samples
    share = lambda n: round(100.0 * n / total, 1) if total else 0.0  # noqa: E731
    return {
        "samples": total,
        "own": [(name, share(n)) for name, n in own.most_common(limit)],
        "inclusive": [(name, share(n)) for name, n in inclusive.most_common(limit)],
    }


def render(title: str, frames: dict) -> str:
    """A text block for docs/benchmarks.md: both top lists side by side."""
    lines = [f"{title} ({frames['samples']} samples)", ""]
    lines.append(f"{'own %':>6}  {'frame':<58} {'incl. %':>7}  frame")
    for (own, own_pct), (incl, incl_pct) in zip(frames["own"], frames["inclusive"], strict=False):
        lines.append(f"{own_pct:6.1f}  {own[:58]:<58} {incl_pct:7.1f}  {incl[:70]}")
    return "\n".join(lines)


def profile(
    client: str, keepalive: bool, seconds: int, users: int, rate: int, keep_raw: str = ""
) -> dict:
    """Run `client` under py-spy against a fresh nginx; the top frames."""
    py_spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is not installed; run: .venv/bin/pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as workdir:
        identity_set = generate_pki(os.path.join(workdir, "certs"), clients=10)
        identities = os.path.join(workdir, "certs", "identities.json")
        with nginx.start_nginx(
            identity_set.server_cert, identity_set.server_key, identity_set.ca_file
        ) as server:
            command, env = locust_command(
                client, server.url, identities, keepalive, users, seconds + STARTUP + 10, workdir
            )
            raw_file = os.path.join(workdir, "profile.txt")
            # Attach once the users run: start-up (imports) would otherwise dominate.
            with open(os.path.join(workdir, "locust.log"), "w") as log:
                locust = subprocess.Popen(
                    command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=log,
                )  # fmt: skip
                try:
                    time.sleep(STARTUP)
                    subprocess.run(
                        [py_spy, "record", "--native", "-r", str(rate),
                         "-d", str(seconds), "-f", "raw", "-o", raw_file,
                         "--pid", str(locust.pid)],
                        stdin=subprocess.DEVNULL, capture_output=True, timeout=seconds + 60,
                        check=False,
                    )  # fmt: skip
                finally:
                    locust.kill()  # our child, by PID
                    locust.wait()
            with open(raw_file) as file:
                raw = file.read()
            if keep_raw:
                shutil.copy(raw_file, keep_raw)
            return top_frames(raw)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", default="mtls-fasthttp", choices=sorted(LOCUST_CLIENTS))
    parser.add_argument("--keepalive", choices=("on", "off"), default="off")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--raw", default="", help="also keep py-spy's raw stacks in this file")
    args = parser.parse_args(argv)
    frames = profile(
        args.client, args.keepalive == "on", args.seconds, args.users, args.rate, args.raw
    )
    print(render(f"{args.client}, keep-alive {args.keepalive}, nginx", frames))


if __name__ == "__main__":
    main()
