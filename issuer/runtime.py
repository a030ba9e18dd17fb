"""What a running issuer holds in memory, shared by the API and the clerk's pages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from credential import CREDENTIAL_TYPES, CredentialError, KeySet, SigningKey, sign_jwt
from policies import Policy, verify_registry

from .errors import IssuerError
from .keys import active_key, published_keys
from .models import IssuerKey
from .settings import IssuerSettings
from .statuslists import StatusListCache, list_ids, status_uri

TRUST_TYP = "cityid-trust+jwt"


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

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def signing_key(self, session: Session) -> SigningKey:
        """The active key, unsealed once and again only after a rotation."""
        kid = session.scalar(select(IssuerKey.kid).where(IssuerKey.active.is_(True)))
        with self._lock:
            if self._key is None or self._key.kid != kid:
                self._key = active_key(session, self.passphrase)
            return self._key


def trust_bundle(session: Session, runtime: Runtime, *, now: int) -> str:
    """A JWT (``cityid-trust+jwt``) signed by the active issuer key."""
    settings = runtime.settings
    registry_file = settings.data / "registry.jwt"
    registry = registry_file.read_text().strip() if registry_file.is_file() else None
    payload = {
        "iss": settings.issuer_url,
        "iat": now,
        "exp": now + settings.status_list_lifetime,
        "jwks": published_keys(session, now=now).to_jwks(),
        "status_lists": [status_uri(settings.issuer_url, list_id) for list_id in list_ids(session)],
        "credential_types": {kind.vct: kind.name for kind in CREDENTIAL_TYPES.values()},
        "policy_registry": registry,
    }
    key = runtime.signing_key(session)
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
