"""The one Rich console, and safe rendering of untrusted text.

Claim values come from credentials, and a credential can come from anyone: never let one
be read as Rich markup or reach the terminal as a control sequence.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(value: Any) -> str:
    """One line of text for a claim value: strings as they are, other values as JSON,
    control and bidi-override characters shown as escapes."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def safe(value: Any) -> Text:
    """A Rich Text of :func:`printable` (never parsed as markup)."""
    return Text(printable(value))


def tolerate_unencodable_output() -> None:
    """Make stdout/stderr escape what the terminal cannot encode instead of crashing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
