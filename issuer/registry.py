"""The policy board's registry as this issuer publishes it, for wallets and desks to fetch.

The board signs its registry elsewhere (``cityid policies sign``); city IT publishes it with
``cityid issuer publish-registry registry.jwt --board-jwks board.jwks``, which keeps both in the
data directory (``registry.jwt``, ``board.jwks``). The issuer serves them at ``GET /registry``
and carries the board key in its trust bundle, so that no wallet or desk needs a file copied
by hand. Publishing checks what a wallet would check, so a mistake is caught here, not at a
desk: the board key verifies the registry, the registry is current, it is not older than the
one published, and the board key is the one already published (wallets and desks pin it).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credential import CredentialError, KeySet
from edges.files import read_at_most, write_atomic
from policies import Registry, verify_registry

from .errors import IssuerError

REGISTRY_FILE = "registry.jwt"
BOARD_FILE = "board.jwks"
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class PublishedRegistry:
    """The files in the data directory, as published (checked when they were)."""

    registry: str
    board_jwks: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The body of ``GET /registry``."""
        return {"registry": self.registry, "board_jwks": self.board_jwks}


def _read(path: Path) -> str | None:
    content = read_at_most(path, MAX_FILE_BYTES)
    if content is None:
        return None
    if len(content) > MAX_FILE_BYTES:
        raise IssuerError("invalid_registry", f"{path.name} in the data directory is larger than 1 MB", status=500)
    return content.decode("utf-8", errors="replace").strip()


def published_registry(data: Path) -> PublishedRegistry | None:
    """What ``publish-registry`` wrote in ``data``, or None when it has not run (a registry
    copied in without its board key is not published either)."""
    token, board = _read(data / REGISTRY_FILE), _read(data / BOARD_FILE)
    if token is None or board is None:
        return None
    try:
        board_jwks = json.loads(board)
    except ValueError:
        board_jwks = None
    if not isinstance(board_jwks, dict):
        raise IssuerError("invalid_registry", f"{BOARD_FILE} in the data directory is not a JWKS", status=500)
    return PublishedRegistry(token, board_jwks)


def _version(token: str) -> int:
    """The version of a registry this issuer published earlier (verified then; read, not
    verified, now: it may have expired since, and its version still counts)."""
    try:
        segment = token.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        version = payload["version"]
    except (IndexError, ValueError, KeyError, TypeError):
        version = None
    if type(version) is not int:
        raise IssuerError("invalid_registry", f"the published {REGISTRY_FILE} is damaged: move it aside to publish "
                          "again", status=500)  # fmt: skip
    return version


def publish(data: Path, token: str, board_jwks: dict[str, Any], *, now: int) -> Registry:
    """Check ``token`` with ``board_jwks`` and publish both in ``data``; refuses (``IssuerError``)
    a registry the key does not verify, an expired one, an older version than the one published
    (``registry_rollback``) and a board key other than the published one (``board_key_changed``)."""
    try:
        registry = verify_registry(token, KeySet.from_jwks(board_jwks), now=now)
    except CredentialError as exc:
        raise IssuerError(exc.reason.value, exc.message) from None
    held = published_registry(data)
    if held is not None and held.board_jwks != board_jwks:
        raise IssuerError("board_key_changed", f"this board key differs from the one published in {data}: every "
                          "wallet and desk has pinned that one and would refuse this registry")  # fmt: skip
    held_token = _read(data / REGISTRY_FILE)  # also one copied in by hand, before this command existed
    if held_token is not None and registry.version < (published := _version(held_token)):
        raise IssuerError("registry_rollback", f"this registry is version {registry.version}, older than version "
                          f"{published} already published: wallets and desks would refuse it")  # fmt: skip
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(data / BOARD_FILE, json.dumps(board_jwks, indent=2) + "\n")  # first: a registry is never published
    write_atomic(data / REGISTRY_FILE, token + "\n")  # beside a key that does not verify it
    return registry
