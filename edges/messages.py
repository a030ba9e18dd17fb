"""Every message the catalogs must cover, and the ``.pot`` template made of them.

Catalog tooling, kept apart from :mod:`edges.i18n` (which translates at run time) because it reads
the sources and words of every part that shows messages: the wallet, the shared words and paper
page, the clerk's desk, the desk page and the phone app.
"""

from __future__ import annotations

import ast

from edges.appfiles import js_messages, verifier_names
from edges.files import package_folder
from edges.words import APP_REFUSALS, REFUSALS


def extract_messages(sources: list[str]) -> set[str]:
    """Every literal ``_("...")`` message in Python ``sources`` (what the catalogs must cover)."""
    found: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    return found


def message_sources() -> list[str]:
    """The Python sources whose ``_()`` messages the catalogs cover: the wallet, the shared
    words and paper page, and the clerk's desk."""
    sources = []
    for package, names in (
        ("wallet", None),
        ("edges", {"words.py", "paper.py"}),
        ("issuer", {"desk.py", "paperpage.py"}),
        ("verifier", {"app.py"}),
    ):
        for entry in sorted(package_folder(package).glob("*.py")):
            if names is None or entry.name in names:
                sources.append(entry.read_text(encoding="utf-8"))
    return sources


def all_messages() -> set[str]:
    """Every message the catalogs must cover: the Python sources' ``_()`` calls, the refusal
    words (the wallet's and the phone app's), the phone app's ``_("...")`` calls in its JS and
    the catalog policies' verifier names."""
    refusals = set(REFUSALS.values()) | set(APP_REFUSALS.values())
    return extract_messages(message_sources()) | refusals | js_messages() | set(verifier_names())


def template() -> str:
    """The ``.pot`` template: every message, untranslated."""
    lines = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"', ""]
    for message in sorted(all_messages()):
        lines += [f"msgid {_quoted(message)}", 'msgstr ""', ""]
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
