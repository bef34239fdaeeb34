"""The "mTLS" tab of Locust's web UI, its CSV and JSON, and the mTLS table in HTML reports.

Locust's React UI is extended the way Locust documents it (examples/extend_web_ui.py):
`extended_tabs`, `extended_tables` and `extended_csv_files` in the page's template args,
and an `extended_stats` entry added to every /stats/requests answer, which the UI polls
every two seconds. Locust's HTML report (2.47) has no such hook, so the same table is
inserted into the report as a static section (results/tables.py makes every word).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.results.tables import (
    COLUMNS,
    SEEN_COLUMNS,
    csv_text,
    insert_into_report,
    rows,
    seen_rows,
)

TAB_KEY = "mtls"
TAB_TITLE = "mTLS"
SEEN_TAB_KEY = "mtls_seen"
SEEN_TAB_TITLE = "mTLS: sent → seen"


def install(
    web_ui,
    current_stats: Callable[[], MtlsStats],
    base_path: str = "",
    validate: Callable[[dict], str | None] | None = None,
) -> None:
    """Add the tab, its data, the CSV/JSON routes and the report section to a Locust WebUI.

    `validate(form)` checks the start form before Locust starts a test: it returns None,
    or the one line the UI shows instead of starting.
    """
    from flask import Response, jsonify, request

    web_ui.template_args["extended_tabs"] = [
        {"title": TAB_TITLE, "key": TAB_KEY},
        {"title": SEEN_TAB_TITLE, "key": SEEN_TAB_KEY},
    ]
    web_ui.template_args["extended_tables"] = [
        {"key": key, "structure": [{"key": k, "title": title} for k, title in columns]}
        for key, columns in ((TAB_KEY, COLUMNS), (SEEN_TAB_KEY, SEEN_COLUMNS))
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./mtls/stats/csv", "title": "Download mTLS statistics CSV"}
    ]
    app, protect = web_ui.app, web_ui.auth_required_if_enabled

    @app.before_request
    def check_start_form():
        if validate is None or request.method != "POST" or request.path != f"{base_path}/swarm":
            return None
        error = validate(request.form)
        if error is None:
            return None
        return jsonify({"success": False, "message": error, "host": web_ui.environment.host})

    @app.after_request
    def add_mtls(response):
        if request.path == f"{base_path}/stats/requests" and response.is_json:
            stats = current_stats()
            extended = [
                {"key": TAB_KEY, "data": rows(stats)},
                {"key": SEEN_TAB_KEY, "data": seen_rows(stats)},
            ]
            response.set_data(json.dumps({**response.json, "extended_stats": extended}))
        elif request.path == f"{base_path}/stats/report" and response.status_code == 200:
            response.set_data(insert_into_report(response.get_data(as_text=True), current_stats()))
        return response

    @app.route(f"{base_path}/mtls/stats")
    @protect
    def mtls_stats_json():
        return jsonify(current_stats().to_dict())

    @app.route(f"{base_path}/mtls/stats/csv")
    @protect
    def mtls_stats_csv():
        return Response(
            csv_text(current_stats()),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment;filename=mtls_stats.csv"},
        )
