"""The one Rich console, and safe rendering of untrusted text.

Claim values come from credentials, and a credential can come from anyone: never let one
be read as Rich markup or reach the terminal as a control sequence.

Rich is imported when a console is first used (``console``, ``errors``, :func:`safe`), not
when this module is: ``cityid verify`` prints its usual answer without Rich
(``verifier.quickverify``) and needs only :func:`printable` and
:func:`tolerate_unencodable_output` from here.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    console: Console
    """Standard output."""
    errors: Console
    """Standard error."""

_CONTROL = r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
"""Control, separator and bidi-override characters (compiled, by ``re``, when first needed)."""


def __getattr__(name: str) -> Any:
    """``console`` and ``errors``, made on first use (each once, like any module attribute)."""
    if name not in {"console", "errors"}:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console  # noqa: PLC0415 - Rich costs ~30 ms at start-up: only when printed with

    made = Console(highlight=False, stderr=name == "errors")
    globals()[name] = made
    return made


def printable(value: Any) -> str:
    """One line of text for a claim value: strings as they are, other values as JSON,
    control and bidi-override characters shown as escapes."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if text.isascii() and text.isprintable():
        return text  # the usual claim: nothing to escape, told without the pattern
    return re.sub(_CONTROL, lambda match: f"\\u{ord(match.group()):04x}", text)


def safe(value: Any) -> Text:
    """A Rich Text of :func:`printable` (never parsed as markup)."""
    from rich.text import Text  # noqa: PLC0415

    return Text(printable(value))


def tolerate_unencodable_output() -> None:
    """Make stdout/stderr escape what the terminal cannot encode instead of crashing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
