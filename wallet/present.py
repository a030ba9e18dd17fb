"""Answering a desk's request: pick an unused credential that can, and disclose only what was asked.

Every proof uses a credential that was never shown before (its own device key, signature and
status index), so two desks comparing notes cannot tell they saw the same resident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from credential import CREDENTIAL_TYPES, DeskRequest, encode_qr_text, parse_issued, present
from edges.keyfile import signing_key_from_jwk

from .store import Wallet, WalletError

LOW_BATCH = 2


@dataclass(frozen=True, slots=True)
class Proof:
    qr_text: str
    credential_type: str
    remaining: int
    """Unused credentials of that type left after this one."""


def covering_types(claims: tuple[str, ...]) -> list[str]:
    """Credential types carrying every requested claim, fewest claims first (least revealing)."""
    fitting = [kind for kind in CREDENTIAL_TYPES.values() if set(claims) <= set(kind.claims)]
    return [kind.name for kind in sorted(fitting, key=lambda kind: len(kind.claims))]


def unused_by_type(wallet: Wallet) -> dict[str, int]:
    """How many unused credentials of each type the wallet holds (every known type, 0 included)."""
    counts = dict.fromkeys(CREDENTIAL_TYPES, 0)
    for entry in wallet.credentials:
        if not entry["used"]:
            counts[entry["type"]] = counts.get(entry["type"], 0) + 1
    return counts


def chosen_type(wallet: Wallet, claims: tuple[str, ...]) -> tuple[str, str | None]:
    """The type a proof of ``claims`` would use, and, when that is not the least revealing type
    that could answer (those have run out), the type it falls back from; ``no_credential`` when none is left.

    The fallback still discloses only ``claims``, but the desk sees a different card (another
    type, with more in it), so the wallet asks before using one."""
    covering, left = covering_types(claims), unused_by_type(wallet)
    for type_name in covering:
        if left.get(type_name):
            return type_name, (covering[0] if type_name != covering[0] else None)
    raise _none_left()


def _none_left() -> WalletError:
    return WalletError(
        "no_credential",
        "no unused credential can answer this request: ask a clerk for a new batch (cityid wallet receive)",
    )


def answer(wallet: Wallet, request: DeskRequest, *, now: int, policy_id: str, only: str | None = None) -> Proof:
    """Build the proof for ``request`` from an unused credential and mark that credential used.

    With ``only``, just that type may be used (the one the resident agreed to). The caller
    saves the wallet *before* showing the proof, so a crash never lets a credential be shown twice.
    """
    for type_name in covering_types(request.claims):
        if only is not None and type_name != only:
            continue
        unused = [entry for entry in wallet.credentials if entry["type"] == type_name and not entry["used"]]
        if not unused:
            continue
        entry = unused[0]
        proof = present(
            parse_issued(entry["credential"]),
            disclose=list(request.claims),
            holder_key=signing_key_from_jwk(entry["device_key"]),
            audience=request.audience,
            nonce=request.nonce,
            now=now,
        )
        entry["used"] = True
        wallet.history.append(_history(request, policy_id, type_name, now))
        return Proof(encode_qr_text(proof, version=request.codec, answers_request=True), type_name, len(unused) - 1)
    raise _none_left()


def paper_credential(wallet: Wallet, claims: tuple[str, ...]) -> dict[str, Any]:
    """The unused credential a paper page for ``claims`` would use (not yet marked used).

    A page is printed to be shown later to a desk that reads only what it says, so a page that
    proves nothing useful is refused: every ``age_over_*`` claim it shows must be true (a
    senior-discount page saying "not yet 65" would spend a credential for nothing)."""
    for type_name in covering_types(claims):
        for entry in wallet.credentials:
            if entry["type"] != type_name or entry["used"]:
                continue
            values = parse_issued(entry["credential"]).claims
            false = [name for name in claims if name.startswith("age_over_") and values.get(name) is not True]
            if false:
                raise WalletError(
                    "cannot_prove",
                    f"your credentials say {', '.join(false)} is not true, so a page for this service would prove "
                    "nothing it needs: nothing was printed or used",
                )
            return entry
    raise WalletError("no_credential", "no unused credential can answer this policy")


def _history(request: DeskRequest, policy_id: str, type_name: str, now: int) -> dict[str, Any]:
    """What was shared, with whom and when: kept in the encrypted store, never sent anywhere."""
    return {"at": now, "policy": policy_id, "audience": request.audience, "claims": list(request.claims),
            "credential_type": type_name}  # fmt: skip
