"""The clerk's desk pages: sign in, enrol a resident, show the offer, print the slip, revoke.

Server-rendered HTML with inline styles and the QR code as inline SVG: the page loads
nothing from anywhere (its content security policy forbids it). Sessions are random cookie
tokens stored hashed; every form carries a token derived from the session (CSRF), and the
sign-in form one derived from a sign-in cookie set with the form (login CSRF); a form posted
with an ``Origin`` other than the issuer's is refused. Sign-in attempts are counted before
the password is checked, and unknown user names cost the same scrypt work as known ones.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from cityid.i18n import LANGUAGES
from cityid.qrimage import make_qr, to_svg
from cityid.sealing import check_password, hash_password, lookup_hash
from credential import ADDRESS_FIELDS
from policies import Policy

from . import service
from .errors import IssuerError
from .models import Clerk, ClerkSession
from .paperpage import paper_page
from .runtime import Runtime, approved_policies

COOKIE = "cityid_desk"
LOGIN_COOKIE = "cityid_desk_signin"
"""Set with the sign-in form; the form's token is derived from it (double submit)."""
SESSION_SECONDS = 8 * 3600
LOGIN_ATTEMPTS, LOCKOUT_SECONDS = 10, 15 * 60
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'"
_CSS = """
body { font: 17px/1.5 system-ui, "Noto Sans", sans-serif; margin: 0; color: #1b1f24; background: #f6f8fa; }
header { background: #0b3d91; color: #fff; padding: .75rem 1.5rem; display: flex; justify-content: space-between; }
main { max-width: 52rem; margin: 1.5rem auto; padding: 0 1rem; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 1rem 1.5rem;
          margin-bottom: 1.5rem; }
label { display: block; margin: .5rem 0 .15rem; font-weight: 600; }
input { font: inherit; padding: .4rem .5rem; width: 100%; box-sizing: border-box; border: 1px solid #8c959f;
        border-radius: 4px; }
button { font: inherit; font-weight: 600; padding: .5rem 1.25rem; margin-top: 1rem; border-radius: 6px; border: 0;
         background: #0b3d91; color: #fff; cursor: pointer; }
button.secondary { background: #57606a; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 0 1rem; }
.pin { font-size: 3rem; letter-spacing: .4em; font-weight: 700; font-family: ui-monospace, monospace; }
.code { font-size: 1.6rem; font-weight: 700; font-family: ui-monospace, monospace; letter-spacing: .08em; }
.error { background: #fdecea; border-color: #b3261e; color: #b3261e; }
.ok { background: #e6f4ea; border-color: #1a7f37; }
.qr svg { width: 320px; height: 320px; }
.slip { border: 2px dashed #57606a; }
:focus { outline: 3px solid #e9a800; outline-offset: 2px; }
img.paper { width: 100%; max-width: 620px; border: 1px solid #d0d7de; }
@media print { header, section:not(.slip), nav, button { display: none !important; } .slip { border: 0; }
               section:has(img.paper) { display: block !important; border: 0; padding: 0; }
               img.paper { max-width: none; border: 0; } .slip { break-before: page; } }
"""


def _page(title: str, body: str, *, clerk: str | None = None, status: int = 200) -> HTMLResponse:
    signed_in = f"<span>Signed in as {escape(clerk)}</span>" if clerk else ""
    html = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · cityid desk</title>"
        f"<style>{_CSS}</style></head><body><header><strong>cityid · clerk desk</strong>{signed_in}</header>"
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    headers = {
        "Content-Security-Policy": _CSP,
        "Cache-Control": "no-store",
        # Not no-referrer: under it browsers send "Origin: null" with the page's own forms, and
        # the desk refuses forms whose Origin is not its own. Other sites still get no referrer.
        "Referrer-Policy": "same-origin",
    }
    return HTMLResponse(html, status_code=status, headers=headers)


_FORM, _SIGN_IN_FORM = b"cityid desk form", b"cityid desk sign-in form"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def signed_out_page(message: str | None, status: int, *, cookie: str | None, secure: bool) -> HTMLResponse:
    """The sign-in form, after ``message`` (a desk page's error): bound to the browser's sign-in
    cookie, or to a new one set here."""
    token = cookie if cookie and _TOKEN.fullmatch(cookie) else secrets.token_urlsafe(32)
    notice = f'<section class="error">{escape(message)}</section>' if message else ""
    response = _page("Sign in", notice + _login_form(token), status=status)
    response.set_cookie(LOGIN_COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                        secure=secure, path="/desk")  # fmt: skip
    return response


def _csrf(token: str, purpose: bytes = _FORM) -> str:
    return hmac.new(token.encode(), purpose, hashlib.sha256).hexdigest()


def _hidden(token: str, purpose: bytes = _FORM) -> str:
    return f'<input type="hidden" name="csrf" value="{_csrf(token, purpose)}">'


def _login_form(token: str) -> str:
    return (
        f'<section><form method="post" action="/desk/login">{_hidden(token, _SIGN_IN_FORM)}'
        '<label for="username">User name</label>'
        '<input id="username" name="username" autocomplete="username" required autofocus>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form></section>'
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


_FIELDS = (
    ("given_name", "Given name"),
    ("family_name", "Family name"),
    ("birthdate", "Date of birth"),
    ("street_address", "Street address"),
    ("locality", "City"),
    ("region", "State or region"),
    ("postal_code", "Postal code"),
    ("country", "Country"),
)


def _enrol_form(token: str) -> str:
    inputs = "".join(
        f'<div><label for="{name}">{label}</label><input id="{name}" name="{name}" required '
        f'{"type=date" if name == "birthdate" else "maxlength=200"} autocomplete="off"></div>'
        for name, label in _FIELDS
    )
    return (
        "<section><h2>Enrol a resident</h2><p>Check the documents in person first. Nothing you type here is kept "
        'after the resident\'s wallet has received its credentials.</p><form method="post" action="/desk/offer">'
        f'{_hidden(token)}<div class="grid">{inputs}</div><button type="submit">Create offer</button></form></section>'
        "<section><h2>Revoke a batch</h2><p>For a lost or stolen phone: type the code from the resident's slip.</p>"
        f'<form method="post" action="/desk/revoke">{_hidden(token)}<label for="code">Revocation code</label>'
        '<input id="code" name="code" required maxlength="40" autocomplete="off">'
        '<button type="submit" class="secondary">Revoke</button></form></section>'
        '<section><h2>No smartphone?</h2><p>A resident without a phone can get a <a href="/desk/paper">paper '
        "proof</a> for a service that accepts paper.</p></section>"
        f'<form method="post" action="/desk/logout">{_hidden(token)}<button class="secondary">Sign out</button></form>'
    )


def _paper_form(token: str, policies: Mapping[str, Policy]) -> str:
    options = "".join(
        f'<option value="{escape(policy.id)}">{escape(policy.title_in("en"))}</option>'
        for policy in policies.values()
        if policy.accepts_paper
    )
    languages = "".join(f'<option value="{code}">{escape(name)}</option>' for code, name in LANGUAGES.items())
    inputs = "".join(
        f'<div><label for="{name}">{label}</label><input id="{name}" name="{name}" required '
        f'{"type=date" if name == "birthdate" else "maxlength=200"} autocomplete="off"></div>'
        for name, label in _FIELDS
    )
    if not options:
        return (
            '<section class="error">No approved policy accepts paper proofs (the policy registry is missing).</section>'
        )
    return (
        "<section><h2>Paper proof</h2><p>For one service that accepts paper. The page is not tied to a phone, "
        "so it is printed only at the resident's request. Nothing you type is kept.</p>"
        f'<form method="post" action="/desk/paper">{_hidden(token)}'
        f'<label for="policy">Service</label><select id="policy" name="policy">{options}</select>'
        f'<label for="language">Language of the page</label><select id="language" name="language">{languages}</select>'
        f'<div class="grid">{inputs}</div><button type="submit">Print paper proof</button></form></section>'
    )


class ResidentForm(BaseModel):
    """The enrolment form: the claims a clerk types after checking documents, and the CSRF token."""

    csrf: str = Field(max_length=100)
    given_name: str = Field(max_length=200)
    family_name: str = Field(max_length=200)
    birthdate: str = Field(max_length=10)
    street_address: str = Field(max_length=200)
    locality: str = Field(max_length=200)
    region: str = Field(max_length=200)
    postal_code: str = Field(max_length=200)
    country: str = Field(max_length=200)

    def claims(self) -> dict[str, Any]:
        """The enrolled claims, with the address as its structured claim."""
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "birthdate": self.birthdate,
            "address": {name: getattr(self, name) for name in ADDRESS_FIELDS},
        }


class PaperForm(ResidentForm):
    """The paper-proof form: the same claims, the service and the page's language."""

    policy: str = Field(max_length=64)
    language: str = Field(max_length=16)


Token = Annotated[str | None, Cookie(alias=COOKIE)]
"""The session cookie (module level: FastAPI resolves annotations by name here)."""
LoginToken = Annotated[str | None, Cookie(alias=LOGIN_COOKIE)]
"""The sign-in cookie."""


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
        if csrf is not None and not hmac.compare_digest(csrf, _csrf(token)):
            raise IssuerError("bad_form", "the form has expired: reload the page", status=403)
        return clerk

    @router.get("")
    def home(token: Token = None, login_token: LoginToken = None) -> Response:
        clerk = signed_in(token)
        if clerk is None or token is None:
            return signed_out_page(None, 200, cookie=login_token, secure=settings.https)
        return _page("Desk", _enrol_form(token), clerk=clerk.username)

    @router.post("/login")
    def login(
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=200)],
        csrf: Annotated[str, Form(max_length=100)] = "",
        login_token: LoginToken = None,
    ) -> Response:
        if not login_token or not hmac.compare_digest(csrf, _csrf(login_token, _SIGN_IN_FORM)):
            raise IssuerError("bad_form", "the sign-in form has expired: sign in again", status=403)
        now = int(time.time())
        with runtime.transaction() as session:
            attempt = _reserve_sign_in(session, username, now=now)
            locked = attempt is None and session.scalar(select(Clerk.id).where(Clerk.username == username)) is not None
        if locked:
            message = "This account is locked for a few minutes after too many wrong passwords."
            return signed_out_page(message, 429, cookie=login_token, secure=settings.https)
        # The same scrypt work whether the name exists or not: response times do not tell.
        matches = check_password(password, attempt.password_hash if attempt is not None else _unknown_user_hash())
        if attempt is None or not matches:
            if attempt is not None and attempt.locks:
                with runtime.transaction() as session:
                    clerk = session.get(Clerk, attempt.clerk_id)
                    if clerk is not None:
                        service.record(session, clerk, "locked_out", "-", now)
            return signed_out_page("Wrong user name or password.", 401, cookie=login_token, secure=settings.https)
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

    @router.post("/offer")
    def offer(
        form: Annotated[ResidentForm, Form()],
        token: Token = None,
    ) -> Response:
        clerk = require(token, form.csrf)
        claims = form.claims()
        try:
            with runtime.transaction() as session:
                created = service.create_offer(session, runtime.settings, clerk, claims, now=int(time.time()))
        except IssuerError as exc:
            body = f'<section class="error">{escape(exc.message)}</section>' + _enrol_form(token or "")
            return _page("Desk", body, clerk=clerk.username, status=400)
        minutes = runtime.settings.offer_lifetime // 60
        body = (
            '<section class="ok"><h2>Ask the resident to scan this with the cityid wallet</h2>'
            f'<div class="qr">{to_svg(make_qr(created.offer_uri), title="Credential offer")}</div>'
            f'<p>Then to type this PIN:</p><p class="pin" aria-label="PIN">{created.pin}</p>'
            f"<p>The offer works once, for {minutes} minutes.</p></section>"
            '<section class="slip"><h2>Revocation slip</h2><p>Keep this slip apart from your phone. If the phone is '
            "lost or stolen, bring it to any city desk to switch off the credentials on it.</p>"
            f'<p class="code">{escape(created.revocation_code)}</p>'
            "<p><strong>Print this page</strong> (Ctrl+P): only the slip is printed.</p></section>"
            '<nav><a href="/desk">Next resident</a></nav>'
        )
        return _page("Offer ready", body, clerk=clerk.username)

    @router.get("/paper")
    def paper_form(token: Token = None) -> Response:
        clerk = require(token)
        body = _paper_form(token or "", approved_policies(runtime, now=int(time.time())))
        return _page("Paper proof", body, clerk=clerk.username)

    @router.post("/paper")
    def paper(
        form: Annotated[PaperForm, Form()],
        token: Token = None,
    ) -> Response:
        clerk = require(token, form.csrf)
        now = int(time.time())
        approved = approved_policies(runtime, now=now).get(form.policy)
        if approved is None:
            raise IssuerError("unknown_policy", "that service has no approved policy", status=400)
        language = form.language if form.language in LANGUAGES else "en"
        with runtime.transaction() as session:
            issued = service.issue_paper(
                session, runtime.settings, runtime.signing_key(session), clerk, form.claims(), approved, now=now
            )
        image = paper_page(issued, approved, language, now)
        body = (
            f'<section><img class="paper" alt="Paper proof" src="data:image/png;base64,{image}"></section>'
            '<section class="slip"><h2>Revocation slip</h2><p>If the paper is lost, bring this code to any city '
            f'desk to switch it off.</p><p class="code">{escape(issued.revocation_code)}</p>'
            "<p><strong>Print this page</strong> (Ctrl+P): the paper proof and the slip.</p></section>"
            '<nav><a href="/desk">Back to the desk</a></nav>'
        )
        return _page("Paper proof ready", body, clerk=clerk.username)

    @router.post("/revoke")
    def revoke(
        csrf: Annotated[str, Form(max_length=100)], code: Annotated[str, Form(max_length=40)], token: Token = None
    ) -> Response:
        clerk = require(token, csrf)
        try:
            with runtime.transaction() as session:
                count = service.revoke_batch(session, clerk, code, now=int(time.time()))
        except IssuerError as exc:
            return _page("Desk", f'<section class="error">{escape(exc.message)}</section>' + _enrol_form(token or ""),
                         clerk=clerk.username, status=exc.status)  # fmt: skip
        runtime.status_cache.invalidate()
        return _page(
            "Revoked",
            f'<section class="ok">{count} credentials are revoked. Desks will refuse them once their status '
            f"lists refresh (within {runtime.settings.status_list_ttl // 60} minutes of their next sync).</section>"
            '<nav><a href="/desk">Back to the desk</a></nav>',
            clerk=clerk.username,
        )

    return router
