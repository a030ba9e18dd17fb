"""From a parsed mapping (a TOML policy file or a registry entry) to a checked :class:`Policy`.

Every problem becomes a ``schema`` finding naming the field and, when the caller can tell,
the line; validation goes on after the first problem so an author sees them all at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from credential._request import POLICY_ID

from ._model import NO_RETENTION, ClaimRequest, Finding, Policy, Retention, Severity

Locate = Callable[[str], int | None]
"""Dotted field path to its line in the source, when the source has lines."""

FIELDS = (
    "id",
    "title",
    "verifier",
    "purpose",
    "legal_basis",
    "retention",
    "accepts_paper",
    "max_status_age",
    "valid_until",
    "claims",
)
OPTIONAL_FIELDS = ("acknowledged",)
_CLAIM_FIELDS = ("justification", "why_not_substitute")
_DURATION = re.compile(r"(\d{1,6})\s*([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
MAX_STATUS_AGE = 365 * 86_400
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_CLAIM_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_MAX_TEXT = 2000
MAX_CLAIMS = 16


class _Collector:
    def __init__(self, source: str | None, locate: Locate, policy_id: str | None) -> None:
        self.source, self.locate, self.policy_id = source, locate, policy_id
        self.findings: list[Finding] = []

    def error(self, field: str, message: str) -> None:
        self.findings.append(
            Finding(
                rule="schema",
                severity=Severity.ERROR,
                message=message,
                policy=self.policy_id,
                source=self.source,
                line=self.locate(field),
                field=field,
            )
        )


def parse_duration(value: object) -> int | None:
    """Seconds in ``"30m"``, ``"24h"``, ``"7d"``, ``"1d 12h"`` or a plain number of seconds."""
    if type(value) is int:
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        return None
    return sum(int(number) * _SECONDS[unit] for number, unit in parts)


def _text(out: _Collector, data: Mapping[str, Any], name: str, *, limit: int = _MAX_TEXT) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        out.error(name, f"'{name}' must be non-empty text")
        return ""
    if len(value) > limit:
        out.error(name, f"'{name}' must be at most {limit} characters")
    return value.strip()


def _translated(out: _Collector, data: Mapping[str, Any], name: str, limit: int) -> Mapping[str, str]:
    value = data.get(name)
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, Mapping):
        out.error(name, f"'{name}' must be English text, or a table of language tag = text with 'en'")
        return MappingProxyType({"en": ""})
    texts: dict[str, str] = {}
    for language, text in value.items():
        field = f"{name}.{language}"
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
            out.error(field, f"{language!r} is not a language tag such as 'es' or 'zh-Hans'")
        elif not isinstance(text, str) or not text.strip() or len(text) > limit:
            out.error(field, f"'{field}' must be non-empty text of at most {limit} characters")
        else:
            texts[language] = text.strip()
    if "en" not in value:
        out.error(name, f"'{name}' needs an English text ('en'), the fallback for every other language")
    return MappingProxyType(texts or {"en": ""})


def _retention(out: _Collector, value: object) -> Retention:
    if value == "none":
        return NO_RETENTION
    if not isinstance(value, Mapping):
        out.error("retention", "'retention' must be \"none\" or a table with 'keeps' (claims) and 'period'")
        return NO_RETENTION
    for extra in sorted(set(value) - {"keeps", "period"}):
        out.error(f"retention.{extra}", f"unknown field 'retention.{extra}': use 'keeps' and 'period'")
    keeps = value.get("keeps")
    if not isinstance(keeps, list) or not keeps or not all(isinstance(name, str) for name in keeps):
        out.error("retention.keeps", "'retention.keeps' must list the claims kept (or write retention = \"none\")")
        keeps = []
    period = value.get("period", "")
    if not isinstance(period, str):
        out.error("retention.period", "'retention.period' must be text, such as '10 years'")
        period = ""
    return Retention(keeps=tuple(keeps), period=period.strip())


def _claims(out: _Collector, value: object) -> tuple[ClaimRequest, ...]:
    if not isinstance(value, Mapping) or not value:
        out.error("claims", "'claims' must be a table with one [claims.NAME] entry per claim asked for")
        return ()
    claims = []
    for name, entry in value.items():
        field = f"claims.{name}"
        if not isinstance(name, str) or not _CLAIM_NAME.fullmatch(name):
            out.error(field, f"{str(name)[:40]!r} is not a claim name")
            continue
        if not isinstance(entry, Mapping):
            out.error(field, f"'{field}' must be a table with a 'justification'")
            continue
        for extra in sorted(set(entry) - set(_CLAIM_FIELDS)):
            out.error(f"{field}.{extra}", f"unknown field '{field}.{extra}'{_did_you_mean(extra, _CLAIM_FIELDS)}")
        texts = {}
        for key in _CLAIM_FIELDS:
            text = entry.get(key, "")
            if not isinstance(text, str) or len(text) > _MAX_TEXT:
                out.error(f"{field}.{key}", f"'{field}.{key}' must be text of at most {_MAX_TEXT} characters")
                text = ""
            texts[key] = text.strip()
        claims.append(ClaimRequest(name, texts["justification"], texts["why_not_substitute"]))
    if len(claims) > MAX_CLAIMS:
        out.error("claims", f"a policy asks for at most {MAX_CLAIMS} claims (a desk request carries no more)")
    return tuple(claims)


def _date(out: _Collector, value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str) and len(value) == 10:
        with contextlib.suppress(ValueError):
            value = dt.date.fromisoformat(value)
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        out.error("valid_until", "'valid_until' must be a date, such as 2027-12-31")
        return dt.date.min
    return value


def _acknowledged(out: _Collector, value: object) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        out.error("acknowledged", "'acknowledged' must be a table of rule id = the reason the risk is accepted")
        return MappingProxyType({})
    reasons = {}
    for rule, reason in value.items():
        if not isinstance(reason, str) or len(reason.strip()) < 20:
            out.error(f"acknowledged.{rule}", f"acknowledging '{rule}' needs a reason of at least 20 characters")
        else:
            reasons[str(rule)] = reason.strip()
    return MappingProxyType(reasons)


def _did_you_mean(name: object, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(name), choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def build_policy(
    data: Mapping[str, Any], *, source: str | None = None, locate: Locate = lambda _field: None
) -> tuple[Policy | None, list[Finding]]:
    """A checked policy from ``data``, or ``None`` and the ``schema`` findings that say why not."""
    policy_id = data.get("id") if isinstance(data.get("id"), str) else None
    out = _Collector(source, locate, policy_id)
    for name in FIELDS:
        if name not in data:
            out.error(name, f"'{name}' is missing")
    for name in sorted(set(data) - set(FIELDS) - set(OPTIONAL_FIELDS), key=str):
        out.error(name, f"unknown field '{name}'{_did_you_mean(name, FIELDS + OPTIONAL_FIELDS)}")
    if "id" in data and (policy_id is None or not POLICY_ID.fullmatch(policy_id)):
        out.error(
            "id", "'id' must be 3 to 40 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"
        )
    accepts_paper = data.get("accepts_paper")
    if "accepts_paper" in data and not isinstance(accepts_paper, bool):
        out.error("accepts_paper", "'accepts_paper' must be true or false")
    max_status_age = parse_duration(data.get("max_status_age"))
    if "max_status_age" in data and (max_status_age is None or max_status_age > MAX_STATUS_AGE):
        out.error("max_status_age", '\'max_status_age\' must be a duration up to 365d, such as "30m", "24h" or "7d"')
    present = set(data)
    policy = Policy(
        id=policy_id or "",
        title=_translated(out, data, "title", 120) if "title" in present else MappingProxyType({"en": ""}),
        verifier=_text(out, data, "verifier", limit=200) if "verifier" in present else "",
        purpose=_translated(out, data, "purpose", 500) if "purpose" in present else MappingProxyType({"en": ""}),
        legal_basis=_text(out, data, "legal_basis", limit=300) if "legal_basis" in present else "",
        retention=_retention(out, data["retention"]) if "retention" in present else NO_RETENTION,
        accepts_paper=bool(accepts_paper),
        max_status_age=max_status_age or 0,
        valid_until=_date(out, data["valid_until"]) if "valid_until" in present else dt.date.min,
        claims=_claims(out, data["claims"]) if "claims" in present else (),
        acknowledged=_acknowledged(out, data.get("acknowledged")),
    )
    return (None if out.findings else policy), out.findings
