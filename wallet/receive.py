"""The wallet's side of OpenID4VCI's pre-authorized code flow: offer in, batch of credentials out.

For each offered credential type the wallet makes ``count`` fresh device keys, proves it holds
each one (a key proof JWT over the issuer's nonce), and receives one credential per key. No key
serves two credentials of a grant, across its types. It checks every credential before keeping
any: the issuer's signature, the issuer and the type, and that it is bound to exactly the key the
wallet made for it. The code, the PIN and the keys go only to https:// addresses (or http:// to
this computer, for a local issuer).

A receive can be stopped at any step (Ctrl-C, a flat battery, an issuer that restarts), so
what it has got so far is a :class:`Progress` that the caller keeps at each step: the offer,
then the access token, then each type's device keys before their proofs are sent, then each
type's credentials once they check. Given that progress again, ``receive`` goes on where it
stopped: the issuer gives the same access token for the same code and PIN, and a fresh batch
for a type whose answer was lost (revoking the batch that never arrived). Every step is safe
to repeat, so a busy issuer (503, ``Retry-After`` honoured) or one out of reach is tried again
with backoff until :class:`Patience` runs out. Last, the wallet tells the issuer it kept each
type (OpenID4VCI ``credential_accepted``), and the issuer deletes the resident's claims.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from edges.issuermetadata import IssuerMetadataError, jwt_vc_issuer_url, metadata_jwks
from edges.keyfile import private_jwk, signing_key_from_jwk

from .schema import MAX_PENDING
from .store import Wallet, WalletError

PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP = "openid4vci-proof+jwt"
MAX_OFFER_CHARS = 4096
MAX_URL_CHARS = 2048
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""The only hosts the wallet talks to over plain http: this computer, for a local issuer."""
DEFAULT_WAIT = 120.0
"""Seconds ``receive`` keeps trying a busy or unreachable issuer, in all."""
RETRY_CAP = 30.0
"""The longest pause between two tries, whatever ``Retry-After`` asks for."""
FINISHED = frozenset({"offer_unknown", "offer_locked", "offer_expired", "resume_limit"})
"""Reasons after which an unfinished receive can never finish: the wallet forgets it."""
DISTRUSTED = frozenset({"wrong_device_key", "invalid_credential"})
"""Reasons that show the issuer sent what no wallet may keep (a credential bound to the wrong key
could link two): the whole receive is forgotten, the types already kept included."""
OFFER_EXPIRED = "this offer's time is up: ask the clerk for a new one"


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


@dataclass
class Progress:
    """An unfinished receive, as the wallet keeps it in its sealed file. Never the PIN.

    ``device_keys`` are the keys whose proofs may be on their way (kept before they are sent);
    ``done`` maps each type the wallet holds to the ``notification_id`` it came with.
    """

    text: str
    """The offer as the clerk gave it (``openid-credential-offer://...``)."""
    offer: Offer
    count: int
    started_at: int
    access_token: str | None = None
    expires_at: int | None = None
    """When the issuer's resume window ends (from the token's ``expires_in``)."""
    device_keys: dict[str, list[SigningKey]] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, text: str, count: int, *, now: int) -> Progress:
        return cls(text, parse_offer(text), count, now)

    def finished(self) -> bool:
        return set(self.done) >= set(self.offer.configurations)

    def expired(self, now: int) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"offer": self.text, "count": self.count, "started_at": self.started_at}
        if self.access_token is not None:
            document["access_token"] = self.access_token
        if self.expires_at is not None:
            document["expires_at"] = self.expires_at
        if self.device_keys:
            document["device_keys"] = {name: [private_jwk(k) for k in keys] for name, keys in self.device_keys.items()}
        if self.done:
            document["done"] = dict(self.done)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Progress:
        """The progress a wallet document holds (already checked by ``schema.py``)."""
        progress = cls.start(document["offer"], document["count"], now=document["started_at"])
        progress.access_token, progress.expires_at = document.get("access_token"), document.get("expires_at")
        progress.device_keys = {name: [signing_key_from_jwk(jwk) for jwk in keys]
                                for name, keys in document.get("device_keys", {}).items()}  # fmt: skip
        progress.done = dict(document.get("done", {}))
        return progress


Keep = Callable[[Progress, list[Received]], None]
"""Saves the progress and the credentials just received (all at once, atomically)."""


def _keep_nothing(_progress: Progress, _received: list[Received]) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Patience:
    """How long ``receive`` tries again when the issuer is busy (503) or cannot be reached."""

    wait: float = DEFAULT_WAIT
    """Seconds in all, from the start of the receive."""
    on_wait: Callable[[int], None] | None = None
    """Told how many seconds the wallet waits before it tries again."""
    sleep: Callable[[float], None] = time.sleep


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
        raise _refusal(str(reason), str(message or response.status_code), what)
    return body


def _refusal(reason: str, message: str, what: str) -> WalletError:
    """The issuer's refusal in the resident's terms: an offer already used is not a wrong PIN."""
    if reason == "offer_unknown":
        return WalletError(reason, "this offer was already used (or its time is up): ask the clerk for a new one")
    if reason == "wrong_pin":  # the issuer's message says how many tries are left
        return WalletError(reason, f"{message}: check the PIN the clerk told you and type it again")
    if reason == "invalid_token":  # the grant is gone: its window ended, or the clerk revoked the batch
        return WalletError("offer_expired", OFFER_EXPIRED)
    return WalletError(reason, f"the issuer refused {what}: {message}")


def _key_proof(key: SigningKey, issuer: str, nonce: str, now: int) -> str:
    header = {"alg": key.alg, "typ": PROOF_TYP, "jwk": key.public_jwk()}
    return sign_jwt(header, {"aud": issuer, "iat": now, "nonce": nonce}, key)


def new_device_key() -> SigningKey:
    return SigningKey.generate("ES256")


def receive(
    offer: Offer,
    pin: str | None,
    *,
    count: int,
    client: httpx.Client,
    new_key: Callable[[], SigningKey] = new_device_key,
    progress: Progress | None = None,
    keep: Keep = _keep_nothing,
    patience: Patience = Patience(),
) -> list[Received]:
    """Redeem ``offer`` with ``pin`` and fetch ``count`` credentials of every offered type.

    ``count`` is clamped to the issuer's published ``batch_credential_issuance.batch_size``:
    asking for more would be refused after the PIN was spent (the caller sees fewer than
    ``count``). Every credential gets its own key from ``new_key``; a repeated key stops the
    grant before anything is sent. One credential that does not check refuses its type.

    ``keep`` is called with ``progress`` after each step (see the module docstring), and with
    each type's credentials as soon as they check; given the same ``progress`` again, a stopped
    receive goes on (``pin`` may then be None once the progress holds the access token). The
    credentials returned are those received by this call. A busy or unreachable issuer is tried
    again until ``patience`` runs out.
    """
    progress = progress or Progress("", offer, count, int(time.time()))
    fetching = [name for name in offer.configurations if name not in progress.done]
    progress.device_keys = {name: [new_key() for _ in range(progress.count)] for name in fetching}
    _distinct(progress)
    made = [key.public_jwk() for keys in progress.device_keys.values() for key in keys]
    calls = _Calls(client, patience)
    try:
        issuer_metadata = calls.json("GET", f"{offer.issuer}/.well-known/openid-credential-issuer", "metadata")
        size = batch_size(issuer_metadata) or progress.count
        if size < progress.count:  # the keys beyond the issuer's batch size are never sent, never used
            progress.count = size
            progress.device_keys = {name: keys[:size] for name, keys in progress.device_keys.items()}
        server = calls.json("GET", f"{offer.issuer}/.well-known/oauth-authorization-server", "metadata")
        keys = _issuer_keys(calls, offer.issuer)
        endpoints = _Endpoints.of(server, issuer_metadata)
        nonce = _access(calls, endpoints, progress, pin)
        keep(progress, [])
        received: list[Received] = []
        for configuration in fetching:
            batch, nonce = _fetch(calls, endpoints, progress, configuration, nonce, keys, new_key, keep, made)
            del progress.device_keys[configuration]
            keep(progress, batch)
            received += batch
        _accept(calls, endpoints, progress)
    except httpx.HTTPError as exc:
        raise WalletError("issuer_unreachable", f"cannot reach the issuer: {type(exc).__name__}") from None
    except (KeyError, TypeError) as exc:
        raise WalletError("issuer_refused", f"the issuer's answer is incomplete ({exc})") from None
    return received


def _issuer_keys(calls: _Calls, issuer: str) -> KeySet:
    """The keys of ``issuer`` from its SD-JWT VC issuer metadata, which may give them by value or
    by reference, for an issuer URL with or without a path (``edges/issuermetadata.py``)."""
    metadata = calls.json("GET", jwt_vc_issuer_url(issuer), "its keys")
    try:
        jwks = metadata_jwks(metadata, issuer, lambda uri: calls.json("GET", uri, "its keys"))
        return KeySet.from_jwks(jwks, issuer=issuer)
    except IssuerMetadataError as exc:
        raise WalletError(exc.reason, exc.message) from None


def _distinct(progress: Progress) -> None:
    batch = [key.public_jwk() for keys in progress.device_keys.values() for key in keys]
    if len({json.dumps(jwk, sort_keys=True) for jwk in batch}) != len(batch):
        raise WalletError("device_key_reused", "the wallet made the same device key twice: nothing was sent")


@dataclass(frozen=True, slots=True)
class _Endpoints:
    token: str
    credential: str
    nonce: str | None
    notification: str | None

    @classmethod
    def of(cls, server: dict[str, Any], issuer_metadata: dict[str, Any]) -> _Endpoints:
        optional = {name: _endpoint(issuer_metadata[name], name) if name in issuer_metadata else None
                    for name in ("nonce_endpoint", "notification_endpoint")}  # fmt: skip
        return cls(_endpoint(server.get("token_endpoint"), "token_endpoint"),
                   _endpoint(issuer_metadata.get("credential_endpoint"), "credential_endpoint"),
                   optional["nonce_endpoint"], optional["notification_endpoint"])  # fmt: skip


def _access(calls: _Calls, endpoints: _Endpoints, progress: Progress, pin: str | None) -> str | None:
    """The access token (from ``/token``, unless the progress holds it) and its nonce, if known."""
    if progress.access_token is not None:
        return None  # the saved nonce may have been used by a request whose answer was lost
    if pin is None:
        raise WalletError("usage_error", "type the PIN the clerk told you")
    form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": progress.offer.code, "tx_code": pin}
    token = calls.json("POST", endpoints.token, "the PIN", data=form)
    access_token, nonce, lifetime = token["access_token"], token["c_nonce"], token.get("expires_in")
    if not isinstance(access_token, str) or not isinstance(nonce, str):
        raise TypeError("access_token or c_nonce")
    progress.access_token = access_token
    progress.expires_at = int(time.time()) + lifetime if type(lifetime) is int and lifetime > 0 else None
    return nonce


def _fetch(
    calls: _Calls, endpoints: _Endpoints, progress: Progress, configuration: str, nonce: str | None, keys: KeySet,
    new_key: Callable[[], SigningKey], keep: Keep, made: list[dict[str, str]],
) -> tuple[list[Received], str | None]:  # fmt: skip
    """One type's credentials, and the nonce for the next type. Each try after the first sends new
    keys with a fresh nonce: the keys of a try whose answer was lost are never used again.
    ``made``: every key this receive made, to say which mistake an issuer's wrong binding is."""
    assert progress.access_token is not None
    authorization = {"Authorization": f"Bearer {progress.access_token}"}
    unused_nonce, last_nonce, tries = nonce, nonce, 0

    def attempt() -> httpx.Response:
        nonlocal unused_nonce, last_nonce, tries
        if tries:
            progress.device_keys[configuration] = [new_key() for _ in range(progress.count)]
            _distinct(progress)
            made.extend(key.public_jwk() for key in progress.device_keys[configuration])
            keep(progress, [])  # kept before their proofs are sent
        tries += 1
        used = last_nonce = unused_nonce or _fresh_nonce(calls, endpoints, authorization)
        unused_nonce = None  # a nonce serves one request, answered or not
        wanted = progress.device_keys[configuration]
        proofs = [_key_proof(key, progress.offer.issuer, used, int(time.time())) for key in wanted]
        request = {"credential_configuration_id": configuration, "proofs": {"jwt": proofs}}
        return calls.client.post(endpoints.credential, headers=authorization, json=request)

    body = calls.json_of(attempt, f"the {configuration} credentials")
    wanted = progress.device_keys[configuration]
    issued = [entry["credential"] for entry in body["credentials"]]
    if len(issued) != len(wanted):
        raise WalletError("issuer_refused", "the issuer sent a different number of credentials")
    for credential, device_key in zip(issued, wanted, strict=True):
        _check(credential, keys, configuration, device_key, made, progress.offer.issuer)
    notification_id = body.get("notification_id", "")
    progress.done[configuration] = notification_id if isinstance(notification_id, str) else ""
    next_nonce = body.get("c_nonce")
    if not isinstance(next_nonce, str):  # an issuer with no nonce endpoint takes the same nonce again
        next_nonce = last_nonce if endpoints.nonce is None else None
    return [Received(configuration, c, k) for c, k in zip(issued, wanted, strict=True)], next_nonce


def _fresh_nonce(calls: _Calls, endpoints: _Endpoints, authorization: dict[str, str]) -> str:
    if endpoints.nonce is None:
        raise WalletError("issuer_refused", "the issuer has no nonce endpoint, so this receive cannot go on")
    nonce = calls.json("POST", endpoints.nonce, "a nonce", headers=authorization)["c_nonce"]
    if not isinstance(nonce, str):
        raise TypeError("c_nonce")
    return nonce


def _accept(calls: _Calls, endpoints: _Endpoints, progress: Progress) -> None:
    """Tell the issuer the wallet kept each type (``credential_accepted``), so that it deletes the
    resident's claims now. Best effort: it deletes them anyway when the resume window ends."""
    if endpoints.notification is None or progress.access_token is None:
        return
    endpoint, authorization = endpoints.notification, {"Authorization": f"Bearer {progress.access_token}"}
    for notification_id in filter(None, progress.done.values()):
        accepted = {"notification_id": notification_id, "event": "credential_accepted"}

        def notify(body: dict[str, str] = accepted) -> httpx.Response:
            return calls.client.post(endpoint, headers=authorization, json=body)

        try:
            calls.send(notify)
        except httpx.HTTPError:
            return


class _Calls:
    """HTTP calls to the issuer, tried again with backoff while it is busy (503) or out of reach,
    until the receive's ``patience`` runs out. Only steps that are safe to repeat go through here."""

    def __init__(self, client: httpx.Client, patience: Patience) -> None:
        self.client, self.patience = client, patience
        self.deadline = time.monotonic() + patience.wait
        self.tries = 0

    def json(self, method: str, url: str, what: str, **options: Any) -> dict[str, Any]:
        call = self.client.get if method == "GET" else self.client.post
        return self.json_of(lambda: call(url, **options), what)

    def json_of(self, make: Callable[[], httpx.Response], what: str) -> dict[str, Any]:
        return _json(self.send(make), what)

    def send(self, make: Callable[[], httpx.Response]) -> httpx.Response:
        while True:
            try:
                response = make()
            except httpx.TransportError:
                if not self._pause(None):
                    raise
                continue
            if response.status_code != 503:
                self.tries = 0  # the issuer answered: the next outage starts its backoff afresh
                return response
            if not self._pause(_retry_after(response)):
                return response

    def _pause(self, asked: float | None) -> bool:
        """Wait before the next try (``asked``: the issuer's ``Retry-After``); False when the
        wait would go past the deadline."""
        self.tries += 1
        pause = min(RETRY_CAP, asked if asked is not None else 2.0 ** min(self.tries - 1, 5))
        pause = min(RETRY_CAP, pause * random.uniform(1.0, 1.25))  # noqa: S311 - jitter, not a secret
        if time.monotonic() + pause > self.deadline:
            return False
        if self.patience.on_wait is not None:
            self.patience.on_wait(math.ceil(pause))
        self.patience.sleep(pause)
        return True


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (HTTP dates are not used by this issuer, and read as absent)."""
    try:
        value = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return value if 0 <= value < math.inf else None


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
    vct = payload.get("vct")  # the type's published https vct, or its URN from an issuer of before
    if payload.get("iss") != issuer or not isinstance(vct, str) or not CREDENTIAL_TYPES[configuration].is_named_by(vct):
        raise WalletError("invalid_credential", "the issuer sent a credential for another issuer or of another type")
    cnf = payload.get("cnf")
    bound = cnf.get("jwk") if isinstance(cnf, dict) else None
    if bound != device_key.public_jwk():
        mistake = "another of this batch's keys" if bound in batch else "a key this wallet did not make"
        raise WalletError(
            "wrong_device_key", f"the issuer sent a {configuration} credential bound to {mistake}: nothing was kept"
        )


def find_pending(store: Wallet, code: str | None) -> Progress | None:
    """The wallet's unfinished receive of the offer with ``code``, or its oldest one when ``code``
    is None; None when there is none."""
    for entry in store.pending:
        progress = Progress.from_json(entry)
        if code is None or progress.offer.code == code:
            return progress
    return None


def keep_pending(store: Wallet, progress: Progress) -> None:
    """Put ``progress`` into ``store`` in place of the same offer's earlier progress."""
    drop_pending(store, progress)
    if len(store.pending) >= MAX_PENDING:
        raise WalletError("too_many_pending", f"this wallet already has {MAX_PENDING} unfinished receives: "
                          "run `cityid wallet receive` to finish them first")  # fmt: skip
    store.pending.append(progress.to_json())


def drop_pending(store: Wallet, progress: Progress) -> None:
    store.pending = [entry for entry in store.pending if Progress.from_json(entry).offer.code != progress.offer.code]


def pending_summary(store: Wallet) -> list[dict[str, Any]]:
    """What ``wallet list`` shows of unfinished receives: the issuer, when it started, the types held."""
    summary = []
    for entry in store.pending:
        progress = Progress.from_json(entry)
        summary.append({"issuer": progress.offer.issuer, "started_at": progress.started_at,
                        "received": sorted(progress.done), "expires_at": progress.expires_at})  # fmt: skip
    return summary


MAX_ANSWER_BYTES = 2 * 1024 * 1024
"""The largest answer the wallet reads from an issuer: a batch of twenty credentials of each type
is well under 100 kB, and a published policy registry under 1 MB."""


class _BoundedStream(httpx.SyncByteStream):
    """An answer's body, refused (``too_large``) as soon as it passes ``limit`` bytes."""

    def __init__(self, inner: httpx.SyncByteStream, limit: int) -> None:
        self.inner, self.limit = inner, limit

    def __iter__(self) -> Iterator[bytes]:
        read = 0
        for chunk in self.inner:
            read += len(chunk)
            if read > self.limit:
                raise WalletError("too_large", f"the issuer's answer is larger than {self.limit // 1024} kB")
            yield chunk

    def close(self) -> None:
        self.inner.close()


class _BoundedTransport(httpx.BaseTransport):
    """Every answer read through it is bounded: a server that streams without end cannot fill the
    phone's memory (httpx reads a whole body before it hands the answer over)."""

    def __init__(self, limit: int) -> None:
        self.inner, self.limit = httpx.HTTPTransport(), limit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            response.close()
            raise WalletError("too_large", f"the issuer's answer is larger than {self.limit // 1024} kB")
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _BoundedStream(response.stream, self.limit)
        return response

    def close(self) -> None:
        self.inner.close()


def issuer_client(timeout: float, *, limit: int = MAX_ANSWER_BYTES) -> httpx.Client:
    """The HTTP client the wallet talks to issuers with: no redirects, and answers bounded."""
    return httpx.Client(timeout=timeout, follow_redirects=False, transport=_BoundedTransport(limit))
