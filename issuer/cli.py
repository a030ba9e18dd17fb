"""``cityid issuer``: the city's issuing service and its operators' commands.

``init`` sets up a data directory (database, sealed signing key, first status list);
``add-clerk``, ``offer``, ``revoke``, ``rotate-key`` and ``export-trust`` are what an operator
scripts; ``publish-registry`` publishes the policy board's registry and ``fingerprint`` prints
the code each desk's first sync is checked against; ``serve`` runs the HTTP service with the
clerk's desk pages. Settings come from
options and ``CITYID_*`` environment variables (docs/operations.md); the issuer URL is stored
in the data directory by ``init``, so every command on one directory uses the same one. The work is done in
``issuer/commands.py``, imported only when an issuer command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from rich.table import Table

from credential import ADDRESS_FIELDS, CREDENTIAL_TYPES, ClaimKind
from edges.console import console

app = typer.Typer(
    help="The city's issuer: enrollment, batch issuance, status lists and revocation.", no_args_is_help=True
)

DataOption = Annotated[
    Path | None,
    typer.Option("--data", metavar="DIR", show_default=False,
                 help="The issuer's data directory (default: $CITYID_ISSUER_DATA or ./issuer-data)."),
]  # fmt: skip
DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", metavar="URL", show_default=False,
                 help="SQLAlchemy URL, e.g. postgresql://user@host/db (default: $CITYID_DATABASE_URL or SQLite in "
                 "the data directory)."),
]  # fmt: skip
ClerkOption = Annotated[str, typer.Option("--clerk", metavar="NAME", help="The clerk accountable for this action.")]


def _commands() -> ModuleType:
    from . import commands  # noqa: PLC0415 - the database and web stack load only for issuer commands

    return commands


@app.command("init")
def init(
    data: DataOption = None,
    database_url: DatabaseOption = None,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            help="Public base URL, stored in the data directory for offer and serve "
            "(default: $CITYID_ISSUER_URL or http://127.0.0.1:8400)."
        ),
    ] = None,
    new: Annotated[
        bool, typer.Option("--new", help="Start a new issuer over an empty or unusable database (kept aside).")
    ] = False,
) -> None:
    """Create the database (or bring it up to date) and, the first time, the signing key.

    The key is sealed with the passphrase in $CITYID_ISSUER_PASSPHRASE or in the file named by
    $CITYID_ISSUER_PASSPHRASE_FILE. Running init again is safe: it only migrates. On an empty or
    broken database it refuses to make a new key (issued credentials would stop verifying) unless
    given --new.
    """
    _commands().init(data, database_url, issuer_url, new=new)


@app.command("rotate-key")
def rotate_key(data: DataOption = None, database_url: DatabaseOption = None) -> None:
    """Make a new signing key; old keys stay published until their credentials expire."""
    _commands().rotate_key(data, database_url)


@app.command("add-clerk")
def add_clerk(
    username: Annotated[str, typer.Argument(help="The clerk's sign-in name.")],
    data: DataOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Add a clerk account. The password is asked for (or read from $CITYID_CLERK_PASSWORD or stdin)."""
    _commands().add_clerk(username, data, database_url)


@app.command("offer")
def offer(
    claims_file: Annotated[
        Path,
        typer.Option(
            "--claims",
            metavar="FILE",
            help="JSON: given_name, family_name, birthdate (YYYY-MM-DD), "
            "address {street_address, locality, region, postal_code, country}; - for stdin.",
        ),
    ],
    clerk: ClerkOption,
    png: Annotated[Path | None, typer.Option(metavar="FILE", help="Also write the offer QR code as PNG.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data: DataOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create a one-time offer for a resident whose documents were checked in person.

    Prints the offer (a QR code and its URI), the PIN to tell the resident, and the revocation
    code for their slip. Delete the claims file afterwards: the issuer keeps no copy.
    """
    _commands().offer(claims_file, clerk, png, as_json, data, database_url)


@app.command("revoke")
def revoke(
    code: Annotated[str, typer.Argument(help="The revocation code from the resident's slip.")],
    clerk: ClerkOption,
    data: DataOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Revoke every credential of the batch a revocation code names (a lost phone)."""
    _commands().revoke(code, clerk, data, database_url)


@app.command("export-trust")
def export_trust(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write here instead of stdout.")
    ] = None,
    data: DataOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """The signed trust bundle a desk caches: issuer keys, status list locations, policy registry
    (the registry is the file registry.jwt in the data directory, when present)."""
    _commands().export_trust(out, data, database_url)


@app.command("publish-registry")
def publish_registry(
    registry: Annotated[Path, typer.Argument(metavar="FILE", help="The board's signed registry (registry.jwt).")],
    board_jwks: Annotated[
        Path, typer.Option("--board-jwks", metavar="FILE", help="The policy board's public key (board.jwks).")
    ],
    data: DataOption = None,
) -> None:
    """Publish the policy board's registry: wallets and desks fetch it, with the board's key,
    from GET /registry and the trust bundle. Refuses a registry the key does not verify, an
    expired one, an older version than the one published, and a different board key."""
    _commands().publish_registry(registry, board_jwks, data)


@app.command("fingerprint")
def fingerprint(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data: DataOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Print the trust-anchor fingerprint (issuer keys and board key) to give each desk once,
    for `cityid verifier sync URL --fingerprint F`. It changes when a key is rotated."""
    _commands().fingerprint(data, database_url, as_json=as_json)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8400,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            help="Public base URL; must match the one init stored (default: the stored one, else "
            "$CITYID_ISSUER_URL or http://HOST:PORT)."
        ),
    ] = None,
    data: DataOption = None,
    database_url: DatabaseOption = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            help="PEM certificate (chain) to serve https directly. Phones need https for the wallet app "
            "(camera and offline use) unless it is opened on this computer as localhost.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="PEM private key for --tls-cert.", exists=True, dir_okay=False)
    ] = None,
) -> None:
    """Run the issuer: OpenID4VCI endpoints, metadata, status lists, trust bundle, clerk desk (/desk),
    and the residents' phone wallet (/wallet/)."""
    _commands().serve(host, port, issuer_url, data, database_url, tls=(tls_cert, tls_key))


@app.command("types")
def types(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """List the credential types the city issues and the claims each one carries."""
    if as_json:
        listing = {
            kind.name: {
                "vct": kind.vct,
                "title": kind.title,
                "validity_days": kind.validity_days,
                "claims": dict(kind.claims),
            }
            for kind in CREDENTIAL_TYPES.values()
        }
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
        return
    for kind in CREDENTIAL_TYPES.values():
        console.print(f"[bold]{kind.title}[/]: {kind.name} ({kind.vct}), valid {kind.validity_days} days")
        table = Table()
        table.add_column("claim")
        table.add_column("kind")
        for name, claim_kind in kind.claims.items():
            detail = (
                f"{claim_kind} ({', '.join(ADDRESS_FIELDS)})" if claim_kind is ClaimKind.ADDRESS else str(claim_kind)
            )
            table.add_row(name, detail)
        console.print(table)
    console.print("Every claim is a separate, salted disclosure: a resident shows only the ones a desk needs.")
