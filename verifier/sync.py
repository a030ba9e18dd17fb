"""Trust sync: the one time a desk goes online. Everything is verified, then stored atomically.

A desk trusts two keys it was given by hand, once: the issuer's (``--issuer-jwks``) and the
policy board's (``--board-jwks``); both are pinned in the desk's data directory. A sync fetches
the issuer's signed trust bundle (``/trust``: current keys, status list locations, the signed
policy registry) and every status list, verifies each signature, refuses an older registry,
and writes ``trust.json`` in one atomic step. Verifying proofs later never goes online.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cityid.files import write_atomic
from credential import (
    CredentialError,
    KeySet,
    Limits,
    MalformedError,
    Reason,
    StatusListToken,
    verify_jwt,
    verify_status_list_token,
)
from credential._encoding import b64url_decode
from policies import verify_registry

from .engine import Trust

TRUST_TYP = "cityid-trust+jwt"
TRUST_FILE = "trust.json"
BUNDLE_LIMITS = Limits(max_presentation_chars=2 * 1024 * 1024, max_json_bytes=1024 * 1024, max_json_depth=8)
MAX_DOWNLOAD = 8 * 1024 * 1024

Fetch = Callable[[str], str]
"""GET a URL and return its body as text (``httpx`` in production, anything in tests)."""


class SyncError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _bundle_payload(bundle: str, anchors: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return verify_jwt(
            bundle, KeySet.from_jwks(anchors), typ=TRUST_TYP, what="the trust bundle", limits=BUNDLE_LIMITS
        )
    except CredentialError as exc:
        raise SyncError(exc.reason.value, exc.message) from None


def gather(source: str, fetch: Fetch) -> dict[str, Any]:
    """The trust package from ``source``: an issuer URL (fetches ``/trust`` and every status
    list) or a package file written by an earlier sync or ``cityid issuer export-trust``."""
    if source.startswith(("https://", "http://")):
        bundle = fetch(source.rstrip("/") + "/trust").strip()
        unverified = json.loads(_segment(bundle))
        uris = unverified.get("status_lists", []) if isinstance(unverified, dict) else []
        return {"bundle": bundle, "status_lists": {uri: fetch(uri).strip() for uri in uris if isinstance(uri, str)}}
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")[: MAX_DOWNLOAD + 1]
    except OSError as exc:
        raise SyncError("unreadable_input", f"cannot read {source}: {exc.strerror}") from None
    try:
        package = json.loads(text)
    except ValueError:
        package = {"bundle": text.strip(), "status_lists": {}}  # a bare bundle: no status lists
    if not isinstance(package, dict) or not isinstance(package.get("bundle"), str):
        raise SyncError("unreadable_input", f"{source} is not a trust package or bundle")
    return package


def _segment(token: str) -> bytes:
    parts = token.split(".")
    if len(parts) != 3:
        raise SyncError("malformed", "the trust bundle is not a JWT")
    return b64url_decode(parts[1])


def sync(
    source: str,
    data: Path,
    *,
    fetch: Fetch,
    now: int,
    issuer_jwks: Mapping[str, Any] | None = None,
    board_jwks: Mapping[str, Any] | None = None,
) -> Trust:
    """Fetch, verify and store the desk's trust; returns what was stored."""
    stored = _read(data)
    anchors = issuer_jwks or stored.get("issuer_keys")
    board = board_jwks or stored.get("board_jwks")
    if anchors is None or board is None:
        raise SyncError("usage_error", "the first sync needs --issuer-jwks and --board-jwks (pinned afterwards)")
    if stored.get("board_jwks") and board_jwks and dict(board_jwks) != stored["board_jwks"]:
        raise SyncError("board_key_changed", "this policy board key differs from the one this desk trusts")
    package = gather(source, fetch)
    payload = _bundle_payload(package["bundle"], anchors)
    if not isinstance(payload.get("exp"), int) or payload["exp"] <= now:
        raise SyncError("bundle_expired", "the trust bundle has expired")
    keys_jwks = payload.get("jwks")
    try:
        keys = KeySet.from_jwks(keys_jwks)  # type: ignore[arg-type]
        registry_token = payload.get("policy_registry")
        if not isinstance(registry_token, str):
            raise SyncError("invalid_registry", "the trust bundle carries no policy registry")
        registry = verify_registry(registry_token, KeySet.from_jwks(board), now=now,
                                   minimum_version=int(stored.get("registry_version", 0)))  # fmt: skip
        lists = _status_lists(package.get("status_lists", {}), payload.get("status_lists", []), keys, now)
    except CredentialError as exc:
        raise SyncError(exc.reason.value, exc.message) from None
    record = {
        "issuer_keys": keys_jwks,  # the next bundle may be signed by any current key (rotation)
        "board_jwks": dict(board),
        "bundle": package["bundle"],
        "status_lists": {uri: token for uri, token in package.get("status_lists", {}).items() if uri in lists},
        "registry_version": registry.version,
        "synced_at": now,
    }
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(data / TRUST_FILE, json.dumps(record), mode=0o600)
    return Trust(keys, lists, registry, now)


def _status_lists(tokens: object, expected: object, keys: KeySet, now: int) -> dict[str, StatusListToken]:
    if not isinstance(tokens, dict) or not isinstance(expected, list):
        raise MalformedError(Reason.INVALID_STATUS_LIST, "the status lists are not a map of URI to token")
    lists = {}
    for uri in expected:
        token = tokens.get(uri)
        if isinstance(uri, str) and isinstance(token, str):
            lists[uri] = verify_status_list_token(token, keys, uri=uri, now=now)
    return lists


def _read(data: Path) -> dict[str, Any]:
    path = data / TRUST_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SyncError("unreadable_trust", f"the desk's trust file is damaged: {exc}") from None
    return record if isinstance(record, dict) else {}


def load_trust(data: Path, *, now: int | None = None) -> Trust:
    """The desk's stored trust, checked again (signatures only: staleness is judged per check
    against each policy's ``max_status_age`` and each list's ``exp``). Reads, never writes."""
    record = _read(data)
    if not record:
        raise SyncError("not_synced", f"no trust in {data}: run `cityid verifier sync` first")
    now = int(time.time()) if now is None else now
    try:
        keys = KeySet.from_jwks(record["issuer_keys"])
        payload = _bundle_payload(record["bundle"], record["issuer_keys"])
        registry = verify_registry(payload["policy_registry"], KeySet.from_jwks(record["board_jwks"]), now=now)
        lists = {}
        for uri, token in record["status_lists"].items():
            lists[uri] = verify_status_list_token(token, keys, uri=uri, now=now, allow_expired=True)
    except (KeyError, TypeError) as exc:
        raise SyncError("unreadable_trust", f"the desk's trust file is incomplete ({exc})") from None
    except CredentialError as exc:
        raise SyncError(exc.reason.value, exc.message) from None
    return Trust(keys, lists, registry, int(record.get("synced_at", 0)))
