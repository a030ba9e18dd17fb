"""The wallet's side of OpenID4VCI's pre-authorized code flow: offer in, batch of credentials out.

For each offered credential type the wallet makes ``count`` fresh device keys, proves it holds
each one (a key proof JWT over the issuer's nonce), and receives one credential per key. It
checks every credential before keeping it: the issuer's signature, the type, and that it is
bound to the key it was asked for.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from credential import (
    DEFAULT_LIMITS,
    VC_TYP,
    CredentialError,
    KeySet,
    SigningKey,
    parse_issued,
    sign_jwt,
    verify_jwt,
)

from .store import WalletError

PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP = "openid4vci-proof+jwt"
MAX_OFFER_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Offer:
    issuer: str
    code: str
    configurations: tuple[str, ...]
    pin_length: int | None


@dataclass(frozen=True, slots=True)
class Received:
    configuration: str
    credential: str
    device_key: SigningKey


def parse_offer(text: str) -> Offer:
    """The offer in an ``openid-credential-offer://`` URI (credential offer by value)."""
    text = text.strip()
    if len(text) > MAX_OFFER_CHARS or not text.startswith("openid-credential-offer://"):
        raise WalletError("invalid_offer", "this is not a credential offer (openid-credential-offer://...)")
    values = parse_qs(urlsplit(text).query).get("credential_offer")
    try:
        document: Any = json.loads(values[0]) if values else {}
        grant = document["grants"][PRE_AUTHORIZED]
        issuer, code = document["credential_issuer"], grant["pre-authorized_code"]
        configurations = tuple(document["credential_configuration_ids"])
        tx_code = grant.get("tx_code")
        pin_length = tx_code.get("length") if isinstance(tx_code, dict) else None
    except (TypeError, KeyError, ValueError, AttributeError):
        raise WalletError("invalid_offer", "the credential offer is incomplete or malformed") from None
    if not (isinstance(issuer, str) and issuer.startswith(("https://", "http://127.0.0.1", "http://localhost"))):
        raise WalletError("invalid_offer", "the offer's issuer must be an https:// address")
    if not isinstance(code, str) or not configurations or not all(isinstance(c, str) for c in configurations):
        raise WalletError("invalid_offer", "the credential offer is incomplete or malformed")
    return Offer(issuer.rstrip("/"), code, configurations, pin_length if isinstance(pin_length, int) else None)


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or not isinstance(body, dict):
        reason = body.get("reason", "issuer_refused") if isinstance(body, dict) else "issuer_refused"
        message = body.get("error_description", "") if isinstance(body, dict) else ""
        raise WalletError(str(reason), f"the issuer refused {what}: {message or response.status_code}")
    return body


def _key_proof(key: SigningKey, issuer: str, nonce: str, now: int) -> str:
    header = {"alg": key.alg, "typ": PROOF_TYP, "jwk": key.public_jwk()}
    return sign_jwt(header, {"aud": issuer, "iat": now, "nonce": nonce}, key)


def receive(offer: Offer, pin: str, *, count: int, client: httpx.Client) -> list[Received]:
    """Redeem ``offer`` with ``pin`` and fetch ``count`` credentials of every offered type."""
    try:
        issuer_metadata = _json(client.get(f"{offer.issuer}/.well-known/openid-credential-issuer"), "metadata")
        server = _json(client.get(f"{offer.issuer}/.well-known/oauth-authorization-server"), "metadata")
        keys = KeySet.from_jwks(_json(client.get(f"{offer.issuer}/.well-known/jwt-vc-issuer"), "its keys"))
        token = _json(
            client.post(server["token_endpoint"], data={
                "grant_type": PRE_AUTHORIZED, "pre-authorized_code": offer.code, "tx_code": pin,
            }),
            "the PIN",
        )  # fmt: skip
        access_token, nonce = token["access_token"], token["c_nonce"]
        received: list[Received] = []
        for configuration in offer.configurations:
            device_keys = [SigningKey.generate("ES256") for _ in range(count)]
            now = int(time.time())
            body = _json(
                client.post(
                    issuer_metadata["credential_endpoint"],
                    headers={"Authorization": f"Bearer {access_token}"},
                    json={
                        "credential_configuration_id": configuration,
                        "proofs": {"jwt": [_key_proof(k, offer.issuer, nonce, now) for k in device_keys]},
                    },
                ),
                f"the {configuration} credentials",
            )
            issued = [entry["credential"] for entry in body["credentials"]]
            if len(issued) != len(device_keys):
                raise WalletError("issuer_refused", "the issuer sent a different number of credentials")
            for credential, device_key in zip(issued, device_keys, strict=True):
                _check(credential, keys, device_key, offer.issuer)
                received.append(Received(configuration, credential, device_key))
            nonce = body.get("c_nonce", nonce)
    except httpx.HTTPError as exc:
        raise WalletError("issuer_unreachable", f"cannot reach the issuer: {type(exc).__name__}") from None
    except (KeyError, TypeError) as exc:
        raise WalletError("issuer_refused", f"the issuer's answer is incomplete ({exc})") from None
    return received


def _check(credential: str, keys: KeySet, device_key: SigningKey, issuer: str) -> None:
    try:
        held = parse_issued(credential)
        payload = verify_jwt(held.jwt, keys, typ=VC_TYP, what="the credential", limits=DEFAULT_LIMITS)
    except CredentialError as exc:
        raise WalletError(
            "invalid_credential", f"the issuer sent a credential that does not verify: {exc.message}"
        ) from None
    if payload.get("iss") != issuer or payload.get("cnf", {}).get("jwk") != device_key.public_jwk():
        raise WalletError("invalid_credential", "the issuer sent a credential for another issuer or key")
