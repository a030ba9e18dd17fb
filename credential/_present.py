"""Presentation: the holder picks disclosures and signs a key-binding JWT over them.

Choosing a claim discloses it, every claim inside it, and the containers it sits in
(``("address", "locality")`` brings the ``address`` disclosure but not ``street_address``).
Asking for part of a claim that can only be disclosed whole is refused rather than
silently disclosing more than was chosen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._encoding import b64url_decode, parse_json_object
from ._errors import MalformedError, Reason, UsageError
from ._jws import checked_header, sign_jwt, split_jws
from ._keys import SUPPORTED_ALGORITHMS, SigningKey
from ._limits import DEFAULT_LIMITS, Limits
from ._sdjwt import KB_TYP, VC_TYP, ClaimPath, resolve_disclosures, sd_hash, split_presentation


@dataclass(frozen=True, slots=True)
class HeldCredential:
    """An issued credential as its holder keeps it: every disclosure, nothing verified."""

    jwt: str
    disclosures: tuple[str, ...]
    payload: dict[str, Any]
    claims: dict[str, Any]
    """Every claim with all disclosures resolved (registered claims included)."""
    paths: tuple[tuple[ClaimPath, str], ...]
    """``(claim path, disclosure)`` for every disclosure."""

    @property
    def vct(self) -> str | None:
        value = self.payload.get("vct")
        return value if isinstance(value, str) else None

    def select(self, disclose: Iterable[str | ClaimPath]) -> tuple[str, ...]:
        """The disclosures that reveal exactly ``disclose``, in issuance order."""
        wanted = [(path,) if isinstance(path, str) else tuple(path) for path in disclose]
        for path in wanted:
            self._check_selectable(path)
        chosen = {
            disclosure for claim_path, disclosure in self.paths if any(_related(claim_path, path) for path in wanted)
        }
        return tuple(disclosure for disclosure in self.disclosures if disclosure in chosen)

    def _check_selectable(self, path: ClaimPath) -> None:
        if any(claim_path[: len(path)] == path for claim_path, _ in self.paths):
            return  # a disclosure, or a container of disclosures
        if any(path[: len(claim_path)] == claim_path for claim_path, _ in self.paths):
            raise UsageError(Reason.UNKNOWN_CLAIM, f"{_spelled(path)} can only be disclosed whole, with its parent")
        node: Any = self.claims
        for step in path:
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                raise UsageError(Reason.UNKNOWN_CLAIM, f"the credential has no claim {_spelled(path)}") from None
        # Present but not selectively disclosable: always visible, nothing to add.


def _related(claim_path: ClaimPath, wanted: ClaimPath) -> bool:
    """True when ``claim_path`` is ``wanted``, inside it, or one of its containers."""
    shorter = min(len(claim_path), len(wanted))
    return claim_path[:shorter] == wanted[:shorter]


def _spelled(path: ClaimPath) -> str:
    return ".".join(map(str, path))


def parse_issued(issued: str, *, limits: Limits = DEFAULT_LIMITS) -> HeldCredential:
    """Read an issued ``<jwt>~<disclosures>~`` without verifying it (the wallet's own copy)."""
    jwt, disclosures, key_binding = split_presentation(issued, limits)
    if key_binding:
        raise MalformedError(Reason.MALFORMED, "an issued credential ends with '~', not a key-binding JWT")
    header_segment, payload_segment, _ = split_jws(jwt, "the credential")
    checked_header(header_segment, VC_TYP, SUPPORTED_ALGORITHMS, limits, "the credential")
    payload = parse_json_object(b64url_decode(payload_segment), limits, what="the credential payload")
    resolved = resolve_disclosures(payload, disclosures, limits)
    return HeldCredential(jwt, tuple(disclosures), payload, resolved.claims, resolved.paths)


def present(
    credential: HeldCredential | str,
    *,
    disclose: Iterable[str | ClaimPath],
    holder_key: SigningKey,
    audience: str,
    nonce: str,
    now: int,
    limits: Limits = DEFAULT_LIMITS,
) -> str:
    """Build ``<jwt>~<chosen disclosures>~<kb-jwt>`` for one verifier's ``audience`` and ``nonce``.

    A top-level claim is named by a string; a nested one by a tuple path such as
    ``("address", "locality")``. ``holder_key`` must be the key the credential is bound to.
    """
    held = parse_issued(credential, limits=limits) if isinstance(credential, str) else credential
    cnf = held.payload.get("cnf")
    bound = cnf.get("jwk") if isinstance(cnf, dict) else None
    expected = holder_key.public_jwk()
    if not isinstance(bound, dict) or {name: bound.get(name) for name in expected} != expected:
        raise UsageError(Reason.INVALID_CLAIMS, "holder_key is not the key this credential is bound to")
    chosen = held.select(disclose)
    kb_payload = {"iat": now, "aud": audience, "nonce": nonce, "sd_hash": sd_hash(held.jwt, chosen)}
    key_binding = sign_jwt({"alg": holder_key.alg, "typ": KB_TYP}, kb_payload, holder_key)
    return "~".join((held.jwt, *chosen, key_binding))


def present_on_paper(
    credential: HeldCredential | str, *, disclose: Iterable[str | ClaimPath], limits: Limits = DEFAULT_LIMITS
) -> str:
    """``<jwt>~<chosen disclosures>~`` with no key binding: a proof for paper.

    Anyone holding the paper can show it, so a desk accepts it only under a policy that
    ``accepts_paper``, verifying with ``unsafe_skip_key_binding`` and saying it is not bound.
    """
    held = parse_issued(credential, limits=limits) if isinstance(credential, str) else credential
    return "~".join((held.jwt, *held.select(disclose), ""))
