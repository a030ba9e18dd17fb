"""``cityid wallet``: the resident's wallet.

The encrypted store, consent screen and proofs arrive with the wallet; ``cityid demo``
shows a wallet's part of the flow today.
"""

from __future__ import annotations

import typer

from cityid.console import console

app = typer.Typer(
    help="The resident's wallet: credentials, consent and proofs (in development).", invoke_without_command=True
)


@app.callback()
def wallet(ctx: typer.Context) -> None:
    """The resident's wallet: encrypted store, consent screen, one-time proofs, paper fallback."""
    if ctx.invoked_subcommand is None:
        console.print(
            "The wallet commands are not available in this version.\n"
            "Run [bold]cityid demo[/] to see a wallet receive credentials and answer a desk's request."
        )
