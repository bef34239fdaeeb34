"""The mTLS table in words: its columns and rows (the tab, CSV and JSON), the console
table, and the section inserted into Locust's HTML report. Pure formatting of a run's
counters; the web UI (locust/web_ui.py) and the Markdown summary read the same rows.
"""

from __future__ import annotations

import csv
import html
import io

from locust_mtls.engine.stats import SEEN_PAIRS_SHOWN, MtlsStats
from locust_mtls.results.row_cells import (
    checked_of,
    console_line,
    context_cache_cell,
    generations_cell,
    identities_cell,
    rate_cell,
    resumed_ms_cell,
    tls_cell,
)
from locust_mtls.strategies import STRATEGIES

GATEWAYS_DOC = "docs/gateways.md"
SECTION_ID = "locust-mtls"

# (key, title): one row per strategy; the keys are also the CSV header and JSON fields.
COLUMNS = (
    ("row", "Row"),
    ("strategy", "Strategy"),
    ("mode", "Mode"),
    ("requests", "Requests"),
    ("with_cert", "With a certificate"),
    ("without_cert", "Without a certificate"),
    ("in_flight_at_stop", "In flight at stop"),
    ("rps", "RPS"),
    ("failures", "Failures"),
    ("wrong_identity", "Wrong identity"),
    ("wrong_identity_rate", "Wrong identity rate"),
    ("missing_certificate", "Missing certificate"),
    ("missing_certificate_rate", "Missing certificate rate"),
    ("bleed", "Cert bleed"),
    ("bleed_rate", "Cert bleed rate"),
    ("unreported", "Unreported"),
    ("identity_checked", "Identity checked"),
    ("crashes", "Crashes"),
    ("handshakes", "Handshakes"),
    ("handshake_p50_ms", "Full handshake p50 (ms)"),
    ("handshake_p95_ms", "Full handshake p95 (ms)"),
    ("tls", "TLS: version · full / resumed"),
    ("resumed_p50_p95_ms", "Resumed p50 / p95 (ms)"),
    ("generations", "Requests per identity generation"),
    ("context_cache", "Context cache"),
    ("identities_in_use", "Identities in use"),
    ("client_path", "Client path"),
)
# The most frequent mismatches (who was sent, who the server saw), every row together.
SEEN_COLUMNS = (
    ("strategy", "Strategy"),
    ("sent", "Sent"),
    ("seen", "Server saw"),
    ("count", "Responses"),
)


def identity_checked(data: dict) -> str:
    """How many responses had their identity checked, loudly when some did not say."""
    if data.get("identity_check") == "off":
        return "off (--mtls-identity-check off)"
    checked, unreported = data.get("checked", 0), data["unreported"]
    text = checked_of(data)
    if not unreported:
        return text
    why = "your target does not report it" if not checked else f"{unreported:,} did not say"
    return f"{text} responses: {why}, see {GATEWAYS_DOC}"


def unchecked_lines(stats: MtlsStats) -> list[str]:
    """One console line per row whose responses went (partly) unchecked."""
    return [
        f"locust-mtls: {name}: identity checked on {identity_checked(data)}"
        for name, data in stats.to_dict()["strategies"].items()
        if data["unreported"] and data.get("identity_check") != "off"
    ]


def seen_rows(stats: MtlsStats, limit: int = SEEN_PAIRS_SHOWN) -> list[dict]:
    """The `limit` most frequent (sent, seen) mismatches over every row."""
    pairs = [
        {"strategy": name, **pair}
        for name, data in stats.to_dict()["strategies"].items()
        for pair in data["seen_pairs"]
    ]
    return sorted(pairs, key=lambda pair: -pair["count"])[:limit]


def client_path(strategy: str, data: dict, requests_path: str) -> str:
    """The code path a strategy's requests take (its counters carry it; older snapshots
    without it fall back to requests' own path for requests-default, else the docstring)."""
    if data.get("client_path"):
        return data["client_path"]
    if strategy == "requests-default" or strategy not in STRATEGIES:
        return requests_path
    doc = (STRATEGIES[strategy].__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split())


def client_paths(stats: MtlsStats) -> dict[str, list[str]]:
    """{client path: the rows that take it}: what the run's rows really use (each row
    carries its own path); before any row, the run's own (requests' default path)."""
    paths: dict[str, list[str]] = {}
    for name, data in stats.to_dict()["strategies"].items():
        path = client_path(data.get("strategy") or name, data, stats.client_path)
        paths.setdefault(path, []).append(name)
    return paths or ({stats.client_path: []} if stats.client_path else {})


def client_path_lines(stats: MtlsStats) -> list[str]:
    """The run's client paths in words: the one path its rows take, or one line per path
    naming the rows that take it."""
    paths = client_paths(stats)
    if len(paths) == 1:
        return list(paths)
    return [f"{', '.join(names)}: {path}" for path, names in paths.items()]


def rows(stats: MtlsStats) -> list[dict]:
    """One flat row per run setting (strategy and mode), in COLUMNS order."""
    table = []
    for name, data in stats.to_dict()["strategies"].items():
        identities = data["identities_in_use"]
        strategy = data.get("strategy") or name
        table.append(
            {
                "row": name,
                "strategy": strategy,
                "mode": f"{data['concurrency'] or '?'}, keep-alive "
                + ("on" if data["keepalive"] else "off"),
                "requests": data["requests"],
                "with_cert": data["with_cert"],
                "without_cert": data["without_cert"],
                "in_flight_at_stop": data.get("in_flight_at_stop", 0),
                "rps": data["rps"],
                "failures": data["failures"],
                "wrong_identity": data["wrong_identity"],
                "wrong_identity_rate": rate_cell(data, "wrong_identity"),
                "missing_certificate": data.get("missing_certificate", 0),
                "missing_certificate_rate": rate_cell(data, "missing_certificate"),
                "bleed": data["bleed"],
                "bleed_rate": rate_cell(data, "bleed"),
                "unreported": data["unreported"],
                "identity_checked": identity_checked(data),
                "crashes": data["crashes"],
                "handshakes": data["handshakes"],
                "handshake_p50_ms": data["handshake_ms"]["p50"],
                "handshake_p95_ms": data["handshake_ms"]["p95"],
                "tls": tls_cell(data),
                "resumed_p50_p95_ms": resumed_ms_cell(data),
                "generations": generations_cell(data),
                "context_cache": context_cache_cell(data),
                "identities_in_use": identities_cell(identities),
                "client_path": client_path(strategy, data, stats.client_path),
            }
        )
    # A dead or silent worker's last counters stay in the rows above; it gets a row saying so.
    for (client_id, missing), line in zip(unfinished_workers(stats), lost_worker_lines(stats)):
        blank = dict.fromkeys((key for key, _ in COLUMNS), "")
        what = "worker lost" if client_id in stats.workers_lost else "worker incomplete"
        table.append(
            {
                **blank,
                "row": what,
                "strategy": what,
                "mode": client_id,
                "requests": missing["requests_reported"],
                "client_path": line,
            }
        )
    return table


def csv_text(stats: MtlsStats) -> str:
    """The table as CSV, header first (the same columns as the tab)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[key for key, _ in COLUMNS], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(stats))
    return out.getvalue()


def _html_table(columns, table: list[dict], empty: str) -> str:
    cell = 'style="border:1px solid #e0e0e0;padding:6px 10px;text-align:left"'
    head = "".join(f"<th {cell}>{html.escape(title)}</th>" for _, title in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td {cell}>{html.escape(str(row[key]))}</td>" for key, _ in columns)
        + "</tr>"
        for row in table
    )
    body = body or f'<tr><td {cell} colspan="{len(columns)}">{empty}</td></tr>'
    return (
        '<table style="border-collapse:collapse;font-size:14px;margin-bottom:16px">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def html_section(stats: MtlsStats) -> str:
    """A self-contained <section> with the tables, for Locust's HTML report."""
    # Laid out like the report's own sections (centred, 1200 px wide, Roboto).
    warnings = "".join(
        f'<p style="color:#b00020;font-weight:bold">{html.escape(line)}</p>'
        for line in unchecked_lines(stats)
    )
    return (
        f'<section id="{SECTION_ID}" style="font-family:Roboto,Helvetica,Arial,sans-serif;'
        'max-width:1200px;margin:32px auto;padding:0 24px;overflow-x:auto">'
        '<h2 style="font-weight:400;font-size:34px;margin:0 0 8px">mTLS</h2>'
        + "".join(f"<p>{html.escape(line)}</p>" for line in client_path_lines(stats))
        + warnings
        + "".join(f"<p>{html.escape(line)}</p>" for line in identity_set_lines(stats))
        + _html_table(COLUMNS, rows(stats), "no mTLS requests")
        + '<h3 style="font-weight:400">Sent → seen (most frequent mismatches)</h3>'
        + _html_table(SEEN_COLUMNS, seen_rows(stats), "none")
        + "</section>"
    )


def insert_into_report(report: str, stats: MtlsStats) -> str:
    """Locust's report HTML with our section before </body> (replacing an earlier one)."""
    return insert_section(report, SECTION_ID, html_section(stats))


def insert_section(report: str, section_id: str, section: str) -> str:
    """`report` with `section` (a <section id=section_id> without inner sections, or "")
    before </body>, replacing an earlier section of that id."""
    start = report.find(f'<section id="{section_id}"')
    if start != -1:
        end = report.index("</section>", start) + len("</section>")
        report = report[:start] + report[end:]
    at = report.rfind("</body>")
    return report + section if at == -1 else report[:at] + section + report[at:]


def text_table(stats: MtlsStats) -> str:
    """The table for the console, after Locust's own summary."""
    strategies = stats.to_dict()["strategies"]
    width = max([24, *(len(name) + 2 for name in strategies)])  # 'x [keep-alive off]' fits
    paths = client_path_lines(stats)
    headline = f"mTLS summary ({paths[0]})" if len(paths) == 1 else "mTLS summary, client paths:"
    lines = [
        f"\n{headline}",
        *(f"  {line}" for line in paths if len(paths) > 1),
        f"{'strategy':<{width}}{'mode':<16}{'requests':>9}{'rps':>8}{'wrong id':>9}"
        f"{'no cert':>8}{'bleed':>7}{'unrep':>7}{'crashes':>8}{'hs p50':>8}{'hs p95':>8}",
    ]
    for name, data in strategies.items():
        mode = f"{data['concurrency']}/{'ka' if data['keepalive'] else 'no-ka'}"
        lines.append(
            f"{name:<{width}}{mode:<16}{data['requests']:>9}{data['rps']:>8}"
            f"{data['wrong_identity']:>9}{data.get('missing_certificate', 0):>8}"
            f"{data['bleed']:>7}{data['unreported']:>7}{data['crashes']:>8}"
            f"{data['handshake_ms']['p50']:>8}{data['handshake_ms']['p95']:>8}"
        )
        lines.append(console_line(data))
    lines += sent_lines(stats) + identity_set_lines(stats)
    pairs = seen_rows(stats)
    if pairs:
        lines.append("sent -> seen (most frequent mismatches)")
        lines += [f"  {p['strategy']}: {p['sent']} -> {p['seen']}: {p['count']}" for p in pairs]
    lines += lost_worker_lines(stats)
    return "\n".join(lines)


def identity_set_lines(stats: MtlsStats) -> list[str]:
    """A distributed run: the identity set every worker proved it loaded."""
    proved = stats.identity_set
    if not proved:
        return []
    return [
        f"identity set {proved['digest']} ({proved['identities']:,} identities, CA "
        f"{proved['ca']}): the master and {proved['workers_agree']} workers agree"
    ]


def sent_lines(stats: MtlsStats) -> list[str]:
    """What the server got, accounted for: every request it was sent is either checked
    and counted, or was in flight when the test stopped it."""
    rows = stats.rows.values()
    counted = sum(row.requests for row in rows)
    in_flight = sum(row.in_flight_at_stop for row in rows)
    if not counted + in_flight:
        return []
    return [
        f"requests sent: {counted + in_flight:,} = {counted:,} checked and counted "
        f"+ {in_flight:,} in flight at stop"
    ]


def unfinished_workers(stats: MtlsStats) -> list[tuple[str, dict]]:
    """Workers whose final counts never came: lost (they died), then silent ones."""
    silent = [item for item in stats.workers_incomplete.items() if item[0] not in stats.workers_lost]
    return [*stats.workers_lost.items(), *silent]


def lost_worker_lines(stats: MtlsStats) -> list[str]:
    """One line per worker whose final counts never came (distributed runs, master only)."""
    return [
        f"worker {client_id} {'lost' if client_id in stats.workers_lost else 'sent no final report'}: "
        f"{missing['requests_reported']} requests reported, "
        f"up to {missing['requests_possibly_missing']} more may be missing from these totals"
        for client_id, missing in unfinished_workers(stats)
    ]
