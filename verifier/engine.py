"""The desk's verification engine: a proof, the desk's request or policy, the cached trust.

Offline and in memory only. A :class:`Desk` holds a :class:`Trust` (issuer keys, signed status
lists, the policy registry, all verified when they were synced) and a :class:`ReplayGuard`, the
nonces of the proofs it has accepted, which outlives a trust swap (pass it to the next Desk).
:meth:`Desk.check` answers one proof with a :class:`DeskResult`: valid or the reason, and only
the claims the desk's policy allows (anything else the proof discloses is dropped and named in
``dropped``). It never raises for a bad proof, never writes, never opens a connection.

Three kinds of proof:

* an answer to this desk's request (``request=``): bound to its nonce and audience;
* an offline proof (``cityid wallet show``): bound to ``cityid:offline:<policy>`` and fresh
  within two minutes; its nonce is remembered so it cannot be shown twice, and one made before
  the guard started (a restarted desk, which cannot know what it accepted before) is refused;
* paper (no key binding): only when the policy ``accepts_paper``, and reported as not bound.

Example::

    desk = Desk(trust)
    request = desk.new_request("library-card", audience="desk:library-central", now=now)
    result = desk.check(qr_text, request=request, now=now)
    if result.valid: show(result.claims)
"""

from __future__ import annotations

import heapq
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from credential import (
    DEFAULT_LIMITS,
    DEFAULT_OPTIONS,
    NEWEST_PROOF_CODEC,
    CredentialError,
    DeskRequest,
    KeyBindingError,
    KeySet,
    MalformedError,
    PolicyError,
    Presentation,
    QrContext,
    Reason,
    StatusListToken,
    VerifyOptions,
    check_status,
    is_qr_text,
    new_request,
    offline_audience,
    parse_presentation,
    parse_qr_text,
    qr_context,
    verify_presentation,
)
from credential._encoding import b64url_decode, parse_json_object
from edges.words import CLOCK_DOUBT, CLOCK_REASONS, clock_in_doubt
from policies import Policy, Registry, check_request, utc_day

OFFLINE_MAX_AGE = 120
REQUEST_PROOF_MAX_AGE = 86_400  # a request lives at most a day (policies.check_request)
_OPTIONS = {age: VerifyOptions(max_kb_age=age) for age in (OFFLINE_MAX_AGE, REQUEST_PROOF_MAX_AGE)}
REPLAY_MEMORY = 100_000
"""How many accepted proofs a desk remembers at once; when they are all still fresh, it refuses."""


@dataclass(frozen=True, slots=True)
class Trust:
    """What a desk relies on, verified at sync time."""

    issuer_keys: KeySet
    status_lists: Mapping[str, StatusListToken]
    registry: Registry
    synced_at: int
    known_strings: frozenset[str] = frozenset()
    """Strings of the trust bundle a ``CID2:`` proof may leave out: each type's ``vct#integrity``."""


class DeskResult(NamedTuple):
    """A desk's answer to one proof (a NamedTuple: made on every check, so it is kept cheap)."""

    valid: bool
    reason: str
    message: str
    policy: str | None = None
    claims: Mapping[str, Any] = MappingProxyType({})
    dropped: tuple[str, ...] = ()
    """Claims the proof disclosed that the policy does not allow: not shown, only named."""
    issuer: str | None = None
    vct: str | None = None
    device_bound: bool | None = None
    clock_doubt: bool = False
    """A refusal about time whose moment is near now: this device's clock may be wrong
    (``edges.words.clock_in_doubt``); the desk page and ``verifier check`` then say so."""

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "reason": self.reason,
            "message": self.message,
            "policy": self.policy,
            "claims": dict(self.claims),
            "dropped": list(self.dropped),
            "issuer": self.issuer,
            "vct": self.vct,
            "device_bound": self.device_bound,
            "clock_doubt": self.clock_doubt,
        }


def _refused(reason: str, message: str, policy: str | None = None) -> DeskResult:
    return DeskResult(False, reason, message, policy)


class ReplayGuard:
    """The nonces of the proofs a desk accepted, each kept until its proof could no longer be
    fresh. Thread-safe, in memory only (the desk writes nothing), so it cannot know what an
    earlier run accepted: with ``started_at``, an offline proof whose key binding was made
    before then (less the clock skew allowed) is refused; ``None`` for a one-shot check, which
    remembers nothing anyway. It never forgets a live entry: when ``capacity`` entries are all
    still fresh, the next proof is refused until the oldest expire."""

    def __init__(self, *, started_at: int | None, capacity: int = REPLAY_MEMORY) -> None:
        self.started_at, self.capacity = started_at, capacity
        self._until: dict[str, int] = {}
        self._expiry: list[tuple[int, str]] = []  # a heap: the first entry to expire on top
        self._lock = threading.Lock()

    def check_start(self, issued_at: float | None) -> None:
        """Refuse a proof made before this memory began (its key binding's iat, verified by then)."""
        if self.started_at is None:
            return
        if issued_at is None or issued_at < self.started_at - DEFAULT_OPTIONS.clock_skew:
            raise KeyBindingError(Reason.MADE_BEFORE_START, "the proof was made before this desk started: it may "
                                  "have been shown here already; ask for a fresh one")  # fmt: skip

    def remember(self, key: str, *, until: int, now: int) -> None:
        """Refuse a key seen before (ECDSA signatures are malleable: never key on the bytes),
        and refuse rather than forget when full. Expired entries leave first."""
        with self._lock:
            expiry, seen = self._expiry, self._until
            while expiry and expiry[0][0] < now:
                del seen[heapq.heappop(expiry)[1]]
            if key in seen:
                raise PolicyError(Reason.REPLAYED, "this proof was already shown here")
            if len(seen) >= self.capacity:
                raise PolicyError(Reason.REPLAY_MEMORY_FULL, "the desk remembers as many proofs as it can; try "
                                  "again in a minute")  # fmt: skip
            seen[key] = until
            heapq.heappush(expiry, (until, key))


class Desk:
    """One desk's verifier: trust, replay guard, and the checks. Thread-safe.

    ``replay`` defaults to a guard that starts now; give the previous desk's to keep its
    memory across a sync."""

    def __init__(self, trust: Trust, *, replay: ReplayGuard | None = None) -> None:
        self.trust = trust
        self.replay = replay or ReplayGuard(started_at=int(time.time()))
        self._known = qr_context(known=trust.known_strings).known

    def qr_context(self, request: DeskRequest | None) -> QrContext:
        """What this desk can put back into a ``CID2:`` proof: its request's nonce and audience
        (none for an offline or paper proof) and its trust bundle's strings."""
        if request is None:
            return QrContext(known=self._known)
        return QrContext(request.nonce, request.audience, self._known)

    def new_request(
        self,
        policy: str,
        *,
        audience: str,
        now: int,
        lifetime: int = 300,
        claims: tuple[str, ...] | None = None,
        codec: int = NEWEST_PROOF_CODEC,
    ) -> DeskRequest:
        """A fresh request for ``policy`` (all its claims unless fewer are given), checked;
        ``codec`` 1 asks for ``CID1:`` proofs, for wallets older than ``CID2:``."""
        approved = self.trust.registry.policies.get(policy)
        if approved is None:
            raise PolicyError(Reason.UNKNOWN_POLICY, f"policy {policy!r} is not in the registry")
        request = new_request(policy=policy, claims=claims or approved.claim_names, audience=audience, now=now,
                              lifetime=lifetime, random_bytes=secrets.token_bytes(16), codec=codec)  # fmt: skip
        check_request(request, self.trust.registry, now=now)
        return request

    def check(
        self, proof: str, *, now: int, request: DeskRequest | None = None, policy: str | None = None
    ) -> DeskResult:
        """Check ``proof`` (QR text or compact SD-JWT) for ``request``, or, without a request,
        as an offline or paper proof for ``policy``."""
        policy_id = request.policy if request is not None else policy
        try:
            return self._check(proof, now=now, request=request, policy_id=policy_id)
        except CredentialError as exc:
            reason = exc.reason.value
            moment = self._moment_of(reason, proof, now=now, request=request, policy_id=policy_id)
            doubt = clock_in_doubt(reason, moment=moment, now=now)
            return DeskResult(False, reason, exc.message, policy_id, clock_doubt=doubt)
        except Exception:
            return _refused("internal_error", "the proof could not be checked (internal error)", policy_id)

    def _check(self, proof: str, *, now: int, request: DeskRequest | None, policy_id: str | None) -> DeskResult:
        if policy_id is None:
            raise PolicyError(Reason.UNKNOWN_POLICY, "the desk has no policy to check against")
        parts = _parts(proof, self.qr_context(request))
        if request is not None:
            approved = check_request(request, self.trust.registry, now=now)
            nonce: str | None = request.nonce
            audience, wanted, issued_at = request.audience, request.claims, None
            max_age = REQUEST_PROOF_MAX_AGE  # the random nonce already proves it was made for this request
            until = request.expires_at  # a proof for an expired request is refused anyway
        else:
            approved = self._policy(policy_id, now)
            audience, max_age, wanted = offline_audience(approved.id), OFFLINE_MAX_AGE, approved.claim_names
            nonce, issued_at = _key_binding_claims(parts)
            until = now + max_age + 2 * DEFAULT_OPTIONS.clock_skew  # its iat may be up to a skew ahead of now
        paper = not parts.key_binding
        if paper and not approved.accepts_paper:
            raise PolicyError(Reason.PAPER_NOT_ACCEPTED, f"policy {approved.id!r} does not accept paper proofs")
        verified = verify_presentation(
            parts, issuer_keys=self.trust.issuer_keys, audience=audience, nonce=nonce or "-", now=now,
            options=_OPTIONS[max_age], unsafe_skip_key_binding=paper,
        )  # fmt: skip
        if verified.status is not None:
            check_status(verified.status, self.trust.status_lists, now=now, max_age=approved.max_status_age)
        elif not paper:
            raise PolicyError(Reason.STATUS_UNAVAILABLE, "the credential has no status: it could not be revoked")
        if not paper and nonce is not None:
            if request is None:
                self.replay.check_start(issued_at)
            self.replay.remember(audience + "|" + nonce, until=until, now=now)
        claims = verified.claims
        shown = {name: claims[name] for name in wanted if name in claims}
        dropped = tuple(sorted(claims.keys() - shown.keys())) if len(shown) != len(claims) else ()
        return DeskResult(True, "ok", "The proof is valid.", approved.id, shown, dropped, verified.issuer,
                          verified.vct, verified.key_bound)  # fmt: skip

    def _moment_of(
        self, reason: str, proof: str, *, now: int, request: DeskRequest | None, policy_id: str | None
    ) -> float | None:
        """The moment a time refusal was judged by: the request's or credential's expiry, an
        issue time in the future, or, just after a sync, when the status list stopped being
        enough (a list synced minutes ago that is already stale says the clock). Read again from
        the proof (its signature was already checked, or the refusal would be another) only to
        word the refusal; ``None`` when the refusal is not about time or the moment is unknown."""
        if reason not in CLOCK_REASONS:
            return None
        if reason == "request_expired":
            return request.expires_at if request is not None else None
        if reason == "status_stale" and now - self.trust.synced_at > CLOCK_DOUBT:
            return None  # not synced lately: the list is simply old, whatever the clock says
        try:
            parts = _parts(proof, self.qr_context(request))
            claims = parse_json_object(parts.payload_bytes or b64url_decode(parts.payload), DEFAULT_LIMITS,
                                       what="the credential")  # fmt: skip
            if reason != "status_stale":
                return _credential_moment(reason, parts, claims, now)
            token = self.trust.status_lists.get(claims["status"]["status_list"]["uri"])
            policy = self.trust.registry.policies.get(policy_id or "")
        except (CredentialError, KeyError, TypeError, ValueError):
            return None
        return _status_moment(token, policy, now) if token is not None and policy is not None else None

    def _policy(self, policy_id: str, now: int) -> Policy:
        approved = self.trust.registry.policies.get(policy_id)
        if approved is None:
            raise PolicyError(Reason.UNKNOWN_POLICY, f"policy {policy_id!r} is not in the registry")
        if not approved.is_valid_on(utc_day(now)):
            raise PolicyError(Reason.POLICY_EXPIRED, f"policy {policy_id!r} expired on {approved.valid_until}")
        return approved


def _parts(proof: str, context: QrContext) -> Presentation:
    text = proof.strip()
    return parse_qr_text(text, context=context) if is_qr_text(text) else parse_presentation(text, DEFAULT_LIMITS)


def _credential_moment(reason: str, parts: Presentation, claims: Mapping[str, Any], now: int) -> float | None:
    """For :meth:`Desk._moment_of`: the credential's expiry, its issue or start time ahead of
    ``now``, or the key binding's issue time ahead of ``now``."""
    if reason == "expired":
        return _number(claims.get("exp"))
    if reason == "not_yet_valid":
        return max((t for t in (_number(claims.get("nbf")), _number(claims.get("iat"))) if t and t > now), default=None)
    issued_at = _key_binding_claims(parts)[1]  # kb_not_fresh: only one from the future says clock
    return issued_at if issued_at is not None and issued_at > now else None


def _status_moment(token: StatusListToken, policy: Policy, now: int) -> int:
    """When a stale status list stopped being enough: its ``exp``, or its ``iat`` plus the policy's age."""
    if token.expires_at is not None and now >= token.expires_at:
        return token.expires_at
    return token.issued_at + policy.max_status_age


def _number(value: object) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _key_binding_claims(parts: Presentation) -> tuple[str | None, float | None]:
    """The nonce and iat of a proof's key-binding JWT, read before it is verified (both are
    then checked: the nonce against the audience's, the iat for freshness)."""
    if not parts.key_binding:
        return None, None
    if parts.key_binding_parts is not None:
        payload = parts.key_binding_parts[3]
    else:
        pieces = parts.key_binding.split(".")
        if len(pieces) != 3:
            raise MalformedError(Reason.MALFORMED, "the key binding is not a compact JWS")
        payload = b64url_decode(pieces[1])
    claims = parse_json_object(payload, DEFAULT_LIMITS, what="the key binding")
    nonce, issued_at = claims.get("nonce"), claims.get("iat")
    if not isinstance(nonce, str) or len(nonce) < 16:
        raise KeyBindingError(Reason.NONCE_MISMATCH, "an offline proof needs a random nonce")
    number = isinstance(issued_at, int | float) and not isinstance(issued_at, bool)
    return nonce, issued_at if number else None
