"""Reading an issuer's SD-JWT VC issuer metadata (``/.well-known/jwt-vc-issuer``) in every form
the SD-JWT VC draft allows, for the desk's first sync and the wallet's receive.

Two things other issuers do that cityid's own issuer did not: an issuer URL with a path, whose
metadata lives at ``https://host/.well-known/jwt-vc-issuer/path`` (the well-known part goes
between the host and the path, RFC 8615 style), and keys given by reference (``jwks_uri``)
instead of by value (``jwks``). The metadata names exactly one of them, and its ``issuer`` is
exactly the issuer asked for, or it is not used. Going online is the caller's (``get``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

WELL_KNOWN = "/.well-known/jwt-vc-issuer"


class IssuerMetadataError(Exception):
    """The issuer metadata cannot be used: ``reason`` is ``invalid_issuer_metadata`` or, when it
    names no keys, ``invalid_key``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def jwt_vc_issuer_url(issuer: str) -> str:
    """Where ``issuer``'s metadata is: ``https://host/.well-known/jwt-vc-issuer`` + the issuer's path."""
    parts = urlsplit(issuer)
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + parts.path.rstrip("/"), "", ""))


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def metadata_jwks(metadata: object, issuer: str, get: Callable[[str], object]) -> dict[str, Any]:
    """The JWKS of ``issuer`` from its ``metadata``: the ``jwks`` it holds, or the document at its
    ``jwks_uri`` (fetched with ``get``; https, or on the issuer's own origin). Checked only for
    shape: the caller imports the keys (``KeySet.from_jwks``) and decides whether to trust them."""
    if not isinstance(metadata, Mapping):
        raise IssuerMetadataError("invalid_issuer_metadata", "the issuer metadata is not a JSON object")
    if metadata.get("issuer") != issuer:
        named = str(metadata.get("issuer"))[:200]
        raise IssuerMetadataError("invalid_issuer_metadata", f"the issuer metadata is for {named!r}, not "
                                  f"{issuer[:200]!r}: it is not used")  # fmt: skip
    if "jwks" in metadata and "jwks_uri" in metadata:
        raise IssuerMetadataError("invalid_issuer_metadata", "the issuer metadata has both jwks and jwks_uri, so "
                                  "which keys are the issuer's is not clear")  # fmt: skip
    if "jwks_uri" in metadata:
        uri = metadata["jwks_uri"]
        try:
            usable = isinstance(uri, str) and (uri.startswith("https://") or _origin(uri) == _origin(issuer))
        except ValueError:
            usable = False
        if not usable or "#" in uri:
            raise IssuerMetadataError("invalid_issuer_metadata", f"the issuer's jwks_uri {uri!r:.200} is not an "
                                      "https:// address")  # fmt: skip
        jwks = get(uri)
    else:
        jwks = metadata.get("jwks")
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise IssuerMetadataError("invalid_key", f"{issuer[:200]} publishes no issuer keys (jwks or jwks_uri)")
    return jwks
