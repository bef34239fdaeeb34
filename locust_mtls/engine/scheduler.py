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


ROUND_ROBIN = object()  # IdentitySchedule.chosen when the user did not pick an identity


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
        self.slot = cert_users_before if self.split_by_users else user_number
        # Read at each request: a rotation (MtlsRun.rotate) replaces the items of this
        # sequence in place, and the user's next request presents the new generation.
        self.identities = identities
        # Offset each user so that, at any moment, about `fraction` of users go without.
        self.sent = user_number
        self.chosen: Identity | None | object = ROUND_ROBIN

    @property
    def identity(self) -> Identity | None:
        """This user's identity now (None if the run has none, or none was chosen)."""
        identities = self.identities
        if self.chosen is ROUND_ROBIN:
            return identities[self.slot % len(identities)] if identities else None
        if self.chosen is None:
            return None
        # Chosen by the user: after a rotation, the new generation of the same name.
        return next((i for i in identities if i.name == self.chosen.name), self.chosen)

    @identity.setter
    def identity(self, identity: Identity | None) -> None:
        """Pin this user's identity (None: no certificate) instead of round-robin."""
        self.chosen = identity

    def next(self) -> Identity | None:
        """The identity of the next request; None means: send no certificate."""
        if self.split_by_users:
            return None if self.whole_user_without else self.identity
        if not self.no_cert_fraction:
            return self.identity
        sent, self.sent = self.sent, self.sent + 1
        identity = self.identity
        if identity is None or goes_without(sent, self.no_cert_fraction):
            return None
        return identity
