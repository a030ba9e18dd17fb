"""The issuer's tables. None holds a claim value once issuance is done.

Each column says in ``info["personal"]`` whether it can hold personal data, and the audit's
"who stores what" table is built from that (``issuer/storage.py``). Pending claims exist only
sealed under a code the wallet holds, and are deleted when the wallet says it has kept every
credential type (OpenID4VCI ``credential_accepted``) or the resume window ends, whichever is first.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _no(description: str) -> dict[str, object]:
    return {"personal": False, "description": description}


class IssuerKey(Base):
    """A signing key, sealed under the operator's passphrase; published while credentials it
    signed may still be shown."""

    __tablename__ = "issuer_key"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True, info=_no("JWK thumbprint"))
    public_jwk: Mapped[str] = mapped_column(Text, info=_no("public key"))
    sealed_private: Mapped[bytes] = mapped_column(LargeBinary, info=_no("private key, AES-GCM under the passphrase"))
    created_at: Mapped[int] = mapped_column(BigInteger, info=_no("unix time"))
    active: Mapped[bool] = mapped_column(Boolean, info=_no("signs new credentials"))
    publish_until: Mapped[int] = mapped_column(BigInteger, info=_no("latest expiry of a credential it signed"))


class Clerk(Base):
    __tablename__ = "clerk"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, info=_no("row id"))
    username: Mapped[str] = mapped_column(String(64), unique=True, info=_no("the clerk's sign-in name (staff)"))
    password_hash: Mapped[str] = mapped_column(String(256), info=_no("scrypt hash"))
    created_at: Mapped[int] = mapped_column(BigInteger, info=_no("unix time"))
    failed_logins: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", info=_no("sign-in attempts since the last success")
    )
    locked_until: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", info=_no("unix time"))


class ClerkSession(Base):
    __tablename__ = "clerk_session"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True, info=_no("hash of the cookie"))
    clerk_id: Mapped[int] = mapped_column(ForeignKey("clerk.id", ondelete="CASCADE"), info=_no("which clerk"))
    expires_at: Mapped[int] = mapped_column(BigInteger, info=_no("unix time"))


class ClerkAction(Base):
    """The accountability log: which clerk did what, and when. Never whose claims."""

    __tablename__ = "clerk_action"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, info=_no("row id"))
    at: Mapped[int] = mapped_column(BigInteger, info=_no("unix time"))
    clerk: Mapped[str] = mapped_column(String(64), info=_no("clerk username (staff)"))
    action: Mapped[str] = mapped_column(String(32), info=_no("offer_created, batch_revoked, ..."))
    reference: Mapped[str] = mapped_column(String(64), info=_no("offer or batch id, random"))


class Offer(Base):
    """A clerk's offer waiting for the resident's wallet: claims sealed under the
    pre-authorized code, which the issuer does not keep. Once redeemed its claims are gone (the
    grant holds them) and it keeps only the access token, sealed under the code, so that a wallet
    interrupted after ``/token`` gets the same token again with the code and the PIN."""

    __tablename__ = "offer"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, info=_no("random id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, info=_no("hash of the pre-authorized code"))
    sealed_claims: Mapped[bytes] = mapped_column(
        LargeBinary, info={"personal": True, "description": "claims, AES-GCM under the wallet's code; deleted on use"}
    )
    pin_hash: Mapped[str] = mapped_column(String(256), info=_no("scrypt hash of the PIN"))
    pin_failures: Mapped[int] = mapped_column(
        Integer, default=0, info=_no("PIN attempts so far, each counted before it is checked")
    )
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), info=_no("the batch it will issue"))
    expires_at: Mapped[int] = mapped_column(BigInteger, info=_no("unix time"))
    sealed_token: Mapped[bytes | None] = mapped_column(
        LargeBinary, nullable=True,
        info=_no("once redeemed: the access token, AES-GCM under the code, for a resumed /token"),
    )  # fmt: skip


class Grant(Base):
    """An access token after a redeemed offer: claims re-sealed under the token, kept for the
    resume window so that an interrupted wallet can ask again (``issuer/service.py``)."""

    __tablename__ = "grant"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True, info=_no("hash of the access token"))
    sealed_claims: Mapped[bytes] = mapped_column(
        LargeBinary, info={"personal": True, "description": "claims, AES-GCM under the access token; deleted on use"}
    )
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), info=_no("the batch it issues"))
    c_nonce: Mapped[str] = mapped_column(String(64), info=_no("nonce the key proofs must carry"))
    issued_types: Mapped[str] = mapped_column(String(128), default="", info=_no("credential types issued so far"))
    device_keys: Mapped[str] = mapped_column(
        Text, default="", server_default="",
        info=_no("hashes of the device keys already used, keyed by the access token: no key serves two types"),
    )  # fmt: skip
    expires_at: Mapped[int] = mapped_column(BigInteger, info=_no("unix time"))
    issuance: Mapped[str] = mapped_column(
        Text, default="{}", server_default="{}",
        info=_no("per type: the status entry ids issued, repeats, notification id, accepted (ids and counts only)"),
    )  # fmt: skip
    dpop_jkt: Mapped[str | None] = mapped_column(
        String(64), nullable=True, info=_no("thumbprint of the wallet's DPoP key the access token is bound to")
    )


class OneTimeValue(Base):
    """A value that may be used once before it expires: a ``c_nonce`` from the nonce endpoint,
    or a DPoP proof's ``jti`` already seen. Kept as a hash, and deleted once expired."""

    __tablename__ = "one_time_value"
    value_hash: Mapped[str] = mapped_column(String(64), primary_key=True, info=_no("hash of the nonce or jti"))
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True, info=_no("unix time"))


class Batch(Base):
    """One resident's batch of one-time credentials, known only by random id and the hash of
    the revocation code printed on their slip."""

    __tablename__ = "batch"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, info=_no("random id"))
    revocation_hash: Mapped[str] = mapped_column(String(64), unique=True, info=_no("hash of the revocation code"))
    created_at: Mapped[int] = mapped_column(BigInteger, info=_no("unix time, rounded to the day"))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, info=_no("revoked by a clerk"))


class StatusListRow(Base):
    """One status list: open while under half full, retired once all its credentials expired."""

    __tablename__ = "status_list"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, info=_no("list number, in the URI"))
    size: Mapped[int] = mapped_column(Integer, info=_no("entries"))
    used: Mapped[int] = mapped_column(Integer, default=0, info=_no("entries allocated"))
    expires_at: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0", info=_no("the latest exp of a credential in it (unix time)")
    )
    retired: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(),
        info=_no("every credential in it has expired: no longer published, its entries being deleted"),
    )  # fmt: skip
    purged: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), info=_no("retired, and all its entries deleted")
    )


class StatusEntry(Base):
    """A credential's status bit. Indexes are random and never reused: the row stays until its
    list is retired (every credential in it expired), and a retired list takes no new entry."""

    __tablename__ = "status_entry"
    __table_args__ = (UniqueConstraint("list_id", "idx", name="uq_status_entry_list_idx"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, info=_no("row id"))
    list_id: Mapped[int] = mapped_column(ForeignKey("status_list.id"), info=_no("which list"))
    idx: Mapped[int] = mapped_column(Integer, info=_no("random index"))
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), index=True, info=_no("the batch"))
    expires_at: Mapped[int] = mapped_column(BigInteger, info=_no("the credential's exp"))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, info=_no("the status bit"))
