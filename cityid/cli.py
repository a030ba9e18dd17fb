"""``cityid``: one command, a sub-command group per role."""

from __future__ import annotations

import typer

from issuer.cli import app as issuer_app
from policies.cli import app as policies_app
from verifier.cli import app as verifier_app
from verifier.cli import verify
from wallet.cli import app as wallet_app

from .console import tolerate_unencodable_output
from .demo import demo
from .exits import exit_on_interrupt

app = typer.Typer(
    name="cityid",
    help="cityid: a municipal ID that proves only what a desk needs to know, and leaves no trail.",
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks with local variables could print keys or claims: never show them.
    pretty_exceptions_enable=False,
)
app.command("demo")(demo)
app.command("verify")(verify)
app.add_typer(issuer_app, name="issuer")
app.add_typer(wallet_app, name="wallet")
app.add_typer(verifier_app, name="verifier")
app.add_typer(policies_app, name="policies")


def main() -> None:
    """Console-script entry point."""
    tolerate_unencodable_output()
    exit_on_interrupt()
    app()
