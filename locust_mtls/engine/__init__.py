"""How one request is executed and measured: execution, identity checks, failure classes,
counters, identity scheduling, greenlet and native-thread runners, the thread-engine child.

May import: `settings`, `tls`, `strategies`. Never Locust; gevent only in `runners` (the
handle inside Locust's process), never in `thread_engine` (the child).
"""
