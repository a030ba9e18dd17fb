"""What a policy is, and what the audit says about one.

A :class:`Policy` is what a kind of desk may ask for, why, and what it may keep. It is
checked and immutable: the only ways to get one are :func:`build_policy` (from a policy
file or a signed registry) and its dataclass constructor in tests. Its canonical JSON form,
:meth:`Policy.to_json`, is what the policy board signs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

WALLET_LANGUAGES = ("en", "es", "zh-Hans", "ar")
"""The languages the wallet speaks; English is required in every policy, the others expected."""


class Severity(StrEnum):
    """How much a finding matters. Only errors block approval."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the audit noticed, with where to look: rule, severity, message, location."""

    rule: str
    severity: Severity
    message: str
    policy: str | None = None
    source: str | None = None
    line: int | None = None
    field: str | None = None
    acknowledged: str | None = None
    """The policy's reason for accepting this risk (the finding is then a note)."""

    def location(self) -> str:
        """``file:line (field)`` as far as it is known."""
        where = self.source or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" ({self.field})" if where else self.field
        return where

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "policy": self.policy,
            "file": self.source,
            "line": self.line,
            "field": self.field,
            "acknowledged": self.acknowledged,
        }


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """One claim a policy asks for, with the reason a reviewer reads."""

    name: str
    justification: str = ""
    why_not_substitute: str = ""
    """Why a less revealing substitute claim (``age_over_18`` for ``birthdate``) will not do."""


@dataclass(frozen=True, slots=True)
class Retention:
    """What the desk keeps after the check; ``keeps == ()`` means nothing at all."""

    keeps: tuple[str, ...] = ()
    period: str = ""

    @property
    def is_none(self) -> bool:
        return not self.keeps

    def to_json(self) -> str | dict[str, Any]:
        return "none" if self.is_none else {"keeps": list(self.keeps), "period": self.period}

    def describe(self) -> str:
        return "nothing" if self.is_none else f"{', '.join(self.keeps)} for {self.period or 'an unstated period'}"


NO_RETENTION = Retention()


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def utc_day(now: int) -> dt.date:
    """The UTC date at ``now`` (seconds since the epoch): a policy's last day is a UTC date."""
    return dt.date.fromordinal(_EPOCH_ORDINAL + int(now) // 86_400)


@dataclass(frozen=True, slots=True)
class Policy:
    """What one kind of desk may ask for, why, and what it may keep."""

    id: str
    title: Mapping[str, str]
    """Language tag to title; always has ``en``."""
    verifier: str
    purpose: Mapping[str, str]
    legal_basis: str
    retention: Retention
    accepts_paper: bool
    max_status_age: int
    """Seconds: how old the desk's revocation data may be when it checks a proof."""
    valid_until: dt.date
    claims: tuple[ClaimRequest, ...]
    acknowledged: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Rule id to the reviewer-facing reason a warning of that rule is accepted."""
    claim_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """The names of ``claims``, in order (kept, since every desk check asks for them)."""
    claim_name_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "claim_names", tuple(claim.name for claim in self.claims))
        object.__setattr__(self, "claim_name_set", frozenset(self.claim_names))

    def title_in(self, language: str) -> str:
        """The title in ``language``, or in English when it has no translation."""
        return self.title.get(language) or self.title["en"]

    def purpose_in(self, language: str) -> str:
        """The purpose in ``language``, or in English when it has no translation."""
        return self.purpose.get(language) or self.purpose["en"]

    def is_valid_on(self, day: dt.date) -> bool:
        return day <= self.valid_until

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form that the registry signs (claims and translations sorted)."""
        claims: dict[str, dict[str, str]] = {}
        for claim in sorted(self.claims, key=lambda c: c.name):
            entry = {"justification": claim.justification}
            if claim.why_not_substitute:
                entry["why_not_substitute"] = claim.why_not_substitute
            claims[claim.name] = entry
        return {
            "id": self.id,
            "title": dict(sorted(self.title.items())),
            "verifier": self.verifier,
            "purpose": dict(sorted(self.purpose.items())),
            "legal_basis": self.legal_basis,
            "retention": self.retention.to_json(),
            "accepts_paper": self.accepts_paper,
            "max_status_age": self.max_status_age,
            "valid_until": self.valid_until.isoformat(),
            "claims": claims,
            "acknowledged": dict(sorted(self.acknowledged.items())),
        }
