"""Results a pipeline reads: thresholds over a run's measured facts (parsed, evaluated) and
the files CI tools take (JUnit XML). Plain data in, plain data out.

May import: `errors`, `settings`. Never Locust or gevent: `locust/` and `matrix/` feed it.
"""
