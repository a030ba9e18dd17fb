"""Answering a desk's request: pick an unused credential that can, and disclose only what was asked.

Every proof uses a credential that was never shown before (its own device key, signature and
status index), so two desks comparing notes cannot tell they saw the same resident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cityid.keyfile import signing_key_from_jwk
from credential import CREDENTIAL_TYPES, DeskRequest, encode_qr_text, parse_issued, present

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


def answer(wallet: Wallet, request: DeskRequest, *, now: int, policy_id: str) -> Proof:
    """Build the proof for ``request`` from an unused credential and mark that credential used.

    The caller saves the wallet *before* showing the proof, so a crash never lets a
    credential be shown twice.
    """
    for type_name in covering_types(request.claims):
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
        return Proof(encode_qr_text(proof), type_name, len(unused) - 1)
    raise WalletError(
        "no_credential",
        "no unused credential can answer this request: ask a clerk for a new batch (cityid wallet receive)",
    )


def _history(request: DeskRequest, policy_id: str, type_name: str, now: int) -> dict[str, Any]:
    """What was shared, with whom and when: kept in the encrypted store, never sent anywhere."""
    return {"at": now, "policy": policy_id, "audience": request.audience, "claims": list(request.claims),
            "credential_type": type_name}  # fmt: skip
