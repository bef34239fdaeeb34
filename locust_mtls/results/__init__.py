"""Results in words and files: the mTLS table (console, tab rows, CSV, HTML section,
Markdown), thresholds over a run's measured facts, the files CI tools take (JUnit XML).

May import: `errors`, `settings`, `strategies`, `engine` (counters only). Never Locust or
gevent: `locust/` and `matrix/` feed it.
"""
