"""The issuer's service layer: offers, redemption, batch issuance, revocation, trust.

Routes and CLI commands call these functions inside one transaction each; they raise
:class:`IssuerError` with a stable reason and never log or return a claim value.
OpenID4VCI's pre-authorized code flow, as far as it fits an in-person desk:

1. a clerk creates an **offer** (claims sealed under a random pre-authorized code that only
   the offer QR carries, plus a 6-digit PIN said aloud and a revocation code printed on a slip);
2. the wallet redeems it at ``/token`` with the PIN: the claims are re-sealed under the access
   token, and the offer keeps only that token, sealed under the code (the one step that takes
   more than one transaction: each PIN attempt is counted and committed before the PIN is
   compared);
3. the wallet asks ``/credential`` for each credential type with one key proof per device
   key, and receives one credential per key and a ``notification_id``. No device key may serve
   two types: that would link the resident's two credentials;
4. the wallet says ``credential_accepted`` at ``/notification`` for each type once it has kept
   it, and when every type is accepted the grant and the offer (and the claims) are deleted.

Issuance is resumable for ``settings.resume_window`` seconds after redemption, because a
wallet can be stopped at any step: ``/token`` again with the code and the right PIN gives the
same access token (and gives back the PIN's try), and ``/credential`` again for a type already
issued sends a fresh batch for the new keys and revokes the earlier one, so at most one batch
per type is valid (``MAX_REPEATS`` repeats per type). When the window ends, ``purge_expired``
deletes whatever is left.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

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
from edges.sealing import SealError, check_password, hash_pin, lookup_hash, open_with_code, seal_with_code
from policies import Policy

from .errors import IssuerError
from .keys import extend_publication
from .models import Batch, Clerk, ClerkAction, Grant, Offer, StatusEntry
from .onetime import purge_one_time_values, take_nonce
from .proofs import check_key_proofs
from .settings import IssuerSettings
from .statuslists import allocate, retire_expired
from .typemetadata import type_reference

log = logging.getLogger("cityid.issuer")
PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
CONFIGURATIONS = {"residency": RESIDENCY, "identity": IDENTITY}
"""Each configuration's credentials carry the type's published https ``vct`` and its ``vct#integrity``
(``issuer/typemetadata.py``); those issued before carry the type's URN, and stay valid until they expire."""
MAX_REPEATS = 3
"""How many times one grant sends a credential type again (each time revoking the batch before)."""
NOTIFICATION_EVENTS = frozenset({"credential_accepted", "credential_failure", "credential_deleted"})
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
    if claims["address"]["locality"].strip().casefold() != city.strip().casefold():
        raise IssuerError("other_city", f"this issuer enrols residents of {city} only: the address is elsewhere")
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
        pin_hash=hash_pin(pin),  # cheap on purpose: the attempt limit guards a PIN (edges/sealing.py)
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
    sealed_token: bytes | None
    """The access token sealed under the code once the offer was redeemed: a resumed ``/token``."""


def _reserve_pin_attempt(session: Session, code_hash: str, *, limit: int, now: int) -> _PinAttempt | IssuerError:
    """Count one more attempt on the offer, unless it has had ``limit`` already (one atomic update)."""
    row = session.execute(
        update(Offer)
        .where(Offer.code_hash == code_hash, Offer.expires_at > now, Offer.pin_failures < limit)
        .values(pin_failures=Offer.pin_failures + 1)
        .returning(
            Offer.id, Offer.pin_failures, Offer.pin_hash, Offer.sealed_claims, Offer.batch_id, Offer.sealed_token
        )
        .execution_options(synchronize_session=False)
    ).first()
    if row is not None:
        return _PinAttempt(row.id, row.pin_failures, row.pin_hash, row.sealed_claims, row.batch_id, row.sealed_token)
    if session.scalar(select(Offer.id).where(Offer.code_hash == code_hash, Offer.expires_at > now)) is None:
        return IssuerError("offer_unknown", "this offer is unknown, used or expired", error="invalid_grant")
    return _offer_locked()


def _offer_locked() -> IssuerError:
    message = "too many wrong PINs: the offer is cancelled, ask the clerk for a new one"
    return IssuerError("offer_locked", message, error="invalid_grant")


def redeem_offer(
    transaction: Transaction, settings: IssuerSettings, code: str, pin: str, *, now: int, dpop_jkt: str | None = None
) -> TokenIssued:
    """Exchange the pre-authorized code and PIN for an access token; within the resume window,
    the same code and PIN give the same token again, with a fresh nonce, and use no try. With
    ``dpop_jkt`` (the wallet's DPoP key, RFC 9449) the token works only with that key; a resumed
    token is bound to the key of the request that resumed it.

    No more than ``settings.pin_attempts`` PINs are ever compared for one offer, however many
    requests arrive at once: each attempt is first counted in a transaction of its own, and
    committed; the PIN is then compared outside any transaction (scrypt is slow, and on SQLite
    a held write lock would hold up every other request); then, in a last transaction, a right
    PIN redeems the offer (or resumes it) and the last wrong one cancels it. When the database
    fails in that last transaction, the offer stays and a right PIN's attempt is given back.
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
            if attempt.sealed_token is not None:
                return _resume_grant(session, attempt, attempt.sealed_token, code, now=now, dpop_jkt=dpop_jkt)
            return _consume_offer(session, settings, attempt, code, now=now, dpop_jkt=dpop_jkt)
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


def _consume_offer(
    session: Session, settings: IssuerSettings, attempt: _PinAttempt, code: str, *, now: int, dpop_jkt: str | None
) -> TokenIssued:
    """Redeem the offer: its claims move to a new grant, sealed under a new access token, and the
    offer keeps only that token (sealed under the code) until the resume window ends."""
    claims = open_with_code(attempt.sealed_claims, code, "offer claims")
    token, c_nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    expires_at = now + settings.resume_window
    sealed_token = seal_with_code(token.encode(), code, "offer token")
    redeemed = session.execute(
        update(Offer)
        .where(Offer.id == attempt.offer_id, Offer.sealed_token.is_(None))
        .values(sealed_token=sealed_token, sealed_claims=b"", expires_at=expires_at)
        .execution_options(synchronize_session=False)
    )
    if redeemed.rowcount != 1:  # type: ignore[attr-defined]  # the right PIN, twice at once
        sealed = session.scalar(select(Offer.sealed_token).where(Offer.id == attempt.offer_id))
        if sealed is None:
            raise IssuerError("offer_unknown", "this offer has just been cancelled", error="invalid_grant")
        return _resume_grant(session, attempt, sealed, code, now=now, dpop_jkt=dpop_jkt)
    session.add(
        Grant(
            token_hash=lookup_hash(token, "grant"),
            sealed_claims=seal_with_code(claims, token, "grant claims"),
            batch_id=attempt.batch_id,
            c_nonce=c_nonce,
            issued_types="",
            device_keys="",
            expires_at=expires_at,
            issuance="{}",
            dpop_jkt=dpop_jkt,
        )
    )
    log.info("offer_redeemed")
    return TokenIssued(token, c_nonce, settings.resume_window)


def _resume_grant(
    session: Session, attempt: _PinAttempt, sealed_token: bytes, code: str, *, now: int, dpop_jkt: str | None
) -> TokenIssued:
    """The access token the offer was redeemed for, again, with a fresh nonce: the wallet lost the
    first answer. The right PIN's try is given back, so resuming never locks the offer."""
    try:
        token = open_with_code(sealed_token, code, "offer token").decode("ascii")
    except SealError:
        raise IssuerError("offer_unknown", "this offer is unknown, used or expired", error="invalid_grant") from None
    c_nonce = secrets.token_urlsafe(16)
    renewed = session.execute(
        update(Grant)
        .where(Grant.token_hash == lookup_hash(token, "grant"), Grant.expires_at > now)
        .values(c_nonce=c_nonce, dpop_jkt=dpop_jkt)
        .returning(Grant.expires_at)
        .execution_options(synchronize_session=False)
    ).first()
    if renewed is None:
        raise IssuerError("offer_unknown", "this offer was already used", error="invalid_grant")
    session.execute(
        update(Offer)
        .where(Offer.id == attempt.offer_id, Offer.pin_failures > 0)
        .values(pin_failures=Offer.pin_failures - 1)
        .execution_options(synchronize_session=False)
    )
    log.info("offer_resumed")
    return TokenIssued(token, c_nonce, renewed.expires_at - now)


@dataclass(frozen=True, slots=True)
class CredentialsIssued:
    credentials: tuple[str, ...]
    c_nonce: str
    notification_id: str
    """What the wallet names at ``/notification`` once it has kept these credentials."""
    replaced: int
    """How many credentials of an earlier batch of this type this one revoked (0 the first time)."""


def issue_batch(
    session: Session,
    settings: IssuerSettings,
    key: SigningKey,
    access_token: str,
    configuration_id: str,
    proofs: Sequence[str],
    *,
    now: int,
    dpop_jkt: str | None = None,
) -> CredentialsIssued:
    """One credential of ``configuration_id`` per key proof, each with its own status index.

    A type this grant already issued is issued again, for the new keys, and the earlier batch
    of that type is revoked in the same transaction: the wallet that asks again lost that batch
    (or never got the answer), and at most one batch per type is valid. ``MAX_REPEATS`` times.
    """
    credential_type = CONFIGURATIONS.get(configuration_id)
    if credential_type is None:
        raise IssuerError("unknown_configuration", f"no credential configuration {configuration_id!r}",
                          error="unknown_credential_configuration")  # fmt: skip
    purge_expired(session, now=now)
    token_hash = lookup_hash(access_token, "grant")
    grant = _live_grant(session, access_token, dpop_jkt, now=now)
    if not 1 <= len(proofs) <= settings.max_batch:
        raise IssuerError("invalid_proof", f"send 1 to {settings.max_batch} key proofs", error="invalid_proof")
    proven = check_key_proofs(proofs, audience=settings.issuer_url, now=now)
    if proven.nonce != grant.c_nonce and not take_nonce(session, proven.nonce, now=now):
        raise IssuerError("invalid_nonce", "the key proofs' nonce is used, expired or not this issuer's: get a fresh "
                          "one from the nonce endpoint", error="invalid_nonce")  # fmt: skip
    holder_keys = proven.keys
    issuance = _issuance(grant.issuance)
    earlier = issuance.get(configuration_id)
    if earlier is not None and earlier["repeats"] >= MAX_REPEATS:
        raise IssuerError("resume_limit", f"the {configuration_id} credentials were already sent {MAX_REPEATS + 1} "
                          "times for this offer: ask the clerk for a new one", error="invalid_request")  # fmt: skip
    used_keys = grant.device_keys.split()
    new_keys = [_device_key_hash(access_token, jwk) for jwk in holder_keys]
    if set(used_keys).intersection(new_keys):
        raise IssuerError(
            "key_reused", "a device key was already used for a credential of this offer: each credential "
            "needs its own key, or two could be linked", error="invalid_proof",
        )  # fmt: skip
    next_nonce = secrets.token_urlsafe(16)
    claimed = session.execute(
        update(Grant)
        .where(Grant.token_hash == token_hash, Grant.c_nonce == grant.c_nonce, Grant.issuance == grant.issuance)
        .values(device_keys=" ".join([*used_keys, *new_keys]), c_nonce=next_nonce)
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
            type_reference=type_reference(settings, credential_type),
        )
        for jwk, reference in zip(holder_keys, references, strict=True)
    )
    assert key.kid is not None
    extend_publication(session, key.kid, expires_at)
    known = {entry for previous in issuance.values() for entry in previous["entries"]}
    entries = sorted(set(session.scalars(select(StatusEntry.id).where(
        StatusEntry.batch_id == grant.batch_id, StatusEntry.idx.in_([reference.idx for reference in references])
    ))) - known)  # fmt: skip
    replaced = 0
    if earlier is not None:
        revoked = session.execute(
            update(StatusEntry).where(StatusEntry.id.in_(earlier["entries"])).values(revoked=True)
        )
        replaced = int(revoked.rowcount)  # type: ignore[attr-defined]
    notification_id = secrets.token_urlsafe(16)
    issuance[configuration_id] = {"entries": entries, "repeats": 0 if earlier is None else earlier["repeats"] + 1,
                                  "notification_id": notification_id, "accepted": False}  # fmt: skip
    session.execute(
        update(Grant)
        .where(Grant.token_hash == token_hash)
        .values(issuance=json.dumps(issuance, sort_keys=True), issued_types=",".join(sorted(issuance)))
    )
    log.info("credentials_issued count=%d type=%s replaced=%d", len(credentials), credential_type.name, replaced)
    return CredentialsIssued(credentials, next_nonce, notification_id, replaced)


def _issuance(stored: str) -> dict[str, dict[str, Any]]:
    """What a grant issued so far, per type: ``entries`` (status entry ids), ``repeats``,
    ``notification_id`` and ``accepted``. Ids and counts only: nothing about the resident."""
    issuance: dict[str, dict[str, Any]] = json.loads(stored or "{}")
    return issuance


def _live_grant(session: Session, access_token: str, dpop_jkt: str | None, *, now: int) -> Grant:
    """The access token's grant, if it has not expired and, when the token is DPoP-bound, the
    request proved that key; ``invalid_token`` (401) otherwise."""
    grant = session.get(Grant, lookup_hash(access_token, "grant"))
    if grant is None or grant.expires_at <= now:
        raise IssuerError("invalid_token", "the access token is unknown or expired", status=401, error="invalid_token")
    if grant.dpop_jkt is not None and grant.dpop_jkt != dpop_jkt:
        raise IssuerError("invalid_token", "this access token is bound to a DPoP key: send 'Authorization: DPoP ...' "
                          "with a DPoP proof made with that key", status=401, error="invalid_token")  # fmt: skip
    return grant


def notify(
    session: Session, access_token: str, notification_id: str, event: str, *, now: int, dpop_jkt: str | None = None
) -> bool:
    """Take a wallet's notification (OpenID4VCI ``/notification``); True when it finished the grant.

    ``credential_accepted`` for every type deletes the grant and its offer at once, sealed claims
    and all. ``credential_failure`` and ``credential_deleted`` are only logged: the wallet may
    still resume within the window, and the window's end deletes the grant anyway.
    """
    purge_expired(session, now=now)
    grant = _live_grant(session, access_token, dpop_jkt, now=now)
    if event not in NOTIFICATION_EVENTS:
        raise IssuerError("invalid_notification_request", f"event must be one of {sorted(NOTIFICATION_EVENTS)}",
                          error="invalid_notification_request")  # fmt: skip
    issuance = _issuance(grant.issuance)
    named = [name for name, entry in issuance.items() if entry["notification_id"] == notification_id]
    if not named:
        raise IssuerError("invalid_notification_id", "no credentials of this access token have this notification_id",
                          error="invalid_notification_id")  # fmt: skip
    log.info("notification event=%s type=%s", event, named[0])
    if event != "credential_accepted":
        return False
    issuance[named[0]]["accepted"] = True
    if {name for name, entry in issuance.items() if entry["accepted"]} >= set(CONFIGURATIONS):
        session.execute(delete(Grant).where(Grant.token_hash == grant.token_hash))
        session.execute(delete(Offer).where(Offer.batch_id == grant.batch_id))
        log.info("grant_finished")
        return True
    grant.issuance = json.dumps(issuance, sort_keys=True)
    return False


def fresh_nonce(session: Session, access_token: str, *, now: int, dpop_jkt: str | None = None) -> str:
    """A new ``c_nonce`` for the access token's grant (the nonce endpoint called with the token,
    as cityid's own wallets do): a resumed wallet's saved nonce may have been used by the
    request whose answer it never got. Without a token, the endpoint gives a one-time nonce
    (``issuer/onetime.py``), as OpenID4VCI 1.0 has it."""
    _live_grant(session, access_token, dpop_jkt, now=now)
    nonce = secrets.token_urlsafe(16)
    renewed = session.execute(
        update(Grant)
        .where(Grant.token_hash == lookup_hash(access_token, "grant"), Grant.expires_at > now)
        .values(c_nonce=nonce)
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount != 1:  # type: ignore[attr-defined]
        raise IssuerError("invalid_token", "the access token is unknown or expired", status=401, error="invalid_token")
    return nonce


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
    """Delete offers and grants whose time is up: their sealed claims go with them. Retire the
    status lists whose credentials have all expired, and delete a bounded batch of their rows
    (``statuslists.retire_expired``): called on most requests, so each call stays short."""
    session.execute(delete(Offer).where(Offer.expires_at <= now))
    session.execute(delete(Grant).where(Grant.expires_at <= now))
    purge_one_time_values(session, now=now)
    retire_expired(session, now=now)


def purge_until_stopped(transaction: Transaction, stop: threading.Event, *, every: float) -> None:
    """Run :func:`purge_expired` every ``every`` seconds until ``stop`` is set: a window that
    closes while nobody calls the issuer still takes its sealed claims with it. A database that
    fails is logged (type only) and tried again next time."""
    while not stop.wait(every):
        try:
            with transaction() as session:
                purge_expired(session, now=int(time.time()))
        except SQLAlchemyError as exc:
            log.warning("purge_failed type=%s", type(exc).__name__)


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
    credential = issue_credential(credential_type, values, issuer_key=key, iss=settings.issuer_url, holder_jwk=None,
                                  now=issued_at, status=reference,
                                  type_reference=type_reference(settings, credential_type))  # fmt: skip
    assert key.kid is not None
    extend_publication(session, key.kid, expires_at)
    record(session, clerk, "paper_printed", batch.id, now)
    qr_text = encode_qr_text(present_on_paper(credential, disclose=policy.claim_names))
    return PaperIssued(qr_text, {name: values[name] for name in policy.claim_names}, revocation_code, expires_at)
