"""``cityid wallet``: the resident's wallet.

``receive`` redeems a clerk's offer and keeps the batch in the encrypted store; ``present``
answers a desk's request after checking it against the signed policy registry and asking
the resident. History views, backups, languages and the paper fallback arrive with the full
wallet.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from cityid.console import console, errors, printable
from cityid.keyfile import private_jwk

app = typer.Typer(help="The resident's wallet: credentials, consent and proofs.", no_args_is_help=True)

WalletOption = Annotated[
    Path | None,
    typer.Option("--wallet", metavar="FILE", show_default=False,
                 help="The wallet file (default: $CITYID_WALLET or ~/.local/share/cityid/wallet.cidw)."),
]  # fmt: skip


def _passphrase(*, new: bool) -> str:
    value = os.environ.get("CITYID_WALLET_PASSPHRASE")
    if value is None:
        if not sys.stdin.isatty():
            raise typer.Exit(_error("usage_error", "set CITYID_WALLET_PASSPHRASE or run in a terminal"))
        value = getpass.getpass("Wallet passphrase: ")
        if new and getpass.getpass("Again: ") != value:
            raise typer.Exit(_error("usage_error", "the passphrases differ"))
    if len(value) < 8:
        raise typer.Exit(_error("usage_error", "a wallet passphrase needs at least 8 characters"))
    return value


def _error(reason: str, message: str) -> int:
    errors.print(Text.assemble(("error", "bold red"), f" [{reason}] ", printable(message)))
    return 1


@app.command("receive")
def receive(
    offer: Annotated[str, typer.Argument(help="The clerk's offer: openid-credential-offer://... (from its QR code).")],
    pin: Annotated[str, typer.Option(help="The PIN the clerk told you.")],
    count: Annotated[int, typer.Option(min=1, max=20, help="Credentials of each type: one per future proof.")] = 10,
    wallet: WalletOption = None,
) -> None:
    """Receive your credentials: redeem the clerk's offer and keep the batch, encrypted, on this device."""
    import httpx  # noqa: PLC0415 - the HTTP client loads only when the wallet goes online

    from .receive import parse_offer  # noqa: PLC0415
    from .receive import receive as fetch  # noqa: PLC0415
    from .store import WalletError, default_path, load, save  # noqa: PLC0415

    path = wallet or Path(os.environ.get("CITYID_WALLET") or default_path())
    try:
        parsed = parse_offer(offer)
        passphrase = _passphrase(new=not path.exists())
        store = load(path, passphrase)
        with httpx.Client(timeout=30, follow_redirects=False) as client:
            received = fetch(parsed, pin.strip(), count=count, client=client)
        now = int(time.time())
        for item in received:
            store.credentials.append(
                {
                    "type": item.configuration,
                    "issuer": parsed.issuer,
                    "credential": item.credential,
                    "device_key": private_jwk(item.device_key),
                    "used": False,
                    "received_at": now,
                }
            )
        save(path, passphrase, store)
    except WalletError as exc:
        raise typer.Exit(_error(exc.reason, exc.message)) from None
    counts = Counter(item.configuration for item in received)
    summary = ", ".join(f"{number} {name}" for name, number in counts.items())
    console.print(f"Received {summary} credentials from {parsed.issuer}; kept encrypted in {path}.")


@app.command("present")
def present_command(
    request: Annotated[
        str, typer.Argument(help="The desk's request: its QR text (CIDR1:...), a file or photo of it, or - for stdin.")
    ],
    registry: Annotated[Path, typer.Option("--registry", metavar="FILE", help="The signed policy registry.")],
    board_jwks: Annotated[
        Path, typer.Option("--board-jwks", metavar="FILE", help="The policy board's public key (JWKS).")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Agree without asking (scripts and the demo).")] = False,
    png: Annotated[Path | None, typer.Option(metavar="FILE", help="Also write the proof's QR code as PNG.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the proof.")] = False,
    wallet: WalletOption = None,
) -> None:
    """Answer a desk's request: check it against its policy, ask you, then show only those claims."""
    from cityid.files import write_atomic  # noqa: PLC0415 - kept with the other lazy imports below
    from cityid.inputs import InputError, load_key_set, read_bounded_text, read_text_or_qr  # noqa: PLC0415
    from cityid.qrimage import make_qr, to_png, to_terminal  # noqa: PLC0415
    from credential import REQUEST_PREFIX, CredentialError, decode_request_text  # noqa: PLC0415
    from policies import check_request, verify_registry  # noqa: PLC0415

    from .present import LOW_BATCH, answer  # noqa: PLC0415
    from .store import WalletError, default_path, load, save  # noqa: PLC0415

    path = wallet or Path(os.environ.get("CITYID_WALLET") or default_path())
    now = int(time.time())
    try:
        desk_request = decode_request_text(read_text_or_qr(request, what="desk request", prefix=REQUEST_PREFIX).strip())
        approved = verify_registry(read_bounded_text(registry, what="the policy registry"), load_key_set(board_jwks),
                                   now=now)  # fmt: skip
        policy = check_request(desk_request, approved, now=now)
    except (InputError, CredentialError) as exc:
        reason = exc.reason if isinstance(exc, InputError) else exc.reason.value
        raise typer.Exit(_error(reason, f"this request is refused: {exc.message}")) from None
    screen = errors if as_json else console  # with --json, stdout carries only the JSON
    screen.print(Text.assemble(("Who is asking: ", "bold"), printable(policy.verifier), f" ({desk_request.audience})"))
    screen.print(Text.assemble(("Why: ", "bold"), printable(policy.purpose_in("en"))))
    screen.print(Text.assemble(("What they may keep: ", "bold"), printable(policy.retention.describe())))
    screen.print(Text.assemble(("Shared: ", "bold"), ", ".join(desk_request.claims)))
    if not yes and not typer.confirm("Share these with this desk?", default=False):
        console.print("Nothing was shared.")
        raise typer.Exit(1)
    try:
        passphrase = _passphrase(new=False)
        store = load(path, passphrase)
        proof = answer(store, desk_request, now=now, policy_id=policy.id)
        save(path, passphrase, store)  # before showing: a credential is never shown twice
    except WalletError as exc:
        raise typer.Exit(_error(exc.reason, exc.message)) from None
    symbol = make_qr(proof.qr_text)
    if png is not None:
        write_atomic(png, to_png(symbol))
    if as_json:
        result = {"proof": proof.qr_text, "policy": policy.id, "claims": list(desk_request.claims),
                  "credential_type": proof.credential_type, "remaining": proof.remaining}  # fmt: skip
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        console.print(to_terminal(symbol), markup=False, highlight=False)
        console.print(proof.qr_text, markup=False, highlight=False, soft_wrap=True)
    if proof.remaining <= LOW_BATCH:
        errors.print(
            f"Only {proof.remaining} unused {proof.credential_type} credentials left: ask a clerk for a new batch."
        )
