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

from locust_mtls.matrix.report import (
    ENV_FACTS,
    OUTCOMES,
    STRATEGY_NOTES,
    UNSAFE_BY_DESIGN,
    environment_facts,
    failing_rows,
    grid,
    mode_label,
    verdict_lines,
    version_label,
)

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
DARK_OUTCOMES = ("crashed", "hung", "wrong-identity", "clean")  # white text reads on these
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1320px; color: #222; }
h1 { margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; }
.muted { color: #666; } .pass { background: #e8f5e9; } .fail { background: #fdecea; }
.verdict { padding: 10px 14px; border-radius: 6px; }
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
        heatmap(strategies, columns, cells, many_pythons),
        bars(rows, strategies, many_pythons, "rps", "requests/s"),
        bars(rows, strategies, many_pythons, "handshake", "TLS handshake ms"),
    ]
    # plotly.js goes into the first figure only; the others reuse it.
    charts = [
        fig.to_html(full_html=False, include_plotlyjs=index == 0, config=PLOT_CONFIG)
        for index, fig in enumerate(figures)
    ]
    first = rows[0] if rows else {}
    verdict_class = "fail" if failing_rows(rows) else "pass"
    verdict = "<br>".join(escape(line) for line in verdict_lines(rows))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>locust-mtls matrix report</title>
<style>{STYLE}</style></head><body>
<h1>locust-mtls matrix</h1>
<p class="muted">{len(rows)} cell runs &middot; {first.get("users", "?")} users &middot;
{first.get("run_time_s", "?")} s per cell &middot; host {escape(str(first.get("host", "?")))}
&middot; report built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>
<p class="verdict {verdict_class}">{verdict}</p>
<h2 id="failure-class">Failure class: strategy &times; requests version</h2>
<p class="muted">Each square is the worst outcome over repeats; crash/hung show runs/repeats,
wrong id/bleed/errors the share of all requests.</p>
{charts[0]}
{outcome_legend()}
<h2 id="throughput">Throughput</h2>
<p class="muted">Mean requests/s; whiskers span min&ndash;max over repeats. Hatched bars are
runs that were not clean: their speed is not an option.</p>
{charts[1]}
<h2 id="handshakes">TLS handshake time</h2>
<p class="muted">Bar: p50 of new-connection handshakes; whisker up to p95 (medians over
repeats). Keep-alive runs handshake rarely.</p>
{charts[2]}
<h2 id="incidents">Crashes, hangs and missing results</h2>
{incidents(rows)}
<h2 id="environments">Environments</h2>
{environment_table(rows)}
<h2 id="strategies">Strategies</h2>
{strategy_legend()}
</body></html>
"""


def heatmap(strategies: list[str], columns: list[tuple], cells: dict, many_pythons: bool):
    """One heatmap per run mode; squares coloured by outcome, labelled with their rate."""
    modes = list(dict.fromkeys((column[2], column[3]) for column in columns))
    titles = [mode_label({"concurrency": c, "keepalive": k}) for c, k in modes]
    fig = make_subplots(rows=1, cols=len(modes), subplot_titles=titles, shared_yaxes=True)
    names = list(OUTCOMES)
    # A stepped colour scale: outcome i fills [i, i+1), so each z = i + 0.5 gets one colour.
    scale = []
    for index, name in enumerate(names):
        scale += [
            [index / len(names), OUTCOMES[name][1]],
            [(index + 1) / len(names), OUTCOMES[name][1]],
        ]
    for position, (concurrency, keepalive) in enumerate(modes, 1):
        mode_columns = [c for c in columns if (c[2], c[3]) == (concurrency, keepalive)]
        x = [
            version_label({"python": c[0], "requests_version": c[1]}, many_pythons)
            for c in mode_columns
        ]
        z, hover = [], []
        for strategy in strategies:
            found = [cells.get((strategy, column)) for column in mode_columns]
            z.append([names.index(cell["outcome"]) + 0.5 if cell else None for cell in found])
            hover.append(
                [
                    "<br>".join(escape(d) for d in cell["details"]) if cell else "not run"
                    for cell in found
                ]
            )
            for label, cell in zip(x, found, strict=True):
                if cell:
                    color = "white" if cell["outcome"] in DARK_OUTCOMES else "black"
                    fig.add_annotation(
                        x=label,
                        y=strategy,
                        # one outcome per line: four panels side by side leave narrow cells
                        text=escape(cell["text"]).replace(", ", "<br>"),
                        showarrow=False,
                        font={"color": color, "size": 12},
                        row=1,
                        col=position,
                    )
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=x,
                y=strategies,
                customdata=hover,
                colorscale=scale,
                zmin=0,
                zmax=len(names),
                showscale=False,
                xgap=3,
                ygap=3,
                hovertemplate="%{y} on requests %{x}<br>%{customdata}<extra></extra>",
            ),
            row=1,
            col=position,
        )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="bottom")
    fig.update_layout(
        height=120 + 48 * len(strategies),
        margin={"t": 70, "b": 40, "l": 10, "r": 10},
        plot_bgcolor="#f0f0f0",
    )
    return fig


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
        fig.update_yaxes(type="log", dtick="D2")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=strategies)
    fig.update_layout(
        barmode="group",
        height=80 + 300 * max(len(modes), 1),
        margin={"t": 40, "b": 30, "l": 10, "r": 10},
        legend={"orientation": "h", "y": 1.06},
    )
    return fig


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
        version = f"{row['requests_version']} (py{row['python']})"
        body.append([escape(row["strategy"]), escape(version), escape(mode_label(row)),
                     str(row["repeat"]), escape(row.get("detail", "")), links])  # fmt: skip
    return html_table(["strategy", "requests", "mode", "run", "what happened", "files"], body)


def environment_table(rows: list[dict]) -> str:
    """Exact versions of every environment, and the TLS path requests took in it."""
    body = [
        [escape(str(entry.get(name, "?"))) for name in ENV_FACTS]
        + ["<br>".join(escape(path) for path in sorted(entry["paths"])) or "?"]
        for entry in environment_facts(rows)
    ]
    return html_table([*ENV_FACTS, "client path"], body)


def outcome_legend() -> str:
    """Colour swatches with what each failure class means."""
    swatch = '<span class="swatch" style="background:{}"></span>{}'
    body = [[swatch.format(color, escape(label)), escape(meaning)]
            for label, color, meaning in OUTCOMES.values()]  # fmt: skip
    return html_table([], body)


def strategy_legend() -> str:
    """What each strategy does; the deliberately unsafe ones are marked."""
    tags = {name: "<br>unsafe by design" for name in UNSAFE_BY_DESIGN}
    tags["requests-default"] = "<br>depends on the requests version"
    tags["locust-httpuser"] = "<br>depends on the Locust version"
    body = [[f"<b>{escape(name)}</b>{tags.get(name, '')}", escape(note)]
            for name, note in STRATEGY_NOTES.items()]  # fmt: skip
    return html_table([], body)


def html_table(headers: list[str], body: list[list[str]]) -> str:
    """A <table>; headers are escaped here, body cells are HTML already."""
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" if headers else ""
    rows = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in body)
    return f"<table>{head}{rows}</table>"
