"""Policies for tests: a clean one to start from, changed one field at a time."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from policies import ClaimRequest, Policy, Retention

TODAY = dt.date(2026, 11, 24)
TRANSLATED = MappingProxyType({"en": "Library card", "es": "Tarjeta", "zh-Hans": "借书证", "ar": "بطاقة"})
PURPOSE = MappingProxyType({"en": "Free cards for residents.", "es": "Gratis.", "zh-Hans": "免费。", "ar": "مجانًا."})

CLEAN = Policy(
    id="library-card",
    title=TRANSLATED,
    verifier="Riverton Public Library",
    purpose=PURPOSE,
    legal_basis="Library Charter, section 4",
    retention=Retention(),
    accepts_paper=True,
    max_status_age=3 * 86_400,
    valid_until=dt.date(2027, 12, 31),
    claims=(ClaimRequest("resident_of", "Cards are free only for residents."),),
)


def claim(name: str, why_not: str = "") -> ClaimRequest:
    return ClaimRequest(name, f"The desk needs {name} for this service.", why_not)


def policy(**changes: Any) -> Policy:
    if "acknowledged" in changes:
        changes["acknowledged"] = MappingProxyType(changes["acknowledged"])
    return replace(CLEAN, **changes)


CLEAN_TOML = """\
id = "library-card"
verifier = "Riverton Public Library"
legal_basis = "Library Charter, section 4"
retention = "none"
accepts_paper = true
max_status_age = "3d"
valid_until = 2027-12-31

[title]
en = "Library card"
es = "Tarjeta"
zh-Hans = "借书证"
ar = "بطاقة"

[purpose]
en = "Free cards for residents."
es = "Gratis."
zh-Hans = "免费。"
ar = "مجانًا."

[claims.resident_of]
justification = "Cards are free only for residents."
"""
