"""A desk with real trust: an issuer (in process), a signed registry, a synced data directory,
and a resident's credentials to make proofs from."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from issuer_support import Issuer, enrolled

from credential import DeskRequest, SigningKey, encode_qr_text, parse_issued, present, present_on_paper
from edges.keyfile import new_es256_key, public_jwks
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry
from verifier.sync import sync
from wallet.receive import Received

DESK_POLICIES = ("library-card", "recreation-centre", "clinic-registration", "senior-discount")


@dataclass
class World:
    issuer: Issuer
    data: Path
    board_jwks: dict[str, Any]
    residency: list[Received]
    identity: list[Received]
    revocation_code: str

    def fetch(self, url: str) -> str:
        return self.issuer.client.get(url).text

    def sync(self, now: int | None = None) -> Any:
        return sync(self.issuer.settings.issuer_url, self.data, fetch=self.fetch, now=now or int(time.time()),
                    issuer_jwks=self.issuer.client.get("/.well-known/jwt-vc-issuer").json(),
                    board_jwks=self.board_jwks)  # fmt: skip


def publish_registry(issuer: Issuer) -> dict[str, Any]:
    board = new_es256_key()
    chosen = [lp.policy for lp in load_policies([bundled_catalog()]) if lp.policy and lp.policy.id in DESK_POLICIES]
    registry = sign_registry(chosen, board, issuer="Board", version=1, now=int(time.time()), lifetime=30 * 86_400,
                             catalogue=default_catalogue())  # fmt: skip
    (issuer.settings.data / "registry.jwt").write_text(registry)
    return public_jwks(board)


def make_world(issuer: Issuer, data: Path, count: int = 4) -> World:
    board = publish_registry(issuer)
    offer = issuer.offer(enrolled())
    received = issuer.receive(offer, count=count)
    return World(issuer, data, board, [r for r in received if r.configuration == "residency"],
                 [r for r in received if r.configuration == "identity"], offer.revocation_code)  # fmt: skip


def answer(item: Received, request: DeskRequest, *, disclose: tuple[str, ...] | None = None, now: int) -> str:
    """The proof a wallet shows for ``request``, in the newest codec the desk reads."""
    proof = present(parse_issued(item.credential), disclose=list(disclose or request.claims),
                    holder_key=item.device_key, audience=request.audience, nonce=request.nonce, now=now)  # fmt: skip
    return encode_qr_text(proof, version=request.codec, answers_request=True)


def paper(item: Received, claims: tuple[str, ...]) -> str:
    return encode_qr_text(present_on_paper(item.credential, disclose=claims))


def offline(item: Received, policy: str, claims: tuple[str, ...], now: int, nonce: str = "n" * 22) -> str:
    from credential import offline_audience  # noqa: PLC0415

    held = parse_issued(item.credential)
    key: SigningKey = item.device_key
    return encode_qr_text(present(held, disclose=list(claims), holder_key=key, audience=offline_audience(policy),
                                  nonce=nonce, now=now))  # fmt: skip
