"""Every reason the phone app can give a resident has plain words, in every language.

The app shows ``refusals[reason]`` from ``messages/<lang>.json`` (``edges/appfiles.py``) and,
for a reason without words, a bare "This could not be done (reason)". So each reason its JS can
give (``wallet/app/src``), and each refusal of the issuer's that it passes on while receiving,
must have words in ``edges.words`` and a translation in every catalog: a new reason without
them fails here. The consent screen's claim lists come from the card's own disclosures
(``present.js`` ``heldClaims``, tested in node), so the screen itself names no claim.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from credential import CREDENTIAL_TYPES
from edges.appfiles import app_source, js_messages, messages
from edges.i18n import LANGUAGES, translator
from edges.words import APP_REFUSALS, REFUSALS, SHARED_WORDS, app_refusal

ROOT = Path(__file__).resolve().parent.parent

JS_REASONS = (
    re.compile(r'\b(?:WalletError|CoreError)\(\s*"([a-z_]+)"'),  # new WalletError("no_registry", ...)
    re.compile(r'\bsecureUrl\([^,()]+,\s*"([a-z_]+)"'),  # secureUrl(url, "invalid_offer", ...)
    re.compile(r'\breason = [^;\n]*:\s*"([a-z_]+)";'),  # const reason = ... ? body.reason : "issuer_refused";
    re.compile(r'\.reason\s*:\s*"([a-z_]+)"'),  # e.reason : "malformed"
    re.compile(r'\brefused\(\s*"([a-z_]+)"'),  # refused("not_a_desk_code")
    re.compile(r'"data-reason":\s*"([a-z_]+)"'),
)
"""How the app's JS gives a reason: to its error types, its URL check, as a fallback, or to a screen."""

ISSUANCE_REFUSALS = frozenset(
    {"offer_unknown", "wrong_pin", "offer_locked", "invalid_proof", "key_reused", "invalid_nonce", "proof_clock",
     "resume_limit", "unknown_configuration", "invalid_request", "too_large", "service_unavailable", "overloaded",
     "invalid_notification_id", "invalid_notification_request"}
)  # fmt: skip
"""The issuer's refusals at ``/token``, ``/nonce``, ``/credential`` and ``/notification``
(docs/reason-codes.md, "The issuer API"), which ``receive.js`` passes on with the issuer's own
``reason``. ``invalid_token`` is not here: the app reads it as ``offer_expired``."""


def reasons_in(source: str) -> set[str]:
    """The reason codes JS ``source`` can give (see :data:`JS_REASONS`)."""
    return {reason for pattern in JS_REASONS for reason in pattern.findall(source)}


def app_reasons() -> set[str]:
    """Every reason the app can show: what its sources give, and the issuer's it passes on."""
    root = app_source() / "src"
    found = set(ISSUANCE_REFUSALS)
    for path in sorted(root.rglob("*.js")):
        found |= reasons_in(path.read_text(encoding="utf-8"))
    return found


def test_the_finder_sees_each_way_the_app_gives_a_reason() -> None:
    source = """
    throw new WalletError("no_registry", "x");
    throw new CoreError(
      "bad_encoding", "x");
    base = secureUrl(issuerUrl, "invalid_issuer_metadata", "the issuer's address", { queryAllowed: false });
    const reason = isObject(body) && body.reason !== undefined ? String(body.reason) : "issuer_refused";
    const reasonOf = (e) => (e instanceof WalletError || (e && e.reason) ? e.reason : "malformed");
    refused("not_a_desk_code");
    h("p", { "data-reason": "storage_full" });
    throw new TypeError("port");
    if (error.reason === "too_large") {}
    """
    assert reasons_in(source) == {
        "no_registry", "bad_encoding", "invalid_issuer_metadata", "issuer_refused", "malformed", "not_a_desk_code",
        "storage_full",
    }  # fmt: skip


def test_the_app_sources_give_the_reasons_residents_met_without_words() -> None:
    """The finder reads the real sources: the reasons once shown as "could not be done" are found."""
    found = app_reasons()
    assert {"no_registry", "registry_offline", "wrong_pin", "issuer_unreachable", "not_a_desk_code"} <= found
    assert {"storage_full", "storage_unavailable", "invalid_credential", "claims_exceed_policy"} <= found


def test_the_issuance_refusals_passed_on_are_ones_the_issuer_gives() -> None:
    sources = [*sorted((ROOT / "issuer").glob("*.py")), ROOT / "edges" / "middleware.py"]  # its body limit
    issuer = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    unknown = sorted(reason for reason in ISSUANCE_REFUSALS if f'"{reason}"' not in issuer)
    assert not unknown, f"not reasons of the issuer's (renamed?): {unknown}"
    receive = (app_source() / "src" / "receive.js").read_text(encoding="utf-8")
    assert "String(body.reason)" in receive, "receive.js no longer passes the issuer's reason on"


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_reason_the_app_can_give_has_resident_words_in_its_messages(language: str) -> None:
    """In the JSON the app is served, in every language: words, not the bare reason, and (but
    for English, whose msgids are the words) translated rather than left in English."""
    refusals = messages(language, js_messages())["refusals"]
    assert isinstance(refusals, dict)
    english = translator("en")
    missing, untranslated = [], []
    for reason in sorted(app_reasons()):
        words = refusals.get(reason)
        if not words or words == reason:
            missing.append(reason)
        elif language != "en" and words == app_refusal(english, reason):
            untranslated.append(reason)
    assert not missing, f"add resident words to edges/words.py (REFUSALS or APP_REFUSALS) for: {missing}"
    assert not untranslated, f"translate in edges/locale/{language}: {untranslated}"


def test_the_apps_own_words_never_hide_the_wallets() -> None:
    """One reason, one set of words: the CLI and the app agree wherever both have words."""
    assert not set(APP_REFUSALS) & (set(REFUSALS) | set(SHARED_WORDS))
    assert set(SHARED_WORDS.values()) <= set(REFUSALS)
    _ = translator("es")
    assert app_refusal(_, "no_registry") == _(REFUSALS["no_registry"])
    assert app_refusal(_, "overloaded") == app_refusal(_, "issuer_unreachable")
    assert app_refusal(_, "wrong_pin") == _(APP_REFUSALS["wrong_pin"])
    assert app_refusal(_, "no_such_reason") is None


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_claim_a_card_can_hold_has_a_label_for_the_consent_screen(language: str) -> None:
    catalog = messages(language, set())
    held = {name for kind in CREDENTIAL_TYPES.values() for name in kind.claims}
    labels = catalog["claims"]
    assert isinstance(labels, dict) and set(labels) == held
    assert all(labels[name] != name for name in held)


def test_the_consent_screen_names_no_claim_itself() -> None:
    """Its "They will not see" list is what the card that answers holds (``prepared.holds``), not
    a list written into the screen that goes stale when a credential type changes."""
    screen = (app_source() / "src" / "main.js").read_text(encoding="utf-8")
    assert "prepared.holds" in screen
    written = sorted(name for kind in CREDENTIAL_TYPES.values() for name in kind.claims if f'"{name}"' in screen)
    assert not written, f"main.js names claims itself: {written}"
