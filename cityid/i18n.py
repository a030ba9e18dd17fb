"""Languages: gettext catalogs (``.po``) for what residents and desk staff read.

Catalogs live in ``cityid/locale/LANG/LC_MESSAGES/cityid.po`` and are read directly (a small
parser for the subset we write: ``msgid``/``msgstr`` pairs, no plurals or contexts), so no
compiled ``.mo`` files are kept in the repository. Every message is an English ``msgid`` with
``{named}`` placeholders; tests check each one has every translation with the same placeholders.
"""

from __future__ import annotations

import ast
import gettext
import os
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Protocol

LANGUAGES = {"en": "English", "es": "Español", "zh-Hans": "简体中文", "ar": "العربية"}
RIGHT_TO_LEFT = frozenset({"ar"})
_ENTRY = re.compile(r'^(msgid|msgstr)\s+(".*")\s*$')
_CONTINUATION = re.compile(r'^(".*")\s*$')


def parse_po(text: str) -> dict[str, str]:
    """``msgid -> msgstr`` from .po text; untranslated (empty) entries are left out."""
    entries: dict[str, str] = {}
    key: str | None = None
    current: dict[str, str] = {}
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if match := _ENTRY.match(line):
            key = match.group(1)
            if key == "msgid" and "msgstr" in current:
                _store(entries, current)
                current = {}
            current[key] = ast.literal_eval(match.group(2))
        elif (match := _CONTINUATION.match(line)) and key is not None:
            current[key] += ast.literal_eval(match.group(1))
        elif not line or line.startswith("#"):
            key = None
    _store(entries, current)
    return entries


def _store(entries: dict[str, str], current: Mapping[str, str]) -> None:
    if current.get("msgid") and current.get("msgstr"):
        entries[current["msgid"]] = current["msgstr"]


class Catalog(gettext.NullTranslations):
    """A gettext translation from a parsed .po catalog."""

    def __init__(self, messages: Mapping[str, str]) -> None:
        super().__init__()
        self.messages = dict(messages)

    def gettext(self, message: str) -> str:
        return self.messages.get(message, message)


def catalog_text(language: str) -> str | None:
    path = resources.files("cityid").joinpath("locale", language, "LC_MESSAGES", "cityid.po")
    return path.read_text(encoding="utf-8") if path.is_file() else None


@cache
def translation(language: str) -> gettext.NullTranslations:
    """The catalog for ``language`` (English needs none: its msgids are the text)."""
    text = catalog_text(language) if language != "en" else None
    return Catalog(parse_po(text)) if text else gettext.NullTranslations()


def choose_language(requested: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """``--lang`` if given, else the locale (LC_ALL, LC_MESSAGES, LANG), else English."""
    candidates = [requested] if requested else [environ.get(name, "") for name in ("LC_ALL", "LC_MESSAGES", "LANG")]
    for candidate in candidates:
        tag = (candidate or "").split(".")[0].replace("_", "-")
        if not tag or tag in {"C", "POSIX"}:
            continue
        if tag in LANGUAGES:
            return tag
        base = tag.split("-")[0].lower()
        if base == "zh":
            return "zh-Hans"  # Simplified Chinese is the one we have
        if base in LANGUAGES:
            return base
    return "en"


class Translate(Protocol):
    """What :func:`translator` returns: ``_(message, **values)``."""

    def __call__(self, message: str, /, **values: object) -> str: ...


def translator(language: str) -> Translate:
    """``_(message, **values)``: the message in ``language``, with its placeholders filled."""
    catalog = translation(language)

    def translate(message: str, /, **values: object) -> str:
        text = catalog.gettext(message)
        return text.format(**values) if values else text

    return translate


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
        ("cityid", {"words.py", "paper.py"}),
        ("issuer", {"desk.py", "paperpage.py"}),
        ("verifier", {"app.py"}),
    ):
        for entry in resources.files(package).iterdir():
            if entry.name.endswith(".py") and (names is None or entry.name in names):
                sources.append(entry.read_text(encoding="utf-8"))
    return sources


def all_messages() -> set[str]:
    """Every message the catalogs must cover: the Python sources' ``_()`` calls, the refusal
    words (the wallet's and the phone app's), the phone app's ``_("...")`` calls in its JS and
    the catalog policies' verifier names."""
    from cityid.appfiles import js_messages, verifier_names  # noqa: PLC0415 - it needs translator() from here
    from cityid.words import APP_REFUSALS, REFUSALS  # noqa: PLC0415 - the wallet depends on this module, not the reverse

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
