"""The issuer's signing keys: created sealed, rotated without breaking issued credentials.

The active key signs new credentials and status lists. ``rotate`` makes a new active key;
the old ones stay in the published JWKS until the last credential each one signed expires
(``publish_until``), so no resident's credential stops verifying because of a rotation.
"""

from __future__ import annotations

import functools
import json

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from credential import KeySet, SigningKey, VerifyingKey, jwk_thumbprint
from edges.sealing import open_with_passphrase, seal_with_passphrase

from .models import IssuerKey

_PURPOSE = "cityid issuer signing key"


class NoKeyError(Exception):
    """The database has no active issuer key: run ``cityid issuer init``."""


KID_LENGTH = 8
"""Characters of the JWK thumbprint a new key's ``kid`` keeps (48 bits): every proof QR carries
the kid, and the full 43 cost a desk camera a QR version. A kid only has to tell this issuer's
few published keys apart, and a prefix that another of its keys already has is never used."""


def create_key(session: Session, passphrase: str, *, now: int) -> str:
    """A new ES256 key, sealed, made the active one; returns its kid: the start of its RFC 7638
    thumbprint, unique among this issuer's keys (keys made before keep their full thumbprint)."""
    taken = set(session.scalars(select(IssuerKey.kid)))
    while True:
        private = ec.generate_private_key(ec.SECP256R1())
        key = SigningKey("ES256", private)
        kid = jwk_thumbprint(key.public_jwk())[:KID_LENGTH]
        if kid not in taken:
            break
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    session.execute(update(IssuerKey).where(IssuerKey.active.is_(True)).values(active=False))
    session.add(
        IssuerKey(
            kid=kid,
            public_jwk=json.dumps(key.verifying_key().to_jwk() | {"kid": kid}),
            sealed_private=seal_with_passphrase(scalar, passphrase, _PURPOSE),
            created_at=now,
            active=True,
            publish_until=now,
        )
    )
    return kid


def active_key(session: Session, passphrase: str) -> SigningKey:
    row = session.scalars(select(IssuerKey).where(IssuerKey.active.is_(True))).first()
    if row is None:
        raise NoKeyError("the issuer has no signing key: run `cityid issuer init`")
    scalar = open_with_passphrase(row.sealed_private, passphrase, _PURPOSE)
    return SigningKey("ES256", ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1()), row.kid)


def published_keys(session: Session, *, now: int) -> KeySet:
    """Every key a verifier may still need: the active one and those with live credentials."""
    rows = session.scalars(
        select(IssuerKey)
        .where((IssuerKey.active.is_(True)) | (IssuerKey.publish_until > now))
        .order_by(IssuerKey.created_at)
    )
    return KeySet(VerifyingKey.from_jwk(json.loads(row.public_jwk)) for row in rows)


def extend_publication(session: Session, kid: str, until: int) -> None:
    session.execute(
        update(IssuerKey).where(IssuerKey.kid == kid, IssuerKey.publish_until < until).values(publish_until=until)
    )


def trust_signing_key(session: Session, passphrase: str, *, now: int) -> SigningKey:
    """The key that signs the trust bundle: the oldest published one, not the active one.

    A desk verifies each bundle with the keys the last one named. Signed by a key made at a
    rotation, the next bundle would name that key under a signature no desk can check yet; signed
    by the oldest key still published, it carries the new key to every desk that trusts the old
    one, and the next key takes over only once the old one's credentials have expired.
    """
    row = session.scalars(
        select(IssuerKey)
        .where((IssuerKey.active.is_(True)) | (IssuerKey.publish_until > now))
        .order_by(IssuerKey.created_at, IssuerKey.kid)
    ).first()
    if row is None:
        raise NoKeyError("the issuer has no signing key: run `cityid issuer init`")
    return _unsealed(row.kid, bytes(row.sealed_private), passphrase)


@functools.lru_cache(maxsize=8)
def _unsealed(kid: str, sealed: bytes, passphrase: str) -> SigningKey:
    """A sealed key opened once (scrypt is slow on purpose), not at every request for the bundle."""
    scalar = open_with_passphrase(sealed, passphrase, _PURPOSE)
    return SigningKey("ES256", ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1()), kid)
