"""Loaded by `locust-mtls audit` before the audited locustfile (`-f audit_first.py,THEIRS`),
so that a certificate their file loads into an SSLContext at import is known
(tls/loaded_chains: no SSLContext can say which chain it holds)."""

from locust_mtls.tls import loaded_chains

loaded_chains.recording()
