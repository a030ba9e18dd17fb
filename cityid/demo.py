"""``cityid demo``, and the credential core's own scenario.

:func:`demo` runs the whole system (``cityid/system_demo.py``): issuer service, clerk, wallet,
policy board, desk, revocation. :func:`run_scenario` is the same story with the credential
core alone, in memory (issue, present, QR, camera photo, verify): the tests and benchmarks use
it as a fixed, fast reference.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from credential import (
    IDENTITY,
    RESIDENCY,
    CredentialError,
    KeySet,
    SigningKey,
    StatusReference,
    VerifiedPresentation,
    decode_qr_text,
    encode_qr_text,
    issue_credential,
    jwk_thumbprint,
    present,
    residency_claims,
    verify_presentation,
)
from edges.camerasim import camera_frame
from edges.console import errors
from edges.qrimage import QrSymbol, decode_qr_image, decode_qr_images, make_qr, to_png

ISSUER = "https://id.riverton.example"
DESK = "desk:library"
OTHER_DESK = "desk:pharmacy"
REQUESTED = ("resident_of", "age_over_18")
RESIDENT: dict[str, Any] = {
    "given_name": "Ana Lucía",
    "family_name": "Flores",
    "birthdate": "1991-06-14",
    "address": {
        "street_address": "48 Orchard Lane",
        "locality": "Riverton",
        "region": "RV",
        "postal_code": "10027",
        "country": "US",
    },
    "resident_of": "Riverton",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything the demo made, for the story and for ``--out``."""

    issuer_jwks: dict[str, Any]
    residency_claims: dict[str, Any]
    request: dict[str, str]
    presentation: str
    qr_text: str
    raw_qr_version: int
    symbol: QrSymbol
    png: bytes
    photo: bytes
    verified: VerifiedPresentation
    photo_matches: bool
    replay_reason: str


def run_scenario(now: int) -> Scenario:
    """Issue, present, render, scan and verify, with fresh keys; nothing touches the disk."""
    issuer_key = SigningKey.generate("ES256")
    issuer_key = SigningKey(issuer_key.alg, issuer_key.private_key, jwk_thumbprint(issuer_key.public_jwk())[:8])
    trusted = KeySet([issuer_key.verifying_key()])
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    claims = residency_claims(RESIDENT["resident_of"], dt.date.fromisoformat(RESIDENT["birthdate"]), today)

    # The resident's phone makes one device key per credential; only public keys leave it.
    residency_key, identity_key = SigningKey.generate(), SigningKey.generate()
    status = StatusReference(secrets.randbelow(1 << 20), f"{ISSUER}/status/1")
    residency = issue_credential(
        RESIDENCY,
        claims,
        issuer_key=issuer_key,
        iss=ISSUER,
        holder_jwk=residency_key.public_jwk(),
        now=now,
        status=status,
    )
    issue_credential(
        IDENTITY,
        RESIDENT,
        issuer_key=issuer_key,
        iss=ISSUER,
        holder_jwk=identity_key.public_jwk(),
        now=now,
        status=status,
    )

    request = {"nonce": secrets.token_urlsafe(12), "audience": DESK}
    presentation = present(
        residency, disclose=REQUESTED, holder_key=residency_key, audience=DESK, nonce=request["nonce"], now=now
    )
    qr_text = encode_qr_text(presentation)
    symbol = make_qr(qr_text)
    png = to_png(symbol)
    # Like a desk scanner reading successive webcam frames, take the first photo that reads.
    photo, photo_matches = b"", False
    for attempt in range(5):
        photo = camera_frame(symbol, seed=now + attempt)
        if photo_matches := qr_text in decode_qr_images(photo):
            break

    scanned = decode_qr_image(png)  # the desk reads the image, not our variables
    verified = verify_presentation(
        decode_qr_text(scanned), issuer_keys=trusted, audience=DESK, nonce=request["nonce"], now=now
    )
    try:
        verify_presentation(presentation, issuer_keys=trusted, audience=OTHER_DESK, nonce=request["nonce"], now=now)
        replay_reason = "accepted"
    except CredentialError as exc:
        replay_reason = exc.reason.value
    return Scenario(
        issuer_jwks=trusted.to_jwks(),
        residency_claims=claims,
        request=request,
        presentation=presentation,
        qr_text=qr_text,
        raw_qr_version=make_qr(presentation).version,
        symbol=symbol,
        png=png,
        photo=photo,
        verified=verified,
        photo_matches=photo_matches,
        replay_reason=replay_reason,
    )


def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Also write issuer-jwks.json, presentation.txt, presentation-qr.txt, presentation.png, "
            "camera-frame.jpg, request.json and request-qr.txt to DIR.",
            show_default=False,
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="After the story, keep the demo's issuer running with a new offer for the phone wallet "
            "(a link to open in this computer's browser) and a desk page, until Ctrl+C.",
        ),
    ] = False,
) -> None:
    """Run every part of cityid for real: issuer, clerk, wallet, policy board, desk, revocation.

    An issuer service on a local port over SQLite, a wallet receiving its batch over HTTP, a
    desk that syncs its trust and checks a proof from a camera image offline; then the phone is
    lost, the batch revoked, and the same desk refuses the next proof. With --serve, try the
    phone wallet against the same issuer afterwards.
    """
    import threading  # noqa: PLC0415

    from . import system_demo  # noqa: PLC0415 - the web stack loads only for the demo

    stop = threading.Event()

    def tell_then_serve(run: system_demo.SystemRun, settings: Any, folder: Path) -> None:
        system_demo.tell(run, out)
        system_demo.serve_for_the_phone(run, settings, folder, stop=stop)

    try:
        run = system_demo.run_system(then=tell_then_serve if serve else None)
    except Exception as exc:
        errors.print(f"The demo could not run: {type(exc).__name__}: {str(exc)[:200]}")
        raise typer.Exit(1) from None
    if not serve:
        system_demo.tell(run, out)
