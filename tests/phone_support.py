"""The resident's phone wallet in Chromium, as an old phone: shared by the phone tests and bench/phone.py.

An issuer is served over real HTTP on loopback (a secure context, so the service worker and the
camera work) with its issuer URL set to that address, so the app's OpenID4VCI calls stay on one
origin. A phone is a browser context as Playwright's ``Galaxy S5`` (mobile viewport, touch) with
a 6x CPU throttle; its camera is a y4m video of a QR code. Chromium is launched once for all the
phones and once for the desk (and the clerk): each launch has one fake camera, pointed at the
next code between scenes (:class:`browser.Camera`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from browser import FLAGS, Camera, desk_result, missing, required_chromium, serving
from desk_support import publish_registry
from fastapi.testclient import TestClient
from issuer_support import PASSPHRASE, Issuer, enrolled, free_port, initialise
from playwright.sync_api import Browser, Page, Playwright
from pydantic import SecretStr

from issuer.app import create_app
from issuer.desk import phone_app_link
from issuer.registry import publish
from issuer.settings import IssuerSettings
from verifier.sync import sync

APP_DIST = Path(__file__).resolve().parents[1] / "wallet" / "app" / "dist"
AXE = Path(__file__).resolve().parents[1] / "wallet" / "app" / "node_modules" / "axe-core" / "axe.min.js"
CLERK_PASSWORD = "clerk-password-1"  # alice's, as issuer_support.Issuer.clerk makes her

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


def require_browser_and_app() -> Path:
    path = required_chromium()
    if not (APP_DIST / "index.html").exists():
        missing("the phone app is not built (cd wallet/app && npm run build)")
    return path


@dataclass
class ClerkOffer:
    link: str
    pin: str
    revocation_code: str


@dataclass
class ServedIssuer:
    """An issuer on http://127.0.0.1:PORT whose issuer URL is that address; ``local`` is the same
    issuer in this process (its database and service layer, and its clerk ``alice``)."""

    url: str
    local: Issuer
    board_jwks: dict[str, Any]
    app: Any

    def offer(self, given_name: str = "Ana", birthdate: str = "1990-05-17") -> ClerkOffer:
        """An offer as the clerk's pages make it, for tests that are not about those pages."""
        created = self.local.offer(enrolled(given_name, birthdate))
        return ClerkOffer(phone_app_link(self.url, created.offer_uri), created.pin, created.revocation_code)

    def sync_desk(self, data: Path) -> Any:
        """The desk's sync from this issuer; its status list is rebuilt first, so a revocation a
        moment ago is in it (a real desk sees it within the list's cache time)."""
        self.app.state.runtime.status_cache.invalidate()

        def fetch(url: str) -> str:
            return httpx.get(url, timeout=10).text

        issuer_jwks = httpx.get(f"{self.url}/.well-known/jwt-vc-issuer", timeout=10).json()
        return sync(self.url, data, fetch=fetch, now=int(time.time()), issuer_jwks=issuer_jwks,
                    board_jwks=self.board_jwks)  # fmt: skip


@contextmanager
def served_issuer(data: Path, **extra: Any) -> Iterator[ServedIssuer]:
    """The issuer, with its clerk, serving its signed registry; ``extra`` are settings."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = IssuerSettings(data=data, issuer_url=url, issuer_passphrase=SecretStr(PASSPHRASE),
                              status_list_size=2**16, **extra)  # fmt: skip
    engine = initialise(settings)
    app = create_app(settings, engine=engine)
    local = Issuer(settings, engine, TestClient(app, base_url=url))
    local.clerk()
    board = publish_registry(local)
    registry = (data / "registry.jwt").read_text()
    publish(data, registry, board, now=int(time.time()))  # what GET /registry serves the phone
    with serving(app, port):
        yield ServedIssuer(url, local, board, app)
    engine.dispose()


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


@dataclass
class Phones:
    """One Chromium for every phone of a test module, and the camera they all share."""

    playwright: Playwright
    browser: Browser
    camera: Camera

    @contextmanager
    def phone(self, *, throttle: float = 6) -> Iterator[Page]:
        """A new phone (its own IndexedDB and service worker) with a page open, its CPU
        ``throttle`` times slower (1: not throttled)."""
        device = dict(self.playwright.devices["Galaxy S5"])
        device.pop("default_browser_type", None)
        context = self.browser.new_context(**device, permissions=["camera"])
        try:
            page = context.new_page()
            if throttle > 1:
                context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": throttle})
            yield page
        finally:
            context.close()


@contextmanager
def phones(playwright: Playwright, folder: Path) -> Iterator[Phones]:
    """Chromium for phones, its camera's video in ``folder``."""
    with _launched(playwright, Camera(folder / "phone-camera.y4m")) as (browser, camera):
        yield Phones(playwright, browser, camera)


@contextmanager
def _launched(playwright: Playwright, camera: Camera) -> Iterator[tuple[Browser, Camera]]:
    browser = playwright.chromium.launch(executable_path=str(require_browser_and_app()), args=[*FLAGS, *camera.flags])
    try:
        yield browser, camera
    finally:
        browser.close()


@dataclass
class DeskBrowser:
    """Desktop Chromium with its own camera: the desk page reading proofs, and the clerk's pages."""

    browser: Browser
    camera: Camera
    page: Page

    def scans(self, base: str, png: bytes, policy: str) -> dict[str, str]:
        """The desk page at ``base`` freshly opened, its camera showing ``png``: what it shows."""
        self.page.goto("about:blank")  # the page before stops its camera
        self.camera.show(png)
        self.page.goto(f"{base}/?policy={policy}&lang=en")
        return desk_result(self.page)


@contextmanager
def desk_browser(playwright: Playwright, folder: Path) -> Iterator[DeskBrowser]:
    """Chromium for the desk page and the clerk, its camera's video in ``folder``."""
    with _launched(playwright, Camera(folder / "desk-camera.y4m")) as (browser, camera):
        yield DeskBrowser(browser, camera, browser.new_page(viewport={"width": 1280, "height": 1000}))


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


def receive_batch(page: Page, link: str, pin: str) -> None:
    """Open the offer link, type the PIN, wait for the ``received`` screen."""
    page.goto(link)
    screen(page, "offer")
    page.fill("#pin", pin)
    page.click("#pin-submit")
    screen(page, "received", timeout=60_000)


def scan_and_consent(page: Page, timeout: float = 30_000) -> None:
    """From home, tap scan and wait for what the code read leads to: consent, or a refusal."""
    page.click("#scan-request")
    page.wait_for_function("() => ['consent', 'refused'].includes(document.body.dataset.screen)", timeout=timeout)


def consent_to_proof(page: Page) -> None:
    page.click("#consent-yes")
    screen(page, "proof")
    page.wait_for_selector("#proof-qr", state="visible")
