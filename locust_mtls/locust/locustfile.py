"""The locustfile the matrix runs in each cell (`locust -f` this file), shipped inside the
package so that `locust-mtls matrix` works from an installed wheel, not only a checkout.

Without --host, the embedded echo server starts; see locustfiles/mtls.py for the same
out-of-the-box run as an example to copy.
"""

from locust_mtls.locust.user import MtlsUser


class EchoUser(MtlsUser):
    """Calls the target's / with the strategy chosen by --mtls-strategy."""
