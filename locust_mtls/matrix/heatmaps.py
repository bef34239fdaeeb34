"""The report's outcome maps: one full-width plotly heatmap per run mode, requests versions
across, strategies down, legible at 1400 px for 5-10 versions (text only where it fits,
every run's detail on hover). Imported only when plotly is installed."""

from __future__ import annotations

from html import escape

import plotly.graph_objects as go

from locust_mtls.matrix.outcomes import OUTCOMES, mode_label, version_label

PAGE_WIDTH = 1320  # px: the report body's max width, so every map fits a 1400 px window
LABEL_WIDTH = 170  # px left of a map for the strategy names
DARK_OUTCOMES = ("crashed", "hung", "wrong-identity", "clean")  # white text reads on these


MAX_LINES = 3  # at 12 px, what a square's height (44 px a strategy) holds


def fitting_lines(lines: list[str], cell_px: float) -> list[str]:
    """The lines of a square's text that fit its width at 12 px (about 7 px a character),
    at most MAX_LINES; the first line shortened to the outcome alone, or nothing, when even
    that is too wide."""
    chars = int((cell_px - 10) / 7)
    kept = [line for line in lines if len(line) <= chars][:MAX_LINES]
    if lines and lines[0] not in kept:
        first = lines[0].split(" ")[0]
        return [first] if len(first) <= chars else []
    return kept


def heatmaps(strategies: list[str], columns: list[tuple], cells: dict, many_pythons: bool):
    """One full-width heatmap per run mode: versions across, strategies down, squares
    coloured by outcome; text only where it fits, every run's detail on hover."""
    modes = list(dict.fromkeys((column[2], column[3]) for column in columns))
    names = list(OUTCOMES)
    # A stepped colour scale: outcome i fills [i, i+1), so each z = i + 0.5 gets one colour.
    scale = []
    for index, name in enumerate(names):
        scale += [
            [index / len(names), OUTCOMES[name][1]],
            [(index + 1) / len(names), OUTCOMES[name][1]],
        ]
    figures = []
    for concurrency, keepalive in modes:
        mode_columns = [c for c in columns if (c[2], c[3]) == (concurrency, keepalive)]
        x = [
            version_label({"python": c[0], "requests_version": c[1]}, many_pythons)
            for c in mode_columns
        ]
        cell_px = (PAGE_WIDTH - LABEL_WIDTH) / max(len(x), 1)
        fig = go.Figure()
        z, hover = [], []
        for strategy in strategies:
            found = [cells.get((strategy, column)) for column in mode_columns]
            z.append([names.index(cell["outcome"]) + 0.5 if cell else None for cell in found])
            hover.append([hover_text(cell) for cell in found])
            for label, cell in zip(x, found, strict=True):
                lines = fitting_lines(cell["lines"], cell_px) if cell else []
                if lines:
                    color = "white" if cell["outcome"] in DARK_OUTCOMES else "black"
                    fig.add_annotation(
                        x=label,
                        y=strategy,
                        text="<br>".join(escape(line) for line in lines),
                        showarrow=False,
                        font={"color": color, "size": 12},
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
                hovertemplate="<b>%{y}</b> on requests %{x}<br>%{customdata}<extra></extra>",
            )
        )
        fig.update_yaxes(autorange="reversed", type="category", tickfont={"size": 13})
        fig.update_xaxes(type="category", side="top", tickfont={"size": 13})
        fig.update_layout(
            title={"text": mode_label({"concurrency": concurrency, "keepalive": keepalive}),
                   "x": 0, "font": {"size": 16}},
            height=90 + 44 * len(strategies),
            width=PAGE_WIDTH,
            margin={"t": 70, "b": 10, "l": LABEL_WIDTH, "r": 0, "autoexpand": False},
            plot_bgcolor="#f0f0f0",
        )  # fmt: skip
        figures.append(fig)
    return figures


def hover_text(cell: dict | None) -> str:
    if cell is None:
        return "not run"
    head = f"{cell['runs']} run{'s' if cell['runs'] != 1 else ''}, {cell['requests']} requests"
    if cell["crashes"]:
        head += f", {cell['crashes']} crash{'es' if cell['crashes'] > 1 else ''}"
    details = [f"run {n}: {escape(d)}" for n, d in enumerate(cell["details"], 1)]
    more = ["…"] if len(details) > 8 else []
    return "<br>".join([escape(cell["text"]), head, *details[:8], *more])
