"""``cityid demo``: every part of cityid, for real, on this computer.

An issuer service on a local port over SQLite, a clerk's offer, a wallet that receives its
batch over HTTP, a policy board's signed registry published by the issuer, a desk that syncs
its trust from the issuer's URL and the city's fingerprint and then checks
a proof from a camera image offline, a revocation, and the same desk refusing the next proof.
Everything lives in a temporary directory that is deleted at the end (``--out`` keeps the
files a desk would see). The resident is fictional.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr
from rich.rule import Rule
from rich.text import Text

from credential import DeskRequest, decode_qr_text, encode_request_text
from edges.camerasim import camera_frame
from edges.console import console, printable
from edges.files import write_atomic
from edges.fingerprint import trust_fingerprint
from edges.i18n import translator
from edges.keyfile import new_es256_key, private_jwk, public_jwks
from edges.qrimage import QrSymbol, decode_qr_image, decode_qr_images, make_qr, to_png, to_terminal
from edges.sealing import hash_password
from edges.words import claim_fact, claim_label
from issuer.app import create_app
from issuer.db import make_engine, sessions, upgrade
from issuer.desk import phone_app_link
from issuer.keys import create_key, published_keys
from issuer.models import Clerk
from issuer.registry import publish
from issuer.service import create_offer, revoke_batch
from issuer.settings import IssuerSettings
from issuer.statuslists import ensure_list
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry
from verifier.engine import Desk, DeskResult
from verifier.sync import load_trust, sync
from wallet.present import answer
from wallet.receive import parse_offer, receive
from wallet.store import Wallet, save

POLICY, DESK = "recreation-centre", "desk:recreation-centre"
ENROLLED: dict[str, Any] = {
    "given_name": "Ana",
    "family_name": "Okafor",
    "birthdate": "1991-06-14",
    "address": {
        "street_address": "2130 Frederick Douglass Blvd",
        "locality": "Riverton",
        "region": "NY",
        "postal_code": "10027",
        "country": "US",
    },
}


@dataclass(frozen=True, slots=True)
class SystemRun:
    """What the demo did, for the story and for ``--out``."""

    issuer_url: str
    issuer_jwks: dict[str, Any]
    received: dict[str, int]
    pin: str
    revocation_code: str
    synced: str
    request: DeskRequest
    request_text: str
    policy_title: str
    shared: tuple[str, ...]
    presentation: str
    qr_text: str
    symbol: QrSymbol
    png: bytes
    photo: bytes
    photo_matches: bool
    result: DeskResult
    replay: DeskResult
    after_revocation: DeskResult
    database_bytes: int
    database_clean: bool
    """The resident's name, birthdate and street were searched for in the issuer's files: absent."""


def this_command() -> str:
    """How the user ran cityid, so the suggested command works as typed (e.g. .venv/bin/cityid)."""
    invoked = Path(sys.argv[0])
    return str(invoked) if invoked.name == "cityid" and invoked.parent != Path() else "cityid"


def _needles() -> tuple[str, ...]:
    return (ENROLLED["given_name"] + '"', ENROLLED["family_name"], ENROLLED["birthdate"],
            ENROLLED["address"]["street_address"])  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _issuer(folder: Path) -> Iterator[tuple[IssuerSettings, Any]]:
    """A real issuer service on a free local port, over SQLite in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    port = _free_port()
    settings = IssuerSettings(
        data=folder, issuer_url=f"http://127.0.0.1:{port}", issuer_passphrase=SecretStr(secrets.token_urlsafe(24)),
        status_list_size=2**16, status_list_ttl=2,
    )  # fmt: skip
    engine = make_engine(settings.url)
    upgrade(engine)
    with sessions(engine).begin() as session:
        create_key(session, settings.passphrase(), now=int(time.time()))
        ensure_list(session, settings.status_list_size)
    app = create_app(settings, engine=engine)
    try:
        with _serving(app, port):
            yield settings, app
    finally:
        engine.dispose()


@contextmanager
def _serving(app: Any, port: int) -> Iterator[str]:
    """``app`` served on ``127.0.0.1:port`` in a thread, until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


AfterRun = Callable[[SystemRun, IssuerSettings, Path], None]
"""Called with the run while the demo's issuer still serves (``cityid demo --serve``)."""


def run_system(now: int | None = None, *, then: AfterRun | None = None) -> SystemRun:
    """Run every part once, in a temporary directory, and return what happened; ``then`` runs
    before the issuer stops and the directory is deleted."""
    with tempfile.TemporaryDirectory(prefix="cityid-demo-") as temporary:
        return _run(Path(temporary), now, then)


def _run(folder: Path, now: int | None, then: AfterRun | None) -> SystemRun:
    with _issuer(folder / "issuer") as (settings, app), httpx.Client(timeout=30) as http:
        # The policy board signs the approved policies; the issuer publishes the registry.
        board = new_es256_key()
        approved = [
            lp.policy
            for lp in load_policies([bundled_catalog()])
            if lp.policy and lp.policy.id != "bank-account-opening"
        ]
        registry = sign_registry(approved, board, issuer="Riverton Policy Board", version=1, now=int(time.time()),
                                 lifetime=180 * 86_400, catalogue=default_catalogue())  # fmt: skip
        publish(settings.data, registry, public_jwks(board), now=int(time.time()))  # cityid issuer publish-registry

        # A clerk checks Ana's documents and creates an offer (what the desk page calls).
        engine = make_engine(settings.url)
        with sessions(engine).begin() as session:
            clerk = Clerk(username="clerk-demo", password_hash="!", created_at=int(time.time()))  # noqa: S106 - cannot sign in
            session.add(clerk)
            session.flush()
            offer = create_offer(session, settings, clerk, ENROLLED, now=int(time.time()))

        # Ana's wallet redeems it over HTTP with the PIN, making a device key per credential.
        received = receive(parse_offer(offer.offer_uri), offer.pin, count=5, client=http)
        wallet = Wallet()
        for item in received:
            wallet.credentials.append({"type": item.configuration, "credential": item.credential,
                                       "device_key": private_jwk(item.device_key), "used": False})  # fmt: skip
        save(folder / "wallet.cidw", secrets.token_urlsafe(16), wallet)

        # City IT gives the desk the fingerprint of the city's keys (cityid issuer fingerprint); the desk
        # syncs its trust once, online, from the issuer's URL; from here on it checks offline.
        with sessions(engine).begin() as session:
            fingerprint = trust_fingerprint(published_keys(session, now=int(time.time())).to_jwks(), public_jwks(board))
        issuer_jwks = http.get(f"{settings.issuer_url}/.well-known/jwt-vc-issuer").json()

        def fetch(url: str) -> str:
            return http.get(url).text

        trust = sync(settings.issuer_url, folder / "desk", fetch=fetch, now=int(time.time()), fingerprint=fingerprint)
        desk = Desk(load_trust(folder / "desk"))
        moment = now or int(time.time())
        request = desk.new_request(POLICY, audience=DESK, now=moment)

        # Consent, then the proof as a QR code; the desk reads it from a camera image.
        proof = answer(wallet, request, now=moment, policy_id=POLICY)
        symbol = make_qr(proof.qr_text)
        png = to_png(symbol)
        photo, photo_matches = b"", False
        for attempt in range(5):
            photo = camera_frame(symbol, seed=moment + attempt)
            if photo_matches := proof.qr_text in decode_qr_images(photo):
                break
        result = desk.check(decode_qr_image(photo if photo_matches else png), request=request, now=moment)
        replay = desk.check(proof.qr_text, request=request, now=moment)

        # Ana's phone is lost: a clerk revokes the batch with the code from her slip.
        with sessions(engine).begin() as session:
            clerk = session.query(Clerk).filter_by(username="clerk-demo").one()
            revoke_batch(session, clerk, offer.revocation_code, now=int(time.time()))
        engine.dispose()
        app.state.runtime.status_cache.invalidate()
        sync(settings.issuer_url, folder / "desk", fetch=fetch, now=int(time.time()))
        desk = Desk(load_trust(folder / "desk"))
        later = desk.new_request(POLICY, audience=DESK, now=moment)
        after = desk.check(answer(wallet, later, now=moment, policy_id=POLICY).qr_text, request=later, now=moment)
        stored = b"".join(path.read_bytes() for path in settings.data.glob("issuer.db*"))
        database_clean = all(needle.encode() not in stored for needle in _needles())

        policy = trust.registry.policies[POLICY]
        shown = decode_qr_text(proof.qr_text, context=desk.qr_context(request))  # CID2: the desk puts back its part
        counts: dict[str, int] = {}
        for item in received:
            counts[item.configuration] = counts.get(item.configuration, 0) + 1
        run = SystemRun(
            issuer_url=settings.issuer_url, issuer_jwks=issuer_jwks, received=counts, pin=offer.pin,
            revocation_code=offer.revocation_code, synced=f"{len(trust.issuer_keys)} key, {len(trust.status_lists)} "
            f"status list, policy registry version {trust.registry.version}", request=request,
            request_text=encode_request_text(request), policy_title=policy.title_in("en"), shared=request.claims,
            presentation=shown, qr_text=proof.qr_text, symbol=symbol, png=png, photo=photo,
            photo_matches=photo_matches, result=result, replay=replay, after_revocation=after,
            database_bytes=len(stored), database_clean=database_clean,
        )  # fmt: skip
        if then is not None:
            then(run, settings, folder)
    return run


def _step(number: int, title: str) -> None:
    console.print()
    console.print(Rule(Text(f" {number}. {title} ", style="bold"), align="left", style="dim"))


def _verdict(result: DeskResult) -> Text:
    if result.valid:
        return Text.assemble(("✔ VALID", "bold green"), f"  issued by {printable(result.issuer)}")
    return Text.assemble(("✘ REFUSED ", "bold red"), (result.reason, "red"), "  ", printable(result.message))


def tell(run: SystemRun, out: Path | None) -> None:
    """The story, in the resident's and the desk's words."""
    _ = translator("en")
    console.print(Text("cityid demo: a city ID that proves only what a desk needs, and leaves no trail", style="bold"))
    console.print("Every part runs for real on this computer, with throwaway keys; the resident is fictional.")

    _step(1, "At the city's enrolment desk")
    credentials = ", ".join(f"{n} {name}" for name, n in run.received.items())
    console.print(f"A clerk checked Ana's documents in person and created an offer at the issuer ({run.issuer_url}).")
    console.print(f'Clerk: "Scan this code with your wallet, and type the PIN [bold]{run.pin}[/]."')
    console.print(f"Ana's wallet made its own device keys and received over HTTP {credentials} one-time credentials.")
    console.print(
        f'Clerk: "Here is your revocation slip, [bold]{run.revocation_code}[/]. Keep it away from your phone."'
    )
    found = "not found" if run.database_clean else "FOUND (a bug: please report it)"
    console.print(
        f"The issuer's files ({run.database_bytes:,} bytes) were searched for Ana's name, birthdate and street: "
        f"{found}. The city keeps keys, random status indexes and a hash of the slip's code."
    )

    _step(2, "The recreation centre's desk gets ready")
    console.print(f"The desk synced its trust once ({run.synced}); from now on it checks offline.")
    console.print(f'Desk: "Please scan our code." Under the approved policy [bold]{run.policy_title}[/] it asks for:')
    console.print("  " + " · ".join(claim_label(_, name) for name in run.shared))

    _step(3, "Ana's wallet asks her first")
    shared = ", ".join(claim_label(_, name).lower() for name in run.shared)
    console.print(
        f'Wallet: "Riverton Parks and Recreation asks for proof, for the resident adult rate. They keep nothing. '
        f'They will see: {shared}. They will not see your name, date of birth or address. Share?"'
    )
    console.print('Ana: "Yes."')
    if not console.is_terminal or console.width >= run.symbol.size + 4:
        console.print(Text(to_terminal(run.symbol), style="black on white"), soft_wrap=True)
    console.print(
        f"QR version {run.symbol.version}, {len(run.qr_text)} characters, from a credential never shown before."
    )

    _step(4, "The desk scans it from the camera, offline")
    photo = "a tilted, blurred camera photo" if run.photo_matches else "the PNG image"
    console.print(f"Read from {photo} and checked against the synced keys, status list and policy:")
    console.print(_verdict(run.result))
    for name, value in run.result.claims.items():
        console.print(f"    {claim_fact(_, name, value)}")
    console.print("The desk wrote nothing down: no log, no copy, no call to the city.")

    _step(5, "Someone tries the same code again")
    console.print(_verdict(run.replay))

    _step(6, "Ana loses her phone")
    console.print(
        "She brings her slip to a city desk and the clerk revokes the batch with its code. The recreation centre's "
        "desk syncs its status list, and the next proof from the lost phone is refused:"
    )
    console.print(_verdict(run.after_revocation))
    _phone_wallet_hint()

    if out is not None:
        console.print()
        console.print(f"Files written to {out}/:")
        for path in write_outputs(run, out):
            console.print(f"  {path.name}")
        console.print("Check the proof yourself (cityid verify skips the status list unless given --status):")
        console.print(
            f"  {this_command()} verify {out}/presentation.png --issuer-jwks {out}/issuer-jwks.json "
            f"--nonce {run.request.nonce} --audience {run.request.audience}",
            soft_wrap=True,
        )


def _phone_wallet_hint() -> None:
    """How to try the resident's phone wallet: the demo's issuer stops with the demo unless asked."""
    console.print()
    console.print(
        f"Phone wallet: run {this_command()} demo --serve to keep this demo's issuer running with a new offer "
        "to open in the phone wallet in this computer's browser (a phone needs the issuer over https, see "
        "docs/residents.md).",
        soft_wrap=True,
    )


def serve_for_the_phone(run: SystemRun, settings: IssuerSettings, folder: Path, *, stop: threading.Event) -> None:
    """Keep the demo's issuer up, with a desk page beside it, until ``stop`` is set (Ctrl+C):
    a new offer opens in the phone wallet (``/wallet/``), and the desk page asks for a proof
    that the wallet shows as a QR code for the camera."""
    from edges.appfiles import app_directory  # noqa: PLC0415
    from verifier.app import create_desk_app  # noqa: PLC0415 - only when serving

    password = secrets.token_urlsafe(9)
    engine = make_engine(settings.url)
    with sessions(engine).begin() as session:
        clerk = Clerk(username="demo-clerk", password_hash=hash_password(password), created_at=int(time.time()))
        session.add(clerk)
        session.flush()
        offer = create_offer(session, settings, clerk, ENROLLED, now=int(time.time()))
    engine.dispose()
    desk_app = create_desk_app(folder / "desk", audience=DESK)
    with _serving(desk_app, _free_port()) as desk_url:
        _step(7, "Try it yourself: the phone wallet")
        if not (app_directory() / "app.js").exists():
            console.print("[yellow]The phone wallet is not built here[/] (./dev builds it, with Node.js): "
                          "the link below answers 503 until it is.")  # fmt: skip
        console.print("Open this link in Chromium or Chrome on this computer; it opens the wallet with a new "
                      f"offer for Ana. Type the PIN [bold]{offer.pin}[/]:", soft_wrap=True)  # fmt: skip
        console.print(f"  {phone_app_link(settings.issuer_url, offer.offer_uri)}", soft_wrap=True, highlight=False)
        console.print(f"A desk asking for a proof (its camera reads the wallet's QR code): {desk_url}/",
                      soft_wrap=True, highlight=False)  # fmt: skip
        console.print(f"The clerk's pages: {settings.issuer_url}/desk/ (sign in as demo-clerk, password "
                      f"{password}).", soft_wrap=True, highlight=False)  # fmt: skip
        console.print("Press Ctrl+C to stop; everything is deleted then.")
        try:
            while not stop.wait(0.5):
                pass
        finally:  # Ctrl+C ends the command by SystemExit (edges/exits.py): the folder still goes
            console.print("Stopping the demo's issuer and desk, and deleting their files.")


def write_outputs(run: SystemRun, out: Path) -> list[Path]:
    """The files a desk would see, for ``cityid verify`` and for looking at."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes] = {
        "issuer-jwks.json": json.dumps(run.issuer_jwks, indent=2) + "\n",
        "presentation.txt": run.presentation + "\n",
        "presentation-qr.txt": run.qr_text + "\n",
        "presentation.png": run.png,
        "camera-frame.jpg": run.photo,
        "request.json": json.dumps({"nonce": run.request.nonce, "audience": run.request.audience}, indent=2) + "\n",
        "request-qr.txt": run.request_text + "\n",
    }
    written = []
    for name, content in files.items():
        write_atomic(out / name, content)
        written.append(out / name)
    return written
