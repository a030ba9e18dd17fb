"""``cityid verify`` without Typer or Rich: the desk's everyday check, started in a third of the time.

A desk runs ``cityid verify`` once per resident, so its start-up is what staff wait for: Typer
and Rich alone cost more than reading the files, inflating the QR text and checking both ECDSA
signatures. This module is the whole command for the common case, and the Typer command in
``verifier.cli`` runs the same code, so the two cannot drift apart:

* :func:`parse_verify_arguments` reads exactly the options of the Typer command
  (:data:`VERIFY_OPTIONS`; tests/test_quickverify.py checks them against the Typer command's
  own parameters). Anything it is not sure of (``--help``, ``--``, an unknown or repeated
  option, a missing value, an integer not written in plain digits, a missing or second INPUT)
  gives ``None``, and ``cityid.cli.main`` hands the arguments to Typer, which answers as usual.
* :func:`check_proof` is the verification itself, with its result dictionary and reasons.
* :func:`show` prints the result as the Rich panel does. When Rich would write plain text
  (not to a terminal, UTF-8, every character one cell wide, and the panel as wide as it will
  be anyway) the text is laid out here, character for character as Rich lays it out; in every
  other case (a terminal with colours, a line that Rich would wrap, wide or combining
  characters, another encoding) Rich prints it (:func:`show_with_rich`). The tests compare
  the two over many results, widths and environments.

Reading a picture of a QR code still loads Pillow and zxing (``edges.qrimage``), as it must.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from credential import (
    CredentialError,
    VerifiedPresentation,
    VerifyOptions,
    credential_type_of,
    qr_context,
    verify_presentation,
)
from edges.console import printable
from edges.exits import exit_code
from edges.inputs import InputError, load_issuer, load_proof, read_bounded_text

if TYPE_CHECKING:
    from credential import KeySet, StatusListToken

DEFAULT_MAX_AGE = 3600
"""Seconds a proof's key binding may be old: the request's lifetime."""
DEFAULT_MAX_STATUS_AGE = 86_400
"""Seconds a status list may be old (from its iat) before it counts as stale."""


class OptionSpec(NamedTuple):
    """One option of ``cityid verify`` as the command line spells it."""

    name: str
    """The Typer command's parameter name."""
    flag: str
    kind: str
    """``text``, ``path``, ``count`` (a whole number, written in digits) or ``flag``."""
    default: Any = None
    minimum: int | None = None
    repeatable: bool = False
    required: bool = False


INPUT = "proof"
"""The one argument: the proof, or a file or picture of it, or ``-``."""

VERIFY_OPTIONS = (
    OptionSpec("issuer_jwks", "--issuer-jwks", "path", required=True),
    OptionSpec("nonce", "--nonce", "text"),
    OptionSpec("audience", "--audience", "text"),
    OptionSpec("max_age", "--max-age", "count", DEFAULT_MAX_AGE, minimum=0),
    OptionSpec("status_lists", "--status", "path", repeatable=True),
    OptionSpec("max_status_age", "--max-status-age", "count", DEFAULT_MAX_STATUS_AGE, minimum=0),
    OptionSpec("paper", "--paper", "flag", False),
    OptionSpec("as_json", "--json", "flag", False),
)
"""Every option of the Typer ``verify`` command in ``verifier.cli``, with its default and bound."""
_BY_FLAG = {option.flag: option for option in VERIFY_OPTIONS}


class VerifyArguments(NamedTuple):
    """What ``cityid verify`` was asked: its INPUT and every option, as the Typer command gets them."""

    proof: str
    issuer_jwks: Path
    nonce: str | None = None
    audience: str | None = None
    max_age: int = DEFAULT_MAX_AGE
    status_lists: list[Path] | None = None
    max_status_age: int = DEFAULT_MAX_STATUS_AGE
    paper: bool = False
    as_json: bool = False


def parse_verify_arguments(arguments: Sequence[str]) -> VerifyArguments | None:
    """The arguments after ``cityid verify``, or ``None`` for anything Typer should answer.

    Options may come before or after INPUT, as ``--option value`` or ``--option=value``. A value
    after a space that starts with ``-`` (``--nonce --json``, ``--nonce -x``) is left to Typer,
    whose rules for it are its own; ``-`` alone is a value, or as INPUT standard input."""
    values: dict[str, Any] = {option.name: option.default for option in VERIFY_OPTIONS}
    given: set[str] = set()
    positional: list[str] = []
    remaining = iter(arguments)
    for argument in remaining:
        if argument == "-" or not argument.startswith("-"):
            positional.append(argument)
            continue
        flag, equals, attached = argument.partition("=")
        option = _BY_FLAG.get(flag)
        if option is None or (option.name in given and not option.repeatable):
            return None
        given.add(option.name)
        if option.kind == "flag":
            if equals:
                return None
            values[option.name] = True
            continue
        text = attached if equals else next(remaining, None)
        if text is None or (not equals and text.startswith("-") and text != "-"):
            return None
        value = _value(option, text)
        if value is None:
            return None
        values[option.name] = [*(values[option.name] or []), value] if option.repeatable else value
    missing = [option for option in VERIFY_OPTIONS if option.required and option.name not in given]
    if len(positional) != 1 or missing:
        return None
    return VerifyArguments(proof=positional[0], **values)


def _value(option: OptionSpec, text: str) -> str | Path | int | None:
    if option.kind == "text":
        return text
    if option.kind == "path":
        return Path(text)
    if not (text.isascii() and text.isdigit()):
        return None  # signs, spaces, underscores, other digits: Typer's conversion decides
    number = int(text)
    return number if option.minimum is None or number >= option.minimum else None


def _result(valid: bool, reason: str, message: str, verified: VerifiedPresentation | None = None) -> dict[str, Any]:
    return {
        "valid": valid,
        "reason": reason,
        "message": message,
        "claims": verified.claims if verified else {},
        "issuer": verified.issuer if verified else None,
        "vct": verified.vct if verified else None,
        "status": None,
        "device_bound": None,
    }


def _status_lists(paths: list[Path], keys: KeySet, now: int) -> dict[str, StatusListToken]:
    """Status list tokens from files, each verified with the issuer's keys, by their URI."""
    if not paths:
        return {}
    from credential import status_list_subject, verify_status_list_token  # noqa: PLC0415 - only with --status

    lists: dict[str, StatusListToken] = {}
    for path in paths:
        token = read_bounded_text(path, what="a status list")
        uri = status_list_subject(token)
        lists[uri] = verify_status_list_token(token, keys, uri=uri, now=now)
    return lists


def check_proof(arguments: VerifyArguments) -> tuple[dict[str, Any], VerifiedPresentation | None]:
    """Verify the proof as ``cityid verify`` does: the result it prints (``--json``'s object)
    and, for a valid proof, what was verified. Never raises: every failure is a result."""
    verified: VerifiedPresentation | None = None
    nonce, audience = arguments.nonce, arguments.audience
    try:
        if arguments.paper and (nonce is None or audience is None):
            nonce, audience = nonce or "-", audience or "-"  # a paper proof answers no request
        if nonce is None or audience is None:
            raise InputError(
                "usage_error", "a proof is checked against this desk's request: pass --nonce and --audience"
            )
        keys, known = load_issuer(arguments.issuer_jwks)
        now = int(time.time())
        lists = _status_lists(arguments.status_lists or [], keys, now)
        verified = verify_presentation(
            load_proof(arguments.proof, qr_context(nonce=nonce, audience=audience, known=known)),
            issuer_keys=keys,
            audience=audience,
            nonce=nonce,
            now=now,
            options=VerifyOptions(max_kb_age=arguments.max_age),
            unsafe_skip_key_binding=arguments.paper,
        )
        status = "unchecked"
        if lists and verified.status is not None:
            from credential import check_status  # noqa: PLC0415

            check_status(verified.status, lists, now=now, max_age=arguments.max_status_age)
            status = "valid"
        elif lists:
            status = "none"  # the credential has no status reference: nothing can revoke it
        result = _result(True, "ok", "The proof is valid.", verified)
        result["device_bound"] = verified.key_bound
        result["status"] = status
    except InputError as exc:
        result = _result(False, exc.reason, exc.message)
    except CredentialError as exc:
        result = _result(False, exc.reason.value, exc.message)
    except Exception:
        result = _result(False, "internal_error", "the proof could not be checked (internal error)")
    return result, verified


def answer(arguments: VerifyArguments) -> int:
    """Check the proof, print the result (``--json``: one JSON object) and return the exit status."""
    result, verified = check_proof(arguments)
    code = exit_code(result["reason"])
    if arguments.as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=True) + "\n")
    else:
        show(result, verified)
    return code


def run_verify(arguments: Sequence[str]) -> int | None:
    """``cityid verify`` with these arguments: its exit status, or ``None`` (nothing done) when
    Typer should take them. Output to a closed pipe ends the command with 1, as under Typer."""
    parsed = parse_verify_arguments(arguments)
    if parsed is None:
        return None
    try:
        code = answer(parsed)
        sys.stdout.flush()
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout, sys.stderr = _Pacified(sys.stdout), _Pacified(sys.stderr)
        return 1
    return code


class _Pacified:
    """A stream whose flush ignores a closed pipe, so that exiting after one prints no traceback."""

    def __init__(self, wrapped: IO[str]) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def in_display_order(vct: str, claims: dict[str, Any]) -> list[tuple[str, Any]]:
    """Claims in their credential type's order (disclosures arrive in digest order)."""
    kind = credential_type_of(vct)  # the type's URN or its published https vct
    order = list(kind.claims) if kind else []
    return sorted(claims.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))


def plain_words(result: Mapping[str, Any], *, clock_at: float | None = None) -> str:
    """A refusal as desk staff read it (``edges.words.desk_words``, in the locale's language),
    or the error's own message when there are no plain words for it; ``--json`` keeps the
    message, with its technical detail, for IT. With ``clock_at``: the clock to check."""
    from edges.i18n import choose_language, translator  # noqa: PLC0415 - only a refusal is put in words
    from edges.words import clock_hint, desk_words  # noqa: PLC0415

    _ = translator(choose_language(None))
    words = desk_words(_, str(result["reason"])) or str(result["message"])
    return words if clock_at is None else f"{words} {clock_hint(_, clock_at)}"


_STATUS_WORDS = {
    "valid": "not revoked (status list checked)",
    "unchecked": "not checked (no status list given)",
    "none": "the credential cannot be revoked",
}
_BOUND_WORDS = {True: "the holder's device, for this desk's request", False: "nobody (not device-bound)"}
_NOTHING_SHARED = "nothing beyond the credential type"


def _rows(result: Mapping[str, Any], verified: VerifiedPresentation) -> list[tuple[str, str]]:
    """The valid panel's rows: a label (for the first of the shared claims only) and its text."""
    title = kind.title if (kind := credential_type_of(verified.vct)) else None
    rows = [
        ("Issuer", printable(verified.issuer)),
        ("Credential", printable(f"{title} ({verified.vct})" if title else verified.vct)),
    ]
    for index, (name, value) in enumerate(in_display_order(verified.vct, verified.claims)):
        rows.append(("Shared" if index == 0 else "", f"{printable(name)}: {printable(value)}"))
    if not verified.claims:
        rows.append(("Shared", _NOTHING_SHARED))
    if status := _STATUS_WORDS.get(result.get("status", ""), ""):
        rows.append(("Status", status))
    rows.append(("Bound to", _BOUND_WORDS[verified.key_bound]))
    return rows


def show_with_rich(result: Mapping[str, Any], verified: VerifiedPresentation | None) -> None:
    """The result as Rich prints it: the reference :func:`show` matches, and its fallback."""
    from rich.panel import Panel  # noqa: PLC0415 - Rich only where plain text cannot be sure to match it
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    from edges.console import console, safe  # noqa: PLC0415

    if verified is None:
        console.print(Text.assemble(("✘ NOT VALID", "bold red"), "  ", (result["reason"], "red")))
        console.print(safe(plain_words(result)))
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    table.add_row("Issuer", safe(verified.issuer))
    title = kind.title if (kind := credential_type_of(verified.vct)) else None
    table.add_row("Credential", safe(f"{title} ({verified.vct})" if title else verified.vct))
    for index, (name, value) in enumerate(in_display_order(verified.vct, verified.claims)):
        table.add_row("Shared" if index == 0 else "", Text.assemble((printable(name), "bold"), ": ", printable(value)))
    if not verified.claims:
        table.add_row("Shared", _NOTHING_SHARED)
    status = _STATUS_WORDS.get(result.get("status", ""), "")
    if status:
        table.add_row("Status", status)
    table.add_row("Bound to", _BOUND_WORDS[verified.key_bound])
    console.print(Panel(table, title=Text("✔ VALID", style="bold green"), title_align="left", expand=False))


def show(result: Mapping[str, Any], verified: VerifiedPresentation | None) -> None:
    """Print the result for desk staff: plain text when it is certain to be Rich's, else Rich."""
    text = plain_text(result, verified, sys.stdout)
    if text is None:
        show_with_rich(result, verified)
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # as Rich's Console.on_broken_pipe: the rest goes nowhere, exit 1
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


def plain_text(
    result: Mapping[str, Any],
    verified: VerifiedPresentation | None,
    stream: IO[str] | None,
    environ: Mapping[str, str] = os.environ,
) -> str | None:
    """What :func:`show_with_rich` would write to ``stream``, or ``None`` when that is not
    certain: Rich would style it (a terminal), wrap a line, meet a character that is not one
    cell wide, or write to another encoding."""
    width = rich_plain_width(stream, environ)
    if width is None:
        return None
    if verified is None:
        texts = [f"✘ NOT VALID  {result['reason']}", printable(plain_words(result))]
        lines = texts
    else:
        rows = _rows(result, verified)
        texts = [text for row in rows for text in row]
        lines = _panel(rows)
    if not all(map(_one_cell_each, texts)) or max(map(len, lines)) > width:
        return None
    return "".join(f"{line}\n" for line in lines)


_TITLE = " ✔ VALID "
_GAP = "  "  # the grid's padding between its columns, (0, 2)


def _panel(rows: list[tuple[str, str]]) -> list[str]:
    """Rich's ``Panel(Table.grid(padding=(0, 2)), title=..., title_align="left", expand=False)``
    of rows whose every character is one cell wide, at its natural width (which must fit)."""
    labels = max(len(label) for label, _text in rows)
    texts = max(len(text) for _label, text in rows)
    inner = labels + len(_GAP) + texts
    top = "╭─" + _TITLE + "─" * (inner + 2 - len(_TITLE) - 2) + "─╮"
    body = [f"│ {label.ljust(labels)}{_GAP}{text.ljust(texts)} │" for label, text in rows]
    return [top, *body, "╰" + "─" * (inner + 2) + "╯"]


def _one_cell_each(text: str) -> bool:
    """Whether Rich measures every character of ``text`` as one cell, never joins one with its
    neighbour and writes each as it is: printable ASCII (the usual case, told in C), or else
    Latin-1 and the Latin extensions, Greek and Cyrillic, box drawing and the panel's marks
    (rich.cells' single-cell ranges). Anything else is left to Rich to measure."""
    if text.isascii():
        return text.isprintable()
    return re.fullmatch("[\x20-\x7e\xa0-\xac\xae-\u02ff\u0370-\u0482\u2500-\u25fc\u2714\u2718]*", text) is not None


def rich_plain_width(stream: IO[str] | None, environ: Mapping[str, str] = os.environ) -> int | None:
    """The width a Rich ``Console()`` lays text out at when it writes to ``stream`` without any
    style or colour; ``None`` when it would style it, or when that cannot be told here.

    This is Rich's own decision (``Console.is_terminal``, ``Console.size``, ``ascii_only``):
    ``TTY_COMPATIBLE``, then ``FORCE_COLOR``, then ``isatty()``; the width from ``COLUMNS``, else
    the first standard stream that is a terminal, else 80. Windows, Jupyter and IDLE, each with
    rules of its own there, are left to Rich."""
    if stream is None or not _writes_plain_utf8(stream, environ):
        return None
    columns = environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        return int(columns) if columns.isascii() else None
    for standard, default in ((sys.__stdin__, 0), (sys.__stdout__, 1), (sys.__stderr__, 2)):
        try:
            descriptor = standard.fileno()  # type: ignore[union-attr]
        except Exception:  # as Rich: a stream without a descriptor stands for the usual one
            descriptor = default
        try:
            return os.get_terminal_size(descriptor).columns or 80
        except (AttributeError, ValueError, OSError):
            continue
    return 80


def _writes_plain_utf8(stream: IO[str], environ: Mapping[str, str]) -> bool:
    if sys.platform == "win32" or hasattr(stream, "rich_proxied_file") or hasattr(builtins, "get_ipython"):
        return False
    if getattr(sys.stdin, "__module__", "").startswith("idlelib") or _is_terminal(stream, environ):
        return False
    return (getattr(stream, "encoding", "utf-8") or "utf-8").lower().startswith("utf")  # else an ASCII box


def _is_terminal(stream: IO[str], environ: Mapping[str, str]) -> bool:
    compatible = environ.get("TTY_COMPATIBLE", "")
    if compatible in {"0", "1"}:
        return compatible == "1"
    force_color = environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    isatty = getattr(stream, "isatty", None)
    try:
        return False if isatty is None else bool(isatty())
    except ValueError:
        return False
