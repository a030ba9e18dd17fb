"""``cityid``: one command, a sub-command group per role.

The groups are registered by name and imported only when one of their commands runs, so that
``cityid verify`` at a desk does not first load the issuer's database layer, the wallet or the
policy board's tools. ``cityid --help`` lists every command from the summaries kept here
(tests/test_cold_start.py checks that they match the commands' own help).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer._click import Command, Context  # the Click that Typer carries
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info, get_group_from_info
from typer.models import CommandInfo, TyperInfo

from edges.console import tolerate_unencodable_output
from edges.exits import exit_on_interrupt


@dataclass(frozen=True)
class LazyCommand:
    """Where a command or group is defined, and its one-line summary for ``cityid --help``."""

    module: str
    attribute: str  # a command function, or a sub-app (typer.Typer)
    summary: str


COMMANDS = {
    "demo": LazyCommand(
        "cityid.demo",
        "demo",
        "Run every part of cityid for real: issuer, clerk, wallet, policy board, desk, revocation.",
    ),
    "verify": LazyCommand("verifier.cli", "verify", "Check a proof offline and show only what it discloses."),
    "issuer": LazyCommand(
        "issuer.cli", "app", "The city's issuer: enrollment, batch issuance, status lists and revocation."
    ),
    "wallet": LazyCommand("wallet.cli", "app", "The resident's wallet: credentials, consent and proofs."),
    "verifier": LazyCommand(
        "verifier.cli", "app", "The service desk: check residents' proofs offline, keeping nothing."
    ),
    "policies": LazyCommand(
        "policies.cli", "app", "Verifier policies: what each desk may ask, for what purpose, and what it may keep."
    ),
}


class LazyGroup(TyperGroup):
    """The root group: a command's module is imported the first time the command is looked up
    to run. Help, and a typo's "Did you mean ...?", use the summaries in :data:`COMMANDS`."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = {name: TyperCommand(name, help=lazy.summary) for name, lazy in COMMANDS.items()}
        self._loaded: dict[str, Command] = {}
        self._listing = False

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        lazy = COMMANDS.get(cmd_name)
        if lazy is None or self._listing:
            return self.commands.get(cmd_name)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = load(cmd_name, lazy)
        return self._loaded[cmd_name]

    def get_help(self, ctx: Context) -> str:
        self._listing = True
        try:
            return super().get_help(ctx)
        finally:
            self._listing = False


def load(name: str, lazy: LazyCommand) -> Command:
    """The command ``name`` from its module, built as ``app.command`` or ``app.add_typer`` would."""
    target = getattr(importlib.import_module(lazy.module), lazy.attribute)
    short, markup = app.pretty_exceptions_short, app.rich_markup_mode
    if isinstance(target, typer.Typer):
        return get_group_from_info(TyperInfo(target, name=name), pretty_exceptions_short=short,
                                   rich_markup_mode=markup, suggest_commands=app.suggest_commands)  # fmt: skip
    return get_command_from_info(CommandInfo(name, callback=target), pretty_exceptions_short=short,
                                 rich_markup_mode=markup)  # fmt: skip


app = typer.Typer(
    name="cityid",
    cls=LazyGroup,
    help="cityid: a municipal ID that proves only what a desk needs to know, and leaves no trail.",
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks with local variables could print keys or claims: never show them.
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Nothing to do before a command: it makes ``cityid`` a group whose commands load lazily."""


def main() -> None:
    """Console-script entry point."""
    tolerate_unencodable_output()
    exit_on_interrupt()
    app()
