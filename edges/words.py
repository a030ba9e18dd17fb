"""What the wallet says, in the resident's language: consent screens, errors, the paper page.

Every string here goes through ``_`` and has a translation in each catalog under
``edges/locale/`` (tests/test_i18n.py fails otherwise). Shared by the wallet and the clerk's
desk, which prints the same paper page for residents without a phone.
"""

from __future__ import annotations

import time
import unicodedata
from typing import Any

from edges.i18n import Translate


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


def card_name(_: Translate, type_name: str) -> str:
    """One card of a type, by its name: what other makers' wallets show (issuer metadata and the
    SD-JWT VC Type Metadata)."""
    names = {"residency": _("City residency card"), "identity": _("City identity card")}
    return names.get(type_name, type_name)


def verifier_name(_: Translate, name: str) -> str:
    """A policy's verifier in the resident's language: the name as written in the policy file is
    its msgid (``edges/i18n.py`` collects the catalog's), so a name without one stays as it is."""
    return _(name)


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


def retention(_: Translate, keeps: tuple[str, ...], period: str) -> str:
    """What a policy lets the desk keep (its ``retention``), in the resident's words."""
    if not keeps:
        return _("Nothing: they keep no record of you")
    claims = ", ".join(claim_label(_, name) for name in keeps)
    return _("{claims}, for {period}", claims=claims, period=period)


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
    "wrong_passphrase": "That passphrase does not open this wallet. Type it again.",
    "no_wallet": "There is no wallet here yet: receive your credentials first, or name your wallet file with --wallet.",
    "wallet_damaged": "This wallet file is damaged. Restore it from a backup with cityid wallet import.",
    "damaged_code": "This code is damaged or incomplete: scan it again.",
    "no_credential": "No unused credential can answer this. Ask a city clerk for a new batch.",
    "not_paper": "This policy does not accept paper proofs.",
    "wallet_busy": "Another wallet command is using this wallet. Let it finish, then try again.",
    "invalid_pin": "That cannot be the PIN the clerk gave you: check its digits and type it again. No try was used.",
    "cannot_prove": "What you hold cannot prove what this service needs, so nothing was printed or used.",
    "offer_unknown": "This offer was already used, or its time is up. Ask the clerk for a new one.",
    "offer_expired": "This offer's time is up. Ask the clerk for a new one.",
    "offer_locked": "This offer was cancelled after too many wrong PINs. Ask the clerk for a new one.",
    "resume_limit": "These credentials were already sent as many times as allowed. Ask the clerk for a new offer.",
    "invalid_offer": "This is not an offer of credentials from the city. Scan the code the clerk shows you.",
    "invalid_credential": "The city's service sent credentials this wallet cannot accept, so none were kept. "
    "Ask the clerk for a new offer.",
    "issuer_unreachable": "The city's service could not be reached, or is busy. Check the internet connection, "
    "then try again in a few minutes.",
    "issuer_refused": "The city's service could not finish this. Try again later; if it happens again, "
    "ask a city clerk.",
    "proof_clock": "The city's service refused this because this device's date or time is wrong. "
    "Set the clock right, then try again.",
    "wallet_full": "This wallet cannot hold any more credentials. Ask a city clerk for help.",
    "no_registry": "This wallet has no list of approved policies yet. Go online once, so that it can fetch one from "
    "the city, then try again.",
    "registry_offline": "This wallet's list of approved policies has expired and the city's service could not be "
    "reached. Go online once, then try again.",
    "board_key_changed": "The city's key for approved policies is not the one this wallet trusts, so nothing was "
    "changed or shared. Ask a city clerk for help.",
    "not_a_desk_code": "This is not a code from a city desk. Scan the code the desk shows you.",
    "invalid_request": "This desk's code is not valid. Ask the desk to show a new one.",
    "unknown_claim": "Your credentials do not hold what the desk asks for. Nothing was shared.",
    "internal_error": "Something went wrong in the wallet, and nothing was shared. Try again.",
}
"""Refusal reasons a resident may meet, as English msgids; :func:`refusal` translates them.
A few keys (``registry``, ``damaged_code``) name words that several reasons share, and
``not_a_desk_code`` is the phone's own: it scanned a QR code that is not a desk's.
The wallet CLI and the phone app both show these (``edges/appfiles.py`` sends them to the app)."""

SHARED_WORDS = {
    "registry_rollback": "registry",
    "registry_expired": "registry",
    "invalid_registry": "registry",
    "bad_signature": "registry",
    "unknown_key": "registry",
    "bad_encoding": "damaged_code",
    "malformed": "damaged_code",
    "wrong_type": "registry",
    "unsupported_algorithm": "registry",
    "unsupported_critical_header": "registry",
    "unsupported_format": "not_a_desk_code",
    "service_unavailable": "issuer_unreachable",
    "overloaded": "issuer_unreachable",
    "invalid_proof": "issuer_refused",
    "key_reused": "issuer_refused",
    "invalid_nonce": "issuer_refused",
    "unknown_configuration": "issuer_refused",
    "invalid_notification_id": "issuer_refused",
    "invalid_notification_request": "issuer_refused",
    "invalid_issuer_metadata": "issuer_refused",
    "device_key_reused": "issuer_refused",
}
"""Reasons a resident reads in the same words as another: a registry the wallet cannot use is
one thing to them; a code that is cut short or misread (base45, zlib) is damaged, whatever broke;
a busy city service is one they cannot reach yet; whatever the issuer and the wallet disagree
about (a key proof, a nonce, an endpoint) is the service not finishing, and the resident can only
try again or ask a clerk. The technical detail stays in the error's message (``--json``) for IT."""


def refusal(_: Translate, reason: str) -> str | None:
    """What a resident reads for ``reason``, in their language; ``None`` when there are no plain
    words for it (the error's own message is shown then)."""
    message = REFUSALS.get(SHARED_WORDS.get(reason, reason))
    return _(message) if message else None


APP_REFUSALS = {
    "wrong_device_key": "The city's service sent credentials this wallet cannot accept, so none were kept. "
    "Ask the clerk for a new offer.",
    "wrong_pin": "That is not the PIN on your slip. Check it and type it again: after a few wrong tries the offer "
    "is cancelled.",
    "usage_error": "This step cannot be done now. Go back and start again.",
    "too_large": "What was read or received is larger than a wallet accepts, so it was not used. Nothing was shared.",
    "unreadable_wallet": "Part of this wallet is damaged and cannot be opened. Take your slip to a city desk for a new "
    "batch.",
    "storage_full": "This phone has no room left. Free some space, then try again.",
    "storage_unavailable": "This browser cannot keep a wallet. Open the app in the phone's own browser, not in a "
    "private window, then try again.",
}
"""The phone app's words for reasons the wallet CLI tells in the error's own message, as English
msgids: there the message carries what the resident needs (the tries left after a wrong PIN,
which credential is bound to which key,
the option that was wrong, the file that is too large or cannot be read); the phone shows no
technical message, so these say it plainly. ``storage_*`` are the phone's alone."""


def app_refusal(_: Translate, reason: str) -> str | None:
    """What the phone app shows for ``reason``: the wallet's words (:func:`refusal`), else the
    app's own (:data:`APP_REFUSALS`); ``None`` when neither has words for it."""
    message = APP_REFUSALS.get(reason)
    return refusal(_, reason) or (_(message) if message else None)


CLOCK_REASONS = frozenset(
    {"not_yet_valid", "expired", "kb_not_fresh", "request_expired", "status_stale", "bundle_expired"}
)
"""Refusals about time: a wrong clock on this device gives each of them."""

CLOCK_DOUBT = 24 * 3600
"""How near a time refusal's boundary (seconds) its moment must be for this device's clock to
be the likelier fault: a phone or desk set to the wrong day or time zone is minutes to hours
off, while a proof that is really expired or not yet valid is usually off by much more."""


def clock_in_doubt(reason: str, *, moment: float | None, now: float) -> bool:
    """Whether a refusal for ``reason`` should also ask to check the clock: it is about time and
    ``moment`` (the expiry, issue time or list time it was judged by) is within
    :data:`CLOCK_DOUBT` of ``now``. An unknown moment (``None``) gives no doubt."""
    return reason in CLOCK_REASONS and moment is not None and abs(now - moment) <= CLOCK_DOUBT


def clock_hint(_: Translate, now: float) -> str:
    """The words added to a time refusal whose moment is near: the device's own time, to compare."""
    return _("Check this device's clock (it says {time} UTC).", time=time.strftime("%H:%M", time.gmtime(now)))


def desk_words(_: Translate, reason: str) -> str | None:
    """What desk staff read for a refused proof (the desk page, ``verifier check``), in their
    language; ``None`` when there are no plain words for ``reason``."""
    words = {
        "revoked": _("This ID has been cancelled."),
        "suspended": _("This ID is suspended."),
        "status_stale": _("This desk's list of cancelled IDs is too old. Sync the desk, then scan again."),
        "status_unavailable": _("This desk cannot tell whether this ID was cancelled. Sync the desk."),
        "expired": _("This ID has expired."),
        "not_yet_valid": _("This ID is not valid yet."),
        "request_expired": _("This code answers a request that has expired. Ask the resident to scan the new one."),
        "replayed": _("This code was already shown. Ask for a new one."),
        "paper_not_accepted": _("Paper proofs are not accepted at this desk."),
        "nonce_mismatch": _("This code answers another request. Ask the resident to scan the desk's code again."),
        "audience_mismatch": _("This code was made for another desk."),
        "kb_not_fresh": _("This code is too old. Ask for a new one."),
        "claims_exceed_policy": _("The request asks for more than this desk may."),
        "made_before_start": _("This code was made before the desk started. Ask the resident to show a fresh code."),
        "replay_memory_full": _("The desk is busy; try again in a minute."),
        "desk_request": _(
            "This is a desk request, not a resident's proof. Ask the resident to show the code the wallet made."
        ),
        "not_city_id": _("This QR code is not a city ID."),
        "no_qr_code": _("No QR code was found in this picture. Take it again, closer and steadier."),
        "bad_encoding": _("This code is damaged or incomplete: scan it again."),
        "malformed": _("This code is damaged or incomplete: scan it again."),
        "too_large": _("This QR code is not a city ID."),
        "unsupported_format": _("This QR code is not a city ID."),
    }
    return words.get(reason)
