"""A policy as an OpenID4VP 1.0 DCQL query, so a wallet that is not cityid's can answer a desk.

The query asks for exactly what the policy asks for: one ``dc+sd-jwt`` credential of a cityid
type that carries every claim (``meta.vct_values``), each claim by its top-level path, and a
key-binding proof. The types are listed least revealing first, as the cityid wallet chooses
them; DCQL gives that order no meaning, so another wallet may pick either type (it still
discloses only the claims asked for).

The rest of a policy has no place in DCQL, and none is invented for it: the purpose, the
retention, the legal basis and the verifier's name are for the consent screen (the signed
registry), and the desk's audience and nonce belong to the OpenID4VP request around the query
(``client_id`` and ``nonce``), not to the query. docs/interop.md lists each of these.

Value matching (``values``) is left out on purpose: a wallet honouring ``values: [true]`` on
``age_over_21`` would withhold a "no", and the desk would see no answer instead of one.
"""

from __future__ import annotations

from typing import Any

from credential import CREDENTIAL_TYPES, CredentialType

from ._model import Policy

SD_JWT_VC_FORMAT = "dc+sd-jwt"
"""The OpenID4VP 1.0 Credential Format Identifier for IETF SD-JWT VC, and our ``typ``."""


class DcqlMappingError(ValueError):
    """The policy cannot be one DCQL credential query; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def covering_types(claim_names: tuple[str, ...]) -> list[CredentialType]:
    """The cityid credential types carrying every claim named, fewest claims first."""
    fitting = [kind for kind in CREDENTIAL_TYPES.values() if set(claim_names) <= set(kind.claims)]
    return sorted(fitting, key=lambda kind: len(kind.claims))


def dcql_query(policy: Policy) -> dict[str, Any]:
    """The DCQL query (the ``dcql_query`` request parameter) a desk of ``policy`` would send.

    Keys come in the order OpenID4VP 1.0 defines them, so the JSON is the same on every run.
    Raises :class:`DcqlMappingError` (``no_single_credential``) when no one credential type
    carries all the claims: a cityid desk takes one proof, and the audit refuses such a policy.
    """
    if not policy.claim_names:
        raise DcqlMappingError("no_single_credential", f"policy '{policy.id}' asks for no claims")
    types = covering_types(policy.claim_names)
    if not types:
        raise DcqlMappingError(
            "no_single_credential",
            f"policy '{policy.id}': no single cityid credential type carries all of "
            f"{', '.join(policy.claim_names)}, so one proof could not answer it",
        )
    return {
        "credentials": [
            {
                "id": policy.id,
                "format": SD_JWT_VC_FORMAT,
                "meta": {"vct_values": [kind.vct for kind in types]},
                "require_cryptographic_holder_binding": True,
                "claims": [{"path": [name]} for name in policy.claim_names],
            }
        ]
    }
