"""Issuance: sign an SD-JWT VC whose every user claim is selectively disclosable.

Every object member and array element below the top level becomes its own disclosure,
recursively, so a holder can always disclose the smallest true statement (``locality``
without ``street_address``). Timestamps are rounded by :func:`issue_credential` so that
``iat`` and ``exp`` cannot single a resident out. Randomness is passed in for testing;
the default is the operating system's CSPRNG.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ._encoding import b64url_encode
from ._errors import Reason, UsageError
from ._jws import sign_jwt
from ._keys import SigningKey
from ._sdjwt import (
    ARRAY_ELEMENT_KEY,
    NEVER_DISCLOSABLE,
    RESERVED_NAMES,
    SD_ALG,
    SD_ALG_KEY,
    SD_KEY,
    VC_TYP,
    StatusReference,
    digest,
    make_disclosure,
)
from ._types import DAY, CredentialType

SALT_BYTES = 16  # 128-bit salts (RFC 9901 section 9.3)

RandomBytes = Callable[[int], bytes]
_MAX_EXACT_INTEGER = 2**53


class TypeReference(NamedTuple):
    """A credential type published as SD-JWT VC Type Metadata: its https ``vct`` and
    ``vct#integrity``, the SRI hash (``sha256-<base64>``) of the document served there.
    The shell that serves the document computes both; the core only writes them in."""

    vct: str
    integrity: str


class _Concealer:
    """Turns claims into digests, collecting the disclosures it makes along the way."""

    def __init__(self, random_bytes: RandomBytes, decoys: int) -> None:
        self._random_bytes = random_bytes
        self._decoys = decoys
        self.disclosures: list[str] = []

    def _salt(self) -> str:
        return b64url_encode(self._random_bytes(SALT_BYTES))

    def _disclose(self, name: str | None, value: Any) -> str:
        disclosure = make_disclosure(self._salt(), name, self.conceal(value))
        self.disclosures.append(disclosure)
        return digest(disclosure)

    def conceal_object(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        digests = [self._disclose(name, value) for name, value in claims.items()]
        digests += (digest(self._salt()) for _ in range(self._decoys))
        return {SD_KEY: sorted(digests)} if digests else {}

    def conceal(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return self.conceal_object(value)
        if isinstance(value, list):
            return [{ARRAY_ELEMENT_KEY: self._disclose(None, element)} for element in value]
        return value


def _check_claim_value(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for name, member in value.items():
            if not isinstance(name, str) or name in RESERVED_NAMES:
                raise UsageError(Reason.INVALID_CLAIMS, f"{path}: {name!r} cannot be a claim name")
            _check_claim_value(member, f"{path}.{name}")
    elif isinstance(value, list):
        for index, element in enumerate(value):
            _check_claim_value(element, f"{path}[{index}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise UsageError(Reason.INVALID_CLAIMS, f"{path}: JSON has no NaN or Infinity")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_EXACT_INTEGER:
        raise UsageError(Reason.INVALID_CLAIMS, f"{path}: integers beyond 2**53 do not survive JSON (RFC 7493)")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise UsageError(Reason.INVALID_CLAIMS, f"{path}: {type(value).__name__} is not a JSON value")


def issue_sd_jwt(
    claims: Mapping[str, Any],
    *,
    issuer_key: SigningKey,
    iss: str,
    vct: str,
    issued_at: int,
    expires_at: int | None,
    holder_jwk: Mapping[str, str] | None,
    status: StatusReference | None = None,
    vct_integrity: str | None = None,
    decoys: int = 0,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> str:
    """Issue an SD-JWT VC over any JSON claims; returns ``<jwt>~<disclosure>~...~``.

    ``holder_jwk`` has no default: pass the holder's public JWK to key-bind the credential
    (``cnf``), or ``None`` on purpose for an unbound (paper) credential. ``decoys`` adds
    that many decoy digests to every ``_sd`` array, for claim sets that vary in size.
    ``vct_integrity`` is the SRI hash of the Type Metadata document ``vct`` names, if any.
    """
    if issuer_key.kid is None:
        raise ValueError("the issuer key needs a kid so verifiers can find it")
    for name in claims:
        if name in NEVER_DISCLOSABLE or name in (SD_ALG_KEY, "iat"):
            raise UsageError(Reason.INVALID_CLAIMS, f"{name!r} is set by the issuer, not a user claim")
    _check_claim_value(claims, "claims")
    concealer = _Concealer(random_bytes, decoys)
    payload: dict[str, Any] = {"iss": iss, "iat": issued_at}
    if expires_at is not None:
        payload["exp"] = expires_at
    payload["vct"] = vct
    if vct_integrity is not None:
        payload["vct#integrity"] = vct_integrity
    if status is not None:
        payload["status"] = status.to_claim()
    if holder_jwk is not None:
        payload["cnf"] = {"jwk": dict(holder_jwk)}
    try:
        payload.update(concealer.conceal_object(claims))
        payload[SD_ALG_KEY] = SD_ALG
        header = {"alg": issuer_key.alg, "typ": VC_TYP, "kid": issuer_key.kid}
        jwt = sign_jwt(header, payload, issuer_key)
    except UnicodeEncodeError as exc:
        raise UsageError(Reason.INVALID_CLAIMS, "claims contain text that is not valid Unicode") from exc
    return "~".join((jwt, *concealer.disclosures, ""))


def day_start(timestamp: int) -> int:
    """``timestamp`` rounded down to 00:00 UTC, so ``iat`` is shared by everyone issued that day."""
    return timestamp - timestamp % DAY


def issue_credential(
    credential_type: CredentialType,
    claims: Mapping[str, Any],
    *,
    issuer_key: SigningKey,
    iss: str,
    holder_jwk: Mapping[str, str] | None,
    now: int,
    status: StatusReference | None = None,
    type_reference: TypeReference | None = None,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> str:
    """Issue a cityid credential of ``credential_type`` after checking its claims.

    ``iat`` is ``now`` rounded down to the day and ``exp`` a whole number of days later. With
    ``type_reference`` the ``vct`` is the type's published https URL, with its integrity hash;
    without it, the type's URN (``credential_type.vct``), as credentials were issued before.
    """
    credential_type.check_claims(claims)
    issued_at = day_start(now)
    return issue_sd_jwt(
        claims,
        issuer_key=issuer_key,
        iss=iss,
        vct=credential_type.vct if type_reference is None else type_reference.vct,
        vct_integrity=None if type_reference is None else type_reference.integrity,
        issued_at=issued_at,
        expires_at=issued_at + credential_type.validity_days * DAY,
        holder_jwk=holder_jwk,
        status=status,
        random_bytes=random_bytes,
    )
