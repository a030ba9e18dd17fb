"""What the wallet says, in the resident's language: consent screens, errors, the paper page.

Every string here goes through ``_`` and has a translation in each catalog under
``cityid/locale/`` (tests/test_i18n.py fails otherwise). Shared by the wallet and the clerk's
desk, which prints the same paper page for residents without a phone.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from cityid.i18n import Translate
from policies import Policy


def claim_label(_: Translate, name: str) -> str:
    """What a claim is, before any value: for the consent screen's shared / not shared lists."""
    labels = {
        "resident_of": _("Where you live (the city only)"),
        "age_over_18": _("Whether you are 18 or older"),
        "age_over_21": _("Whether you are 21 or older"),
        "age_over_65": _("Whether you are 65 or older"),
        "given_name": _("Your given name"),
        "family_name": _("Your family name"),
        "birthdate": _("Your date of birth"),
        "address": _("Your home address"),
    }
    return labels.get(name, name)


def card_label(_: Translate, type_name: str) -> str:
    """A credential type as the resident knows it: one of their cards."""
    labels = {"residency": _("residency cards"), "identity": _("identity cards")}
    return labels.get(type_name, type_name)


def claim_fact(_: Translate, name: str, value: Any) -> str:
    """A disclosed claim in plain words, for the paper page."""
    if name == "resident_of":
        return _("Lives in {city}", city=value)
    if name.startswith("age_over_"):
        years = name.removeprefix("age_over_")
        return _("Is {years} or older", years=years) if value else _("Is not yet {years}", years=years)
    if name == "birthdate":
        return _("Born on {date}", date=f"\u2066{value}\u2069")
    if name in {"given_name", "family_name"}:
        return _("Name: {name}", name=value)
    if name == "address" and isinstance(value, dict):
        return _("Address: {address}", address=", ".join(str(part) for part in value.values()))
    return f"{name}: {value}"


def retention(_: Translate, policy: Policy) -> str:
    if policy.retention.is_none:
        return _("Nothing: they keep no record of you")
    claims = ", ".join(claim_label(_, name) for name in policy.retention.keeps)
    return _("{claims}, for {period}", claims=claims, period=policy.retention.period)


ANSWERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "en": (frozenset({"y", "yes"}), frozenset({"n", "no"})),
    "es": (frozenset({"s", "sí", "si"}), frozenset({"n", "no"})),
    "zh-Hans": (frozenset({"是", "是的", "y", "yes"}), frozenset({"否", "不", "n", "no"})),
    "ar": (frozenset({"نعم", "y", "yes"}), frozenset({"لا", "n", "no"})),
}
"""What a resident may type for yes and for no, in each language (compared case-folded)."""


def read_answer(language: str, typed: str) -> bool | None:
    """``True`` for the language's yes, ``False`` for its no (or nothing typed), ``None`` otherwise.

    Answers are the resident's own words: a Spanish speaker types "sí", an Arabic speaker
    "نعم", not a Latin "y" they were never told about."""
    yes, no = ANSWERS.get(language, ANSWERS["en"])
    word = unicodedata.normalize("NFC", typed).strip().casefold().rstrip(".!\u3002\uff01")
    if word in yes:
        return True
    if not word or word in no:
        return False
    return None


def yes_no_hint(_: Translate) -> str:
    """How to answer, shown after the question."""
    return _("[y/n]")


REFUSALS = {
    "claims_exceed_policy": "The desk asks for more than its approved policy allows. Nothing was shared.",
    "unknown_policy": "The desk names a policy the city has not approved. Nothing was shared.",
    "policy_expired": "The desk's policy has expired. Nothing was shared.",
    "request_expired": "The desk's request has expired. Ask the desk to show a new one.",
    "registry": "This device's list of approved policies is not valid or out of date. Update it, then try again.",
    "wrong_passphrase": "Wrong passphrase, or the wallet file is damaged.",
    "no_credential": "No unused credential can answer this. Ask a city clerk for a new batch.",
    "not_paper": "This policy does not accept paper proofs.",
    "wallet_busy": "Another wallet command is using this wallet. Let it finish, then try again.",
    "invalid_pin": "That cannot be the PIN the clerk gave you: check its digits and type it again. No try was used.",
    "cannot_prove": "What you hold cannot prove what this service needs, so nothing was printed or used.",
}
"""Refusal reasons a resident may meet, as English msgids; :func:`refusal` translates them."""


def refusal(_: Translate, reason: str) -> str | None:
    if reason in {"registry_rollback", "registry_expired", "invalid_registry", "bad_signature", "unknown_key"}:
        reason = "registry"
    message = REFUSALS.get(reason)
    return _(message) if message else None
