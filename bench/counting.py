"""Request counters for the baseline locustfiles, written to $BENCH_SUMMARY at exit.

Counts every request event between the first and the last one, like the plugin's
summary file does for MtlsUser runs, so the rates compare. Imports nothing of ours.
"""

import json
import os
import time

from locust import events

_counters = {"requests": 0, "failures": 0, "first": 0.0, "last": 0.0}


@events.request.add_listener
def _count(exception=None, **_kwargs):
    now = time.time()
    _counters["first"] = _counters["first"] or now
    _counters["last"] = now
    _counters["requests"] += 1
    _counters["failures"] += exception is not None


@events.quitting.add_listener
def _write(**_kwargs):
    elapsed = _counters["last"] - _counters["first"]
    summary = {
        "requests": _counters["requests"],
        "failures": _counters["failures"],
        "elapsed_s": round(elapsed, 2),
        "rps": round(_counters["requests"] / elapsed, 1) if elapsed > 0 else 0.0,
        "started_at": _counters["first"],
        "ended_at": _counters["last"],
    }
    with open(os.environ["BENCH_SUMMARY"], "w") as file:
        json.dump(summary, file)
