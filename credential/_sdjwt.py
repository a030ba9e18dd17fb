"""SD-JWT mechanics from RFC 9901: disclosures, digests, and resolving them into claims.

One resolver, :func:`resolve_disclosures`, serves both the holder (to learn which claim
each disclosure carries) and the verifier (to rebuild the disclosed claims). It enforces
RFC 9901 section 7.1: each disclosure well-formed and referenced exactly once, no digest
used twice, no reserved claim names, no disclosed name colliding with a plain one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple

from ._encoding import b64url_decode, b64url_encode, compact_json, parse_json
from ._errors import DisclosureError, MalformedError, Reason
from ._jws import split_jws
from ._limits import Limits

VC_TYP = "dc+sd-jwt"
"""The ``typ`` of an SD-JWT VC's issuer-signed JWT (SD-JWT VC section 3.2.1)."""
KB_TYP = "kb+jwt"
"""The ``typ`` of a key-binding JWT (RFC 9901 section 4.3)."""
SD_KEY = "_sd"
SD_ALG_KEY = "_sd_alg"
ARRAY_ELEMENT_KEY = "..."
SD_ALG = "sha-256"
RESERVED_NAMES = frozenset({SD_KEY, ARRAY_ELEMENT_KEY})
# SD-JWT VC: these are never selectively disclosable (``iat`` and ``sub`` may be).
NEVER_DISCLOSABLE = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})


class StatusReference(NamedTuple):
    """Where a credential's revocation bit lives (IETF Token Status List)."""

    idx: int
    uri: str

    def to_claim(self) -> dict[str, Any]:
        """The ``status`` claim value."""
        return {"status_list": {"idx": self.idx, "uri": self.uri}}


ClaimPath = tuple[str | int, ...]
"""Where a claim sits: object member names and array indexes from the top level."""


def digest(disclosure: str) -> str:
    """The ``sha-256`` digest of a disclosure as it appears in ``_sd`` or ``...``."""
    return b64url_encode(hashlib.sha256(disclosure.encode("ascii")).digest())


def make_disclosure(salt: str, name: str | None, value: Any) -> str:
    """Encode ``[salt, name, value]`` (object member) or ``[salt, value]`` (array element)."""
    array = [salt, value] if name is None else [salt, name, value]
    return b64url_encode(compact_json(array))


class Resolved(NamedTuple):
    """Claims with every available disclosure put in place, and where each one went."""

    claims: dict[str, Any]
    paths: tuple[tuple[ClaimPath, str], ...]
    """``(path, disclosure)`` for every disclosure, in the order they were resolved."""


def _decode_disclosure(disclosure: str, limits: Limits, raw: bytes | None) -> list[Any]:
    try:
        decoded = parse_json(b64url_decode(disclosure) if raw is None else raw, limits, what="a disclosure")
    except MalformedError as exc:
        raise DisclosureError(Reason.MALFORMED_DISCLOSURE, f"a disclosure is malformed: {exc.message}") from exc
    if type(decoded) is list and len(decoded) == 3 and type(decoded[0]) is str and type(decoded[1]) is str:
        if decoded[1] in RESERVED_NAMES:  # the usual [salt, name, value]: the checks below, in short
            raise DisclosureError(
                Reason.RESERVED_CLAIM_NAME, f"a disclosure uses the reserved claim name {decoded[1]!r}"
            )
        return decoded
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
_CONTAINERS = (dict, list)


def _by_digest(
    disclosures: Sequence[str], limits: Limits, decoded: Sequence[bytes] | None, digests: Sequence[str] | None
) -> dict[str, Any]:
    """Each disclosure, decoded, under the digest that references it."""
    by_digest: dict[str, tuple[str, list[Any]]] = {}
    for index, disclosure in enumerate(disclosures):
        # digest(), inline (hot), unless the parser has just computed it
        key = b64url_encode(hashlib.sha256(disclosure.encode("ascii")).digest()) if digests is None else digests[index]
        if key in by_digest:
            raise DisclosureError(Reason.DUPLICATE_DISCLOSURE, "the same disclosure appears twice")
        raw = None if decoded is None else decoded[index]
        by_digest[key] = (disclosure, _decode_disclosure(disclosure, limits, raw))
    return by_digest


def _member_name(decoded: list[Any], siblings: dict[str, Any], *, top_level: bool) -> str:
    """The claim name of a disclosure referenced from an ``_sd`` array next to ``siblings``."""
    if len(decoded) != 3:
        raise DisclosureError(Reason.MALFORMED_DISCLOSURE, "an array-element disclosure is referenced from _sd")
    name: str = decoded[1]
    if name in siblings:
        raise DisclosureError(Reason.CLAIM_CONFLICT, f"disclosed claim {name!r} already exists")
    if top_level and name in NEVER_DISCLOSABLE:
        raise DisclosureError(Reason.RESERVED_CLAIM_NAME, f"{name!r} must not be selectively disclosed")
    return name


class _Resolver:
    """One pass over a payload, putting each referenced disclosure in its digest's place."""

    def __init__(self, by_digest: dict[str, tuple[str, list[Any]]], limits: Limits) -> None:
        self.by_digest = by_digest
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
            name = _member_name(decoded, out, top_level=not path)
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


def resolve_disclosures(
    payload: dict[str, Any],
    disclosures: Sequence[str],
    limits: Limits,
    decoded: Sequence[bytes] | None = None,
    digests: Sequence[str] | None = None,
) -> Resolved:
    """Rebuild the claims of ``payload`` from ``disclosures`` (RFC 9901, 7.1 steps 3-5);
    ``decoded`` holds their bytes and ``digests`` their digests when these are already known."""
    by_digest = _by_digest(disclosures, limits, decoded, digests)
    resolved = _resolve_flat(payload, by_digest)
    if resolved is None:
        resolver = _Resolver(by_digest, limits)
        resolved = Resolved(resolver.object(payload, ()), tuple(resolver.paths))
    if len(resolved.paths) != len(by_digest):
        raise DisclosureError(Reason.DIGEST_MISMATCH, "a disclosure matches no digest in the credential")
    resolved.claims.pop(SD_ALG_KEY, None)
    return resolved


def _resolve_flat(payload: dict[str, Any], by_digest: dict[str, tuple[str, list[Any]]]) -> Resolved | None:
    """What :class:`_Resolver` gives, for the common flat credential, in one short pass; None
    as soon as anything could hold nested digests (the resolver then starts over).

    Flat means no member outside the registered claims holds an object or array, and no
    disclosed value does either: then only the top-level ``_sd`` can reference disclosures,
    and the checks below are the resolver's, in its order.
    """
    for name in payload.keys() - _NOT_RESOLVED:
        if type(payload[name]) in _CONTAINERS and name != SD_KEY:
            return None
    claims = dict(payload)
    digests = claims.pop(SD_KEY, None)
    if digests is None:
        return Resolved(claims, ())
    if type(digests) is not list:
        raise DisclosureError(Reason.MALFORMED_DISCLOSURE, "_sd must be an array of digests")
    if set(map(type, digests)) != {str} or len(set(digests)) != len(digests):
        return None  # not all text, or repeated, or none: the resolver says which comes first
    paths: list[tuple[ClaimPath, str]] = []
    for item in digests:
        found = by_digest.get(item)
        if found is None:
            continue
        disclosure, decoded = found
        name = _member_name(decoded, claims, top_level=True)
        value = decoded[2]
        if type(value) in _CONTAINERS:
            return None
        paths.append(((name,), disclosure))
        claims[name] = value
    return Resolved(claims, tuple(paths))


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
    check_disclosure_count(len(disclosures), limits)
    if not jwt or "" in disclosures:
        raise MalformedError(Reason.MALFORMED, "not an SD-JWT: an empty part between '~' separators")
    return jwt, disclosures, last


def check_disclosure_count(count: int, limits: Limits) -> None:
    if count > limits.max_disclosures:
        raise MalformedError(Reason.TOO_LARGE, f"more than {limits.max_disclosures} disclosures")


class Presentation(NamedTuple):
    """A presentation split at its separators, the form verification works on.

    :func:`parse_presentation` makes one from a compact string; ``parse_qr_text`` makes one
    straight from QR text, where every segment's bytes are already known, so nothing is
    decoded twice. Segments stay exactly as sent: signatures and digests cover the text.
    """

    header: str
    """The issuer-signed JWT's header segment."""
    payload: str
    """Its payload segment."""
    signature: bytes
    """Its signature, decoded."""
    disclosures: Sequence[str]
    key_binding: str
    """The key-binding JWT as sent; empty when there is none."""
    covered: str
    """Everything up to and including the last ``~``: what ``sd_hash`` covers."""
    payload_bytes: bytes | None = None
    """The payload's bytes, when already decoded."""
    disclosure_bytes: Sequence[bytes] | None = None
    """Each disclosure's bytes, when already decoded."""
    key_binding_parts: tuple[str, str, bytes, bytes] | None = None
    """The key-binding JWT's header and payload segments, signature and payload bytes, when
    already decoded."""
    disclosure_digests: Sequence[str] | None = None
    """Each disclosure's digest (:func:`digest`), when the parser has just computed them."""
    sd_hash: str | None = None
    """The digest of ``covered`` (what ``sd_hash`` must be), when the parser has just computed it."""

    @property
    def compact(self) -> str:
        """The compact serialization, exactly as it was presented."""
        return self.covered + self.key_binding


def parse_presentation(presentation: str, limits: Limits) -> Presentation:
    """Split a compact presentation, bounded; the issuer-signed JWT must be a compact JWS."""
    jwt, disclosures, key_binding = split_presentation(presentation, limits)
    header, payload, signature = split_jws(jwt, "the credential")
    return Presentation(
        header, payload, signature, disclosures, key_binding, presentation[: len(presentation) - len(key_binding)]
    )


def sd_hash(jwt: str, disclosures: Sequence[str]) -> str:
    """The key-binding ``sd_hash``: digest of ``<jwt>~<d1>~...~<dn>~``."""
    presented = "~".join((jwt, *disclosures, ""))
    return b64url_encode(hashlib.sha256(presented.encode("ascii")).digest())
