"""The two cityid credential types, each with a fixed claim set.

A QR code is small, so everyday desks get a ``residency`` credential (where you live and
three age thresholds) and only the few services that truly need more get the ``identity``
credential. Because every credential of a type carries exactly the same claims, the number
of digests says nothing about the resident, and decoy digests would add nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ._errors import ClaimsError, Reason, UsageError

DAY = 86_400


class ClaimKind(StrEnum):
    """What a claim's value looks like."""

    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    ADDRESS = "address"


ADDRESS_FIELDS = ("street_address", "locality", "region", "postal_code", "country")
"""The structured ``address`` (OpenID Connect's address claim members), every one required."""

_MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class CredentialType:
    """A credential type: its ``vct``, its fixed claims, and how long a credential lives.

    ``vct`` is the type's URN, the ``vct`` of credentials issued before the issuer published
    the type at an https URL (:meth:`published_vct`); a verifier accepts both until the last
    credential issued under the URN has expired (:func:`credential_type_of`)."""

    name: str
    vct: str
    title: str
    claims: Mapping[str, ClaimKind]
    validity_days: int
    version: int = 1
    """Goes up when the claim set changes: the URN's last part and the published URL's last segment."""

    def published_vct(self, base_url: str) -> str:
        """The type's https ``vct`` under ``base_url``, where its SD-JWT VC Type Metadata is served."""
        return f"{base_url.rstrip('/')}/{self.name}/{self.version}"

    def is_named_by(self, vct: str) -> bool:
        """True for this type's URN and for any ``http(s)`` URL ending in ``/<name>/<version>``
        (:meth:`published_vct` under whatever base the issuer chose). Only a trusted issuer's
        signature makes a ``vct`` count, so the base itself need not be known here."""
        if vct == self.vct:
            return True
        return vct.startswith(("https://", "http://")) and vct.endswith(f"/{self.name}/{self.version}")

    def check_claims(self, claims: Mapping[str, Any]) -> None:
        """Raise ``invalid_claims`` unless ``claims`` has exactly this type's claims, well-typed."""
        missing = [name for name in self.claims if name not in claims]
        extra = [name for name in claims if name not in self.claims]
        if missing or extra:
            raise UsageError(
                Reason.INVALID_CLAIMS,
                f"a {self.name} credential needs exactly {sorted(self.claims)}; "
                f"missing {sorted(missing)}, unexpected {sorted(map(str, extra))}",
            )
        for name, kind in self.claims.items():
            _check_value(name, kind, claims[name])

    def check_disclosed(self, claims: Mapping[str, Any]) -> None:
        """Raise ``invalid_claim`` unless every disclosed claim of this type has its kind's
        JSON type: a desk must never read the string ``"false"`` as a yes. Partial disclosure
        is fine (an address may show only its locality)."""
        for name, value in claims.items():
            kind = self.claims.get(name)
            if kind is ClaimKind.BOOLEAN or (kind is None and name.startswith("age_over_")):
                if type(value) is not bool:
                    raise ClaimsError(Reason.INVALID_CLAIM, f"{name} must be true or false")
            elif kind is not None and not _is_disclosed_kind(kind, value):
                raise ClaimsError(Reason.INVALID_CLAIM, f"{name} is not {_KIND_WORDS[kind]}")


_KIND_WORDS = {ClaimKind.TEXT: "text", ClaimKind.DATE: "a date (YYYY-MM-DD)", ClaimKind.ADDRESS: "an address"}


def _is_disclosed_kind(kind: ClaimKind, value: Any) -> bool:
    if kind is ClaimKind.TEXT:
        return type(value) is str
    if kind is ClaimKind.DATE:
        try:
            return len(value) == 10 and dt.date.fromisoformat(value) is not None
        except (TypeError, ValueError):
            return False
    return type(value) is dict and value.keys() <= set(ADDRESS_FIELDS) and all(type(v) is str for v in value.values())


def check_disclosed_claims(vct: str, claims: Mapping[str, Any]) -> None:
    """Type-check disclosed claims against the cityid type ``vct`` names; for any other type,
    ``age_over_*`` must still be a boolean (the SD-JWT VC and ISO mDL convention)."""
    (credential_type_of(vct) or _UNKNOWN_TYPE).check_disclosed(claims)


def credential_type_of(vct: str) -> CredentialType | None:
    """The cityid type ``vct`` names, by its URN or its published URL; None for any other."""
    by_urn = _BY_VCT.get(vct)
    if by_urn is not None or not vct.startswith(("https://", "http://")):
        return by_urn
    return next((kind for kind in CREDENTIAL_TYPES.values() if kind.is_named_by(vct)), None)


def _check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise UsageError(Reason.INVALID_CLAIMS, f"{name} must be non-empty text of at most {_MAX_TEXT} characters")


def _check_value(name: str, kind: ClaimKind, value: Any) -> None:
    if kind is ClaimKind.TEXT:
        _check_text(name, value)
    elif kind is ClaimKind.BOOLEAN:
        if not isinstance(value, bool):
            raise UsageError(Reason.INVALID_CLAIMS, f"{name} must be true or false")
    elif kind is ClaimKind.DATE:
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            raise UsageError(Reason.INVALID_CLAIMS, f"{name} must be a date written YYYY-MM-DD") from None
        if len(value) != 10:
            raise UsageError(Reason.INVALID_CLAIMS, f"{name} must be a date written YYYY-MM-DD")
    elif kind is ClaimKind.ADDRESS:
        if not isinstance(value, Mapping) or set(value) != set(ADDRESS_FIELDS):
            raise UsageError(Reason.INVALID_CLAIMS, f"{name} must have exactly {list(ADDRESS_FIELDS)}")
        for field in ADDRESS_FIELDS:
            _check_text(f"{name}.{field}", value[field])


RESIDENCY = CredentialType(
    name="residency",
    vct="urn:cityid:residency:1",
    title="Proof of residency",
    claims=MappingProxyType(
        {
            "resident_of": ClaimKind.TEXT,
            "age_over_18": ClaimKind.BOOLEAN,
            "age_over_21": ClaimKind.BOOLEAN,
            "age_over_65": ClaimKind.BOOLEAN,
        }
    ),
    validity_days=365,
)

IDENTITY = CredentialType(
    name="identity",
    vct="urn:cityid:identity:1",
    title="City identity",
    claims=MappingProxyType(
        {
            "given_name": ClaimKind.TEXT,
            "family_name": ClaimKind.TEXT,
            "birthdate": ClaimKind.DATE,
            "address": ClaimKind.ADDRESS,
            "resident_of": ClaimKind.TEXT,
        }
    ),
    validity_days=365,
)

CREDENTIAL_TYPES: Mapping[str, CredentialType] = MappingProxyType({kind.name: kind for kind in (RESIDENCY, IDENTITY)})
"""Every cityid credential type by name."""
_BY_VCT = {kind.vct: kind for kind in CREDENTIAL_TYPES.values()}
_UNKNOWN_TYPE = CredentialType("other", "", "Other", MappingProxyType({}), 0)


def is_age_over(birthdate: dt.date, today: dt.date, years: int) -> bool:
    """True on and after the ``years``-th birthday (29 February birthdays count from 1 March)."""
    try:
        birthday = birthdate.replace(year=birthdate.year + years)
    except ValueError:
        birthday = dt.date(birthdate.year + years, 3, 1)
    return today >= birthday


def residency_claims(resident_of: str, birthdate: dt.date, today: dt.date) -> dict[str, Any]:
    """The residency claims for a resident: the birthdate itself is not among them."""
    return {
        "resident_of": resident_of,
        "age_over_18": is_age_over(birthdate, today, 18),
        "age_over_21": is_age_over(birthdate, today, 21),
        "age_over_65": is_age_over(birthdate, today, 65),
    }
