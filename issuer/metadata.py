"""What the issuer says about itself, in the shapes OpenID4VCI 1.0 and RFC 8414 give.

Pure functions of the settings: the credential issuer metadata (each credential configuration
with its ``scope`` and, under ``credential_metadata``, its display name and claim labels in
every language the city serves), and the authorization server metadata for the pre-authorized
code grant (with DPoP). Wallets of other makers read these to decide how to ask.
"""

from __future__ import annotations

from typing import Any

from credential import CredentialType
from edges.i18n import LANGUAGES, translator
from edges.words import claim_label

from . import service
from .dpop import DPOP_ALGORITHMS
from .settings import IssuerSettings
from .typemetadata import display_name, type_reference

KEY_PROOF_ALGORITHMS = ["ES256", "EdDSA"]


def credential_configuration(settings: IssuerSettings, kind: CredentialType) -> dict[str, Any]:
    """One ``credential_configurations_supported`` entry, OpenID4VCI 1.0 §12.2.4 and Appendix A.3,
    with the ``vct`` the credentials carry (the type's published URL, ``issuer/typemetadata.py``)."""
    return {
        "format": "dc+sd-jwt",
        "scope": f"cityid_{kind.name}",
        "vct": type_reference(settings, kind).vct,
        "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": ["ES256"],
        "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": KEY_PROOF_ALGORITHMS}},
        "credential_metadata": {
            "display": [{"name": display_name(language, kind), "locale": language} for language in LANGUAGES],
            "claims": [
                {
                    "path": [name],
                    "mandatory": True,
                    "display": [
                        {"name": claim_label(translator(language), name), "locale": language} for language in LANGUAGES
                    ],
                }
                for name in kind.claims
            ],
        },
    }


def credential_issuer_metadata(settings: IssuerSettings) -> dict[str, Any]:
    """``/.well-known/openid-credential-issuer``, OpenID4VCI 1.0 §12.2."""
    base = settings.issuer_url
    return {
        "credential_issuer": base,
        "authorization_servers": [base],
        "credential_endpoint": f"{base}/credential",
        "nonce_endpoint": f"{base}/nonce",
        "notification_endpoint": f"{base}/notification",
        "batch_credential_issuance": {"batch_size": settings.max_batch},
        "display": [{"name": settings.city, "locale": language} for language in LANGUAGES],
        "credential_configurations_supported": {
            name: credential_configuration(settings, kind) for name, kind in service.CONFIGURATIONS.items()
        },
    }


def authorization_server_metadata(settings: IssuerSettings) -> dict[str, Any]:
    """``/.well-known/oauth-authorization-server``, RFC 8414, with DPoP (RFC 9449 §5.1)."""
    return {
        "issuer": settings.issuer_url,
        "token_endpoint": f"{settings.issuer_url}/token",
        "grant_types_supported": [service.PRE_AUTHORIZED],
        "token_endpoint_auth_methods_supported": ["none"],
        "pre-authorized_grant_anonymous_access_supported": True,
        "dpop_signing_alg_values_supported": sorted(DPOP_ALGORITHMS),
    }
