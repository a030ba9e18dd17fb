"""One-time values: the nonce endpoint's ``c_nonce`` values and the DPoP proof ids already seen.

Both are kept only as a hash with an expiry, in the database, so that every issuer process
behind a load balancer agrees on what was used: a nonce is taken by deleting its row (one
statement, so two requests cannot both take it), and a proof id is remembered by inserting
one (a second insert of the same id is a replay).
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edges.sealing import lookup_hash

from .models import OneTimeValue

DPOP_JTI_PURPOSE = "dpop jti"
NONCE_LIFETIME = 300
"""Seconds a nonce from the nonce endpoint may wait for its key proofs."""


def new_nonce(session: Session, *, now: int) -> str:
    """A fresh ``c_nonce``, usable once within ``NONCE_LIFETIME`` seconds."""
    nonce = secrets.token_urlsafe(16)
    session.add(OneTimeValue(value_hash=lookup_hash(nonce, "c_nonce"), expires_at=now + NONCE_LIFETIME))
    return nonce


def take_nonce(session: Session, nonce: str, *, now: int) -> bool:
    """True once for a nonce this issuer made and that has not expired; it is used up."""
    taken = session.execute(
        delete(OneTimeValue)
        .where(OneTimeValue.value_hash == lookup_hash(nonce, "c_nonce"), OneTimeValue.expires_at > now)
        .execution_options(synchronize_session=False)
    )
    return int(taken.rowcount) == 1  # type: ignore[attr-defined]


def first_use(session: Session, value: str, purpose: str, *, until: int) -> bool:
    """True the first time ``value`` is seen for ``purpose`` (a DPoP ``jti``), False on a replay."""
    try:
        with session.begin_nested():
            session.add(OneTimeValue(value_hash=lookup_hash(value, purpose), expires_at=until))
    except IntegrityError:
        return False
    return True


def purge_one_time_values(session: Session, *, now: int) -> None:
    session.execute(delete(OneTimeValue).where(OneTimeValue.expires_at <= now))
