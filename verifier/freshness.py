"""How old the desk's trust is, and when it stops being enough.

A desk checks offline against what its last sync kept. The status lists it holds expire (their
``exp``) and each policy accepts them only so old (``max_status_age``); past either, proofs are
refused as ``status_stale`` until the next sync. Desk staff should know that before a resident
is turned away, so ``cityid verifier sync`` prints it and the desk page shows it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .engine import Trust


@dataclass(frozen=True, slots=True)
class Freshness:
    """When the trust was synced, when its status lists expire, and when the first check
    against them is refused as stale (``None``: no status lists are held)."""

    synced_at: int
    lists_valid_until: int | None
    refuses_after: int | None

    def to_json(self) -> dict[str, int | None]:
        return {"synced_at": self.synced_at, "status_lists_valid_until": self.lists_valid_until,
                "refuses_after": self.refuses_after}  # fmt: skip


def freshness(trust: Trust) -> Freshness:
    """The :class:`Freshness` of ``trust``, for the strictest of its registry's policies."""
    lists = list(trust.status_lists.values())
    ages = [policy.max_status_age for policy in trust.registry.policies.values()]
    expiries = [token.expires_at for token in lists if token.expires_at is not None]
    valid_until = min(expiries) if expiries else None
    limits = [token.issued_at + min(ages) for token in lists] if ages else []
    ends = [*limits, *expiries]
    return Freshness(trust.synced_at, valid_until, min(ends) if ends else None)


def moment(timestamp: int) -> str:
    """A moment as the desk's clock shows it, to the minute."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))
