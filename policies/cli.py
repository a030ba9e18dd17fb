"""``cityid policies``: what each kind of desk may ask for, and why.

The policy catalog, its audit and the signed registry arrive with verifier policies.
"""

from __future__ import annotations

import typer

from cityid.console import console

app = typer.Typer(
    help="Verifier policies: what each desk may ask, for what purpose (in development).", invoke_without_command=True
)


@app.callback()
def policies(ctx: typer.Context) -> None:
    """Verifier policies: the catalog, the privacy reviewer's audit and the signed registry."""
    if ctx.invoked_subcommand is None:
        console.print("No policy catalog is available in this version.")
