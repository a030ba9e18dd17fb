"""The claims catalogue: how sensitive each claim is and what to ask for instead.

It lives in ``policies/claims.toml`` beside the policies, so reviewers change the rules the
same way they change a policy. Which credential type carries a claim comes from the
credential core itself, never from the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Any

from credential import CREDENTIAL_TYPES

from ._model import Severity


class Sensitivity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class ClaimInfo:
    """One claim as the audit sees it."""

    name: str
    description: str
    sensitivity: Sensitivity
    identifying: bool
    substitutes: tuple[str, ...]
    credential_types: tuple[str, ...]
    """The cityid credential types that carry this claim."""


@dataclass(frozen=True, slots=True)
class Combination:
    """Claims that together single out a resident."""

    name: str
    claims: frozenset[str]
    severity: Severity
    why: str


@dataclass(frozen=True, slots=True)
class ClaimsCatalogue:
    claims: Mapping[str, ClaimInfo]
    combinations: tuple[Combination, ...]


class CatalogueError(ValueError):
    """The claims catalogue itself is broken: a bug in the release, not in a policy."""


def parse_claims_catalogue(text: str) -> ClaimsCatalogue:
    """Read ``claims.toml`` content; raises :class:`CatalogueError` naming what is wrong."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
        claims = {}
        for name, entry in data["claims"].items():
            carriers = tuple(kind.name for kind in CREDENTIAL_TYPES.values() if name in kind.claims)
            if not carriers:
                raise CatalogueError(f"claim {name!r} is in no cityid credential type")
            claims[name] = ClaimInfo(
                name=name,
                description=str(entry["description"]),
                sensitivity=Sensitivity(entry["sensitivity"]),
                identifying=bool(entry["identifying"]),
                substitutes=tuple(entry.get("substitutes", ())),
                credential_types=carriers,
            )
        combinations = tuple(
            Combination(
                name=str(entry["name"]),
                claims=frozenset(entry["claims"]),
                severity=Severity(entry["severity"]),
                why=" ".join(str(entry["why"]).split()),
            )
            for entry in data.get("combinations", ())
        )
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        if isinstance(exc, CatalogueError):
            raise
        raise CatalogueError(f"the claims catalogue is broken: {exc!r}") from exc
    for info in claims.values():
        if unknown := set(info.substitutes) - set(claims):
            raise CatalogueError(f"{info.name} names unknown substitutes {sorted(unknown)}")
    for combination in combinations:
        if unknown_claims := combination.claims - set(claims):
            raise CatalogueError(f"combination {combination.name!r} names unknown claims {sorted(unknown_claims)}")
    return ClaimsCatalogue(MappingProxyType(claims), combinations)


_DEFAULT: list[ClaimsCatalogue] = []


def default_catalogue() -> ClaimsCatalogue:
    """The catalogue shipped with this release (read once)."""
    if not _DEFAULT:
        text = resources.files("policies").joinpath("claims.toml").read_text(encoding="utf-8")
        _DEFAULT.append(parse_claims_catalogue(text))
    return _DEFAULT[0]
