"""The embedded mTLS echo server: HTTP/1.1 handling, fault modes, the child-process handle.

May import: `errors`, `settings`, `tls`, `processes`. Never Locust; gevent inside the server.
"""
