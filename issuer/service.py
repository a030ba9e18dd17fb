"""The issuer's service layer: offers, redemption, batch issuance, revocation, trust.

Routes and CLI commands call these functions inside one transaction each; they raise
:class:`IssuerError` with a stable reason and never log or return a claim value.
OpenID4VCI's pre-authorized code flow, as far as it fits an in-person desk:

1. a clerk creates an **offer** (claims sealed under a random pre-authorized code that only
   the offer QR carries, plus a 6-digit PIN said aloud and a revocation code printed on a slip);
2. the wallet redeems it at ``/token`` with the PIN: the offer is deleted, the claims are
   re-sealed under the access token (the one step that takes more than one transaction: each
   PIN attempt is counted and committed before the PIN is compared);
3. the wallet asks ``/credential`` for each credential type with one key proof per device
   key, and receives one credential per key; when every type is issued the claims are gone.
   No device key may serve two types: that would link the resident's two credentials.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cityid.sealing import SealError, check_password, hash_password, lookup_hash, open_with_code, seal_with_code
from credential import (
    IDENTITY,
    RESIDENCY,
    CredentialError,
    SigningKey,
    day_start,
    encode_qr_text,
    issue_credential,
    jwk_thumbprint,
    present_on_paper,
    residency_claims,
)
from policies import Policy

from .errors import IssuerError
from .keys import extend_publication
from .models import Batch, Clerk, ClerkAction, Grant, Offer, StatusEntry
from .proofs import check_key_proofs
from .settings import IssuerSettings
from .statuslists import allocate

log = logging.getLogger("cityid.issuer")
PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
CONFIGURATIONS = {"residency": RESIDENCY, "identity": IDENTITY}
GRANT_LIFETIME = 600
ENROLLED_CLAIMS = ("given_name", "family_name", "birthdate", "address")
_REVOCATION_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed from paper


@dataclass(frozen=True, slots=True)
class OfferCreated:
    offer_id: str
    offer_uri: str
    pin: str
    revocation_code: str
    expires_at: int


ISSUE_BACKDATE = 120
"""Seconds the moment a credential is dated from lies behind the issuer's clock."""


def backdated(now: int) -> int:
    """The moment a credential issued at ``now`` is dated from (its ``iat`` is this, rounded down to
    the day). Just after midnight, ``now`` itself would give the new day's ``iat``, which a desk whose
    clock runs a little behind would refuse as ``not_yet_valid``; dating from ``ISSUE_BACKDATE``
    seconds earlier keeps ``iat`` in the past for desks up to that much (plus their own skew) behind."""
    return now - ISSUE_BACKDATE


def _revocation_code() -> str:
    raw = "".join(secrets.choice(_REVOCATION_ALPHABET) for _ in range(16))  # about 79 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalize_revocation_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def record(session: Session, clerk: Clerk, action: str, reference: str, now: int) -> None:
    session.add(ClerkAction(at=now, clerk=clerk.username, action=action, reference=reference))
    log.info("clerk_action action=%s", action)


def check_enrollment_claims(claims: dict[str, Any], city: str) -> dict[str, Any]:
    """The enrolled claims, exactly as an identity credential needs them (city added)."""
    unknown = sorted(set(claims) - set(ENROLLED_CLAIMS))
    if unknown:
        raise IssuerError("invalid_claims", f"unexpected claims {unknown}; expected {list(ENROLLED_CLAIMS)}")
    full = {**claims, "resident_of": city}
    try:
        IDENTITY.check_claims(full)
    except CredentialError as exc:
        raise IssuerError("invalid_claims", exc.message) from None
    return {name: claims[name] for name in ENROLLED_CLAIMS}


def create_offer(
    session: Session, settings: IssuerSettings, clerk: Clerk, claims: dict[str, Any], *, now: int
) -> OfferCreated:
    """A one-time offer for a resident whose documents the clerk has checked in person."""
    enrolled = check_enrollment_claims(claims, settings.city)
    purge_expired(session, now=now)
    code, pin, revocation_code = secrets.token_urlsafe(32), f"{secrets.randbelow(10**6):06d}", _revocation_code()
    batch = Batch(
        id=secrets.token_hex(16),
        revocation_hash=lookup_hash(normalize_revocation_code(revocation_code), "revocation"),
        created_at=day_start(now),
        revoked=False,
    )
    offer = Offer(
        id=secrets.token_hex(16),
        code_hash=lookup_hash(code, "offer"),
        sealed_claims=seal_with_code(json.dumps(enrolled).encode(), code, "offer claims"),
        pin_hash=hash_password(pin),
        pin_failures=0,
        batch_id=batch.id,
        expires_at=now + settings.offer_lifetime,
    )
    session.add_all([batch, offer])
    record(session, clerk, "offer_created", offer.id, now)
    document = {
        "credential_issuer": settings.issuer_url,
        "credential_configuration_ids": list(CONFIGURATIONS),
        "grants": {
            PRE_AUTHORIZED: {
                "pre-authorized_code": code,
                "tx_code": {"length": 6, "input_mode": "numeric"},
            }
        },
    }
    uri = "openid-credential-offer://?credential_offer=" + quote(json.dumps(document, separators=(",", ":")), safe="")
    return OfferCreated(offer.id, uri, pin, revocation_code, offer.expires_at)


@dataclass(frozen=True, slots=True)
class TokenIssued:
    access_token: str
    c_nonce: str
    expires_in: int


Transaction = Callable[[], AbstractContextManager[Session]]
"""Opens one transaction, committed when the block ends (``Runtime.transaction``, ``sessionmaker.begin``)."""


@dataclass(frozen=True, slots=True)
class _PinAttempt:
    """One reserved PIN attempt: the ``number``-th for this offer, counted and committed."""

    offer_id: str
    number: int
    pin_hash: str
    sealed_claims: bytes
    batch_id: str


def _reserve_pin_attempt(session: Session, code_hash: str, *, limit: int, now: int) -> _PinAttempt | IssuerError:
    """Count one more attempt on the offer, unless it has had ``limit`` already (one atomic update)."""
    row = session.execute(
        update(Offer)
        .where(Offer.code_hash == code_hash, Offer.expires_at > now, Offer.pin_failures < limit)
        .values(pin_failures=Offer.pin_failures + 1)
        .returning(Offer.id, Offer.pin_failures, Offer.pin_hash, Offer.sealed_claims, Offer.batch_id)
        .execution_options(synchronize_session=False)
    ).first()
    if row is not None:
        return _PinAttempt(row.id, row.pin_failures, row.pin_hash, row.sealed_claims, row.batch_id)
    if session.scalar(select(Offer.id).where(Offer.code_hash == code_hash, Offer.expires_at > now)) is None:
        return IssuerError("offer_unknown", "this offer is unknown, used or expired", error="invalid_grant")
    return _offer_locked()


def _offer_locked() -> IssuerError:
    message = "too many wrong PINs: the offer is cancelled, ask the clerk for a new one"
    return IssuerError("offer_locked", message, error="invalid_grant")


def redeem_offer(transaction: Transaction, settings: IssuerSettings, code: str, pin: str, *, now: int) -> TokenIssued:
    """Exchange the pre-authorized code and PIN for an access token (the offer is used up).

    No more than ``settings.pin_attempts`` PINs are ever compared for one offer, however many
    requests arrive at once: each attempt is first counted in a transaction of its own, and
    committed; the PIN is then compared outside any transaction (scrypt is slow, and on SQLite
    a held write lock would hold up every other request); then, in a last transaction, a right
    PIN consumes the offer and the last wrong one cancels it. When the database fails in that
    last transaction, the offer stays and a right PIN's attempt is given back.
    """
    with transaction() as session:
        purge_expired(session, now=now)
        attempt = _reserve_pin_attempt(session, lookup_hash(code, "offer"), limit=settings.pin_attempts, now=now)
    if isinstance(attempt, IssuerError):
        raise attempt
    if not check_password(pin, attempt.pin_hash):
        if attempt.number < settings.pin_attempts:
            raise IssuerError(
                "wrong_pin", f"wrong PIN ({settings.pin_attempts - attempt.number} tries left)", error="invalid_grant"
            )
        with transaction() as session:
            session.execute(delete(Offer).where(Offer.id == attempt.offer_id))
        log.info("offer_locked")
        raise _offer_locked()
    try:
        with transaction() as session:
            return _consume_offer(session, attempt, code, now=now)
    except SQLAlchemyError:
        _release_pin_attempt(transaction, attempt)
        raise


def _release_pin_attempt(transaction: Transaction, attempt: _PinAttempt) -> None:
    """Give back the attempt a right PIN used when the database then failed: the offer is still
    there (its transaction was rolled back), and the resident's retry must not cost a try.
    If the database cannot take even this, the try stays counted; the offer still stays."""
    try:
        with transaction() as session:
            session.execute(
                update(Offer)
                .where(Offer.id == attempt.offer_id, Offer.pin_failures > 0)
                .values(pin_failures=Offer.pin_failures - 1)
                .execution_options(synchronize_session=False)
            )
    except SQLAlchemyError as exc:
        log.warning("pin_attempt_not_released type=%s", type(exc).__name__)


def _consume_offer(session: Session, attempt: _PinAttempt, code: str, *, now: int) -> TokenIssued:
    claims = open_with_code(attempt.sealed_claims, code, "offer claims")
    if session.execute(delete(Offer).where(Offer.id == attempt.offer_id)).rowcount != 1:  # type: ignore[attr-defined]
        raise IssuerError("offer_unknown", "this offer has just been used", error="invalid_grant")
    token, c_nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    session.add(
        Grant(
            token_hash=lookup_hash(token, "grant"),
            sealed_claims=seal_with_code(claims, token, "grant claims"),
            batch_id=attempt.batch_id,
            c_nonce=c_nonce,
            issued_types="",
            device_keys="",
            expires_at=now + GRANT_LIFETIME,
        )
    )
    log.info("offer_redeemed")
    return TokenIssued(token, c_nonce, GRANT_LIFETIME)


@dataclass(frozen=True, slots=True)
class CredentialsIssued:
    credentials: tuple[str, ...]
    c_nonce: str | None


def issue_batch(
    session: Session,
    settings: IssuerSettings,
    key: SigningKey,
    access_token: str,
    configuration_id: str,
    proofs: Sequence[str],
    *,
    now: int,
) -> CredentialsIssued:
    """One credential of ``configuration_id`` per key proof, each with its own status index."""
    credential_type = CONFIGURATIONS.get(configuration_id)
    if credential_type is None:
        raise IssuerError("unknown_configuration", f"no credential configuration {configuration_id!r}",
                          error="unknown_credential_configuration")  # fmt: skip
    token_hash = lookup_hash(access_token, "grant")
    grant = session.get(Grant, token_hash)
    if grant is None or grant.expires_at <= now:
        raise IssuerError("invalid_token", "the access token is unknown or expired", status=401, error="invalid_token")
    if not 1 <= len(proofs) <= settings.max_batch:
        raise IssuerError("invalid_proof", f"send 1 to {settings.max_batch} key proofs", error="invalid_proof")
    holder_keys = check_key_proofs(proofs, audience=settings.issuer_url, c_nonce=grant.c_nonce, now=now)
    issued = [name for name in grant.issued_types.split(",") if name]
    if configuration_id in issued:
        raise IssuerError("already_issued", f"the {configuration_id} batch was already issued", error="invalid_request")
    used_keys = grant.device_keys.split()
    new_keys = [_device_key_hash(access_token, jwk) for jwk in holder_keys]
    if set(used_keys).intersection(new_keys):
        raise IssuerError(
            "key_reused", "a device key was already used for this resident's other credential type: each credential "
            "needs its own key, or the two could be linked", error="invalid_proof",
        )  # fmt: skip
    next_nonce = secrets.token_urlsafe(16)
    claimed = session.execute(
        update(Grant)
        .where(Grant.token_hash == token_hash, Grant.c_nonce == grant.c_nonce, Grant.issued_types == grant.issued_types)
        .values(
            issued_types=",".join([*issued, configuration_id]),
            device_keys=" ".join([*used_keys, *new_keys]),
            c_nonce=next_nonce,
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise IssuerError("invalid_nonce", "the nonce was used by another request", error="invalid_nonce")
    try:
        enrolled = json.loads(open_with_code(grant.sealed_claims, access_token, "grant claims"))
    except SealError:
        raise IssuerError("invalid_token", "the access token does not open this grant", status=401) from None
    issued_at = backdated(now)
    claims = _claims_for(credential_type.name, enrolled, settings.city, issued_at)
    expires_at = day_start(issued_at) + credential_type.validity_days * 86_400
    references = allocate(
        session, batch_id=grant.batch_id, expires_at=expires_at, count=len(holder_keys),
        size=settings.status_list_size, issuer_url=settings.issuer_url,
    )  # fmt: skip
    credentials = tuple(
        issue_credential(
            credential_type,
            claims,
            issuer_key=key,
            iss=settings.issuer_url,
            holder_jwk=jwk,
            now=issued_at,
            status=reference,
        )
        for jwk, reference in zip(holder_keys, references, strict=True)
    )
    assert key.kid is not None
    extend_publication(session, key.kid, expires_at)
    done = set(issued) | {configuration_id} >= set(CONFIGURATIONS)
    if done:
        session.execute(delete(Grant).where(Grant.token_hash == token_hash))
    log.info("credentials_issued count=%d type=%s", len(credentials), credential_type.name)
    return CredentialsIssued(credentials, None if done else next_nonce)


def _device_key_hash(access_token: str, jwk: dict[str, str]) -> str:
    """What a grant remembers of a device key: a hash keyed by the access token, which only the
    wallet keeps, so the stored value cannot be matched to a credential's ``cnf`` key."""
    return lookup_hash(f"{jwk_thumbprint(jwk)}:{access_token}", "grant device key")


def _claims_for(type_name: str, enrolled: dict[str, Any], city: str, now: int) -> dict[str, Any]:
    if type_name == "identity":
        return {**enrolled, "resident_of": city}
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    return residency_claims(city, dt.date.fromisoformat(enrolled["birthdate"]), today)


def revoke_batch(session: Session, clerk: Clerk, revocation_code: str, *, now: int) -> int:
    """Revoke every credential of the batch the slip's code names; returns how many."""
    code = normalize_revocation_code(revocation_code)
    batch = session.scalars(select(Batch).where(Batch.revocation_hash == lookup_hash(code, "revocation"))).first()
    if batch is None:
        raise IssuerError("unknown_revocation_code", "no batch has this revocation code", status=404)
    batch.revoked = True
    result = session.execute(update(StatusEntry).where(StatusEntry.batch_id == batch.id).values(revoked=True))
    session.execute(delete(Offer).where(Offer.batch_id == batch.id))
    session.execute(delete(Grant).where(Grant.batch_id == batch.id))
    record(session, clerk, "batch_revoked", batch.id, now)
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_expired(session: Session, *, now: int) -> None:
    """Delete offers and grants whose time is up: their sealed claims go with them."""
    session.execute(delete(Offer).where(Offer.expires_at <= now))
    session.execute(delete(Grant).where(Grant.expires_at <= now))


@dataclass(frozen=True, slots=True)
class PaperIssued:
    qr_text: str
    facts: dict[str, Any]
    revocation_code: str
    expires_at: int


def issue_paper(
    session: Session,
    settings: IssuerSettings,
    key: SigningKey,
    clerk: Clerk,
    claims: dict[str, Any],
    policy: Policy,
    *,
    now: int,
) -> PaperIssued:
    """A paper proof for a resident without a phone: one credential bound to no device, shown
    once under ``policy`` (which must accept paper), and a revocation code for its slip."""
    if not policy.accepts_paper:
        raise IssuerError("not_paper", f"policy {policy.id!r} does not accept paper proofs")
    enrolled = check_enrollment_claims(claims, settings.city)
    fitting = [kind for kind in CONFIGURATIONS.values() if set(policy.claim_names) <= set(kind.claims)]
    credential_type = min(fitting, key=lambda kind: len(kind.claims))
    revocation_code = _revocation_code()
    batch = Batch(
        id=secrets.token_hex(16),
        revocation_hash=lookup_hash(normalize_revocation_code(revocation_code), "revocation"),
        created_at=day_start(now),
        revoked=False,
    )
    session.add(batch)
    session.flush()
    issued_at = backdated(now)
    expires_at = day_start(issued_at) + credential_type.validity_days * 86_400
    (reference,) = allocate(session, batch_id=batch.id, expires_at=expires_at, count=1,
                            size=settings.status_list_size, issuer_url=settings.issuer_url)  # fmt: skip
    values = _claims_for(credential_type.name, enrolled, settings.city, issued_at)
    credential = issue_credential(credential_type, values, issuer_key=key, iss=settings.issuer_url,
                                  holder_jwk=None, now=issued_at, status=reference)  # fmt: skip
    assert key.kid is not None
    extend_publication(session, key.kid, expires_at)
    record(session, clerk, "paper_printed", batch.id, now)
    qr_text = encode_qr_text(present_on_paper(credential, disclose=policy.claim_names))
    return PaperIssued(qr_text, {name: values[name] for name in policy.claim_names}, revocation_code, expires_at)
