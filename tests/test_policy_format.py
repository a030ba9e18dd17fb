"""Policy files: every field checked, and every problem reported with its file, line and field."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_support import CLEAN, CLEAN_TOML

from policies import Finding, Severity, build_policy, parse_duration, parse_policy_text


def schema_findings(text: str | bytes) -> list[Finding]:
    loaded = parse_policy_text(text, "test.toml")
    assert all(f.rule == "schema" and f.severity is Severity.ERROR and f.source == "test.toml" for f in loaded.findings)
    return list(loaded.findings)


def test_the_clean_file_reads_as_the_clean_policy() -> None:
    loaded = parse_policy_text(CLEAN_TOML, "library-card.toml")
    assert loaded.findings == ()
    assert loaded.policy == CLEAN


def test_canonical_json_round_trips() -> None:
    policy, findings = build_policy(CLEAN.to_json())
    assert findings == [] and policy == CLEAN


@pytest.mark.parametrize(
    ("old", "new", "field", "line", "words"),
    [
        ("accepts_paper = true", 'accepts_paper = "yes"', "accepts_paper", 5, "true or false"),
        ('max_status_age = "3d"', 'max_status_age = "3 days"', "max_status_age", 6, "duration"),
        ('max_status_age = "3d"', 'max_status_age = "400d"', "max_status_age", 6, "365d"),
        ("valid_until = 2027-12-31", 'valid_until = "soon"', "valid_until", 7, "date"),
        ('id = "library-card"', 'id = "Library Card"', "id", 1, "a-z"),
        ('retention = "none"', 'retention = "forever"', "retention", 4, '"none" or a table'),
        ('retention = "none"', 'retention = { keeps = [] , period = "1y" }', "retention.keeps", 4, "keeps"),
        ('verifier = "Riverton Public Library"', 'verifier = ""', "verifier", 2, "non-empty"),
        ('es = "Tarjeta"', 'es = ""', "title.es", 11, "non-empty"),
        ('en = "Library card"', 'english = "Library card"', "title", 9, "'en'"),
        (
            'justification = "Cards are free only for residents."',
            'justificaton = "Cards are free only for residents."',
            "claims.resident_of.justificaton",
            22,
            "did you mean 'justification'",
        ),
    ],
)
def test_a_wrong_field_is_named_with_its_line(old: str, new: str, field: str, line: int, words: str) -> None:
    assert old in CLEAN_TOML
    findings = schema_findings(CLEAN_TOML.replace(old, new, 1))
    matching = [f for f in findings if f.field == field]
    assert matching, findings
    assert matching[0].line == line
    assert words in matching[0].message
    assert f"test.toml:{line} ({field})" == matching[0].location()


def test_missing_fields_are_each_reported() -> None:
    text = "\n".join(line for line in CLEAN_TOML.splitlines() if not line.startswith(("legal_basis", "valid_until")))
    assert {f.field for f in schema_findings(text)} == {"legal_basis", "valid_until"}


def test_unknown_field_suggests_the_right_name() -> None:
    findings = schema_findings(CLEAN_TOML.replace("retention =", "retension =", 1))
    messages = {f.field: f.message for f in findings}
    assert "did you mean 'retention'" in messages["retension"]
    assert messages["retention"] == "'retention' is missing"


def test_toml_syntax_error_gives_the_line() -> None:
    text = CLEAN_TOML.replace('verifier = "Riverton Public Library"', 'verifier = "Riverton Public Library', 1)
    (finding,) = schema_findings(text)
    assert finding.line == 2 and "not valid TOML" in finding.message


def test_not_utf8_and_too_large_are_findings_not_crashes() -> None:
    (finding,) = schema_findings(b"id = \xff\xfe")
    assert "UTF-8" in finding.message
    (finding,) = schema_findings("# " + "x" * 70_000)
    assert "at most" in finding.message


def test_lines_are_found_in_dotted_keys_and_after_multiline_strings() -> None:
    text = CLEAN_TOML.replace(
        'verifier = "Riverton Public Library"',
        'verifier = """Riverton\nid = "not a key"\nPublic Library"""\nacknowledged.status-age = "short"',
        1,
    )
    findings = schema_findings(text)
    (finding,) = [f for f in findings if f.field == "acknowledged.status-age"]
    assert finding.line == 5


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("24h", 86_400), ("7d", 604_800), ("1d 12h", 129_600), (90, 90), ("0s", 0)],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "7 days", "-1d", "d", "1w", True, 1.5, None, -3])
def test_bad_durations(text: object) -> None:
    assert parse_duration(text) is None


def test_a_date_in_json_must_be_exactly_iso() -> None:
    data = CLEAN.to_json()
    for bad in ("2027-1-31", "20271231", "2027-12-31T00:00:00"):
        data["valid_until"] = bad
        policy, findings = build_policy(data)
        assert policy is None and findings[0].field == "valid_until"
    data["valid_until"] = "2027-12-31"
    assert build_policy(data)[0] == CLEAN


@given(st.text(max_size=300))
def test_any_text_gives_a_policy_or_findings(text: str) -> None:
    loaded = parse_policy_text(text, "fuzz.toml")
    assert (loaded.policy is None) == bool(loaded.findings)


@given(
    st.dictionaries(
        st.sampled_from(["id", "title", "claims", "retention", "valid_until", "max_status_age", "extra"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.dates(max_value=dt.date(2100, 1, 1)),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
            max_leaves=8,
        ),
    )
)
def test_any_mapping_gives_a_policy_or_schema_errors(data: dict[str, object]) -> None:
    policy, findings = build_policy({**CLEAN.to_json(), **data})
    assert (policy is None) == bool(findings)
    assert all(f.rule == "schema" for f in findings)
