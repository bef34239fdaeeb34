"""Cells of one mTLS table row (tab, CSV, report, console) that need more than a number:
rates with what they are a share of, identities in use (bounded), negotiated versions with
full vs resumed handshakes, requests per identity generation, identity-cache's context
cache. Pure formatting of `to_dict()`."""

from __future__ import annotations

from locust_mtls.settings import BASE_WORDS, rate_base

IDENTITIES_SHOWN = 8  # names in the "Identities in use" cell


def percent(part: int, whole: int, digits: int = 1) -> str:
    """'99.7%', '<0.1%' for a small non-zero share (never rounded to a clean 0), 'n/a'."""
    if not whole:
        return "n/a"
    share, smallest = 100 * part / whole, 10**-digits
    return f"<{smallest:g}%" if 0 < share < smallest else f"{share:.{digits}f}%"


def rate_cell(data: dict, counter: str) -> str:
    """'99.7% of 863 requests sent without a certificate': `counter` as a share of the
    requests it can happen to (settings.RATE_BASES); '' when there were none."""
    name, base = rate_base(data, counter)
    return f"{percent(data.get(counter) or 0, base)} of {base:,} {BASE_WORDS[name]}" if base else ""


def identities_cell(identities: list[str]) -> str:
    """'3: client-1, client-2, client-3'; with thousands in use, the first few and a count,
    so the tab's cell (sent every two seconds) stays bounded."""
    if not identities:
        return "0"
    shown = ", ".join(identities[:IDENTITIES_SHOWN])
    more = len(identities) - IDENTITIES_SHOWN
    return f"{len(identities):,}: {shown}" + (f", … {more:,} more" if more > 0 else "")


def tls_cell(data: dict) -> str:
    """'1.3 · 40 full / 160 resumed': the versions the handshakes negotiated, then their
    kinds (resumed handshakes skip the server's client-chain check, so they are kept apart)."""
    versions = data.get("tls_versions") or {}
    shown = " + ".join(version.removeprefix("TLSv") for version in sorted(versions)) or "?"
    full = data.get("full_handshakes", data["handshakes"])  # older snapshots: all full
    resumed = data.get("resumed_handshakes", 0)
    if not full + resumed:
        return "no handshakes"
    return f"{shown} · {full:,} full / {resumed:,} resumed"


def resumed_ms_cell(data: dict) -> str:
    """'p50 / p95' of resumed handshakes in ms, empty when none resumed."""
    if not data.get("resumed_handshakes"):
        return ""
    ms = data["resumed_handshake_ms"]
    return f"{ms['p50']} / {ms['p95']}"


def generations_cell(data: dict) -> str:
    """Requests per identity generation, 'g0 45 · g1 45' (g0: the identities the run
    started with; each rotation adds one); '' until a rotation (g0 alone says nothing)."""
    generations = data.get("generations") or {}
    if set(generations) <= {"0"}:
        return ""
    return " · ".join(f"g{g} {generations[g]:,}" for g in sorted(generations, key=int))


def checked_of(data: dict) -> str:
    """'9,460 of 9,460': responses whose identity was checked, of those it could be."""
    checked, unreported = data.get("checked", 0), data["unreported"]
    return f"{checked:,} of {checked + unreported:,}"


def checked_part(data: dict) -> str:
    """'identity checked on 9,460 of 9,460' (quiet: the loud line for responses that did
    not say is tables.unchecked_lines'), 'identity check off', or '' before any answer."""
    if data.get("identity_check") == "off":
        return "identity check off"
    if not data.get("checked", 0) + data["unreported"]:
        return ""
    return f"identity checked on {checked_of(data)}"


def context_cache_cell(data: dict) -> str:
    """'812 / 1,000, 3,120 evicted' for rows with a context cache (identity-cache), else ''."""
    cache = data.get("context_cache") or {}
    if not cache:
        return ""
    limit = f"{cache['limit']:,}" if cache.get("limit") else "no bound"
    return f"{cache['size']:,} / {limit}, {cache['evictions']:,} evicted"


def console_line(data: dict) -> str:
    """The same cells on one indented line under a row of the console table: how many
    identities were checked, the rates of the identity failures that happened, then TLS,
    resumption, generations (after a rotation), context cache."""
    parts = [checked] if (checked := checked_part(data)) else []
    parts += [
        f"{name} {rate_cell(data, counter)}"
        for name, counter in (
            ("wrong id", "wrong_identity"),
            ("missing cert", "missing_certificate"),
            ("bleed", "bleed"),
        )
        if data.get(counter)
    ]
    parts.append(f"TLS {tls_cell(data)}")
    if resumed := resumed_ms_cell(data):
        parts.append(f"resumed p50/p95 {resumed} ms")
    if generations := generations_cell(data):
        parts.append(f"generations {generations}")
    if cache := context_cache_cell(data):
        parts.append(f"context cache {cache}")
    return "  " + " · ".join(parts)
