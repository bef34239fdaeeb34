"""report.html: one self-contained page (plotly.js inlined once, nothing fetched) for a matrix.

Imported only when plotly is installed (report.write_reports checks first).
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from html import escape

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from locust_mtls.matrix.aggregate import environment_facts, grid, settings_facts
from locust_mtls.matrix.heatmaps import heatmaps
from locust_mtls.matrix.outcomes import (
    CLIENT_FACTS,
    ENV_FACTS,
    OUTCOMES,
    STRATEGY_NOTES,
    UNSAFE_BY_DESIGN,
    VERSION_DEPENDS,
    failing_rows,
    measured_order,
    measured_text,
    mode_label,
    version_key,
    version_label,
)
from locust_mtls.matrix.verdict import verdict_lines

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
HANDSHAKE_TICKS_MS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1320px; color: #222; }
h1 { margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; }
.muted { color: #666; } .pass { background: #e8f5e9; } .fail { background: #fdecea; }
.verdict { padding: 10px 14px 10px 30px; border-radius: 6px; } .verdict li { margin: 2px 0; }
.warn { background: #fff8e1; } .settings { color: #444; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } .swatch { display: inline-block; width: 14px; height: 14px;
border-radius: 3px; vertical-align: middle; margin-right: 6px; }
"""


def report_html(rows: list[dict]) -> str:
    """The whole page for these result rows."""
    strategies, columns, cells = grid(rows)
    many_pythons = len({column[0] for column in columns}) > 1
    figures = [
        *heatmaps(strategies, columns, cells, many_pythons),
        bars(rows, strategies, many_pythons, "rps", "requests/s"),
        bars(rows, strategies, many_pythons, "handshake", "TLS handshake"),
    ]
    # plotly.js goes into the first figure only; the others reuse it.
    charts = [
        fig.to_html(full_html=False, include_plotlyjs=index == 0, config=PLOT_CONFIG)
        for index, fig in enumerate(figures)
    ]
    *maps, throughput, handshakes = charts
    verdict = verdict_lines(rows)
    verdict_class = (
        "fail" if failing_rows(rows) else "warn" if "NOT the" in str(verdict) else "pass"
    )
    verdict_html = "".join(f"<li>{escape(line)}</li>" for line in verdict)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>locust-mtls matrix report</title>
<style>{STYLE}</style></head><body>
<h1>locust-mtls matrix</h1>
{settings_line(rows)}
<ul class="verdict {verdict_class}">{verdict_html}</ul>
<h2 id="failure-class">Outcome per cell: strategy &times; requests version, one map per mode</h2>
<p class="muted">Each square is coloured by the worst outcome over its runs and names every
kind of failure its runs showed, with the runs that showed it / runs when it ran more than
once (wrong id/bleed/errors alone: their share of all requests); a crash adds all crashes (the
engine restarts after each) and the requests sent across restarts. Hover a square for its
full text and every run's detail.</p>
{outcome_legend()}
{"".join(maps)}
<h2 id="throughput">Throughput</h2>
<p class="muted">Mean requests/s; whiskers span min&ndash;max over repeats. Hatched bars are
runs that were not clean: their speed is not an option.</p>
{throughput}
<h2 id="handshakes">TLS handshake time</h2>
<p class="muted">Bar: p50 of new-connection handshakes; whisker up to p95 (medians over
repeats), on a log scale. Keep-alive runs handshake rarely.</p>
{handshakes}
<h2 id="incidents">Crashes, hangs and missing results</h2>
{incidents(rows)}
<h2 id="environments">Environments</h2>
{environment_table(rows)}
<h2 id="strategies">Strategies</h2>
{strategy_legend()}
</body></html>
"""


def settings_line(rows: list[dict]) -> str:
    """The run's settings: what a reader needs to compare two reports."""
    versions = sorted({measured_text(row) for row in rows}, key=measured_order)
    pythons = sorted({row["python"] for row in rows}, key=version_key)
    facts = [
        *settings_facts(rows),
        ", ".join(versions),
        f"Python {', '.join(pythons)}",
        f"report built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    ]
    return f'<p class="settings">{" &middot; ".join(escape(fact) for fact in facts)}</p>'


def bars(rows: list[dict], strategies: list[str], many_pythons: bool, metric: str, title: str):
    """Grouped bars per run mode: x = strategy, one bar per requests version.

    metric "rps": mean with min-max whiskers; "handshake": p50 with a whisker up to p95.
    """
    modes = sorted(
        {(row["concurrency"], row["keepalive"]) for row in rows}, key=lambda m: (not m[1], m[0])
    )
    titles = [mode_label({"concurrency": c, "keepalive": k}) for c, k in modes]
    fig = make_subplots(rows=len(modes) or 1, cols=1, subplot_titles=titles, vertical_spacing=0.12)
    versions = sorted({version_label(row, many_pythons) for row in rows})
    colors = {v: qualitative.Safe[i % len(qualitative.Safe)] for i, v in enumerate(versions)}
    for position, mode in enumerate(modes, 1):
        for version in versions:
            x, y, up, down, patterns, hover = [], [], [], [], [], []
            for strategy in strategies:
                group = [
                    row
                    for row in rows
                    if (row["concurrency"], row["keepalive"]) == mode
                    and row["strategy"] == strategy
                    and version_label(row, many_pythons) == version
                ]
                point = bar_point(group, metric)
                if point is None:
                    continue
                value, low, high = point
                x.append(strategy)
                y.append(value)
                up.append(high - value)
                down.append(value - low)
                clean = all(row["outcome"] == "clean" for row in group)
                patterns.append("" if clean else "/")
                hover.append("<br>".join(escape(row.get("detail", "")) for row in group))
            fig.add_trace(
                go.Bar(
                    name=f"requests {version}",
                    x=x,
                    y=y,
                    legendgroup=version,
                    showlegend=False,
                    marker={"color": colors[version], "pattern": {"shape": patterns}},
                    error_y={"type": "data", "symmetric": False, "array": up, "arrayminus": down},
                    customdata=hover,
                    hovertemplate=f"%{{x}}, requests {version}: %{{y:.1f}}<br>"
                    "%{customdata}<extra></extra>",
                ),
                row=position,
                col=1,
            )
        fig.update_yaxes(title_text=title, row=position, col=1)
    for version in versions:  # plain swatches: a legend entry would copy a bar's hatching
        fig.add_trace(
            go.Scatter(x=[None], y=[None], mode="markers", name=f"requests {version}",
                       legendgroup=version, marker={"symbol": "square", "size": 12,
                                                    "color": colors[version]}),
        )  # fmt: skip
    if metric == "handshake":  # one slow path (CA re-read) would flatten all the others
        # Labelled ticks with their unit: plotly's log minor ticks read as bare "2", "5".
        fig.update_yaxes(
            type="log",
            tickvals=HANDSHAKE_TICKS_MS,
            ticktext=[ms_label(v) for v in HANDSHAKE_TICKS_MS],
        )
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=strategies)
    fig.update_layout(
        barmode="group",
        height=80 + 300 * max(len(modes), 1),
        margin={"t": 40, "b": 30, "l": 10, "r": 10},
        legend={"orientation": "h", "y": 1.06},
    )
    return fig


def ms_label(ms: float) -> str:
    """'0.5 ms', '20 ms', '2 s'."""
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def bar_point(group: list[dict], metric: str) -> tuple[float, float, float] | None:
    """(value, whisker low, whisker high) for the repeats of one cell, None without data."""
    if metric == "rps":
        values = [row["rps"] for row in group if row.get("rps")]
        return (statistics.mean(values), min(values), max(values)) if values else None
    timed = [
        row["handshake_ms"] for row in group if row.get("handshakes") and row.get("handshake_ms")
    ]
    if not timed:
        return None
    p50 = statistics.median(t.get("p50") or 0.0 for t in timed)
    p95 = statistics.median(t.get("p95") or 0.0 for t in timed)
    return p50, p50, max(p95, p50)


def incidents(rows: list[dict]) -> str:
    """A table of the runs that crashed, hung or gave no result, with links to their logs."""
    bad = [row for row in rows if row["outcome"] in ("crashed", "hung", "no-result")]
    if not bad:
        return "<p>None.</p>"
    body = []
    for row in bad:
        files = dict.fromkeys([row.get("log_file"), (row.get("crash") or {}).get("stack_file")])
        links = " ".join(
            f'<a href="{escape(f)}">{escape(f.rsplit("/", 1)[-1])}</a>' for f in files if f
        )
        version = f"{measured_text(row)} (py{row['python']})"
        body.append([escape(row["strategy"]), escape(version), escape(mode_label(row)),
                     str(row["repeat"]), escape(row.get("detail", "")), links])  # fmt: skip
    return html_table(["strategy", "client", "mode", "run", "what happened", "files"], body)


def environment_table(rows: list[dict]) -> str:
    """Exact versions of every environment (and of its client library, for another
    client), and the TLS path requests took in it."""
    entries = environment_facts(rows)
    clients = [name for name in CLIENT_FACTS if any(name in entry for entry in entries)]
    body = [
        [escape(str(entry.get(name, "?" if name in ENV_FACTS else ""))) for name in names]
        + ["<br>".join(escape(path) for path in sorted(entry["paths"])) or "?"]
        for entry in entries
        for names in [(*ENV_FACTS, *clients)]
    ]
    return html_table([*ENV_FACTS, *clients, "client path"], body)


def outcome_legend() -> str:
    """Colour swatches with what each failure class means."""
    swatch = '<span class="swatch" style="background:{}"></span>{}'
    body = [[swatch.format(color, escape(label)), escape(meaning)]
            for label, color, meaning in OUTCOMES.values()]  # fmt: skip
    return html_table([], body)


def strategy_legend() -> str:
    """What each strategy does; the deliberately unsafe ones are marked."""
    tags = {name: "<br>unsafe by design" for name in UNSAFE_BY_DESIGN}
    tags |= {name: f"<br>depends on the {library} version" for name, library in VERSION_DEPENDS}
    tags["locust-httpuser"] = "<br>depends on the Locust version"
    body = [[f"<b>{escape(name)}</b>{tags.get(name, '')}", escape(note)]
            for name, note in STRATEGY_NOTES.items()]  # fmt: skip
    return html_table([], body)


def html_table(headers: list[str], body: list[list[str]]) -> str:
    """A <table>; headers are escaped here, body cells are HTML already."""
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" if headers else ""
    rows = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in body)
    return f"<table>{head}{rows}</table>"
