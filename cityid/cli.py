"""``cityid``: one command, a sub-command group per role.

The groups are registered by name and imported only when one of their commands runs, so that
``cityid verify`` at a desk does not first load the issuer's database layer, the wallet or the
policy board's tools. ``cityid --help`` lists every command from the summaries kept here
(tests/test_cold_start.py checks that they match the commands' own help).

``cityid verify`` itself, the desk's everyday command, does not even wait for Typer: :func:`main`
hands its arguments to ``verifier.quickverify``, which parses exactly the options of the Typer
command and answers with the same output and exit status in a third of the start-up time.
Whatever it is not sure of (``--help``, an unknown or repeated option, a missing or malformed
value) goes to Typer unchanged, so usage errors and help read as they always did. Typer itself is
imported only then, or when ``app`` is used (the tests drive it directly).
"""

from __future__ import annotations

import gc
import importlib
import sys
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from edges.console import tolerate_unencodable_output
from edges.exits import exit_on_interrupt

if TYPE_CHECKING:
    import typer
    from typer._click import Command

    app: typer.Typer
    """The root command group (built on first use, with Typer)."""


class LazyCommand(NamedTuple):
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


@cache
def _root_app() -> typer.Typer:
    """The Typer app whose root group imports a command's module the first time the command is
    looked up to run. Help, and a typo's "Did you mean ...?", use the summaries in :data:`COMMANDS`."""
    import typer  # noqa: PLC0415 - Typer costs ~40 ms at start-up; `cityid verify` mostly does without
    from typer._click import Context  # noqa: PLC0415 - the Click that Typer carries
    from typer._click.globals import get_current_context  # noqa: PLC0415
    from typer.core import TyperCommand, TyperGroup  # noqa: PLC0415

    class LazyGroup(TyperGroup):
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

    root = typer.Typer(
        name="cityid",
        cls=LazyGroup,
        help="cityid: a municipal ID that proves only what a desk needs to know, and leaves no trail.",
        no_args_is_help=True,
        add_completion=False,
        # Tracebacks with local variables could print keys or claims: never show them.
        pretty_exceptions_enable=False,
    )

    @root.callback()
    def _root() -> None:
        """Before a command: the policy commands are given the roles' storage models, for the
        audit's "who stores what" (the policies package sits below the roles and never imports
        them; they load only if the audit asks)."""
        ctx = get_current_context()  # not a parameter: Typer would resolve its annotation at module level
        if ctx.invoked_subcommand == "policies":
            from policies import RoleStorage  # noqa: PLC0415 - loaded anyway for `cityid policies`

            from .parties import storage_models  # noqa: PLC0415

            ctx.obj = RoleStorage(storage_models)

    return root


def __getattr__(name: str) -> Any:
    if name == "app":
        return _root_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(name: str, lazy: LazyCommand) -> Command:
    """The command ``name`` from its module, built as ``app.command`` or ``app.add_typer`` would."""
    import typer  # noqa: PLC0415
    from typer.main import get_command_from_info, get_group_from_info  # noqa: PLC0415
    from typer.models import CommandInfo, TyperInfo  # noqa: PLC0415

    target = getattr(importlib.import_module(lazy.module), lazy.attribute)
    root = _root_app()
    short, markup = root.pretty_exceptions_short, root.rich_markup_mode
    if isinstance(target, typer.Typer):
        return get_group_from_info(TyperInfo(target, name=name), pretty_exceptions_short=short,
                                   rich_markup_mode=markup, suggest_commands=root.suggest_commands)  # fmt: skip
    return get_command_from_info(CommandInfo(name, callback=target), pretty_exceptions_short=short,
                                 rich_markup_mode=markup)  # fmt: skip


def main() -> None:
    """Console-script entry point: ``cityid verify`` through its lean runner when it can, every
    other command (and whatever that runner leaves) through Typer."""
    tolerate_unencodable_output()
    exit_on_interrupt()
    if sys.argv[1:2] == ["verify"]:
        # One short check, then exit. What it imports stays alive until then, so the cyclic
        # garbage collector would only walk those objects again and again: while they load, and
        # in the collections Python runs as it shuts down (a third of the time spent importing).
        # Frozen, they are still freed when the modules go; the output is already flushed. Not
        # after reading a picture: zxing's bindings check at exit that a collection freed theirs.
        gc.disable()
        from verifier.quickverify import run_verify  # noqa: PLC0415

        code = run_verify(sys.argv[2:])
        if code is not None:
            if "edges.qrimage" not in sys.modules:
                gc.freeze()
            raise SystemExit(code)
        gc.enable()
    _root_app()()
