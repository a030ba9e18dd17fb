"""Languages: every message the wallet shows has every translation, with the same placeholders."""

from __future__ import annotations

import re
import string
from importlib import resources

import pytest

from edges.i18n import LANGUAGES, catalog_text, choose_language, parse_po, translator
from edges.messages import all_messages, template
from edges.words import claim_fact

TRANSLATED = [language for language in LANGUAGES if language != "en"]


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_has_a_translation_with_the_same_placeholders(language: str) -> None:
    text = catalog_text(language)
    assert text is not None
    catalog = parse_po(text)
    messages = all_messages()
    assert len(messages) > 30
    missing = sorted(messages - set(catalog))
    assert missing == []
    for message in messages:
        assert _fields(catalog[message]) == _fields(message), (language, message)
    assert set(catalog) - messages == set(), "catalog entries no code uses"


def test_the_template_is_current() -> None:
    shipped = resources.files("edges").joinpath("locale", "cityid.pot").read_text(encoding="utf-8")
    assert shipped == template(), "regenerate edges/locale/cityid.pot with edges.messages.template()"


def test_po_parsing_handles_continuations_escapes_and_headers() -> None:
    text = (
        'msgid ""\nmsgstr ""\n"Language: es\\n"\n\n# a comment\n'
        'msgid "a \\"b\\""\nmsgstr "x"\n"y"\n\nmsgid "empty"\nmsgstr ""\n'
    )
    assert parse_po(text) == {'a "b"': "xy"}


@pytest.mark.parametrize(
    ("requested", "environ", "chosen"),
    [
        ("es", {}, "es"),
        (None, {"LANG": "ar_EG.UTF-8"}, "ar"),
        (None, {"LC_ALL": "zh_CN.UTF-8", "LANG": "es_ES"}, "zh-Hans"),
        (None, {"LANG": "C"}, "en"),
        (None, {"LANG": "fr_FR.UTF-8"}, "en"),
        ("zh-Hans", {"LANG": "es"}, "zh-Hans"),
        ("ES", {}, "es"),
    ],
)
def test_language_choice(requested: str | None, environ: dict[str, str], chosen: str) -> None:
    assert choose_language(requested, environ) == chosen


def test_translations_are_used_and_filled() -> None:
    assert translator("es")("Lives in {city}", city="Riverton") == "Vive en Riverton"
    assert claim_fact(translator("ar"), "age_over_18", True) == "عمره 18 عامًا أو أكثر"
    assert translator("en")("Refused") == "Refused"
    assert re.search(r"[\u4e00-\u9fff]", translator("zh-Hans")("They will see"))
