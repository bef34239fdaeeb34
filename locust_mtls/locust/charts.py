"""The mTLS rates over time as charts: live at `/mtls/charts` (and inside the mTLS tab), and
as a static section of Locust's HTML report.

Locust's extension tabs (`extended_tabs`/`extended_tables`) only render tables, so the
charts are a page of our own served by Locust's Flask app, drawn by uPlot shipped in
`static/` (no CDN: load-test machines are often offline). The mTLS tab shows that page
in a frame under its table (`static/mtls-tab.js`, added to Locust's index page).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources

from locust_mtls.engine.timeline import SERIES, Timeline
from locust_mtls.results.tables import insert_section

SECTION_ID = "locust-mtls-charts"
STATIC_FILES = {
    "uPlot.iife.min.js": "application/javascript",
    "uPlot.min.css": "text/css",
    "mtls-charts.js": "application/javascript",
    "mtls-tab.js": "application/javascript",
    "uPlot.LICENSE": "text/plain",
}


def static_text(name: str) -> str:
    return (resources.files("locust_mtls.locust") / "static" / name).read_text(encoding="utf-8")


def timeline_json(timeline: Timeline) -> dict:
    """What the charts draw: the rows' series and which series there are."""
    return {**timeline.series(), "series": [list(entry) for entry in SERIES]}


def script_json(data: dict) -> str:
    """JSON safe inside a <script> element (no '</script>' from a row name)."""
    return json.dumps(data).replace("<", "\\u003c")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mTLS over time</title>
<link rel="stylesheet" href="./static/uPlot.min.css">
<style>:root{{color-scheme:light dark}}
body{{font-family:Roboto,Helvetica,Arial,sans-serif;margin:12px;color:#222;background:#fff}}
@media (prefers-color-scheme:dark){{body{{color:#e8e8e8;background:#121212}}}}
h1{{font-weight:400;font-size:22px;margin:0 0 4px}} .mtls-chart{{margin:8px 0 16px}}
p{{margin:0 0 8px;opacity:.8}}</style></head>
<body><h1>mTLS rates over the run</h1>
<p>One line per strategy and mode, sampled every {interval:g} s from the run's totals
(on a master: every worker summed; an interval that brought no worker report is a gap).
Hover a chart for the values at one time.</p>
<p id="mtls-charts-empty">No mTLS requests yet: the charts start with the test.</p>
<div id="mtls-charts"></div>
<script src="./static/uPlot.iife.min.js"></script>
<script src="./static/mtls-charts.js"></script>
<script>
  var container = document.getElementById("mtls-charts");
  function refresh() {{
    fetch("./timeline").then(function (r) {{ return r.json(); }})
      .then(function (data) {{ MtlsCharts.render(container, data); }})
      .catch(function () {{}});
  }}
  refresh();
  setInterval(refresh, {poll_ms});
</script></body></html>
"""


def live_page(timeline: Timeline) -> str:
    return PAGE.format(interval=timeline.interval, poll_ms=int(timeline.interval * 1000))


def html_section(timeline: Timeline) -> str:
    """A self-contained <section> with the charts (uPlot and the data inlined)."""
    data = timeline_json(timeline)
    if not data["rows"]:
        return ""
    return (
        f'<section id="{SECTION_ID}" style="font-family:Roboto,Helvetica,Arial,sans-serif;'
        'max-width:1200px;margin:32px auto;padding:0 24px">'
        '<h2 style="font-weight:400;font-size:34px;margin:0 0 8px">mTLS over time</h2>'
        f"<style>{static_text('uPlot.min.css')}</style>"
        f'<div id="mtls-charts" style="width:1200px"></div>'
        f"<script>{static_text('uPlot.iife.min.js')}</script>"
        f"<script>{static_text('mtls-charts.js')}</script>"
        f"<script>MtlsCharts.render(document.getElementById('mtls-charts'), "
        f"{script_json(data)});</script></section>"
    )


def insert_into_report(report: str, timeline: Timeline) -> str:
    """Locust's report HTML with the charts section before </body> (replacing an old one)."""
    return insert_section(report, SECTION_ID, html_section(timeline))


def install(web_ui, current_timeline: Callable[[], Timeline], base_path: str = "") -> None:
    """Serve the live page, its data and static files; add the charts to the report and
    the frame loader to Locust's page."""
    from flask import Response, abort, jsonify, request

    app, protect = web_ui.app, web_ui.auth_required_if_enabled
    tab_script = '<script src="./mtls/static/mtls-tab.js"></script>'

    @app.after_request
    def add_charts(response):
        if request.path == f"{base_path}/stats/report" and response.status_code == 200:
            report = response.get_data(as_text=True)
            response.set_data(insert_into_report(report, current_timeline()))
        elif request.path in (f"{base_path}/", base_path) and response.status_code == 200:
            page = response.get_data(as_text=True)
            if tab_script not in page and "</body>" in page:
                response.set_data(page.replace("</body>", f"{tab_script}</body>", 1))
        return response

    @app.route(f"{base_path}/mtls/charts")
    @protect
    def mtls_charts():
        return live_page(current_timeline())

    @app.route(f"{base_path}/mtls/timeline")
    @protect
    def mtls_timeline():
        return jsonify(timeline_json(current_timeline()))

    @app.route(f"{base_path}/mtls/static/<name>")
    def mtls_static(name: str):
        if name not in STATIC_FILES:
            abort(404)
        return Response(static_text(name), mimetype=STATIC_FILES[name])
