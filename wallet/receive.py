"""The wallet's side of OpenID4VCI's pre-authorized code flow: offer in, batch of credentials out.

For each offered credential type the wallet makes ``count`` fresh device keys, proves it holds
each one (a key proof JWT over the issuer's nonce), and receives one credential per key. No key
serves two credentials of a grant, across its types. It checks every credential before keeping
any: the issuer's signature, the issuer and the type, and that it is bound to exactly the key the
wallet made for it. The code, the PIN and the keys go only to https:// addresses (or http:// to
this computer, for a local issuer).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from credential import (
    CREDENTIAL_TYPES,
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
MAX_URL_CHARS = 2048
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""The only hosts the wallet talks to over plain http: this computer, for a local issuer."""


@dataclass(frozen=True, slots=True)
class Offer:
    issuer: str
    code: str
    configurations: tuple[str, ...]
    pin_length: int | None
    pin_numeric: bool = True
    """The offer's ``tx_code.input_mode`` is ``numeric`` (the default in OpenID4VCI)."""


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
        pin_mode = tx_code.get("input_mode", "numeric") if isinstance(tx_code, dict) else "numeric"
    except (TypeError, KeyError, ValueError, AttributeError):
        raise WalletError("invalid_offer", "the credential offer is incomplete or malformed") from None
    issuer = secure_url(issuer, "invalid_offer", "the offer's issuer", query_allowed=False)
    if not isinstance(code, str) or not configurations or not all(isinstance(c, str) for c in configurations):
        raise WalletError("invalid_offer", "the credential offer is incomplete or malformed")
    if not set(configurations) <= CREDENTIAL_TYPES.keys() or len(set(configurations)) != len(configurations):
        raise WalletError("invalid_offer", "the offer names a credential type this wallet does not know, or one twice")
    length = pin_length if type(pin_length) is int and pin_length > 0 else None
    return Offer(issuer.rstrip("/"), code, configurations, length, pin_numeric=pin_mode != "text")


PIN_SEPARATORS = str.maketrans("", "", " \t-\u00a0\u2010\u2011\u2012\u2013\u2014\u2212")
"""What people type between a PIN's digits when they read it off a slip: spaces and dashes."""


def normalise_pin(offer: Offer, pin: str) -> str:
    """``pin`` without spaces or dashes, refused here (``invalid_pin``) when it cannot be the PIN.

    The issuer counts every wrong PIN and closes the offer after a few, so a typo that cannot
    be right (a letter in a numeric PIN, a digit too few) is caught before it is sent and uses
    no try. Digits typed on another script's keypad (Arabic-Indic, full-width) become ASCII.
    """
    compact = pin.strip().translate(PIN_SEPARATORS)
    if offer.pin_numeric:
        if not compact or not all(character.isdecimal() for character in compact):
            raise WalletError("invalid_pin", "the PIN is digits only: check what you typed (no try was used)")
        compact = "".join(str(int(character)) for character in compact)
    if not compact:
        raise WalletError("invalid_pin", "type the PIN the clerk told you (no try was used)")
    if offer.pin_length is not None and len(compact) != offer.pin_length:
        raise WalletError(
            "invalid_pin",
            f"the PIN has {offer.pin_length} digits and you typed {len(compact)}: check it (no try was used)",
        )
    return compact


def secure_url(url: object, reason: str, what: str, *, query_allowed: bool) -> str:
    """``url`` when it is https://, or http:// to this computer (``localhost``, ``127.0.0.1``,
    ``[::1]``, any port); with no user name or password, no fragment and, unless
    ``query_allowed``, no query. Printable ASCII only, so that no other parser reads it differently."""
    if not (isinstance(url, str) and _is_secure(url, query_allowed=query_allowed)):
        raise WalletError(reason, f"{what} must be an https:// address (or http:// to this computer), not {url!r:.80}")
    return url


def _is_secure(url: str, *, query_allowed: bool) -> bool:
    if not 0 < len(url) <= MAX_URL_CHARS or not all("!" <= character <= "~" for character in url):
        return False
    if "\\" in url or "#" in url or (not query_allowed and "?" in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError unless the port is a number from 0 to 65535
    except ValueError:
        return False
    if "@" in parts.netloc or not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


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


def new_device_key() -> SigningKey:
    return SigningKey.generate("ES256")


def receive(
    offer: Offer, pin: str, *, count: int, client: httpx.Client, new_key: Callable[[], SigningKey] = new_device_key
) -> list[Received]:
    """Redeem ``offer`` with ``pin`` and fetch ``count`` credentials of every offered type.

    ``count`` is clamped to the issuer's published ``batch_credential_issuance.batch_size``:
    the issuer issues each type once per grant, so asking for more would refuse the whole call
    after the PIN was spent, and the batch with it (the caller sees fewer than ``count``).
    Every credential gets its own key from ``new_key``; a repeated key stops the grant before
    anything is sent. All or nothing: one credential that does not check refuses the batch.
    """
    device_keys = {configuration: [new_key() for _ in range(count)] for configuration in offer.configurations}
    batch = [key.public_jwk() for keys in device_keys.values() for key in keys]
    if len({json.dumps(jwk, sort_keys=True) for jwk in batch}) != len(batch):
        raise WalletError("device_key_reused", "the wallet made the same device key twice: nothing was sent")
    try:
        issuer_metadata = _json(client.get(f"{offer.issuer}/.well-known/openid-credential-issuer"), "metadata")
        size = batch_size(issuer_metadata) or count
        if size < count:  # the keys beyond the issuer's batch size are never sent, never used
            device_keys = {configuration: keys[:size] for configuration, keys in device_keys.items()}
            batch = [key.public_jwk() for keys in device_keys.values() for key in keys]
        server = _json(client.get(f"{offer.issuer}/.well-known/oauth-authorization-server"), "metadata")
        keys = KeySet.from_jwks(_json(client.get(f"{offer.issuer}/.well-known/jwt-vc-issuer"), "its keys"))
        token_endpoint = _endpoint(server.get("token_endpoint"), "token_endpoint")
        credential_endpoint = _endpoint(issuer_metadata.get("credential_endpoint"), "credential_endpoint")
        token = _json(
            client.post(token_endpoint, data={
                "grant_type": PRE_AUTHORIZED, "pre-authorized_code": offer.code, "tx_code": pin,
            }),
            "the PIN",
        )  # fmt: skip
        access_token, nonce = token["access_token"], token["c_nonce"]
        received: list[Received] = []
        for configuration, wanted in device_keys.items():
            now = int(time.time())
            body = _json(
                client.post(
                    credential_endpoint,
                    headers={"Authorization": f"Bearer {access_token}"},
                    json={
                        "credential_configuration_id": configuration,
                        "proofs": {"jwt": [_key_proof(k, offer.issuer, nonce, now) for k in wanted]},
                    },
                ),
                f"the {configuration} credentials",
            )
            issued = [entry["credential"] for entry in body["credentials"]]
            if len(issued) != len(wanted):
                raise WalletError("issuer_refused", "the issuer sent a different number of credentials")
            for credential, device_key in zip(issued, wanted, strict=True):
                _check(credential, keys, configuration, device_key, batch, offer.issuer)
                received.append(Received(configuration, credential, device_key))
            nonce = body.get("c_nonce", nonce)
    except httpx.HTTPError as exc:
        raise WalletError("issuer_unreachable", f"cannot reach the issuer: {type(exc).__name__}") from None
    except (KeyError, TypeError) as exc:
        raise WalletError("issuer_refused", f"the issuer's answer is incomplete ({exc})") from None
    return received


def batch_size(issuer_metadata: dict[str, Any]) -> int | None:
    """The most credentials of one type the issuer sends per call; ``None`` when it does not say.

    (OpenID4VCI reads a missing ``batch_credential_issuance`` as one key proof per call; the
    wallet then asks for ``count`` as before and the issuer's answer decides.)"""
    batching = issuer_metadata.get("batch_credential_issuance")
    if batching is None:
        return None
    size = batching.get("batch_size") if isinstance(batching, dict) else None
    if type(size) is not int or size < 1:
        raise WalletError("invalid_issuer_metadata", "the issuer's batch_credential_issuance.batch_size is not valid")
    return size


def _endpoint(url: object, name: str) -> str:
    return secure_url(url, "invalid_issuer_metadata", f"the issuer's {name}", query_allowed=True)


def _check(
    credential: object, keys: KeySet, configuration: str, device_key: SigningKey, batch: list[dict[str, str]],
    issuer: str,
) -> None:  # fmt: skip
    """Refuse ``credential`` unless the issuer signed it, for this issuer and type, bound to
    exactly ``device_key`` (``batch``: every key of the grant, to say which mistake it is)."""
    if not isinstance(credential, str):
        raise WalletError("invalid_credential", "the issuer sent something that is not a credential")
    try:
        held = parse_issued(credential)
        payload = verify_jwt(held.jwt, keys, typ=VC_TYP, what="the credential", limits=DEFAULT_LIMITS)
    except CredentialError as exc:
        raise WalletError(
            "invalid_credential", f"the issuer sent a credential that does not verify: {exc.message}"
        ) from None
    if payload.get("iss") != issuer or payload.get("vct") != CREDENTIAL_TYPES[configuration].vct:
        raise WalletError("invalid_credential", "the issuer sent a credential for another issuer or of another type")
    cnf = payload.get("cnf")
    bound = cnf.get("jwk") if isinstance(cnf, dict) else None
    if bound != device_key.public_jwk():
        mistake = "another of this batch's keys" if bound in batch else "a key this wallet did not make"
        raise WalletError(
            "wrong_device_key", f"the issuer sent a {configuration} credential bound to {mistake}: nothing was kept"
        )
