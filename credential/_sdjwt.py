"""SD-JWT mechanics from RFC 9901: disclosures, digests, and resolving them into claims.

One resolver, :func:`resolve_disclosures`, serves both the holder (to learn which claim
each disclosure carries) and the verifier (to rebuild the disclosed claims). It enforces
RFC 9901 section 7.1: each disclosure well-formed and referenced exactly once, no digest
used twice, no reserved claim names, no disclosed name colliding with a plain one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._encoding import b64url_decode, b64url_encode, compact_json, parse_json
from ._errors import DisclosureError, MalformedError, Reason
from ._limits import Limits

SD_KEY = "_sd"
SD_ALG_KEY = "_sd_alg"
ARRAY_ELEMENT_KEY = "..."
SD_ALG = "sha-256"
RESERVED_NAMES = frozenset({SD_KEY, ARRAY_ELEMENT_KEY})
# SD-JWT VC: these are never selectively disclosable (``iat`` and ``sub`` may be).
NEVER_DISCLOSABLE = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})

ClaimPath = tuple[str | int, ...]
"""Where a claim sits: object member names and array indexes from the top level."""


def digest(disclosure: str) -> str:
    """The ``sha-256`` digest of a disclosure as it appears in ``_sd`` or ``...``."""
    return b64url_encode(hashlib.sha256(disclosure.encode("ascii")).digest())


def make_disclosure(salt: str, name: str | None, value: Any) -> str:
    """Encode ``[salt, name, value]`` (object member) or ``[salt, value]`` (array element)."""
    array = [salt, value] if name is None else [salt, name, value]
    return b64url_encode(compact_json(array))


@dataclass(frozen=True, slots=True)
class Resolved:
    """Claims with every available disclosure put in place, and where each one went."""

    claims: dict[str, Any]
    paths: tuple[tuple[ClaimPath, str], ...]
    """``(path, disclosure)`` for every disclosure, in the order they were resolved."""


def _decode_disclosure(disclosure: str, limits: Limits) -> list[Any]:
    try:
        decoded = parse_json(b64url_decode(disclosure), limits, what="a disclosure")
    except MalformedError as exc:
        raise DisclosureError(Reason.MALFORMED_DISCLOSURE, f"a disclosure is malformed: {exc.message}") from exc
    if not isinstance(decoded, list) or len(decoded) not in (2, 3) or not isinstance(decoded[0], str):
        raise DisclosureError(Reason.MALFORMED_DISCLOSURE, "a disclosure must be [salt, name, value] or [salt, value]")
    if len(decoded) == 3:
        name = decoded[1]
        if not isinstance(name, str):
            raise DisclosureError(Reason.MALFORMED_DISCLOSURE, "a disclosed claim name must be a string")
        if name in RESERVED_NAMES:
            raise DisclosureError(Reason.RESERVED_CLAIM_NAME, f"a disclosure uses the reserved claim name {name!r}")
    return decoded


_NOT_RESOLVED = NEVER_DISCLOSABLE | {"iat", SD_ALG_KEY}


class _Resolver:
    """One pass over a payload, putting each referenced disclosure in its digest's place."""

    def __init__(self, disclosures: Sequence[str], limits: Limits) -> None:
        self.by_digest: dict[str, tuple[str, list[Any]]] = {}
        for disclosure in disclosures:
            key = digest(disclosure)
            if key in self.by_digest:
                raise DisclosureError(Reason.DUPLICATE_DISCLOSURE, "the same disclosure appears twice")
            self.by_digest[key] = (disclosure, _decode_disclosure(disclosure, limits))
        self.max_depth = limits.max_claims_depth
        self.seen: set[str] = set()
        self.paths: list[tuple[ClaimPath, str]] = []

    def value(self, node: Any, path: ClaimPath) -> Any:
        if type(node) is dict:
            return self.object(node, path)
        if type(node) is list:
            return self.array(node, path)
        return node

    def _claim(self, item: Any) -> tuple[str, list[Any]] | None:
        """The disclosure for a digest, or None for an undisclosed or decoy digest."""
        if type(item) is not str:
            raise DisclosureError(Reason.MALFORMED_DISCLOSURE, "a digest must be a string")
        if item in self.seen:
            raise DisclosureError(Reason.DUPLICATE_DIGEST, "a digest appears more than once")
        self.seen.add(item)
        return self.by_digest.get(item)

    def object(self, node: dict[str, Any], path: ClaimPath) -> dict[str, Any]:
        if len(path) > self.max_depth:
            raise MalformedError(Reason.TOO_DEEP, f"claims are nested more than {self.max_depth} levels")
        out: dict[str, Any] = {}
        for name, value in node.items():
            if name == SD_KEY:
                continue
            # At the top, registered claims (cnf, status, ...) hold no disclosures: kept as they are.
            out[name] = value if not path and name in _NOT_RESOLVED else self.value(value, (*path, name))
        digests = node.get(SD_KEY)
        if digests is None:
            return out
        if type(digests) is not list:
            raise DisclosureError(Reason.MALFORMED_DISCLOSURE, "_sd must be an array of digests")
        for item in digests:
            found = self._claim(item)
            if found is None:
                continue
            disclosure, decoded = found
            if len(decoded) != 3:
                raise DisclosureError(Reason.MALFORMED_DISCLOSURE, "an array-element disclosure is referenced from _sd")
            name = decoded[1]
            if name in out:
                raise DisclosureError(Reason.CLAIM_CONFLICT, f"disclosed claim {name!r} already exists")
            if not path and name in NEVER_DISCLOSABLE:
                raise DisclosureError(Reason.RESERVED_CLAIM_NAME, f"{name!r} must not be selectively disclosed")
            self.paths.append(((*path, name), disclosure))
            out[name] = self.value(decoded[2], (*path, name))
        return out

    def array(self, node: list[Any], path: ClaimPath) -> list[Any]:
        if len(path) > self.max_depth:
            raise MalformedError(Reason.TOO_DEEP, f"claims are nested more than {self.max_depth} levels")
        out = []
        for index, element in enumerate(node):
            if type(element) is dict and len(element) == 1 and ARRAY_ELEMENT_KEY in element:
                found = self._claim(element[ARRAY_ELEMENT_KEY])
                if found is None:
                    continue
                disclosure, decoded = found
                if len(decoded) != 2:
                    raise DisclosureError(
                        Reason.MALFORMED_DISCLOSURE, "an object-member disclosure is referenced from '...'"
                    )
                self.paths.append(((*path, index), disclosure))
                out.append(self.value(decoded[1], (*path, index)))
            else:
                out.append(self.value(element, (*path, index)))
        return out


def resolve_disclosures(payload: dict[str, Any], disclosures: Sequence[str], limits: Limits) -> Resolved:
    """Rebuild the claims of ``payload`` from ``disclosures`` (RFC 9901, 7.1 steps 3-5)."""
    resolver = _Resolver(disclosures, limits)
    claims = resolver.object(payload, ())
    if len(resolver.paths) != len(resolver.by_digest):
        raise DisclosureError(Reason.DIGEST_MISMATCH, "a disclosure matches no digest in the credential")
    claims.pop(SD_ALG_KEY, None)
    return Resolved(claims, tuple(resolver.paths))


def split_presentation(presentation: str, limits: Limits) -> tuple[str, list[str], str]:
    """Split ``<jwt>~<disclosure>~...~<kb-jwt or empty>`` into its three parts, bounded."""
    if len(presentation) > limits.max_presentation_chars:
        raise MalformedError(
            Reason.TOO_LARGE, f"the presentation is longer than {limits.max_presentation_chars} characters"
        )
    if not presentation.isascii():
        raise MalformedError(Reason.BAD_ENCODING, "the presentation is not ASCII")
    parts = presentation.split("~")
    if len(parts) < 2:
        raise MalformedError(Reason.MALFORMED, "not an SD-JWT: no '~' separator")
    jwt, disclosures, last = parts[0], parts[1:-1], parts[-1]
    if len(disclosures) > limits.max_disclosures:
        raise MalformedError(Reason.TOO_LARGE, f"more than {limits.max_disclosures} disclosures")
    if not jwt or "" in disclosures:
        raise MalformedError(Reason.MALFORMED, "not an SD-JWT: an empty part between '~' separators")
    return jwt, disclosures, last


def sd_hash(jwt: str, disclosures: Sequence[str]) -> str:
    """The key-binding ``sd_hash``: digest of ``<jwt>~<d1>~...~<dn>~``."""
    presented = "~".join((jwt, *disclosures, ""))
    return b64url_encode(hashlib.sha256(presented.encode("ascii")).digest())
