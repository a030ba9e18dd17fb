"""What a running issuer holds in memory, shared by the API and the clerk's pages.

Besides the unsealed key, the last signed status lists and trust bundle: when the database
fails they are served until their own ``exp`` (stale if error), so desks keep checking through
an outage; what was never made answers 503 as any database failure does.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from credential import CREDENTIAL_TYPES, CredentialError, KeySet, SigningKey, sign_jwt
from policies import Policy, verify_registry

from .errors import IssuerError
from .keys import active_key, published_keys, trust_signing_key
from .models import IssuerKey
from .registry import published_registry
from .settings import IssuerSettings
from .statuslists import StatusListCache, list_ids, status_uri
from .typemetadata import type_integrities, type_reference

TRUST_TYP = "cityid-trust+jwt"
log = logging.getLogger("cityid.issuer")


@dataclass
class Runtime:
    """What a running issuer holds in memory: settings, database, the unsealed active key."""

    settings: IssuerSettings
    engine: Engine
    sessions: sessionmaker[Session]
    passphrase: str
    status_cache: StatusListCache = field(default_factory=StatusListCache)
    _key: SigningKey | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _trust: tuple[str, int] | None = None
    """The last trust bundle signed, and its ``exp``."""

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for a route that only reads: rolled back, never committed, and a connection
        lost after the last read is only logged. That end comes after the response has been sent,
        where an error could not reach the client and would only put a traceback in the log."""
        session = self.sessions()
        try:
            yield session
        finally:
            try:
                session.rollback()
            except SQLAlchemyError as exc:
                log.warning("read_session_lost type=%s", type(exc).__name__)
            session.close()

    def signing_key(self, session: Session) -> SigningKey:
        """The active key, unsealed once and again only after a rotation."""
        kid = session.scalar(select(IssuerKey.kid).where(IssuerKey.active.is_(True)))
        with self._lock:
            if self._key is None or self._key.kid != kid:
                self._key = active_key(session, self.passphrase)
            return self._key

    def status_list(self, list_id: int, *, now: int) -> str | None:
        """The signed status list ``list_id`` (None: there is none), remade at most every
        ``ttl / 2`` seconds; the last one made while the database fails (see the module)."""
        settings, cache = self.settings, self.status_cache
        fresh = cache.fresh(list_id, ttl=settings.status_list_ttl)
        if fresh is not None:
            return fresh
        try:
            with self.transaction() as session:
                return cache.token(
                    session, list_id, key=self.signing_key(session), issuer_url=settings.issuer_url,
                    ttl=settings.status_list_ttl, lifetime=settings.status_list_lifetime, now=now,
                )  # fmt: skip
        except SQLAlchemyError as exc:
            stale = cache.usable(list_id, now=now)
            if stale is None:
                raise
            log.warning("stale_served what=status_list type=%s", type(exc).__name__)
            return stale

    def trust(self, *, now: int) -> str:
        """The trust bundle signed now; the last one signed while the database fails."""
        try:
            with self.transaction() as session:
                token = trust_bundle(session, self, now=now)
        except SQLAlchemyError as exc:
            with self._lock:
                last = self._trust
            if last is None or last[1] <= now:
                raise
            log.warning("stale_served what=trust type=%s", type(exc).__name__)
            return last[0]
        with self._lock:
            self._trust = (token, now + self.settings.status_list_lifetime)
        return token


def trust_bundle(session: Session, runtime: Runtime, *, now: int) -> str:
    """A JWT (``cityid-trust+jwt``) signed by the oldest published issuer key, so that a key
    made at a rotation reaches desks in a bundle they can verify (``keys.trust_signing_key``);
    it carries the policy board's key too, when one is published (``issuer/registry.py``)."""
    settings = runtime.settings
    registry_file = settings.data / "registry.jwt"
    registry = registry_file.read_text().strip() if registry_file.is_file() else None
    payload = {
        "iss": settings.issuer_url,
        "iat": now,
        "exp": now + settings.status_list_lifetime,
        "jwks": published_keys(session, now=now).to_jwks(),
        "status_lists": [status_uri(settings.issuer_url, list_id) for list_id in list_ids(session)],
        "credential_types": {  # by the published vct, and by the URN of credentials issued before
            **{type_reference(settings, kind).vct: kind.name for kind in CREDENTIAL_TYPES.values()},
            **{kind.vct: kind.name for kind in CREDENTIAL_TYPES.values()},
        },
        "type_integrity": type_integrities(settings),  # what a CID2: proof leaves out for the desk to put back
        "policy_registry": registry,
        "board_jwks": board.board_jwks if (board := published_registry(settings.data)) else None,
    }
    key = trust_signing_key(session, runtime.passphrase, now=now)
    return sign_jwt({"alg": key.alg, "typ": TRUST_TYP, "kid": key.kid}, payload, key)


def approved_policies(runtime: Runtime, *, now: int) -> Mapping[str, Policy]:
    """The policy board's registry as published by this issuer (``registry.jwt`` and
    ``board.jwks`` in the data directory), checked; empty when there is none."""
    registry_file, board_file = runtime.settings.data / "registry.jwt", runtime.settings.data / "board.jwks"
    if not registry_file.is_file() or not board_file.is_file():
        return MappingProxyType({})
    try:
        board = KeySet.from_jwks(json.loads(board_file.read_text(encoding="utf-8")))
        return verify_registry(registry_file.read_text(encoding="utf-8").strip(), board, now=now).policies
    except (CredentialError, ValueError) as exc:
        raise IssuerError("invalid_registry", f"the policy registry in the data directory is refused: {exc}") from None
