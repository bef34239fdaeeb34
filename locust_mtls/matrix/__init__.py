"""The matrix: strategies x requests versions, one crash-isolated Locust process per cell,
cached virtualenvs, and the summary/HTML report rebuilt from results.jsonl.

May import: `errors`, `settings`, `strategies`, `tls`, `server`, `results`.
Never Locust: Locust runs as a subprocess per cell.
"""
