"""Every minimization rule, each with a policy that breaks it and a near-identical one that does not."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from policy_support import CLEAN, CLEAN_TOML, TODAY, claim, policy

from policies import (
    RULES,
    ClaimRequest,
    Finding,
    Policy,
    Retention,
    Severity,
    check_policy,
    check_set,
    default_catalogue,
    parse_policy_text,
)

CATALOGUE = default_catalogue()
CLINIC_CLAIMS = (claim("given_name"), claim("family_name"), claim("birthdate", "Dosing needs the exact age, always."))
ORDER = [Severity.ERROR, Severity.WARNING, Severity.NOTE]
ACK = {"identifying-combination": "Clinics must find the one right medical record."}


def findings_of(subject: Policy) -> list[Finding]:
    return check_policy(subject, catalogue=CATALOGUE, today=TODAY)


def rules_at(subject: Policy, severity: Severity) -> set[str]:
    return {f.rule for f in findings_of(subject) if f.severity is severity}


# rule -> (severity, breaking policy, passing policy)
CASES: dict[str, list[tuple[Severity, Policy, Policy]]] = {
    "unknown-claim": [(Severity.ERROR, policy(claims=(claim("shoe_size"),)), CLEAN)],
    "missing-justification": [
        (
            Severity.ERROR,
            policy(claims=(ClaimRequest("resident_of", "Needed."),)),
            policy(claims=(ClaimRequest("resident_of", "Cards are free for residents only."),)),
        )
    ],
    "substitute-available": [
        (Severity.ERROR, policy(claims=(claim("birthdate"),)), policy(claims=(claim("age_over_18"),))),
        (
            Severity.ERROR,
            policy(claims=(claim("address"),)),
            policy(claims=(claim("address", "The permit zone depends on the street."),)),
        ),
    ],
    "redundant-claim": [
        (
            Severity.WARNING,
            policy(claims=(claim("birthdate", "Exact age needed for dosing."), claim("age_over_18"))),
            policy(claims=(claim("birthdate", "Exact age needed for dosing."),)),
        )
    ],
    "identifying-combination": [
        (
            Severity.ERROR,
            policy(claims=(claim("family_name"), claim("birthdate", "x" * 20), claim("address", "y" * 20))),
            policy(claims=(claim("family_name"), claim("address", "y" * 20))),
        ),
        (
            Severity.WARNING,
            policy(claims=(claim("family_name"), claim("birthdate", "x" * 20))),
            policy(claims=(claim("given_name"), claim("family_name"))),
        ),
    ],
    "single-credential": [
        (
            Severity.ERROR,
            policy(claims=(claim("age_over_18"), claim("given_name"))),
            policy(claims=(claim("resident_of"), claim("given_name"))),
        )
    ],
    "retention-without-legal-basis": [
        (
            Severity.ERROR,
            policy(claims=(claim("given_name"),), retention=Retention(("given_name",), "1 year"), legal_basis="none"),
            policy(claims=(claim("given_name"),), retention=Retention(("given_name",), "1 year")),
        )
    ],
    "retention-not-requested": [
        (
            Severity.ERROR,
            policy(retention=Retention(("given_name",), "1 year")),
            policy(retention=Retention(("resident_of",), "1 year")),
        )
    ],
    "retention-without-period": [
        (
            Severity.ERROR,
            policy(retention=Retention(("resident_of",), "")),
            policy(retention=Retention(("resident_of",), "until the card expires")),
        )
    ],
    "expired": [(Severity.ERROR, policy(valid_until=TODAY - dt.timedelta(days=1)), policy(valid_until=TODAY))],
    "expires-soon": [
        (
            Severity.WARNING,
            policy(valid_until=TODAY + dt.timedelta(days=29)),
            policy(valid_until=TODAY + dt.timedelta(days=30)),
        )
    ],
    "status-age": [
        (Severity.WARNING, policy(max_status_age=7 * 86_400 + 1), policy(max_status_age=7 * 86_400)),
        (Severity.ERROR, policy(max_status_age=31 * 86_400 + 1), policy(max_status_age=86_400)),
    ],
    "paper-identifying": [
        (
            Severity.WARNING,
            policy(claims=(claim("given_name"),), accepts_paper=True),
            policy(claims=(claim("given_name"),), accepts_paper=False),
        )
    ],
    "missing-translation": [
        (Severity.NOTE, policy(title={"en": "Library card"}), CLEAN),
        (Severity.NOTE, policy(purpose={"en": "Free cards.", "es": "Gratis."}), CLEAN),
    ],
    "stale-acknowledgement": [
        (
            Severity.WARNING,
            policy(acknowledged={"paper-identifying": "Residents asked for paper cards at the desk."}),
            policy(
                claims=(claim("given_name"),),
                acknowledged={"paper-identifying": "Residents asked for paper cards at the desk."},
            ),
        )
    ],
}


@pytest.mark.parametrize(
    ("rule", "severity", "breaking", "passing"),
    [(rule, *case) for rule, cases in CASES.items() for case in cases],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_rule_fires_on_the_breaking_policy_only(
    rule: str, severity: Severity, breaking: Policy, passing: Policy
) -> None:
    """The passing policy may still get a milder finding of the same rule (a justified substitute is a note)."""
    assert rule in rules_at(breaking, severity), findings_of(breaking)
    as_bad = ORDER[: ORDER.index(severity) + 1]
    assert rule not in {f.rule for f in findings_of(passing) if f.severity in as_bad}


def test_the_clean_policy_has_no_findings() -> None:
    assert findings_of(CLEAN) == []


def test_justified_substitute_is_a_note_that_quotes_the_reason() -> None:
    justified = policy(claims=(claim("address", "The permit zone depends on the street."),))
    (note,) = [f for f in findings_of(justified) if f.rule == "substitute-available"]
    assert note.severity is Severity.NOTE and "permit zone" in note.message


def test_an_acknowledged_warning_becomes_a_note_with_its_reason() -> None:
    clinic = policy(claims=CLINIC_CLAIMS, accepts_paper=False, acknowledged=ACK)
    (finding,) = [f for f in findings_of(clinic) if f.rule == "identifying-combination"]
    assert finding.severity is Severity.NOTE and finding.acknowledged == ACK["identifying-combination"]
    assert rules_at(clinic, Severity.WARNING) == set()


def test_an_error_cannot_be_acknowledged() -> None:
    full = (claim("family_name"), claim("birthdate", "x" * 20), claim("address", "y" * 20))
    subject = policy(claims=full, accepts_paper=False, acknowledged=ACK)
    (finding,) = [f for f in findings_of(subject) if f.rule == "identifying-combination"]
    assert finding.severity is Severity.ERROR and "cannot be acknowledged" in finding.message


def test_only_the_most_specific_combination_is_reported() -> None:
    full = (claim("family_name"), claim("birthdate", "x" * 20), claim("address", "y" * 20))
    combos = [f for f in findings_of(policy(claims=full)) if f.rule == "identifying-combination"]
    assert len(combos) == 1 and "name, date of birth and address" in combos[0].message


def test_duplicate_ids_and_file_names() -> None:
    other = policy(verifier="Somebody else")
    findings = check_set([(CLEAN, "catalog/library-card.toml"), (other, "catalog/other.toml")])
    assert {(f.rule, f.severity, f.source) for f in findings} == {
        ("duplicate-id", Severity.ERROR, "catalog/other.toml"),
        ("file-name", Severity.WARNING, "catalog/other.toml"),
    }
    assert check_set([(CLEAN, "catalog/library-card.toml")]) == []


def test_findings_point_at_the_line_in_the_file() -> None:
    text = CLEAN_TOML.replace('max_status_age = "3d"', 'max_status_age = "60d"')
    loaded = parse_policy_text(text, "library-card.toml")
    assert loaded.policy is not None
    (finding,) = check_policy(
        loaded.policy, catalogue=CATALOGUE, today=TODAY, source=loaded.source, locate=loaded.locate
    )
    assert (finding.rule, finding.line, finding.field) == ("status-age", 6, "max_status_age")


def test_every_rule_has_a_failing_and_a_passing_case() -> None:
    tested: set[str] = set(CASES) | {"schema", "duplicate-id", "file-name"}  # those in other tests
    assert tested == set(RULES)


def test_errors_come_first() -> None:
    severities: Callable[[Policy], list[Severity]] = lambda p: [f.severity for f in findings_of(p)]  # noqa: E731
    ordered = severities(policy(claims=(claim("birthdate"),), title={"en": "x"}, max_status_age=8 * 86_400))
    assert ordered == sorted(ordered, key=ORDER.index)
