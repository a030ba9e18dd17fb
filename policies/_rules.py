"""Minimization rules: what a privacy reviewer would flag in a policy, as code.

Each rule has a stable id, a summary for the report's rules table, and the severity it can
reach. Errors block approval (``cityid policies sign`` refuses them). A policy may
*acknowledge* a warning with a written reason (``[acknowledged]``), which turns it into a
note that the report still shows; errors cannot be acknowledged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePath

from ._claims import ClaimsCatalogue
from ._model import WALLET_LANGUAGES, Finding, Policy, Severity
from ._wording import duration

MIN_JUSTIFICATION = 20
EXPIRY_WARNING_DAYS = 30
STATUS_AGE_WARNING = 7 * 86_400
LONGEST_STATUS_AGE = 31 * 86_400
"""The longest ``max_status_age`` the audit approves, and the issuer's default status list
lifetime (``exp``). A desk refuses a status list past its ``exp`` whatever the policy says, so
a policy accepting older revocation data than lists live could never apply as written: lists
live as long as the longest age a policy may have, and a policy asking for more is an error
(it would also let a revoked credential pass for over a month)."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    """The worst severity the rule reports."""
    summary: str


RULES = {
    rule.id: rule
    for rule in (
        Rule("schema", Severity.ERROR, "The file is valid TOML with every field present, known and well-typed."),
        Rule("unknown-claim", Severity.ERROR, "Every claim asked for is in the claims catalogue."),
        Rule("missing-justification", Severity.ERROR, "Every claim asked for has a justification a reviewer can read."),
        Rule(
            "substitute-available",
            Severity.ERROR,
            "A claim with a less revealing substitute (birthdate → age_over_N, address → resident_of) is asked "
            "for only with a written reason why the substitute will not do.",
        ),
        Rule("redundant-claim", Severity.WARNING, "No claim is asked for together with its own substitute."),
        Rule(
            "identifying-combination",
            Severity.ERROR,
            "Claims that together single out a resident are flagged; a full identity is refused.",
        ),
        Rule(
            "single-credential",
            Severity.ERROR,
            "All claims come from one credential type, so one proof can answer the request.",
        ),
        Rule("retention-without-legal-basis", Severity.ERROR, "A desk keeps claims only with a legal basis."),
        Rule("retention-not-requested", Severity.ERROR, "A desk keeps only claims it asks for."),
        Rule("retention-without-period", Severity.ERROR, "A desk that keeps claims says for how long."),
        Rule("expired", Severity.ERROR, "The policy is still valid (valid_until is not past)."),
        Rule("expires-soon", Severity.WARNING, f"The policy does not expire within {EXPIRY_WARNING_DAYS} days."),
        Rule(
            "status-age",
            Severity.ERROR,
            "Revocation data may be at most 7 days old (warning) and never older than status lists live: 31 days "
            "(error).",
        ),
        Rule(
            "paper-identifying",
            Severity.WARNING,
            "Paper proofs (copyable, not device-bound) are accepted only for claims that do not identify.",
        ),
        Rule("missing-translation", Severity.NOTE, "Title and purpose exist in every language the wallet speaks."),
        Rule("stale-acknowledgement", Severity.WARNING, "Every acknowledgement matches a warning that still occurs."),
        Rule("duplicate-id", Severity.ERROR, "No two policies share an id."),
        Rule("file-name", Severity.WARNING, "A policy file is named after its id (ID.toml)."),
    )
}


class _Findings:
    def __init__(self, policy: Policy, source: str | None, locate: Callable[[str], int | None]) -> None:
        self.policy, self.source, self.locate = policy, source, locate
        self.items: list[Finding] = []

    def add(self, rule: str, severity: Severity, field: str, message: str) -> None:
        assert rule in RULES, f"rule {rule!r} is not in RULES"
        self.items.append(
            Finding(rule, severity, message, self.policy.id, self.source, self.locate(field), field or None)
        )


def _claim_rules(out: _Findings, catalogue: ClaimsCatalogue) -> None:
    policy = out.policy
    asked = set(policy.claim_names)
    for claim in policy.claims:
        field = f"claims.{claim.name}"
        info = catalogue.claims.get(claim.name)
        if info is None:
            out.add("unknown-claim", Severity.ERROR, field, f"'{claim.name}' is not a claim any cityid credential has")
            continue
        if len(claim.justification) < MIN_JUSTIFICATION:
            out.add(
                "missing-justification",
                Severity.ERROR,
                f"{field}.justification",
                f"'{claim.name}' needs a justification of at least {MIN_JUSTIFICATION} characters",
            )
        if info.substitutes:
            instead = " or ".join(info.substitutes)
            if not claim.why_not_substitute:
                out.add(
                    "substitute-available",
                    Severity.ERROR,
                    field,
                    f"asks for '{claim.name}' where {instead} would answer the usual question: ask for that, or say "
                    "in why_not_substitute why it will not do",
                )
            else:
                out.add(
                    "substitute-available",
                    Severity.NOTE,
                    f"{field}.why_not_substitute",
                    f"asks for '{claim.name}' rather than {instead}, because: {claim.why_not_substitute}",
                )
            if redundant := sorted(asked & set(info.substitutes)):
                out.add(
                    "redundant-claim",
                    Severity.WARNING,
                    field,
                    f"asks for '{claim.name}' and also {', '.join(redundant)}, which '{claim.name}' already answers",
                )
    known = [name for name in policy.claim_names if name in catalogue.claims]
    carriers = [set(catalogue.claims[name].credential_types) for name in known]
    if carriers and not set.intersection(*carriers):
        out.add(
            "single-credential",
            Severity.ERROR,
            "claims",
            "no single credential carries all of " + ", ".join(known) + ": one proof could not answer the request",
        )
    reported: list[frozenset[str]] = []
    for combination in sorted(catalogue.combinations, key=lambda c: -len(c.claims)):
        if combination.claims <= asked and not any(combination.claims < bigger for bigger in reported):
            reported.append(combination.claims)
            out.add(
                "identifying-combination",
                combination.severity,
                "claims",
                f"asks for {combination.name}. {combination.why}",
            )


def _retention_rules(out: _Findings) -> None:
    policy, retention = out.policy, out.policy.retention
    if retention.is_none:
        return
    if policy.legal_basis.strip().lower() in {"none", "n/a", "-"}:
        out.add(
            "retention-without-legal-basis",
            Severity.ERROR,
            "legal_basis",
            f"keeps {', '.join(retention.keeps)} after the check, but names no legal basis for keeping anything",
        )
    if extra := [name for name in retention.keeps if name not in policy.claim_names]:
        out.add(
            "retention-not-requested",
            Severity.ERROR,
            "retention.keeps",
            f"keeps {', '.join(extra)}, which it does not ask for",
        )
    if not retention.period:
        out.add("retention-without-period", Severity.ERROR, "retention", "keeps claims without saying for how long")


def _time_rules(out: _Findings, today: dt.date) -> None:
    policy = out.policy
    if policy.valid_until < today:
        out.add("expired", Severity.ERROR, "valid_until", f"expired on {policy.valid_until.isoformat()}")
    elif policy.valid_until < today + dt.timedelta(days=EXPIRY_WARNING_DAYS):
        out.add("expires-soon", Severity.WARNING, "valid_until", f"expires on {policy.valid_until.isoformat()}")
    age = policy.max_status_age
    if age > LONGEST_STATUS_AGE:
        out.add(
            "status-age",
            Severity.ERROR,
            "max_status_age",
            f"accepts revocation data {duration(age)} old, but status lists expire after "
            f"{duration(LONGEST_STATUS_AGE)} (the desk refuses them then); a revoked credential would pass that long",
        )
    elif age > STATUS_AGE_WARNING:
        out.add(
            "status-age",
            Severity.WARNING,
            "max_status_age",
            f"accepts revocation data {duration(age)} old: a revoked credential would still pass that long",
        )


def _other_rules(out: _Findings, catalogue: ClaimsCatalogue) -> None:
    policy = out.policy
    identifying = [
        name for name in policy.claim_names if name in catalogue.claims and catalogue.claims[name].identifying
    ]
    if policy.accepts_paper and identifying:
        out.add(
            "paper-identifying",
            Severity.WARNING,
            "accepts_paper",
            f"accepts paper proofs, which anyone holding a copy can show, for {', '.join(identifying)}",
        )
    for field, texts in (("title", policy.title), ("purpose", policy.purpose)):
        if missing := [language for language in WALLET_LANGUAGES if language not in texts]:
            out.add(
                "missing-translation",
                Severity.NOTE,
                field,
                f"{field} has no {', '.join(missing)} text; the wallet will show English",
            )


def _acknowledge(out: _Findings) -> list[Finding]:
    acknowledged = out.policy.acknowledged
    findings = []
    used = set()
    for found in out.items:
        reason = acknowledged.get(found.rule)
        finding = found
        if reason and found.severity is Severity.WARNING:
            used.add(found.rule)
            finding = replace(found, severity=Severity.NOTE, acknowledged=reason)
        elif reason and found.severity is Severity.ERROR:
            used.add(found.rule)
            finding = replace(found, message=found.message + " (errors cannot be acknowledged)")
        findings.append(finding)
    for rule in sorted(set(acknowledged) - used):
        findings.append(
            Finding(
                "stale-acknowledgement",
                Severity.WARNING,
                f"acknowledges '{rule}', which reports no warning here: remove the acknowledgement",
                out.policy.id,
                out.source,
                out.locate(f"acknowledged.{rule}"),
                f"acknowledged.{rule}",
            )
        )
    return findings


def check_policy(
    policy: Policy,
    *,
    catalogue: ClaimsCatalogue,
    today: dt.date,
    source: str | None = None,
    locate: Callable[[str], int | None] = lambda _field: None,
) -> list[Finding]:
    """Every finding for one well-formed policy, worst first."""
    out = _Findings(policy, source, locate)
    _claim_rules(out, catalogue)
    _retention_rules(out)
    _time_rules(out, today)
    _other_rules(out, catalogue)
    return sort_findings(_acknowledge(out))


def check_set(policies: Iterable[tuple[Policy, str | None]]) -> list[Finding]:
    """Findings about policies side by side: duplicate ids, files not named after their id."""
    findings: list[Finding] = []
    seen: dict[str, str | None] = {}
    for policy, source in policies:
        if policy.id in seen:
            findings.append(
                Finding(
                    "duplicate-id",
                    Severity.ERROR,
                    f"id '{policy.id}' is also used by {seen[policy.id] or 'another policy'}",
                    policy.id,
                    source,
                    field="id",
                )
            )
        seen.setdefault(policy.id, source)
        if source is not None and PurePath(source).suffix == ".toml" and PurePath(source).stem != policy.id:
            findings.append(
                Finding(
                    "file-name",
                    Severity.WARNING,
                    f"the file for policy '{policy.id}' should be named {policy.id}.toml",
                    policy.id,
                    source,
                    field="id",
                )
            )
    return findings


_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Worst first, then in file order."""
    return sorted(findings, key=lambda f: (_ORDER[f.severity], f.line or 0, f.rule))
