"""What a user asks for, checked once: the `--mtls-*` option table, user-class attributes
turned into settings, validation of every value and named file, one line per bad input.

May import: `errors`, `settings`, `tls`, `strategies`, `engine`, `results`. Never Locust
or gevent: `locust/` registers these options on Locust's parser and calls these checks.
"""
