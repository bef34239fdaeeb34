"""Out of the box: `locust -f locustfiles/mtls.py`.

Without --host, a private PKI is generated under certs/ and an mTLS echo server starts
on 127.0.0.1; users then call it with client certificates (half the requests without
one, see --mtls-no-cert-fraction), and every answer is checked for the identity the
server saw. Pick the client strategy with --mtls-strategy (default identity-cache).
"""

from locust_mtls import MtlsUser


class EchoUser(MtlsUser):
    """Calls the target's / with the strategy chosen by --mtls-strategy."""
