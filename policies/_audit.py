"""The privacy reviewer's audit: findings per policy, who can learn what, who could link whom.

:func:`audit` is pure over already-read policy files; the renderers in ``_report`` and
``_html`` turn its :class:`AuditReport` into text, Markdown, JSON or a printable page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from ._claims import ClaimsCatalogue
from ._model import Finding, Policy, Severity
from ._parties import StorageModel, software_parties
from ._rules import RULES, check_policy, check_set, sort_findings
from ._source import LoadedPolicy


@dataclass(frozen=True, slots=True)
class PolicyAudit:
    """One policy file and what the audit found in it."""

    source: str
    policy: Policy | None
    findings: tuple[Finding, ...]

    @property
    def id(self) -> str:
        return self.policy.id if self.policy else self.source

    @property
    def status(self) -> Severity | None:
        """The worst severity found, or ``None`` when nothing was."""
        for severity in (Severity.ERROR, Severity.WARNING, Severity.NOTE):
            if any(finding.severity is severity for finding in self.findings):
                return severity
        return None

    def count(self, severity: Severity) -> int:
        return sum(finding.severity is severity for finding in self.findings)


@dataclass(frozen=True, slots=True)
class LinkablePair:
    """Two policies whose desks receive the same identifying values about a resident."""

    first: str
    second: str
    shared: tuple[str, ...]
    singles_out: bool
    """True when the shared claims form an identifying combination of the catalogue."""


@dataclass(frozen=True, slots=True)
class AuditReport:
    date: dt.date
    catalogue: ClaimsCatalogue
    policies: tuple[PolicyAudit, ...]
    parties: tuple[StorageModel, ...]

    def total(self, severity: Severity) -> int:
        return sum(audit.count(severity) for audit in self.policies)

    @property
    def approved(self) -> bool:
        """True when no policy has an error: the set may be signed."""
        return self.total(Severity.ERROR) == 0

    @property
    def claim_columns(self) -> tuple[str, ...]:
        """Catalogue claims, then any unknown claim a policy asks for."""
        asked = [name for audit in self.policies if audit.policy for name in audit.policy.claim_names]
        return tuple(self.catalogue.claims) + tuple(dict.fromkeys(n for n in asked if n not in self.catalogue.claims))

    def disclosure(self, policy: Policy, claim: str) -> str:
        """``"kept"``, ``"shown"`` or ``""``: what ``policy``'s desk learns of ``claim``."""
        if claim in policy.retention.keeps and claim in policy.claim_names:
            return "kept"
        return "shown" if claim in policy.claim_names else ""

    def identifying_claims(self, policy: Policy) -> tuple[str, ...]:
        claims = self.catalogue.claims
        return tuple(name for name in policy.claim_names if name not in claims or claims[name].identifying)

    def linkable_pairs(self) -> tuple[LinkablePair, ...]:
        """Pairs of desks that could match their records of the same resident by value."""
        pairs = []
        valid = [audit.policy for audit in self.policies if audit.policy]
        for first, second in combinations(valid, 2):
            shared = tuple(sorted(set(self.identifying_claims(first)) & set(self.identifying_claims(second))))
            if shared:
                singles_out = any(c.claims <= set(shared) for c in self.catalogue.combinations)
                pairs.append(LinkablePair(first.id, second.id, shared, singles_out))
        return tuple(pairs)

    def to_json(self) -> dict[str, Any]:
        columns = self.claim_columns
        return {
            "report": "cityid policy audit",
            "date": self.date.isoformat(),
            "approved": self.approved,
            "summary": {
                "policies": len(self.policies),
                "errors": self.total(Severity.ERROR),
                "warnings": self.total(Severity.WARNING),
                "notes": self.total(Severity.NOTE),
            },
            "policies": [
                {
                    "id": audit.id,
                    "file": audit.source,
                    "status": audit.status.value if audit.status else "ok",
                    "title": audit.policy.title["en"] if audit.policy else None,
                    "verifier": audit.policy.verifier if audit.policy else None,
                    "claims": list(audit.policy.claim_names) if audit.policy else [],
                    "retention": audit.policy.retention.to_json() if audit.policy else None,
                    "accepts_paper": audit.policy.accepts_paper if audit.policy else None,
                    "identifying_claims": list(self.identifying_claims(audit.policy)) if audit.policy else [],
                    "findings": [finding.to_json() for finding in audit.findings],
                }
                for audit in self.policies
            ],
            "disclosure_matrix": {
                "claims": list(columns),
                "rows": {
                    audit.policy.id: [self.disclosure(audit.policy, claim) for claim in columns]
                    for audit in self.policies
                    if audit.policy
                },
            },
            "linkability": [
                {"policies": [pair.first, pair.second], "shared": list(pair.shared), "singles_out": pair.singles_out}
                for pair in self.linkable_pairs()
            ],
            "parties": [
                {
                    "party": party.party,
                    "built": party.built,
                    "stores": [
                        {"what": item.what, "contents": item.contents, "personal_data": item.personal_data}
                        for item in party.items
                    ],
                    "per_event": party.per_event,
                    "source": party.source,
                }
                for party in self.parties
            ],
            "rules": {rule.id: {"severity": rule.severity.value, "summary": rule.summary} for rule in RULES.values()},
        }


def audit(
    loaded: Sequence[LoadedPolicy],
    *,
    today: dt.date,
    catalogue: ClaimsCatalogue,
    parties: Collection[StorageModel] = (),
) -> AuditReport:
    """Audit policy files as of ``today``: every rule on every policy, and across the set, with
    what each party stores (``parties``: the roles' storage models; a role left out is reported
    as having no storage model yet)."""
    valid = [(item.policy, item.source) for item in loaded if item.policy is not None]
    across = check_set(valid)
    audits = []
    for item in sorted(loaded, key=lambda entry: (entry.policy.id if entry.policy else "~", entry.source)):
        findings = list(item.findings)
        if item.policy is not None:
            findings += check_policy(
                item.policy, catalogue=catalogue, today=today, source=item.source, locate=item.locate
            )
            findings += [
                finding if finding.line else _located(finding, item)
                for finding in across
                if finding.source == item.source
            ]
        audits.append(PolicyAudit(item.source, item.policy, tuple(sort_findings(findings))))
    return AuditReport(today, catalogue, tuple(audits), software_parties(parties))


def _located(finding: Finding, item: LoadedPolicy) -> Finding:
    return Finding(
        finding.rule,
        finding.severity,
        finding.message,
        finding.policy,
        finding.source,
        item.locate(finding.field or ""),
        finding.field,
        finding.acknowledged,
    )
