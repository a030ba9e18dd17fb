"""Trust sync: the one time a desk goes online. Everything is verified, then stored atomically.

A desk trusts two sets of keys, pinned at its first sync in the desk's data directory: the
issuer's and the policy board's. It gets them either from the issuer's URL, checked against
the fingerprint city IT gave it (``--fingerprint``: :func:`anchors_from`), or as files given by
hand (``--issuer-jwks``, ``--board-jwks``). A sync fetches
the issuer's signed trust bundle (``/trust``: current keys, status list locations, the signed
policy registry), verifies it, then fetches the status lists it names (at most
``MAX_STATUS_LISTS``, all on the issuer's own origin), verifies each signature, refuses an
older registry and any status list older than the one the desk holds (a rollback would make a
cancelled ID valid again), and writes ``trust.json`` in one atomic step, or nothing. Verifying
proofs later never goes online.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from credential import (
    CredentialError,
    KeySet,
    Limits,
    MalformedError,
    Reason,
    StatusList,
    StatusListToken,
    type_integrity_strings,
    verify_jwt,
    verify_status_list_token,
)
from edges.files import write_atomic
from edges.fingerprint import FingerprintError, normalise_fingerprint, shortened, trust_fingerprint
from edges.issuermetadata import IssuerMetadataError, jwt_vc_issuer_url, metadata_jwks
from policies import verify_registry

from .engine import Trust

TRUST_TYP = "cityid-trust+jwt"
TRUST_FILE = "trust.json"
BUNDLE_LIMITS = Limits(max_presentation_chars=2 * 1024 * 1024, max_json_bytes=1024 * 1024, max_json_depth=8)
MAX_DOWNLOAD = 8 * 1024 * 1024
MAX_STATUS_LISTS = 64

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


def _is_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def gather(source: str, fetch: Fetch, anchors: Mapping[str, Any]) -> dict[str, Any]:
    """The trust package from ``source``: an issuer URL (fetches ``/trust``, verifies it with
    ``anchors``, then fetches the status lists it names) or a package file written by an
    earlier sync or ``cityid issuer export-trust``."""
    if _is_url(source):
        bundle = fetch(source.rstrip("/") + "/trust").strip()
        uris = _named_lists(_bundle_payload(bundle, anchors), origin=source)
        return {"bundle": bundle, "status_lists": {uri: fetch(uri).strip() for uri in uris}}
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


def _named_lists(payload: Mapping[str, Any], *, origin: str | None) -> list[str]:
    """The status list URIs a verified bundle names: a bounded list, on ``origin`` when given
    (the issuer URL a sync fetches from, so a bundle cannot send the desk elsewhere)."""
    uris = payload.get("status_lists", [])
    if not isinstance(uris, list) or not all(isinstance(uri, str) for uri in uris):
        raise SyncError(Reason.INVALID_STATUS_LIST.value, "the trust bundle's status_lists is not a list of URLs")
    if len(uris) > MAX_STATUS_LISTS:
        raise SyncError("too_many_status_lists", f"the trust bundle names {len(uris)} status lists; a desk takes at "
                        f"most {MAX_STATUS_LISTS}")  # fmt: skip
    home = _origin(origin) if origin is not None else None
    if origin is not None and (foreign := [uri for uri in uris if home is None or _origin(uri) != home]):
        raise SyncError("foreign_status_list", f"the status list {foreign[0][:200]!r} is not on the issuer's own "
                        f"origin, {home}")  # fmt: skip
    return uris


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in {"https", "http"} or not parts.hostname or parts.username or parts.password:
        return None
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _document(text: str, what: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise SyncError("unreadable_input", f"{what} is not a JSON object")
    return document


def anchors_from(source: str, fetch: Fetch, fingerprint: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The issuer's keys (its ``/.well-known/jwt-vc-issuer``) and the policy board's (``/registry``),
    downloaded from the issuer URL ``source`` and trusted only when together they have the
    ``fingerprint`` city IT gave the desk (``edges/fingerprint.py``); else ``fingerprint_mismatch``."""
    try:
        expected = normalise_fingerprint(fingerprint)
    except FingerprintError as exc:
        raise SyncError(exc.reason, str(exc)) from None
    if not _is_url(source):
        raise SyncError("usage_error", "--fingerprint needs the issuer's URL (https://...), not a file")
    base = source.rstrip("/")
    metadata = _document(fetch(jwt_vc_issuer_url(base)), "the issuer's metadata")
    try:  # the keys by value (jwks) or by reference (jwks_uri), for an issuer URL with or without a path
        issuer_jwks = metadata_jwks(metadata, base, lambda uri: _document(fetch(uri), "the issuer's keys"))
    except IssuerMetadataError as exc:
        raise SyncError(exc.reason, exc.message) from None
    published = _document(fetch(base + "/registry"), "the issuer's published registry")
    board_jwks = published.get("board_jwks")
    if not isinstance(board_jwks, dict):
        raise SyncError(Reason.INVALID_KEY.value, f"{base} publishes no policy board key")
    try:
        found = trust_fingerprint(issuer_jwks, board_jwks)
    except CredentialError as exc:
        raise SyncError(exc.reason.value, exc.message) from None
    if found != expected:
        raise SyncError("fingerprint_mismatch", f"the keys at {base} have the fingerprint {shortened(found)}, not "
                        f"{shortened(expected)} as given: check the address and the fingerprint you typed, and ask "
                        "city IT. Nothing was written")  # fmt: skip
    return issuer_jwks, board_jwks


def sync(
    source: str,
    data: Path,
    *,
    fetch: Fetch,
    now: int,
    issuer_jwks: Mapping[str, Any] | None = None,
    board_jwks: Mapping[str, Any] | None = None,
    fingerprint: str | None = None,
) -> Trust:
    """Fetch, verify and store the desk's trust; returns what was stored. The first sync pins
    the keys: ``fingerprint`` (downloaded from the issuer URL, checked against it) or
    ``issuer_jwks`` and ``board_jwks`` given by hand; later syncs need neither."""
    if fingerprint is not None:
        if issuer_jwks is not None or board_jwks is not None:
            raise SyncError("usage_error", "give --fingerprint, or --issuer-jwks and --board-jwks, not both")
        issuer_jwks, board_jwks = anchors_from(source, fetch, fingerprint)
    stored = _read(data)
    anchors = issuer_jwks or stored.get("issuer_keys")
    board = board_jwks or stored.get("board_jwks")
    if anchors is None or board is None:
        raise SyncError("usage_error", "the first sync needs the city's --fingerprint (or --issuer-jwks and "
                        "--board-jwks); the keys are pinned afterwards")  # fmt: skip
    if stored.get("board_jwks") and board_jwks and dict(board_jwks) != stored["board_jwks"]:
        raise SyncError("board_key_changed", "this policy board key differs from the one this desk trusts")
    package = gather(source, fetch, anchors)
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
        named = _named_lists(payload, origin=source if _is_url(source) else None)
        lists = _status_lists(package.get("status_lists", {}), named, keys, now)
        _refuse_rollback(_stored_lists(stored, now), lists)
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
    return Trust(keys, lists, registry, now, known_strings(payload))


def known_strings(payload: Mapping[str, Any]) -> frozenset[str]:
    """The bundle's ``type_integrity`` values, which ``CID2:`` proofs leave out (none from an
    older issuer: its desks and wallets use ``CID1:``)."""
    try:
        return type_integrity_strings(payload.get("type_integrity"))
    except MalformedError as exc:
        raise SyncError(exc.reason.value, f"the trust bundle's {exc.message}") from None


def _status_lists(tokens: object, expected: list[str], keys: KeySet, now: int) -> dict[str, StatusListToken]:
    if not isinstance(tokens, dict):
        raise MalformedError(Reason.INVALID_STATUS_LIST, "the status lists are not a map of URI to token")
    lists = {}
    for uri in expected:
        token = tokens.get(uri)
        if isinstance(token, str):
            lists[uri] = verify_status_list_token(token, keys, uri=uri, now=now)
    return lists


def _stored_lists(stored: Mapping[str, Any], now: int) -> dict[str, StatusListToken]:
    """The status lists this desk holds now (verified again with the keys they were synced with)."""
    if not stored:
        return {}
    try:
        keys = KeySet.from_jwks(stored["issuer_keys"])
        return {uri: verify_status_list_token(token, keys, uri=uri, now=now, allow_expired=True)
                for uri, token in stored["status_lists"].items()}  # fmt: skip
    except (KeyError, TypeError, AttributeError, CredentialError):
        raise SyncError("unreadable_trust", "the desk's trust file is damaged: its status lists cannot be "
                        "compared with the new ones") from None  # fmt: skip


def _refuse_rollback(held: Mapping[str, StatusListToken], fresh: Mapping[str, StatusListToken]) -> None:
    """Never replace a status list with an older one: an older list may not yet know of a
    revocation, so taking it would make a cancelled ID valid again. A list of the same moment
    (``iat``) is taken only when it is the same list or adds revocations and clears none."""
    for uri, new in fresh.items():
        old = held.get(uri)
        if old is None or new.issued_at > old.issued_at:
            continue
        if new.issued_at == old.issued_at and _only_adds(old.status_list, new.status_list):
            continue
        what = "older than" if new.issued_at < old.issued_at else "of the same moment as, but different from,"
        raise SyncError(Reason.STATUS_ROLLBACK.value, f"the status list {uri} (iat {new.issued_at}) is {what} the "
                        f"one this desk holds (iat {old.issued_at}): refused, so that no cancelled ID becomes valid "
                        "again; nothing was changed. Sync again later, from the issuer itself")  # fmt: skip


def _only_adds(old: StatusList, new: StatusList) -> bool:
    """``new`` is ``old``, or a one-bit revocation list with more revoked bits and none cleared."""
    if new == old:
        return True
    if old.bits != 1 or new.bits != 1 or len(old.data) != len(new.data):
        return False
    return int.from_bytes(old.data, "little") & ~int.from_bytes(new.data, "little") == 0


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
    return Trust(keys, lists, registry, int(record.get("synced_at", 0)), known_strings(payload))
