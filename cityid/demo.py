"""``cityid demo``: one resident, one desk, nothing left behind.

In one process and with throwaway keys: the city issues a residency and an identity
credential to a fictional resident; a library desk asks for proof of residency and age;
the wallet discloses only those two claims, bound to the desk's nonce; the proof becomes a
QR code, is read back from the image (and from a camera-like photo), and verified offline.
:func:`run_scenario` does the work and returns every artefact; :func:`demo` tells the story.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

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
from verifier.cli import in_display_order

from .camerasim import camera_frame
from .console import console, printable
from .qrimage import QrSymbol, decode_qr_image, decode_qr_images, make_qr, to_png, to_terminal

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


def write_outputs(scenario: Scenario, out: Path) -> list[Path]:
    """The demo's artefacts, for ``cityid verify`` and for looking at."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes] = {
        "issuer-jwks.json": json.dumps(scenario.issuer_jwks, indent=2) + "\n",
        "presentation.txt": scenario.presentation + "\n",
        "presentation-qr.txt": scenario.qr_text + "\n",
        "presentation.png": scenario.png,
        "camera-frame.jpg": scenario.photo,
        "request.json": json.dumps(scenario.request, indent=2) + "\n",
    }
    written = []
    for name, content in files.items():
        path = out / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def _step(number: int, title: str) -> None:
    console.print()
    console.print(Rule(Text(f" {number}. {title} ", style="bold"), align="left", style="dim"))


def _claims_table(claims: dict[str, Any], shared: tuple[str, ...] | None = None) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    for name, value in claims.items():
        if shared is None:
            table.add_row(name, printable(value))
        elif name in shared:
            table.add_row(Text("✔ shares", style="green"), name, printable(value))
        else:
            table.add_row(Text("✘ keeps", style="dim"), Text(name, style="dim"), "")
    return table


def tell(scenario: Scenario, out: Path | None) -> None:
    """Print the story of a scenario."""
    console.print(Text("cityid demo — one resident, one desk, nothing left behind", style="bold"))
    console.print("Everything below runs on this computer with throwaway keys; the resident is fictional.")

    _step(1, "The city issues credentials")
    console.print(
        "A clerk checked Ana's documents in person. Her phone made a new device key for each credential,\n"
        "and the city signed two: a [bold]residency[/] credential for everyday desks:"
    )
    console.print(_claims_table(scenario.residency_claims))
    console.print(
        "and an [bold]identity[/] credential (name, birthdate, address) for the few services that need it.\n"
        "Each claim is signed only as a salted digest, so Ana can reveal any one of them alone.\n"
        "The city keeps no copy of her claims."
    )

    _step(2, "The library desk asks")
    console.print(
        f"The desk shows a request: prove [bold]{' and '.join(REQUESTED)}[/], answering "
        f"nonce [cyan]{scenario.request['nonce']}[/] for audience [cyan]{scenario.request['audience']}[/]."
    )

    _step(3, "Ana sees what will be shared, and agrees")
    console.print(_claims_table(scenario.residency_claims, shared=REQUESTED))
    console.print("Her identity credential (name, birthdate, address) is not used at all.")

    _step(4, "Her wallet shows a QR code")
    if not console.is_terminal or console.width >= scenario.symbol.size + 4:
        console.print(Text(to_terminal(scenario.symbol), style="black on white"), soft_wrap=True)
    else:
        console.print(f"(widen the terminal to {scenario.symbol.size + 4} columns to see the QR code here)")
    console.print(
        f"QR version {scenario.symbol.version} at error correction {scenario.symbol.ec_level}: "
        f"{len(scenario.qr_text)} characters. The same proof as a plain SD-JWT "
        f"({len(scenario.presentation)} characters) would need version {scenario.raw_qr_version}."
    )

    _step(5, "The desk scans it, offline")
    verified = scenario.verified
    photo_note = (
        "and from a tilted, blurred camera photo" if scenario.photo_matches else "(the camera photo did not decode)"
    )
    console.print(f"Read back from the PNG image {photo_note}; checked against the city's key, with no network.")
    result = Table(show_header=False, box=None, padding=(0, 2))
    result.add_row(Text("✔ VALID", style="bold green"), f"issued by {printable(verified.issuer)}")
    for name, value in in_display_order(verified.vct, verified.claims):
        result.add_row("", f"{printable(name)}: {printable(value)}")
    console.print(result)
    console.print(
        f"The desk learned {len(verified.claims)} facts. It did not learn Ana's name, birthdate, address\n"
        "or exact age, and it wrote nothing down: no log, no copy of the proof."
    )

    _step(6, "Someone copies the QR code and tries it at another desk")
    console.print(
        Text.assemble(
            ("✘ refused: ", "bold red"),
            (scenario.replay_reason, "red"),
            " — the proof was made for the library desk's request only.",
        )
    )

    if out is not None:
        console.print()
        console.print(f"Files written to {out}/:")
        for path in write_outputs(scenario, out):
            console.print(f"  {path.name}")
        console.print("Check the proof again yourself:")
        console.print(
            f"  {_this_command()} verify {out}/presentation.png --issuer-jwks {out}/issuer-jwks.json "
            f"--nonce {scenario.request['nonce']} --audience {scenario.request['audience']}",
            soft_wrap=True,  # one line, so it can be copied and pasted
        )


def _this_command() -> str:
    """How the user ran cityid, so the suggested command works as typed (e.g. .venv/bin/cityid)."""
    invoked = Path(sys.argv[0])
    return str(invoked) if invoked.name == "cityid" and invoked.parent != Path() else "cityid"


def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Also write issuer-jwks.json, presentation.txt, presentation-qr.txt, presentation.png, "
            "camera-frame.jpg and request.json to DIR.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Issue a credential, present it as a QR code, and verify it offline, end to end."""
    tell(run_scenario(int(time.time())), out)
