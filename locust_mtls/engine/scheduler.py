"""Which identity, or none, each request of a user presents: the one scheduler that every
user class uses.

Deterministic (no randomness) so that runs compare: users take identities round-robin,
and exactly `no_cert_fraction` of requests (split "requests") or of users (split
"users") go without a certificate, spread evenly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from locust_mtls.tls.identity import Identity


def goes_without(number: int, fraction: float) -> bool:
    """Is item `number` one of the `fraction` that go without a certificate? Exactly
    floor(n * fraction) of the first n items do, spread evenly."""
    return math.floor((number + 1) * fraction) > math.floor(number * fraction)


class IdentitySchedule:
    """The identities of one user's requests, in order."""

    def __init__(
        self,
        identities: Sequence[Identity],
        user_number: int,
        no_cert_fraction: float,
        split: str = "requests",
    ):
        self.no_cert_fraction = no_cert_fraction
        self.split_by_users = split == "users"
        self.whole_user_without = self.split_by_users and goes_without(
            user_number, no_cert_fraction
        )
        # Per-user split: identities go round-robin over the users that have one.
        cert_users_before = user_number - math.floor(user_number * no_cert_fraction)
        slot = cert_users_before if self.split_by_users else user_number
        self.identity = identities[slot % len(identities)] if identities else None
        # Offset each user so that, at any moment, about `fraction` of users go without.
        self.sent = user_number

    def next(self) -> Identity | None:
        """The identity of the next request; None means: send no certificate."""
        if self.split_by_users:
            return None if self.whole_user_without else self.identity
        if not self.no_cert_fraction:
            return self.identity
        sent, self.sent = self.sent, self.sent + 1
        if self.identity is None or goes_without(sent, self.no_cert_fraction):
            return None
        return self.identity
