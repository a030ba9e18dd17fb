"""The clerk's desk pages: sign in, enrol a resident, show the offer, print the slip, revoke.

Server-rendered HTML with inline styles and the QR code as inline SVG: the page loads
nothing from anywhere (its content security policy forbids it). Sessions are random cookie
tokens stored hashed; every form carries a token derived from the session (CSRF), and the
sign-in form one derived from a sign-in cookie set with the form (login CSRF); a form posted
with an ``Origin`` other than the issuer's is refused. Sign-in attempts are counted before
the password is checked, and unknown user names cost the same scrypt work as known ones.

Enrolment takes two posts of one form: the typed details are checked field by field (a plain
message beside each field, the form keeping what was typed), then read back on a confirm page
whose hidden fields carry them, so they never sit in a URL or on the server. Only that page's
"Create offer" creates the offer: its token is bound to the session and to the details read
back, and they are checked again. Pages speak the wallet's four languages from the same
catalogs, chosen with a switcher and kept in a cookie; the printed offer holds only the slip.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Cookie, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from credential import ADDRESS_FIELDS
from edges.i18n import LANGUAGES, RIGHT_TO_LEFT, Translate, translator
from edges.qrimage import make_qr, to_svg
from edges.sealing import check_password, hash_password, lookup_hash
from policies import Policy

from . import service
from .errors import IssuerError
from .models import Clerk, ClerkSession
from .paperpage import paper_page
from .runtime import Runtime, approved_policies

COOKIE = "cityid_desk"
LOGIN_COOKIE = "cityid_desk_signin"
"""Set with the sign-in form; the form's token is derived from it (double submit)."""
LANGUAGE_COOKIE = "cityid_desk_lang"
"""The language the clerk chose with the switcher (a language code, nothing else)."""
SESSION_SECONDS = 8 * 3600
LANGUAGE_SECONDS = 365 * 86_400
LOGIN_ATTEMPTS, LOCKOUT_SECONDS = 10, 15 * 60
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'"
_CSS = """
body { font: 17px/1.5 system-ui, "Noto Sans", sans-serif; margin: 0; color: #1b1f24; background: #f6f8fa; }
header { background: #0b3d91; color: #fff; padding: .75rem 1.5rem; display: flex; justify-content: space-between; }
main { max-width: 52rem; margin: 1.5rem auto; padding: 0 1rem; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 1rem 1.5rem;
          margin-bottom: 1.5rem; }
label { display: block; margin: .5rem 0 .15rem; font-weight: 600; }
input, textarea { font: inherit; padding: .4rem .5rem; width: 100%; box-sizing: border-box;
                  border: 1px solid #8c959f; border-radius: 4px; }
input[aria-invalid=true] { border: 3px solid #b3261e; }
.field-error { color: #b3261e; font-weight: 600; margin: .15rem 0; }
button { font: inherit; font-weight: 600; padding: .5rem 1.25rem; margin-top: 1rem; border-radius: 6px; border: 0;
         background: #0b3d91; color: #fff; cursor: pointer; }
button.secondary { background: #57606a; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 0 1rem; }
dl.readback { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1.5rem; }
dl.readback dt { font-weight: 600; } dl.readback dd { margin: 0; }
.pin { font-size: 3rem; letter-spacing: .4em; font-weight: 700; font-family: ui-monospace, monospace; }
.code { font-size: 1.6rem; font-weight: 700; font-family: ui-monospace, monospace; letter-spacing: .08em; }
textarea.offer-link { font-family: ui-monospace, monospace; font-size: .8rem; word-break: break-all; }
.error { background: #fdecea; border-color: #b3261e; color: #b3261e; }
.error a { color: #b3261e; }
.ok { background: #e6f4ea; border-color: #1a7f37; }
.qr svg, .qr-app svg { width: 320px; height: 320px; }
.app-link { font-family: ui-monospace, monospace; font-size: .8rem; word-break: break-all; }
.slip { border: 2px dashed #57606a; }
nav.languages { max-width: 52rem; margin: 0 auto 1.5rem; padding: 0 1rem; }
nav.languages a, nav.languages button { margin-inline-end: 1rem; }
nav.languages button { background: none; color: #0b3d91; text-decoration: underline; padding: 0; margin-top: 0; }
:focus { outline: 3px solid #e9a800; outline-offset: 2px; }
img.paper { width: 100%; max-width: 620px; border: 1px solid #d0d7de; }
@media print { header, main > h1, nav, button, form, .hint, section:not(.print) { display: none !important; }
               section.print { border: 0; padding: 0; } img.paper { max-width: none; border: 0; }
               .new-page { break-before: page; } }
"""


def _page(
    _: Translate, language: str, title: str, body: str, *, clerk: str | None = None, status: int = 200,
    switcher: str = "",
) -> HTMLResponse:  # fmt: skip
    """A desk page in ``language`` (``dir="rtl"`` for Arabic), ``switcher`` after the main
    content: there, the switcher's buttons never become a form's default (Enter) button."""
    signed_in = f"<span>{escape(_('Signed in as {name}', name=clerk))}</span>" if clerk else ""
    direction = "rtl" if language in RIGHT_TO_LEFT else "ltr"
    html = (
        f'<!DOCTYPE html><html lang="{language}" dir="{direction}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · {escape(_('cityid clerk desk'))}</title>"
        f"<style>{_CSS}</style></head><body><header><strong>{escape(_('cityid clerk desk'))}</strong>{signed_in}"
        f"</header><main><h1>{escape(title)}</h1>{body}</main>{switcher}</body></html>"
    )
    headers = {
        "Content-Security-Policy": _CSP,
        "Cache-Control": "no-store",
        # Not no-referrer: under it browsers send "Origin: null" with the page's own forms, and
        # the desk refuses forms whose Origin is not its own. Other sites still get no referrer.
        "Referrer-Policy": "same-origin",
    }
    return HTMLResponse(html, status_code=status, headers=headers)


def desk_language(chosen: str | None, remembered: str | None) -> str:
    """The page's language: the one just chosen, else the one in the cookie, else English."""
    for candidate in (chosen, remembered):
        if candidate in LANGUAGES:
            return candidate
    return "en"


def _switcher_links(_: Translate, language: str, path: str) -> str:
    """Links to ``path`` in each other language (for pages a GET can show again)."""
    links = "".join(
        f'<a href="{path}?lang={code}" lang="{code}" hreflang="{code}">{escape(name)}</a>'
        for code, name in LANGUAGES.items()
        if code != language
    )
    return f'<nav class="languages" aria-label="{escape(_("Language"))}">{links}</nav>'


def _switcher_buttons(_: Translate, language: str, form: str) -> str:
    """Buttons that post ``form`` again in another language, so nothing typed is lost."""
    buttons = "".join(
        f'<button type="submit" form="{form}" name="lang" value="{code}" lang="{code}" formnovalidate>'
        f"{escape(name)}</button>"
        for code, name in LANGUAGES.items()
        if code != language
    )
    return f'<nav class="languages" aria-label="{escape(_("Language"))}">{buttons}</nav>'


def _remember_language(response: Response, chosen: str | None) -> Response:
    """Keep a language the clerk just chose for the next pages."""
    if chosen in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=LANGUAGE_SECONDS, httponly=True, samesite="strict",
                            path="/desk")  # fmt: skip
    return response


_FORM, _SIGN_IN_FORM = b"cityid desk form", b"cityid desk sign-in form"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def signed_out_page(
    message: str | None, status: int, *, cookie: str | None, secure: bool, language: str | None = None
) -> HTMLResponse:
    """The sign-in form, after ``message`` (a desk page's error): bound to the browser's sign-in
    cookie, or to a new one set here; in ``language`` (a code from the language cookie)."""
    language = desk_language(language, None)
    _ = translator(language)
    token = cookie if cookie and _TOKEN.fullmatch(cookie) else secrets.token_urlsafe(32)
    notice = f'<section class="error">{escape(message)}</section>' if message else ""
    response = _page(_, language, _("Sign in"), notice + _login_form(_, token), status=status,
                     switcher=_switcher_links(_, language, "/desk"))  # fmt: skip
    response.set_cookie(LOGIN_COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                        secure=secure, path="/desk")  # fmt: skip
    return response


_CONFIRM = b"cityid desk confirm form"


def _csrf(token: str, purpose: bytes = _FORM) -> str:
    return hmac.new(token.encode(), purpose, hashlib.sha256).hexdigest()


def _same(typed: str, expected: str) -> bool:
    """A constant-time comparison of a posted token, which may hold any characters."""
    return hmac.compare_digest(typed.encode(), expected.encode())


def _hidden(token: str, purpose: bytes = _FORM) -> str:
    return f'<input type="hidden" name="csrf" value="{_csrf(token, purpose)}">'


def confirmation(token: str, fields: Mapping[str, str]) -> str:
    """The confirm form's token: bound to the session and to the very details read back, so
    "Create offer" creates the offer the clerk saw, and nothing else creates one."""
    details = json.dumps([fields[name] for name in FIELD_NAMES], ensure_ascii=False).encode()
    return _csrf(token, _CONFIRM + details)


def _login_form(_: Translate, token: str) -> str:
    return (
        f'<section><form method="post" action="/desk/login">{_hidden(token, _SIGN_IN_FORM)}'
        f'<label for="username">{escape(_("User name"))}</label>'
        '<input id="username" name="username" autocomplete="username" required autofocus>'
        f'<label for="password">{escape(_("Password"))}</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>'
        f'<button type="submit">{escape(_("Sign in"))}</button></form></section>'
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@functools.cache
def _unknown_user_hash() -> str:
    """A password hash of the same cost as a clerk's, checked when the user name is unknown."""
    return hash_password(secrets.token_urlsafe(32))


@dataclass(frozen=True, slots=True)
class _SignInAttempt:
    clerk_id: int
    password_hash: str
    locks: bool
    """This attempt was the last one allowed: the account is locked unless the password is right."""


def _reserve_sign_in(session: Session, username: str, *, now: int) -> _SignInAttempt | None:
    """Count one sign-in attempt, in one atomic update, before the password is checked; the
    last one allowed locks the account. None when the name is unknown or the account locked."""
    last = Clerk.failed_logins + 1 >= LOGIN_ATTEMPTS
    row = session.execute(
        update(Clerk)
        .where(Clerk.username == username, Clerk.locked_until <= now)
        .values(
            failed_logins=case((last, 0), else_=Clerk.failed_logins + 1),
            locked_until=case((last, now + LOCKOUT_SECONDS), else_=Clerk.locked_until),
        )
        .returning(Clerk.id, Clerk.password_hash, Clerk.locked_until)
        .execution_options(synchronize_session=False)
    ).first()
    return None if row is None else _SignInAttempt(row.id, row.password_hash, row.locked_until > now)


FIELD_NAMES = ("given_name", "family_name", "birthdate", *ADDRESS_FIELDS)
"""The enrolment form's fields, in the order the clerk types them."""
EARLIEST_BIRTHDATE = dt.date(1900, 1, 1)


def _labels(_: Translate) -> dict[str, str]:
    return {
        "given_name": _("Given name"),
        "family_name": _("Family name"),
        "birthdate": _("Date of birth"),
        "street_address": _("Street address"),
        "locality": _("City"),
        "region": _("State or region"),
        "postal_code": _("Postal code"),
        "country": _("Country"),
    }


def check_resident(fields: Mapping[str, str], *, city: str, today: dt.date) -> dict[str, str]:
    """What is wrong with the typed details, as ``field -> reason`` (empty when nothing is): a
    blank field (``missing_field``), a date of birth that is no date (``invalid_birthdate``),
    after tomorrow (``birthdate_in_future``: a day's grace for time zones) or before 1900
    (``birthdate_too_early``), or an address outside the issuer's ``city`` (``other_city``)."""
    problems = {name: "missing_field" for name in FIELD_NAMES if not fields.get(name, "").strip()}
    birthdate = fields.get("birthdate", "").strip()
    if "birthdate" not in problems:
        try:
            born = dt.date.fromisoformat(birthdate) if len(birthdate) == 10 else None
        except ValueError:
            born = None
        if born is None:
            problems["birthdate"] = "invalid_birthdate"
        elif born > today + dt.timedelta(days=1):
            problems["birthdate"] = "birthdate_in_future"
        elif born < EARLIEST_BIRTHDATE:
            problems["birthdate"] = "birthdate_too_early"
    if "locality" not in problems and fields["locality"].strip().casefold() != city.strip().casefold():
        problems["locality"] = "other_city"
    return problems


def _problem_text(_: Translate, reason: str, city: str) -> str:
    texts = {
        "missing_field": _("Fill in this field."),
        "invalid_birthdate": _("Enter a real date, as year-month-day."),
        "birthdate_in_future": _("The date of birth cannot be in the future."),
        "birthdate_too_early": _("The date of birth cannot be before 1900."),
        "other_city": _("This desk enrols residents of {city} only: check the city on the documents.", city=city),
    }
    return texts.get(reason, reason)


def _inputs(_: Translate, city: str, values: Mapping[str, str], problems: Mapping[str, str]) -> str:
    """The fields, keeping what was typed, each problem beside its field. No ``min``/``max`` on
    the date: the browser's own messages would speak its language, not the page's."""
    labels, parts = _labels(_), []
    for name in FIELD_NAMES:
        problem = problems.get(name)
        error, invalid = "", ""
        if problem is not None:
            error = f'<p class="field-error" id="{name}-error">{escape(_problem_text(_, problem, city))}</p>'
            invalid = f' aria-invalid="true" aria-describedby="{name}-error"'
        kind = 'type="date"' if name == "birthdate" else 'maxlength="200"'
        value = escape(values.get(name, ""))
        parts.append(
            f'<div><label for="{name}">{escape(labels[name])}</label>{error}<input id="{name}" name="{name}" '
            f'{kind} value="{value}" dir="auto" required autocomplete="off"{invalid}></div>'
        )
    return f'<div class="grid">{"".join(parts)}</div>'


def _problem_summary(_: Translate, city: str, problems: Mapping[str, str]) -> str:
    """The error summary at the top: one link to each field with a problem."""
    if not problems:
        return ""
    labels = _labels(_)
    items = "".join(
        f'<li><a href="#{name}">{escape(labels[name])}: {escape(_problem_text(_, problems[name], city))}</a></li>'
        for name in FIELD_NAMES
        if name in problems
    )
    return f'<section class="error" role="alert"><h2>{escape(_("Check these details"))}</h2><ul>{items}</ul></section>'


def _enrol_form(
    _: Translate, token: str, city: str, values: Mapping[str, str] | None = None,
    problems: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    problems = problems or {}
    first = _("Check the documents in person first. Nothing you type here is kept after the resident's wallet has "
              "received its credentials.")  # fmt: skip
    lost = _("For a lost or stolen phone: type the code from the resident's slip.")
    paper = _("A resident without a phone can get a {link} for a service that accepts paper.")
    link = f'<a href="/desk/paper">{escape(_("paper proof"))}</a>'
    return (
        f"{_problem_summary(_, city, problems)}<section><h2>{escape(_('Enrol a resident'))}</h2><p>{escape(first)}"
        f'</p><form id="resident" method="post" action="/desk/offer">{_hidden(token)}'
        f"{_inputs(_, city, values or {}, problems)}"
        f'<button type="submit" name="action" value="review">{escape(_("Continue"))}</button></form></section>'
        f"<section><h2>{escape(_('Revoke a batch'))}</h2><p>{escape(lost)}</p>"
        f'<form method="post" action="/desk/revoke">{_hidden(token)}'
        f'<label for="code">{escape(_("Revocation code"))}</label>'
        '<input id="code" name="code" required maxlength="40" autocomplete="off">'
        f'<button type="submit" class="secondary">{escape(_("Revoke"))}</button></form></section>'
        f"<section><h2>{escape(_('No smartphone?'))}</h2><p>{escape(paper).format(link=link)}</p></section>"
        f'<form method="post" action="/desk/logout">{_hidden(token)}'
        f'<button class="secondary">{escape(_("Sign out"))}</button></form>'
    )


def _confirm_form(_: Translate, token: str, city: str, fields: Mapping[str, str]) -> str:
    """The details read back, carried in hidden fields (never a URL, never the server) with a
    token bound to them: "Create offer" or "Back to edit"."""
    labels = _labels(_)
    rows = "".join(f'<dt>{escape(labels[name])}</dt><dd dir="auto">{escape(fields[name])}</dd>' for name in FIELD_NAMES)
    hidden = "".join(f'<input type="hidden" name="{name}" value="{escape(fields[name])}">' for name in FIELD_NAMES)
    what = _("The wallet will receive a proof of residency in {city} and a city identity card with these details. "
             "They are kept only until the wallet has received them.", city=city)  # fmt: skip
    return (
        f"<section><h2>{escape(_('Read the details back to the resident'))}</h2><p>{escape(what)}</p>"
        f'<dl class="readback">{rows}</dl><form id="resident" method="post" action="/desk/offer">'
        f'{_hidden(token)}<input type="hidden" name="step" value="confirm">'
        f'<input type="hidden" name="confirmation" value="{confirmation(token, fields)}">{hidden}'
        f'<button type="submit" name="action" value="create">{escape(_("Create offer"))}</button> '
        f'<button type="submit" name="action" value="edit" class="secondary">{escape(_("Back to edit"))}</button>'
        "</form></section>"
    )


def phone_app_link(issuer_url: str, offer_uri: str) -> str:
    """The link that opens the city's phone wallet (served by this issuer) with ``offer_uri``:
    after ``#``, so the offer never reaches a server, not even this one."""
    return f"{issuer_url.rstrip('/')}/wallet/#offer={quote(offer_uri, safe='')}"


def _offer_body(_: Translate, created: service.OfferCreated, minutes: int, issuer_url: str) -> str:
    """The offer: a QR code for the city's phone wallet, one for other wallets, the PIN and link
    text, and the revocation slip, the only part that prints (a sheet with the offer and its PIN
    on it could be used by whoever picks it up). No language switcher: an offer is shown once, in
    the language chosen before it was made."""
    keep = _("Keep this slip apart from your phone. If the phone is lost or stolen, bring it to any city desk to "
             "switch off the credentials on it.")  # fmt: skip
    app_link = phone_app_link(issuer_url, created.offer_uri)
    return (
        f'<section class="ok"><h2>{escape(_("Scan this with the cityid wallet"))}</h2>'
        f"<h3>{escape(_('Open the city wallet on your phone'))}</h3>"
        f"<p>{escape(_('Scan this code with the phone camera: it opens the city wallet app with this offer.'))}</p>"
        f'<div class="qr-app">{to_svg(make_qr(app_link), title=_("City wallet link"))}</div>'
        f'<p id="app-link" class="app-link">{escape(app_link)}</p>'  # text, not a link: a click would open it here
        f"<h3>{escape(_('For other wallets'))}</h3>"
        f'<div class="qr">{to_svg(make_qr(created.offer_uri), title=_("Credential offer"))}</div>'
        f'<p>{escape(_("Then type this PIN:"))}</p><p class="pin" aria-label="PIN">{created.pin}</p>'
        f"<p>{escape(_('The offer works once, for {minutes} minutes.', minutes=minutes))}</p>"
        f'<div class="hint"><label for="offer-link">{escape(_("Or paste the offer into the wallet:"))}</label>'
        f'<textarea id="offer-link" class="offer-link" rows="4" readonly aria-describedby="copy-hint">'
        f"{escape(created.offer_uri)}</textarea>"
        f'<p id="copy-hint">{escape(_("Click in the box and copy all of its text (Ctrl+A, then Ctrl+C)."))}</p>'
        f'</div></section><section class="slip print"><h2>{escape(_("Revocation slip"))}</h2><p>{escape(keep)}</p>'
        f'<p class="code">{escape(created.revocation_code)}</p><p class="hint"><strong>'
        f"{escape(_('Print this page'))}</strong> (Ctrl+P): "
        f"{escape(_('only this slip is printed, not the QR code or the PIN.'))}</p></section>"
        f'<nav><a href="/desk">{escape(_("Next resident"))}</a></nav>'
    )


def _paper_form(
    _: Translate, language: str, token: str, city: str, policies: Mapping[str, Policy],
    values: Mapping[str, str] | None = None, problems: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    values, problems = values or {}, problems or {}
    options = "".join(
        f'<option value="{escape(policy.id)}"{" selected" if policy.id == values.get("policy") else ""}>'
        f"{escape(policy.title_in(language))}</option>"
        for policy in policies.values()
        if policy.accepts_paper
    )
    page_language = values.get("language") or language
    languages = "".join(
        f'<option value="{code}"{" selected" if code == page_language else ""}>{escape(name)}</option>'
        for code, name in LANGUAGES.items()
    )
    if not options:
        text = _("No approved policy accepts paper proofs (the policy registry is missing).")
        return f'<section class="error">{escape(text)}</section>'
    about = _("For one service that accepts paper. The page is not tied to a phone, so it is printed only at the "
              "resident's request. Nothing you type is kept.")  # fmt: skip
    return (
        f"{_problem_summary(_, city, problems)}<section><h2>{escape(_('Paper proof'))}</h2><p>{escape(about)}</p>"
        f'<form id="paper" method="post" action="/desk/paper">{_hidden(token)}'
        f'<label for="policy">{escape(_("Service"))}</label><select id="policy" name="policy">{options}</select>'
        f'<label for="language">{escape(_("Language of the page"))}</label>'
        f'<select id="language" name="language">{languages}</select>{_inputs(_, city, values, problems)}'
        f'<button type="submit">{escape(_("Print paper proof"))}</button></form></section>'
    )


class ResidentForm(BaseModel):
    """The enrolment form: the claims a clerk types after checking documents, the CSRF token,
    and which step and button it came from (see :func:`desk_router`'s ``offer``)."""

    csrf: str = Field(max_length=100)
    given_name: str = Field(max_length=200)
    family_name: str = Field(max_length=200)
    birthdate: str = Field(max_length=10)
    street_address: str = Field(max_length=200)
    locality: str = Field(max_length=200)
    region: str = Field(max_length=200)
    postal_code: str = Field(max_length=200)
    country: str = Field(max_length=200)
    step: str = Field(default="enrol", max_length=16)
    action: str = Field(default="", max_length=16)
    lang: str = Field(default="", max_length=16)
    confirmation: str = Field(default="", max_length=100)

    def fields(self) -> dict[str, str]:
        """The typed details, without surrounding spaces."""
        return {name: getattr(self, name).strip() for name in FIELD_NAMES}

    def claims(self) -> dict[str, Any]:
        """The enrolled claims, with the address as its structured claim."""
        fields = self.fields()
        return {
            "given_name": fields["given_name"],
            "family_name": fields["family_name"],
            "birthdate": fields["birthdate"],
            "address": {name: fields[name] for name in ADDRESS_FIELDS},
        }


class PaperForm(ResidentForm):
    """The paper-proof form: the same claims, the service and the page's language."""

    policy: str = Field(max_length=64)
    language: str = Field(max_length=16)


Token = Annotated[str | None, Cookie(alias=COOKIE)]
"""The session cookie (module level: FastAPI resolves annotations by name here)."""
LoginToken = Annotated[str | None, Cookie(alias=LOGIN_COOKIE)]
"""The sign-in cookie."""
LanguageCookie = Annotated[str | None, Cookie(alias=LANGUAGE_COOKIE, max_length=16)]
"""The language the clerk chose."""
LanguageQuery = Annotated[str | None, Query(max_length=16)]
"""``?lang=``: the language switcher's links."""


def desk_router(runtime: Runtime) -> APIRouter:  # noqa: PLR0915 - the pages read best side by side
    settings = runtime.settings
    _unknown_user_hash()  # made now, so that the first unknown name costs no more than later ones

    def same_origin(request: Request) -> None:
        """Refuse a form posted from another site. Browsers send ``Origin`` with every POST; it must
        be the issuer's public origin (``CITYID_ISSUER_URL``), or the origin the request was sent
        to (a clerk on an internal name). A request without one still needs its form token."""
        origin = request.headers.get("origin")
        if request.method in {"GET", "HEAD"} or origin is None:
            return
        if origin.lower() not in {_origin(settings.issuer_url), _origin(str(request.url))}:
            raise IssuerError("cross_origin", "this form was sent from another site, so it was refused: open the "
                              f"desk at {settings.issuer_url}/desk and try again", status=403)  # fmt: skip

    router = APIRouter(prefix="/desk", include_in_schema=False, dependencies=[Depends(same_origin)])

    def signed_in(token: str | None) -> Clerk | None:
        if not token:
            return None
        with runtime.transaction() as session:
            row = session.get(ClerkSession, lookup_hash(token, "desk session"))
            if row is None or row.expires_at <= int(time.time()):
                return None
            return session.get(Clerk, row.clerk_id)

    def require(token: str | None, csrf: str | None = None) -> Clerk:
        clerk = signed_in(token)
        if clerk is None or token is None:
            raise IssuerError("not_signed_in", "sign in first", status=401)
        if csrf is not None and not _same(csrf, _csrf(token)):
            raise IssuerError("bad_form", "the form has expired: reload the page", status=403)
        return clerk

    @router.get("")
    def home(
        token: Token = None,
        login_token: LoginToken = None,
        remembered: LanguageCookie = None,
        lang: LanguageQuery = None,
    ) -> Response:
        language = desk_language(lang, remembered)
        clerk = signed_in(token)
        if clerk is None or token is None:
            page = signed_out_page(None, 200, cookie=login_token, secure=settings.https, language=language)
            return _remember_language(page, lang)
        _ = translator(language)
        page = _page(_, language, _("Desk"), _enrol_form(_, token, settings.city), clerk=clerk.username,
                     switcher=_switcher_buttons(_, language, "resident"))  # fmt: skip
        return _remember_language(page, lang)

    @router.post("/login")
    def login(
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=200)],
        csrf: Annotated[str, Form(max_length=100)] = "",
        login_token: LoginToken = None,
        remembered: LanguageCookie = None,
    ) -> Response:
        language = desk_language(None, remembered)
        _ = translator(language)
        if not login_token or not _same(csrf, _csrf(login_token, _SIGN_IN_FORM)):
            raise IssuerError("bad_form", "the sign-in form has expired: sign in again", status=403)
        now = int(time.time())
        with runtime.transaction() as session:
            attempt = _reserve_sign_in(session, username, now=now)
            locked = attempt is None and session.scalar(select(Clerk.id).where(Clerk.username == username)) is not None
        if locked:
            message = _("This account is locked for a few minutes after too many wrong passwords.")
            return signed_out_page(message, 429, cookie=login_token, secure=settings.https, language=language)
        # The same scrypt work whether the name exists or not: response times do not tell.
        matches = check_password(password, attempt.password_hash if attempt is not None else _unknown_user_hash())
        if attempt is None or not matches:
            if attempt is not None and attempt.locks:
                with runtime.transaction() as session:
                    clerk = session.get(Clerk, attempt.clerk_id)
                    if clerk is not None:
                        service.record(session, clerk, "locked_out", "-", now)
            message = _("Wrong user name or password.")
            return signed_out_page(message, 401, cookie=login_token, secure=settings.https, language=language)
        token = secrets.token_urlsafe(32)
        with runtime.transaction() as session:
            session.execute(update(Clerk).where(Clerk.id == attempt.clerk_id).values(failed_logins=0, locked_until=0))
            clerk = session.get(Clerk, attempt.clerk_id)
            if clerk is None:
                raise IssuerError("not_signed_in", "sign in first", status=401)
            session.execute(delete(ClerkSession).where(ClerkSession.expires_at <= now))
            session.add(ClerkSession(token_hash=lookup_hash(token, "desk session"), clerk_id=clerk.id,
                                     expires_at=now + SESSION_SECONDS))  # fmt: skip
            service.record(session, clerk, "signed_in", "-", now)
        response = RedirectResponse("/desk", status_code=303)
        response.set_cookie(COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                            secure=settings.https, path="/desk")  # fmt: skip
        response.delete_cookie(LOGIN_COOKIE, path="/desk")
        return response

    @router.post("/logout")
    def logout(csrf: Annotated[str, Form(max_length=100)], token: Token = None) -> Response:
        require(token, csrf)
        with runtime.transaction() as session:
            session.execute(
                delete(ClerkSession).where(ClerkSession.token_hash == lookup_hash(token or "", "desk session"))
            )
        response = RedirectResponse("/desk", status_code=303)
        response.delete_cookie(COOKIE, path="/desk")
        return response

    def today() -> dt.date:
        return dt.datetime.fromtimestamp(time.time(), dt.UTC).date()

    @router.post("/offer")
    def offer(
        form: Annotated[ResidentForm, Form()], token: Token = None, remembered: LanguageCookie = None
    ) -> Response:
        """One form, three steps: the typed details (checked, then read back), "Back to edit" or
        another language (the same step again), and the confirm page's "Create offer"."""
        clerk = require(token, form.csrf)
        language = desk_language(form.lang, remembered)
        _ = translator(language)
        fields, city = form.fields(), settings.city

        def enrol(problems: Mapping[str, str] | None = None, notice: str = "") -> Response:
            body = notice + _enrol_form(_, token or "", city, fields, problems)
            page = _page(_, language, _("Desk"), body, clerk=clerk.username, status=400 if problems or notice else 200,
                         switcher=_switcher_buttons(_, language, "resident"))  # fmt: skip
            return _remember_language(page, form.lang)

        if form.action == "edit" or (form.lang and form.step != "confirm"):
            return enrol()
        problems = check_resident(fields, city=city, today=today())
        if problems:
            return enrol(problems)
        confirmed = form.action == "create" and _same(form.confirmation, confirmation(token or "", fields))
        if not confirmed:
            page = _page(_, language, _("Check the details"), _confirm_form(_, token or "", city, fields),
                         clerk=clerk.username, switcher=_switcher_buttons(_, language, "resident"))  # fmt: skip
            return _remember_language(page, form.lang)
        try:
            with runtime.transaction() as session:
                created = service.create_offer(session, settings, clerk, form.claims(), now=int(time.time()))
        except IssuerError as exc:
            return enrol(notice=f'<section class="error">{escape(exc.message)}</section>')
        body = _offer_body(_, created, settings.offer_lifetime // 60, settings.issuer_url)
        return _page(_, language, _("Offer ready"), body, clerk=clerk.username)

    @router.get("/paper")
    def paper_form(token: Token = None, remembered: LanguageCookie = None, lang: LanguageQuery = None) -> Response:
        clerk = require(token)
        language = desk_language(lang, remembered)
        _ = translator(language)
        policies = approved_policies(runtime, now=int(time.time()))
        page = _page(_, language, _("Paper proof"), _paper_form(_, language, token or "", settings.city, policies),
                     clerk=clerk.username, switcher=_switcher_links(_, language, "/desk/paper"))  # fmt: skip
        return _remember_language(page, lang)

    @router.post("/paper")
    def paper(form: Annotated[PaperForm, Form()], token: Token = None, remembered: LanguageCookie = None) -> Response:
        clerk = require(token, form.csrf)
        language = desk_language(form.lang, remembered)
        _ = translator(language)
        now = int(time.time())
        policies = approved_policies(runtime, now=now)
        fields = form.fields()
        problems = check_resident(fields, city=settings.city, today=today())
        if problems:
            values = {**fields, "policy": form.policy, "language": form.language}
            body = _paper_form(_, language, token or "", settings.city, policies, values, problems)
            return _page(_, language, _("Paper proof"), body, clerk=clerk.username, status=400)
        approved = policies.get(form.policy)
        if approved is None:
            raise IssuerError("unknown_policy", "that service has no approved policy", status=400)
        page_language = form.language if form.language in LANGUAGES else "en"
        with runtime.transaction() as session:
            issued = service.issue_paper(
                session, runtime.settings, runtime.signing_key(session), clerk, form.claims(), approved, now=now
            )
        image = paper_page(issued, approved, page_language, now)
        body = (
            f'<section class="print"><img class="paper" alt="{escape(_("Paper proof"))}" '
            f'src="data:image/png;base64,{image}"></section><section class="slip print new-page">'
            f"<h2>{escape(_('Revocation slip'))}</h2>"
            f"<p>{escape(_('If the paper is lost, bring this code to any city desk to switch it off.'))}</p>"
            f'<p class="code">{escape(issued.revocation_code)}</p><p class="hint"><strong>'
            f"{escape(_('Print this page'))}</strong> (Ctrl+P): {escape(_('the paper proof and the slip.'))}</p>"
            f'</section><nav><a href="/desk">{escape(_("Back to the desk"))}</a></nav>'
        )
        return _page(_, language, _("Paper proof ready"), body, clerk=clerk.username)

    @router.post("/revoke")
    def revoke(
        csrf: Annotated[str, Form(max_length=100)], code: Annotated[str, Form(max_length=40)], token: Token = None,
        remembered: LanguageCookie = None,
    ) -> Response:  # fmt: skip
        clerk = require(token, csrf)
        language = desk_language(None, remembered)
        _ = translator(language)
        try:
            with runtime.transaction() as session:
                count = service.revoke_batch(session, clerk, code, now=int(time.time()))
        except IssuerError as exc:
            body = f'<section class="error">{escape(exc.message)}</section>' + _enrol_form(
                _, token or "", settings.city
            )
            return _page(_, language, _("Desk"), body, clerk=clerk.username, status=exc.status,
                         switcher=_switcher_buttons(_, language, "resident"))  # fmt: skip
        runtime.status_cache.invalidate()
        minutes = settings.status_list_ttl // 60
        done = _("{count} credentials are revoked. Desks will refuse them once their status lists refresh (within "
                 "{minutes} minutes of their next sync).", count=count, minutes=minutes)  # fmt: skip
        back = f'<nav><a href="/desk">{escape(_("Back to the desk"))}</a></nav>'
        body = f'<section class="ok">{escape(done)}</section>{back}'
        return _page(_, language, _("Revoked"), body, clerk=clerk.username)

    return router
