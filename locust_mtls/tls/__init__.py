"""TLS state: the one SSLContext builder, identities and their loading, PKI generation,
urllib3/requests plumbing and which shared context a client path uses.

May import: `locust_mtls.errors`, `locust_mtls.settings`. Never Locust or gevent.
"""
