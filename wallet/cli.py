"""``cityid wallet``: the resident's wallet.

``receive`` redeems a clerk's offer and keeps the batch in the encrypted store; the consent
screen, proofs, history and paper fallback arrive with the full wallet.
"""

from __future__ import annotations

import getpass
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
