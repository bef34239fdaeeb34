"""What a matrix cell's outcome is called and how it is labelled: the names the report,
the verdict and the runner share (outcome colours, strategy safety, version order)."""

from __future__ import annotations

import re

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from locust_mtls.settings import SAFE, UNSAFE, VERSION_DEPENDENT
from locust_mtls.strategies import LIBRARIES
from locust_mtls.strategies import STRATEGIES as REGISTRY

# The order of the registry is the order of every table; notes and safety come from it.
STRATEGY_NOTES = {name: cls.note for name, cls in REGISTRY.items()}
STRATEGIES = tuple(REGISTRY)
UNSAFE_BY_DESIGN = tuple(name for name, cls in REGISTRY.items() if cls.safety == UNSAFE)
# (strategy, library) of those safe or not by the installed library's version.
VERSION_DEPENDS = tuple(
    (name, cls.library) for name, cls in REGISTRY.items() if cls.safety == VERSION_DEPENDENT
)
# requests-default is safe or not depending on the requests version: that is what it shows.
MUST_BE_CLEAN_DEFAULT = tuple(name for name, cls in REGISTRY.items() if cls.safety == SAFE)

# outcome -> (short label, colour, meaning); worst first, so a group shows its worst row.
OUTCOMES = {
    "crashed": ("crash", "#67000d", "the client died by a signal (e.g. SIGSEGV in OpenSSL)"),
    "hung": ("hung", "#54278f", "the cell did not finish within run time + margin; killed"),
    "wrong-identity": ("wrong id", "#d7301f", "the server saw another user's certificate"),
    "missing-certificate": (
        "no cert",
        "#e34a33",
        "a request sent with a certificate reached the server without one (the client dropped it)",
    ),
    "bleed": ("bleed", "#fc8d59", "a request meant to go without a cert presented one"),
    "no-result": ("no result", "#969696", "Locust did not start or reported no requests"),
    "errors": ("errors", "#fdd835", "requests failed (e.g. TLS errors), identity checks passed"),
    "clean": ("clean", "#1a9850", "no crash, no wrong identity, no bleed, no failed request"),
}
# What a run can show, worst first. One run can show several (wrong identities and bleed,
# then a crash), so views count runs per kind, not by the worst outcome alone.
KINDS = tuple(name for name in OUTCOMES if name != "clean")
# --no-cert-split: it decides requests 2.31.0's column (a Session reuses its connections
# across certs there, psf/requests#2863), so every view says which one ran.
NO_CERT_SPLIT_MEANINGS = {
    "requests": "each user mixes cert and no-cert requests",
    "users": "half the users never send a cert",
}
# What makes `locust-mtls matrix` exit 1 for a strategy listed in --must-be-clean.
FAILING_OUTCOMES = (
    "crashed",
    "hung",
    "wrong-identity",
    "missing-certificate",
    "bleed",
    "no-result",
)
ENV_FACTS = ("requests", "urllib3", "locust", "gevent", "python", "openssl")
# Said of an env only when it holds them: the other clients (a client's env) and theirs.
CLIENT_FACTS = (
    *(name for name in LIBRARIES if name not in ENV_FACTS),
    "urllib3-future",
    "httpcore",
)
# The identity check's kinds of failure, worst first, and the counter of each.
IDENTITY_KINDS = {
    "wrong-identity": "wrong_identity",
    "missing-certificate": "missing_certificate",
    "bleed": "bleed",
}
IDENTITY_WORDS = {
    "wrong-identity": "wrong identity",
    "missing-certificate": "missing certificate",
    "bleed": "cert bleed",
}


def failing_rows(rows: list[dict]) -> list[dict]:
    """Rows of a --must-be-clean strategy that crashed, hung, mismatched, bled or gave nothing."""
    return [row for row in rows if row.get("must_be_clean") and row["outcome"] in FAILING_OUTCOMES]


def row_kinds(row: dict) -> set[str]:
    """Every kind of failure one run showed (KINDS), not only its worst `outcome`."""
    kinds = {row["outcome"]} - {"clean"}
    if row.get("crash") or row.get("crashes"):
        kinds.add("crashed")
    mixed_up = 0
    for kind, counter in IDENTITY_KINDS.items():
        if row.get(counter):
            kinds.add(kind)
            mixed_up += row[counter]
    if (row.get("failures") or 0) - mixed_up > 0:
        kinds.add("errors")
    return kinds


def mode_label(row: dict) -> str:
    """'greenlet, keep-alive off': the run mode of a row."""
    return f"{row['concurrency']}, keep-alive {'on' if row['keepalive'] else 'off'}"


def client_of(row: dict) -> str:
    """The client library a row measured: requests, or the one its strategy drives."""
    return row.get("client") or "requests"  # rows before issue 30: requests


def version_label(row: dict, many_pythons: bool) -> str:
    """The requests version (another client: 'httpx 0.28.1'), prefixed with the Python
    version when several were run."""
    version = row["requests_version"]
    if client_of(row) != "requests":
        version = f"{row['client']} {row['client_version']}"
    return f"py{row['python']} {version}" if many_pythons else version


def measured_text(row: dict) -> str:
    """What a row measured, in words: 'requests 2.32.3', 'httpx 0.28.1', 'locust 2.42.0,
    requests 2.34.2'."""
    text = versions_text(row)
    return text if client_of(row) != "requests" or row.get("locust_version") else f"requests {text}"


def versions_text(row: dict) -> str:
    """'2.32.3', '2.32.0 (yanked)', '2.31.0 (outside Locust's range)' (the requests its
    Locust declares: installed with --no-deps), 'locust 2.42.0, requests 2.34.2', or
    another client's 'httpx 0.28.1'."""
    if client_of(row) != "requests":
        return f"{row['client']} {row['client_version']}"
    requests_version = text = row["requests_version"]
    if any("yanked" in label for label in row.get("env_labels") or ()):
        text += " (yanked)"
    declared = row.get("requests_range") or ""  # rows before issue 26 do not say
    if declared and not SpecifierSet(declared).contains(requests_version, prereleases=True):
        text += " (outside Locust's range)"
    return f"locust {row['locust_version']}, requests {text}" if row.get("locust_version") else text


def measured_order(text: str) -> tuple:
    """Sort key of a versions_text / measured_text: requests first, then the other clients
    in LIBRARIES order, each by version number (2.9 < 2.10)."""
    first = text.split(" ", 1)[0]
    rank = list(LIBRARIES).index(first) if first in LIBRARIES else 0
    return rank, [version_key(v) for v in re.findall(r"\d+(?:\.\d+)+", text)]


def version_key(text: str) -> Version:
    """Versions sort numerically (2.9 < 2.10); anything unparsable sorts first."""
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")
