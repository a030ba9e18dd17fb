"""The resident's phone wallet in Chromium, as an old phone: shared by the phone tests and bench/phone.py.

An issuer is served over real HTTP on loopback (a secure context, so the service worker and the
camera work) with its issuer URL set to that address, so the app's OpenID4VCI calls stay on one
origin. The phone is Playwright's ``Galaxy S5`` with a 6x CPU throttle; its camera is a y4m video
of a QR code. Chromium takes one fake video per launch, so every camera scene is a new launch on
the same profile directory, which keeps IndexedDB and the service worker between scenes.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from browser import FLAGS, missing, required_chromium, serving
from desk_support import publish_registry
from issuer_support import PASSPHRASE, free_port, initialise
from PIL import Image
from playwright.sync_api import BrowserContext, Page, Playwright
from pydantic import SecretStr

from cityid.qrimage import make_qr, to_png
from issuer.app import create_app
from issuer.registry import publish
from issuer.settings import IssuerSettings
from verifier.sync import sync

APP_DIST = Path(__file__).resolve().parents[1] / "wallet" / "app" / "dist"
AXE = Path(__file__).resolve().parents[1] / "wallet" / "app" / "node_modules" / "axe-core" / "axe.min.js"
CLERK_PASSWORD = "clerk-password-1"

# Every object store's records as text, with bytes as base64: what a thief reading the disk would see.
DUMP_IDB = """async () => {
  const done = (r) => new Promise((ok, no) => { r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
  const db = await done(indexedDB.open("cityid-wallet"));
  const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)));
  const out = {};
  const keys = [];
  const plain = (v) => {
    if (v instanceof CryptoKey) { keys.push(v); return {cryptoKey: v.type, extractable: v.extractable}; }
    if (v instanceof ArrayBuffer) return {b64: b64(v)};
    if (ArrayBuffer.isView(v)) return {b64: b64(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength))};
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === "object") { const o = {}; for (const k of Object.keys(v)) o[k] = plain(v[k]); return o; }
    return v;
  };
  for (const name of db.objectStoreNames) {
    const rows = await done(db.transaction(name).objectStore(name).getAll());
    const names = await done(db.transaction(name).objectStore(name).getAllKeys());
    out[name] = {keys: plain(names), rows: plain(rows)};
  }
  const report = [];
  for (const key of keys) {
    if (key.type !== "private" && key.type !== "secret") continue;
    let exportFails = false;
    try { await crypto.subtle.exportKey("jwk", key); } catch (e) { exportFails = true; }
    report.push({type: key.type, extractable: key.extractable, exportFails});
  }
  db.close();
  return {text: JSON.stringify(out), keys: report};
}"""


def write_qr_video(png: bytes, path: Path, frames: int = 20) -> Path:
    """A 640x480 I420 video of a QR image, large and centred on a white margin, looped as a camera."""
    with Image.open(io.BytesIO(png)) as image:
        qr = image.convert("L")
        side = 440
        qr = qr.resize((side, side), Image.Resampling.NEAREST)
    canvas = Image.new("L", (640, 480), 255)
    canvas.paste(qr, ((640 - side) // 2, (480 - side) // 2))
    luma, chroma = canvas.tobytes(), bytes([128]) * (320 * 240)
    with path.open("wb") as video:
        video.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            video.write(b"FRAME\n" + luma + chroma + chroma)
    return path


def text_video(text: str, path: Path) -> Path:
    return write_qr_video(to_png(make_qr(text)), path)


def blank_video(path: Path) -> Path:
    return write_qr_video(to_png(make_qr("nothing to read")), path)


def camera_flags(video: Path | None) -> list[str]:
    flags = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    return [*flags, f"--use-file-for-fake-video-capture={video}"] if video else flags


def require_browser_and_app() -> Path:
    path = required_chromium()
    if not (APP_DIST / "index.html").exists():
        missing("the phone app is not built (cd wallet/app && npm run build)")
    return path


@dataclass
class ServedIssuer:
    """An issuer on http://127.0.0.1:PORT whose issuer URL is that address."""

    url: str
    settings: IssuerSettings
    board_jwks: dict[str, Any]
    app: Any

    def sync_desk(self, data: Path) -> Any:
        """The desk's sync from this issuer; its status list is rebuilt first, so a revocation a
        moment ago is in it (a real desk sees it within the list's cache time)."""
        self.app.state.runtime.status_cache.invalidate()

        def fetch(url: str) -> str:
            return httpx.get(url, timeout=10).text

        issuer_jwks = httpx.get(f"{self.url}/.well-known/jwt-vc-issuer", timeout=10).json()
        return sync(self.url, data, fetch=fetch, now=int(time.time()), issuer_jwks=issuer_jwks,
                    board_jwks=self.board_jwks)  # fmt: skip


class _IssuerHandle:
    def __init__(self, settings: IssuerSettings) -> None:
        self.settings = settings


@contextmanager
def served_issuer(data: Path) -> Iterator[ServedIssuer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = IssuerSettings(data=data, issuer_url=url, issuer_passphrase=SecretStr(PASSPHRASE),
                              status_list_size=2**16)  # fmt: skip
    engine = initialise(settings)
    board = publish_registry(_IssuerHandle(settings))  # type: ignore[arg-type]
    registry = (data / "registry.jwt").read_text()
    publish(data, registry, board, now=int(time.time()))  # what GET /registry serves the phone
    app = create_app(settings, engine=engine)
    with serving(app, port):
        yield ServedIssuer(url, settings, board, app)
    engine.dispose()


def add_clerk(issuer: ServedIssuer, name: str = "alice") -> None:
    from cityid.sealing import hash_password  # noqa: PLC0415
    from issuer.db import make_engine, sessions  # noqa: PLC0415
    from issuer.models import Clerk  # noqa: PLC0415

    engine = make_engine(issuer.settings.url)
    with sessions(engine).begin() as session:
        session.add(Clerk(username=name, password_hash=hash_password(CLERK_PASSWORD), created_at=int(time.time())))
    engine.dispose()


@dataclass
class ClerkOffer:
    link: str
    pin: str
    revocation_code: str


def clerk_enrols(page: Page, base: str, given_name: str, birthdate: str) -> ClerkOffer:
    """The clerk pages, as a clerk uses them: sign in, enrol, confirm, create the offer."""
    page.goto(f"{base}/desk")
    if page.locator("#username").count():
        page.fill("#username", "alice")
        page.fill("#password", CLERK_PASSWORD)
        page.keyboard.press("Enter")
    page.wait_for_selector("#given_name")
    fields = {"given_name": given_name, "family_name": "Okafor", "birthdate": birthdate,
              "street_address": "12 Elm Street", "locality": "Riverton", "region": "NY", "postal_code": "10001",
              "country": "US"}  # fmt: skip
    for field, value in fields.items():
        page.fill(f"#{field}", value)
    page.click("text=Continue")
    page.wait_for_selector("dl.readback")
    page.click("text=Create offer")
    page.wait_for_selector(".pin")
    link = page.eval_on_selector('a[href*="/wallet/#offer="]', "a => a.href") if page.locator(
        'a[href*="/wallet/#offer="]').count() else page.evaluate(
        "() => [...document.querySelectorAll('input,textarea,a,p,code')].map(e => e.value || e.href || e.textContent)"
        ".find(t => t && t.includes('/wallet/#offer='))")  # fmt: skip
    return ClerkOffer(str(link).strip(), page.inner_text(".pin").strip(), page.inner_text(".slip .code").strip())


def clerk_revokes(page: Page, base: str, code: str) -> None:
    page.goto(f"{base}/desk")
    page.fill("#code", code)
    page.click('form[action="/desk/revoke"] button[type=submit]')
    page.wait_for_load_state()


@contextmanager
def phone(
    playwright: Playwright, profile: Path, video: Path | None, *, throttle: float = 6
) -> Iterator[BrowserContext]:
    """The old phone, with ``video`` as its camera, on the persistent ``profile``."""
    device = dict(playwright.devices["Galaxy S5"])
    device.pop("default_browser_type", None)
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(require_browser_and_app()), args=[*FLAGS, *camera_flags(video)],
        permissions=["camera"], **device,
    )  # fmt: skip
    if throttle > 1:
        context.on("page", lambda page: _throttle(context, page, throttle))
        for page in context.pages:
            _throttle(context, page, throttle)
    try:
        yield context
    finally:
        context.close()


def _throttle(context: BrowserContext, page: Page, rate: float) -> None:
    context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": rate})


def first_page(context: BrowserContext) -> Page:
    return context.pages[0] if context.pages else context.new_page()


def screen(page: Page, name: str, timeout: float = 30_000) -> None:
    page.wait_for_function("name => document.body && document.body.dataset.screen === name", arg=name,
                           timeout=timeout)  # fmt: skip


def current_screen(page: Page) -> str:
    return str(page.evaluate("() => document.body && document.body.dataset.screen"))


def unused_count(page: Page) -> int:
    digits = "".join(ch for ch in page.inner_text("#unused-count") if ch.isdigit())
    return int(digits)


def proof_text(page: Page) -> str:
    text = page.get_attribute("#proof-qr", "data-qr-text")
    if not text and page.locator("#proof-text").count():
        text = page.locator("#proof-text").text_content()
    return (text or "").strip()


def dump_storage(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(DUMP_IDB)
    return result


def receive_batch(page: Page, link: str, pin: str) -> float:
    """Open the offer link, type the PIN, wait for ``received``: the seconds from submit to it."""
    page.goto(link)
    screen(page, "offer")
    page.fill("#pin", pin)
    started = time.perf_counter()
    page.click("#pin-submit")
    screen(page, "received", timeout=60_000)
    return time.perf_counter() - started


def scan_and_consent(page: Page, timeout: float = 30_000) -> float:
    """From home, tap scan and wait for the consent screen: the seconds from the camera starting."""
    page.click("#scan-request")
    page.wait_for_function("() => { const v = document.getElementById('camera'); return v && v.srcObject; }",
                           timeout=timeout)  # fmt: skip
    started = time.perf_counter()
    page.wait_for_function("() => ['consent', 'refused'].includes(document.body.dataset.screen)", timeout=timeout)
    return time.perf_counter() - started


def consent_to_proof(page: Page) -> float:
    started = time.perf_counter()
    page.click("#consent-yes")
    screen(page, "proof")
    page.wait_for_selector("#proof-qr svg, svg#proof-qr, #proof-qr", state="visible")
    return time.perf_counter() - started


def desk_scans(playwright: Playwright, base: str, video: Path, policy: str) -> dict[str, str]:
    """The desk page in desktop Chromium with ``video`` as its camera: what it shows."""
    browser = playwright.chromium.launch(executable_path=str(require_browser_and_app()),
                                         args=[*FLAGS, *camera_flags(video)])  # fmt: skip
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{base}/?policy={policy}&lang=en")
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        return {
            "class": page.get_attribute("#result", "class") or "",
            "reason": page.get_attribute("#result", "data-reason") or "",
            "verdict": page.inner_text("#verdict"),
            "facts": page.inner_text("#facts"),
        }
    finally:
        browser.close()
