"""``cityid issuer``: the city's issuing service.

Enrollment, batch issuance, status lists and the clerk's desk arrive with the issuer
service; for now this group describes what the city can put in a credential.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from cityid.console import console
from credential import ADDRESS_FIELDS, CREDENTIAL_TYPES, ClaimKind

app = typer.Typer(help="The city's issuer: what it signs, and (soon) enrollment and revocation.", no_args_is_help=True)


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
