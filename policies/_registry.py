"""The signed policy registry, and the check every wallet and desk makes against it.

The city's policy board signs the approved policies as one JWT (``typ``
``cityid-policies+jwt``) with a version and an issue date. Wallets and desks hold the board's
public key; they accept a desk request only when its policy is in a registry that verifies,
has not expired and is not older than one they have already seen, and when the request asks
for no claim the policy does not allow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from credential import DeskRequest, Limits, PolicyError, Reason, SigningKey, VerifyingKey, sign_jwt, verify_jwt

from ._claims import ClaimsCatalogue
from ._model import Finding, Policy, Severity, utc_day
from ._rules import check_policy, check_set
from ._validate import build_policy

REGISTRY_TYP = "cityid-policies+jwt"
REGISTRY_LIMITS = Limits(max_presentation_chars=512 * 1024, max_json_bytes=384 * 1024, max_json_depth=8)
MAX_REQUEST_LIFETIME = 86_400
CLOCK_SKEW = 300


@dataclass(frozen=True, slots=True)
class Registry:
    """A verified registry: the policies a wallet or desk may act on."""

    issuer: str
    version: int
    issued_at: int
    expires_at: int
    policies: Mapping[str, Policy]


class UnapprovedPoliciesError(Exception):
    """Some policies have errors, so the registry was not signed."""

    def __init__(self, errors: Sequence[Finding]) -> None:
        super().__init__(f"{len(errors)} error(s) block approval")
        self.errors = tuple(errors)


def sign_registry(
    policies: Sequence[Policy],
    key: SigningKey,
    *,
    issuer: str,
    version: int,
    now: int,
    lifetime: int,
    catalogue: ClaimsCatalogue,
) -> str:
    """Sign ``policies`` as registry ``version``; refuses (:class:`UnapprovedPoliciesError`) when
    any policy has an error under the minimization rules on the day of ``now``."""
    if key.kid is None:
        raise ValueError("the policy board's key needs a kid")
    if version < 1 or lifetime < 1 or not policies:
        raise ValueError("a registry needs a positive version and lifetime, and at least one policy")
    today = utc_day(now)
    findings = [f for policy in policies for f in check_policy(policy, catalogue=catalogue, today=today)]
    findings += check_set((policy, None) for policy in policies)
    if errors := [finding for finding in findings if finding.severity is Severity.ERROR]:
        raise UnapprovedPoliciesError(errors)
    payload: dict[str, Any] = {
        "iss": issuer,
        "iat": now,
        "exp": now + lifetime,
        "version": version,
        "policies": [policy.to_json() for policy in sorted(policies, key=lambda p: p.id)],
    }
    return sign_jwt({"alg": key.alg, "typ": REGISTRY_TYP, "kid": key.kid}, payload, key)


def _invalid(message: str) -> PolicyError:
    return PolicyError(Reason.INVALID_REGISTRY, f"the policy registry {message}")


def verify_registry(
    token: str, board_keys: Mapping[str, VerifyingKey], *, now: int, minimum_version: int = 0
) -> Registry:
    """The registry in ``token`` if the board signed it, it is current, and it is not older
    than ``minimum_version`` (the newest one this device has seen: no rollback)."""
    payload = verify_jwt(token, board_keys, typ=REGISTRY_TYP, what="the policy registry", limits=REGISTRY_LIMITS)
    issuer, version = payload.get("iss"), payload.get("version")
    issued_at, expires_at, entries = payload.get("iat"), payload.get("exp"), payload.get("policies")
    if not isinstance(issuer, str) or not issuer:
        raise _invalid("names no issuer")
    if type(version) is not int or version < 1:
        raise _invalid("has no valid version")
    if type(issued_at) is not int or type(expires_at) is not int:
        raise _invalid("needs iat and exp as whole seconds")
    if not isinstance(entries, list) or not entries:
        raise _invalid("lists no policies")
    if issued_at > now + CLOCK_SKEW:
        raise _invalid("is dated in the future")
    if expires_at <= now:
        raise PolicyError(Reason.REGISTRY_EXPIRED, "the policy registry has expired: sync a newer one")
    if version < minimum_version:
        raise PolicyError(
            Reason.REGISTRY_ROLLBACK,
            f"the policy registry is version {version}, older than version {minimum_version} already seen",
        )
    policies: dict[str, Policy] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise _invalid("has an entry that is not a policy")
        policy, findings = build_policy(entry)
        if policy is None:
            raise _invalid(f"has an invalid policy: {findings[0].message}")
        if policy.to_json() != entry:
            raise _invalid(f"has policy '{policy.id}' in a form other than the canonical one")
        if policy.id in policies:
            raise _invalid(f"lists policy '{policy.id}' twice")
        policies[policy.id] = policy
    return Registry(issuer, version, issued_at, expires_at, MappingProxyType(policies))


class RequestExpiredError(PolicyError):
    """``request_expired``, with the ``moment`` it expired: a wallet whose clock is ahead sees
    every fresh request as expired, so the wallet compares that moment with its own time."""

    def __init__(self, moment: int) -> None:
        super().__init__(Reason.REQUEST_EXPIRED, "the desk's request has expired: ask the desk for a new one")
        self.moment = moment


def check_request(request: DeskRequest, registry: Registry, *, now: int) -> Policy:
    """The policy that allows ``request``; raises :class:`PolicyError` with the reason otherwise."""
    if request.expires_at <= now:
        raise RequestExpiredError(request.expires_at)
    if request.expires_at > now + MAX_REQUEST_LIFETIME:
        raise PolicyError(Reason.INVALID_REQUEST, "the desk's request claims to be valid for more than a day")
    policy = registry.policies.get(request.policy)
    if policy is None:
        raise PolicyError(
            Reason.UNKNOWN_POLICY, f"the desk names policy '{request.policy}', which the policy registry does not list"
        )
    if not policy.is_valid_on(utc_day(now)):
        raise PolicyError(Reason.POLICY_EXPIRED, f"policy '{policy.id}' expired on {policy.valid_until.isoformat()}")
    if not policy.claim_name_set.issuperset(request.claims):
        extra = [name for name in request.claims if name not in policy.claim_name_set]
        raise PolicyError(
            Reason.CLAIMS_EXCEED_POLICY,
            f"the desk asks for {', '.join(extra)}, which policy '{policy.id}' does not allow",
        )
    return policy
