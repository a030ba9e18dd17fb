"""The desk app: one page for desk staff, served on 127.0.0.1 by ``cityid verifier serve``.

Pick the desk's policy, show the request QR for the resident's wallet, hold the resident's
proof up to the computer's camera. The browser sends camera frames to this local server
(never anywhere else), which finds the QR code with zxing-cpp and checks it with the desk
engine against the synced trust. The page shows who issued it and the policy's claims only,
or the reason in plain words, and clears itself. Nothing is written; the log holds counts and
reason codes. Everything the page loads is served here (its content security policy says so).

Only the desk's own page may use it: requests for another ``Host`` or from another ``Origin``
are refused (``verifier/guards.py``), anything that changes state is a POST, and bodies are
bounded as they stream in (``edges/middleware.py``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from html import escape
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from credential import (
    NEWEST_PROOF_CODEC,
    QR_PREFIX,
    QR_PREFIX_V2,
    REQUEST_PREFIXES,
    CredentialError,
    DeskRequest,
    PolicyError,
    Reason,
    encode_request_text,
)
from edges.i18n import LANGUAGES, RIGHT_TO_LEFT, Translate, choose_language, translator
from edges.middleware import BodyLimit, SecurityHeaders
from edges.qrimage import QrImageError, decode_qr_images, make_qr, to_svg
from edges.words import claim_fact, claim_label, clock_hint, desk_words

from .engine import Desk, DeskResult, ReplayGuard
from .freshness import freshness, moment
from .guards import SameOrigin
from .scanning import RETRY_AFTER, Busy, DecodePool
from .sync import TRUST_FILE, SyncError, load_trust

log = logging.getLogger("cityid.desk")
MAX_FRAME_BYTES = 4 * 1024 * 1024
BODY_LIMIT = MAX_FRAME_BYTES + 64 * 1024
"""No request body is read past this (a frame, plus room for the request around it)."""
SCAN_TYPES = frozenset({"image/jpeg", "image/png", "text/plain"})
"""What the desk page sends to /api/scan: camera frames, and text typed by a handheld scanner."""
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {"Content-Security-Policy": _CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"}  # fmt: skip


def reason_words(_: Translate, reason: str, *, clock_at: float | None = None) -> str:
    """A refusal in plain words for desk staff (``edges.words.desk_words``); with ``clock_at``
    (the desk's time, given when the refusal is about a moment near it), the clock to check."""
    words = desk_words(_, reason) or _("This proof is not valid.")
    return words if clock_at is None else f"{words} {clock_hint(_, clock_at)}"


class DeskApp:
    """The app's state: the desk engine, one open request per policy, counts for the log.

    When ``cityid verifier sync`` replaces the trust file, the next request or scan picks it
    up (the file is only ever read here), with the same replay guard: what the desk accepted
    before the sync stays refused after it.
    """

    def __init__(
        self, data: Path, audience: str, clock: Callable[[], float] = time.time, codec: int = NEWEST_PROOF_CODEC
    ) -> None:
        self.data, self.audience, self.clock, self.codec = data, audience, clock, codec
        self._loaded = self._stamp()
        self.replay = ReplayGuard(started_at=self.now())
        self.desk = Desk(load_trust(data, now=self.now()), replay=self.replay)
        self.requests: dict[str, DeskRequest] = {}
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def now(self) -> int:
        return int(self.clock())

    def _stamp(self) -> tuple[int, int]:
        status = (self.data / TRUST_FILE).stat()
        return status.st_mtime_ns, status.st_size

    def refresh(self) -> None:
        """Reload the trust if a sync has replaced it since (the replay guard stays)."""
        stamp = self._stamp()
        if stamp != self._loaded:
            with self._lock:
                self.desk = Desk(load_trust(self.data, now=self.now()), replay=self.replay)
                self.requests.clear()
                self._loaded = stamp

    def request(self, policy: str, now: int, *, fresh: bool = False) -> DeskRequest:
        with self._lock:
            current = self.requests.get(policy)
            if fresh or current is None or current.expires_at <= now + 30:
                current = self.requests[policy] = self.desk.new_request(
                    policy, audience=self.audience, now=now, codec=self.codec
                )
            return current

    def check(self, text: str, policy: str, now: int) -> DeskResult:
        self.refresh()
        request = self.request(policy, now)
        result = self.desk.check(text, request=request, now=now)
        if result.reason in {"nonce_mismatch", "audience_mismatch"}:  # perhaps an offline proof for this policy
            offline = self.desk.check(text, policy=policy, now=now)
            result = offline if offline.valid or offline.reason != "audience_mismatch" else result
        if result.valid:
            self.request(policy, now, fresh=True)  # a request is answered once
        with self._lock:
            self.counts[result.reason] += 1
        log.info("check reason=%s total=%d", result.reason, sum(self.counts.values()))
        return result

    def not_a_proof(self, texts: list[str]) -> DeskResult:
        """The answer to a scan that read a code but no proof: the desk's own (or another desk's)
        request, shown to the camera by mistake, or any other QR code (a web address, a ticket)."""
        ours = any(text[:6].upper() in REQUEST_PREFIXES for text in texts)
        reason = "desk_request" if ours else "not_city_id"
        with self._lock:
            self.counts[reason] += 1
        log.info("scan reason=%s total=%d", reason, sum(self.counts.values()))
        return DeskResult(False, reason, "a desk request, not a proof" if ours else "not a city ID code")


def _is_proof(text: str) -> bool:
    """Text that claims to be a resident's proof: QR text (``CID1:``, ``CID2:``) or a compact SD-JWT."""
    return text[:5].upper() in (QR_PREFIX, QR_PREFIX_V2) or text.startswith("eyJ")


def same_code(*texts: str) -> str:
    """A short name for the code in a frame, so that the page can tell "the phone still held up
    after the answer was dismissed" from a new code. It is an unkeyed truncated hash, sent only
    to the page in the answer and kept only in its memory for a few seconds."""
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def scan_answer(_: Translate, state: DeskApp, texts: list[str], policy: str) -> dict[str, Any]:
    """The answer to one scan: the check of the first proof it holds, a "not a proof" for any
    other code, or nothing found."""
    if proofs := [text for text in texts if _is_proof(text)]:
        now = state.now()
        result = state.check(proofs[0], policy, now)
        return {"found": True, "code": same_code(proofs[0]), "result": _result_json(_, result, now)}
    if not any(texts):
        return {"found": False}
    return {"found": True, "code": same_code(*texts), "result": _result_json(_, state.not_a_proof(texts), state.now())}


def _decode_frame(frame: bytes) -> list[str]:
    """The QR texts in a camera frame; none for a frame that is not a readable image."""
    try:
        return decode_qr_images(frame)
    except QrImageError:
        return []


def _result_json(_: Translate, result: DeskResult, now: int) -> dict[str, Any]:
    refused = reason_words(_, result.reason, clock_at=now if result.clock_doubt else None)
    return {
        "valid": result.valid,
        "reason": result.reason,
        "words": _("Valid") if result.valid else refused,
        "facts": [claim_fact(_, name, value) for name, value in result.claims.items()],
        "issuer": result.issuer,
        "issuer_label": _("Issued by"),
        "device_bound": result.device_bound,
        "paper_note": _("Paper proof: not tied to a phone.") if result.device_bound is False else "",
    }


def trust_words(_: Translate, app: DeskApp) -> str:
    """How old the desk's trust is, and when it stops being enough, for desk staff."""
    fresh = freshness(app.desk.trust)
    hours = max(0, app.now() - fresh.synced_at) // 3600
    if fresh.refuses_after is None:
        return _("Synced {hours} h ago.", hours=hours)
    return _("Synced {hours} h ago; refuses after {when}.", hours=hours, when=moment(fresh.refuses_after))


def _trust_json(app: DeskApp, lang: str) -> dict[str, Any]:
    app.refresh()
    words = trust_words(translator(choose_language(lang, {})), app)
    return {**freshness(app.desk.trust).to_json(), "words": words}


def _page(_: Translate, language: str, app: DeskApp) -> str:
    options = "".join(
        f'<option value="{policy.id}">{escape(policy.title_in(language))}</option>'
        for policy in app.desk.trust.registry.policies.values()
    )
    languages = "".join(
        f'<a href="?lang={code}" lang="{code}"{" aria-current=page" if code == language else ""}>{name}</a>'
        for code, name in LANGUAGES.items()
    )
    direction = "rtl" if language in RIGHT_TO_LEFT else "ltr"
    no_camera = escape(_("No camera: use a handheld scanner in the box below."))  # desk.js shows it
    return f"""<!DOCTYPE html>
<html lang="{language}" dir="{direction}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(_("Desk check"))}</title><link rel="stylesheet" href="/static/desk.css"></head>
<body data-lang="{language}">
<header><strong>cityid</strong> <span>{escape(_("Desk check"))}</span> <nav>{languages}</nav></header>
<main>
<section id="setup">
<label for="policy">{escape(_("This desk's service"))}</label>
<select id="policy">{options}</select>
<button id="renew" type="button">{escape(_("New request"))}</button>
<p id="trust">{escape(trust_words(_, app))}</p>
</section>
<section id="ask" aria-live="polite">
<h2>{escape(_("1. The resident scans this with the wallet"))}</h2>
<div id="request-qr"></div>
<p id="asks"></p>
</section>
<section id="scan">
<h2>{escape(_("2. Hold the resident's code up to the camera"))}</h2>
<video id="camera" autoplay muted playsinline></video>
<canvas id="frame" hidden></canvas>
<p id="camera-state" role="status" data-no-camera="{no_camera}"></p>
<label for="typed">{escape(_("Or scan with a handheld scanner into this box"))}</label>
<input id="typed" autocomplete="off" spellcheck="false">
</section>
<section id="result" hidden tabindex="-1" aria-live="assertive">
<p id="verdict"></p><ul id="facts"></ul><p id="issuer"></p><p id="paper"></p>
<p class="hint">{escape(_("Clears in a few seconds. Press Escape to clear now."))}</p>
</section>
</main>
<script src="/static/desk.js"></script>
</body></html>
"""


def create_desk_app(
    data: Path,
    *,
    audience: str,
    clear_after: int = 8,
    clock: Callable[[], float] = time.time,
    allowed_hosts: Collection[str] | None = None,
    decoder: DecodePool | None = None,
    proof_codec: int = NEWEST_PROOF_CODEC,
) -> FastAPI:
    """The desk app over the trust synced into ``data``, for the desk called ``audience``.
    ``allowed_hosts``: the ``Host`` values it answers to (``guards.own_hosts(host, port)``, as
    ``cityid verifier serve`` passes); by default the address the server listens on.
    ``decoder``: the pool camera frames are decoded in (``verifier/scanning.py``), off the
    event loop. ``proof_codec`` 1 makes the desk ask for ``CID1:`` proofs (``CIDR1:`` requests),
    for wallets older than ``CID2:``. ``clock`` is for tests that need tomorrow."""
    state = DeskApp(data, audience, clock, proof_codec)
    frames = decoder or DecodePool(_decode_frame)
    app = FastAPI(title="cityid desk", docs_url=None, redoc_url=None, openapi_url=None)
    static = resources.files("verifier").joinpath("static")

    @app.exception_handler(CredentialError)
    async def refused(_request: Request, exc: CredentialError) -> JSONResponse:
        return JSONResponse({"reason": exc.reason.value, "message": exc.message}, status_code=400)

    @app.exception_handler(SyncError)
    async def not_synced(_request: Request, exc: SyncError) -> JSONResponse:
        return JSONResponse({"reason": exc.reason, "message": exc.message}, status_code=503)

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal_error type=%s", type(exc).__name__)
        return JSONResponse({"reason": "internal_error"}, status_code=500, headers=_HEADERS)  # outside the middleware

    @app.get("/", response_class=HTMLResponse)
    def page(lang: Annotated[str | None, Query(max_length=16)] = None) -> HTMLResponse:
        state.refresh()
        language = choose_language(lang, {})
        return HTMLResponse(_page(translator(language), language, state))

    @app.get("/static/{name}")
    def asset(name: str) -> Response:
        kinds = {"desk.js": "text/javascript", "desk.css": "text/css"}
        if name not in kinds:
            return Response(status_code=404)
        body = static.joinpath(name).read_text(encoding="utf-8").replace("__CLEAR_AFTER__", str(clear_after))
        return Response(body, media_type=kinds[name])

    @app.get("/api/trust")
    def trust(lang: Annotated[str, Query(max_length=16)] = "en") -> JSONResponse:
        """How old the kept trust is: synced_at, status_lists_valid_until, refuses_after, words."""
        return JSONResponse(_trust_json(state, lang))

    def request_json(desk_request: DeskRequest, lang: str) -> JSONResponse:
        _ = translator(choose_language(lang, {}))
        text = encode_request_text(desk_request)
        return JSONResponse(
            {"request": text, "svg": to_svg(make_qr(text), title="Desk request"), "expires_at": desk_request.expires_at,
             "asks": [claim_label(_, name) for name in desk_request.claims]},
        )  # fmt: skip

    @app.get("/api/request")
    def current_request(policy: Annotated[str, Query(max_length=64)],
                        lang: Annotated[str, Query(max_length=16)] = "en") -> JSONResponse:  # fmt: skip
        """The open request for ``policy`` (made when there is none, or it is about to expire)."""
        state.refresh()
        return request_json(state.request(policy, state.now()), lang)

    @app.post("/api/request")
    def new_request(policy: Annotated[str, Query(max_length=64)],
                    lang: Annotated[str, Query(max_length=16)] = "en") -> JSONResponse:  # fmt: skip
        """A new request for ``policy``, replacing the open one."""
        state.refresh()
        return request_json(state.request(policy, state.now(), fresh=True), lang)

    @app.post("/api/scan")
    async def scan(http: Request, policy: Annotated[str, Query(max_length=64)],
                   lang: Annotated[str, Query(max_length=16)] = "en") -> JSONResponse:  # fmt: skip
        state.refresh()
        if policy not in state.desk.trust.registry.policies:  # refused before any frame is decoded for it
            raise PolicyError(Reason.UNKNOWN_POLICY, f"policy {policy!r} is not in the registry")
        kind = http.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in SCAN_TYPES:
            return JSONResponse({"found": False, "reason": "unsupported_media_type"}, status_code=415)
        body = await http.body()
        if len(body) > MAX_FRAME_BYTES:
            return JSONResponse({"found": False, "reason": "too_large"}, status_code=413)
        if kind == "text/plain" or _is_proof(body[:8].decode("ascii", errors="replace")):
            texts = [body.decode("utf-8", errors="replace").strip()]  # typed by a handheld scanner
        else:
            try:
                texts = await frames.run(body)
            except Busy:
                return JSONResponse({"found": False, "reason": Busy.reason}, status_code=503,
                                    headers={"Retry-After": str(RETRY_AFTER)})  # fmt: skip
        return JSONResponse(scan_answer(translator(choose_language(lang, {})), state, texts, policy))

    # The last added runs first: headers on every answer, then the address checks, then the limit.
    app.add_middleware(BodyLimit, limit=BODY_LIMIT)
    app.add_middleware(SameOrigin, allowed_hosts=allowed_hosts)
    app.add_middleware(SecurityHeaders, headers=_HEADERS)
    app.state.desk = state
    app.state.decoder = frames
    return app
