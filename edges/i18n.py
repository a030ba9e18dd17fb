"""Languages: gettext catalogs (``.po``) for what residents and desk staff read.

Catalogs live in ``edges/locale/LANG/LC_MESSAGES/cityid.po`` and are read directly (a small
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
    path = resources.files("edges").joinpath("locale", language, "LC_MESSAGES", "cityid.po")
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
