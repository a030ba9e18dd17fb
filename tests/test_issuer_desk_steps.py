"""The clerk's enrolment in steps: each field checked with a plain message beside it and the
typing kept, the details read back on a confirm page before any offer exists, the pages in
four languages, and the offer's link text beside its QR code."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from issuer_support import Issuer, running_issuer
from sqlalchemy import func, select

from issuer.desk import check_resident, confirmation
from issuer.errors import IssuerError
from issuer.models import Offer
from issuer.service import check_enrollment_claims

RESIDENT = {"given_name": "Ana", "family_name": "Okafor", "birthdate": "1990-05-17", "street_address": "12 Elm",
            "locality": "Riverton", "region": "NY", "postal_code": "10001", "country": "US"}  # fmt: skip
TODAY = dt.date(2026, 12, 2)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Issuer, str]]:
    """A signed-in desk and its form token."""
    with running_issuer(tmp_path) as issuer:
        issuer.clerk("alice")
        client = issuer.client
        sign_in = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/desk").text)
        assert sign_in is not None
        form = {"username": "alice", "password": "clerk-password-1", "csrf": sign_in.group(1)}
        assert client.post("/desk/login", data=form, follow_redirects=False).status_code == 303
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/desk").text)
        assert token is not None
        yield issuer, token.group(1)


def offers(issuer: Issuer) -> int:
    with issuer.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Offer)) or 0)


def post(issuer: Issuer, csrf: str, **fields: str) -> Any:
    return issuer.client.post("/desk/offer", data={**RESIDENT, "csrf": csrf, **fields})


def test_check_resident_names_the_field_and_the_reason() -> None:
    def problems(**changes: str) -> dict[str, str]:
        return check_resident({**RESIDENT, **changes}, city="Riverton", today=TODAY)

    assert problems() == {} and problems(locality=" riverton ") == {}
    assert problems(birthdate="2026-12-03") == {}  # a day's grace: it may be tomorrow east of UTC
    assert problems(birthdate="2026-12-04") == {"birthdate": "birthdate_in_future"}
    assert problems(birthdate="1899-12-31") == {"birthdate": "birthdate_too_early"}
    assert problems(birthdate="1990-02-30") == {"birthdate": "invalid_birthdate"}
    assert problems(birthdate="90-1-1") == {"birthdate": "invalid_birthdate"}
    assert problems(locality="Lakeside") == {"locality": "other_city"}
    assert problems(given_name="  ", country="") == {"given_name": "missing_field", "country": "missing_field"}


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("birthdate", "2999-01-01", "The date of birth cannot be in the future."),
        ("birthdate", "1850-06-01", "The date of birth cannot be before 1900."),
        ("locality", "Lakeside", "This desk enrols residents of Riverton only"),
    ],
)
def test_a_wrong_field_is_named_beside_it_and_the_typing_is_kept(
    desk: tuple[Issuer, str], field: str, typed: str, message: str
) -> None:
    issuer, csrf = desk
    page = post(issuer, csrf, **{field: typed}, family_name="O'Kafor <Jr>")
    assert page.status_code == 400
    beside = re.search(rf'<p class="field-error" id="{field}-error">([^<]+)</p><input id="{field}"[^>]*>', page.text)
    assert beside is not None and message in beside.group(1)
    assert f'value="{typed}"' in beside.group(0) and 'aria-invalid="true"' in beside.group(0)
    assert f'<a href="#{field}">' in page.text  # the summary at the top links to the field
    assert 'value="O&#x27;Kafor &lt;Jr&gt;"' in page.text  # what was typed, kept and escaped
    assert offers(issuer) == 0


def test_the_offer_is_created_only_by_the_confirm_pages_button(desk: tuple[Issuer, str]) -> None:
    issuer, csrf = desk
    confirm = post(issuer, csrf, action="review")
    assert confirm.status_code == 200 and "Read the details back to the resident" in confirm.text
    assert '<dd dir="auto">Okafor</dd>' in confirm.text and '<dd dir="auto">1990-05-17</dd>' in confirm.text
    assert 'name="family_name" value="Okafor"' in confirm.text and 'type="hidden"' in confirm.text
    assert "Create offer" in confirm.text and "Back to edit" in confirm.text and "<svg" not in confirm.text
    assert offers(issuer) == 0  # nothing stored: the details are only in the page's hidden fields

    token = re.search(r'name="confirmation" value="([0-9a-f]+)"', confirm.text)
    assert token is not None and token.group(1) == confirmation(issuer.client.cookies["cityid_desk"], RESIDENT)
    confirmed = {"step": "confirm", "action": "create", "confirmation": token.group(1)}
    assert post(issuer, csrf, action="create").text.count("Read the details back") == 1  # no token: read back first
    changed = post(issuer, csrf, **confirmed, given_name="Mallory")  # hidden fields changed after the read-back
    assert "Read the details back" in changed.text and '<dd dir="auto">Mallory</dd>' in changed.text
    assert offers(issuer) == 0
    edit = post(issuer, csrf, **{**confirmed, "action": "edit"})
    assert 'id="given_name" name="given_name" maxlength="200" value="Ana" dir="auto"' in edit.text
    assert offers(issuer) == 0
    assert post(issuer, csrf="0" * 64, **confirmed).status_code == 403 and offers(issuer) == 0

    offer = post(issuer, csrf, **confirmed)
    assert offer.status_code == 200 and "<svg" in offer.text and offers(issuer) == 1
    link = re.search(r'<textarea id="offer-link" class="offer-link" rows="4" readonly[^>]*>([^<]+)</textarea>',
                     offer.text)  # fmt: skip
    assert link is not None and link.group(1).startswith("openid-credential-offer://?credential_offer=")
    assert "Ctrl+C" in offer.text


def test_an_address_in_another_city_is_refused_by_the_service_too() -> None:
    """The city check stands in the service, for the CLI's offers as for the desk's."""
    claims = {"given_name": "Ana", "family_name": "Okafor", "birthdate": "1990-05-17",
              "address": {**{k: RESIDENT[k] for k in ("street_address", "region", "postal_code", "country")},
                          "locality": "Lakeside"}}  # fmt: skip
    with pytest.raises(IssuerError) as refused:
        check_enrollment_claims(claims, "Riverton")
    assert refused.value.reason == "other_city"


@pytest.mark.parametrize(
    ("language", "direction", "heading"),
    [("en", "ltr", "Enrol a resident"), ("es", "ltr", "Inscribir a un residente"),
     ("zh-Hans", "ltr", "为居民登记"), ("ar", "rtl", "تسجيل مقيم")],
)  # fmt: skip
def test_each_language_renders_with_its_lang_and_direction(
    desk: tuple[Issuer, str], language: str, direction: str, heading: str
) -> None:
    issuer, csrf = desk
    client = issuer.client
    chosen = client.get(f"/desk?lang={language}")
    assert f'<html lang="{language}" dir="{direction}">' in chosen.text and heading in chosen.text
    assert client.cookies["cityid_desk_lang"] == language
    again = client.get("/desk")  # kept in the cookie
    assert f'<html lang="{language}" dir="{direction}">' in again.text
    confirm = post(issuer, csrf, action="review")
    assert f'<html lang="{language}" dir="{direction}">' in confirm.text
    # the switcher on the confirm page posts the same details again, in another language
    other = post(issuer, csrf, step="confirm", lang="ar" if language != "ar" else "es")
    assert ('dir="rtl"' in other.text) is (language != "ar") and '<dd dir="auto">Okafor</dd>' in other.text
    assert offers(issuer) == 0


def test_the_sign_in_page_and_an_unknown_language(tmp_path: Path) -> None:
    with running_issuer(tmp_path) as issuer:
        client = issuer.client
        assert 'lang="es"' in client.get("/desk?lang=es").text and "Iniciar sesión" in client.get("/desk").text
        unknown = client.get("/desk?lang=xx-evil")
        assert 'lang="es"' in unknown.text and client.cookies["cityid_desk_lang"] == "es"
