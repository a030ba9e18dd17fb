"""The resident's phone wallet on an old phone: how long receiving, scanning and answering take,
and how big the app is.

    .venv/bin/python bench/phone.py [--rounds N]

Needs Chromium and the built app (cd wallet/app && npm run build); without either it says it is
skipped and exits 0, so that ``./dev bench`` goes on. The phone is Playwright's
Galaxy S5 (mobile viewport, touch) with the CPU throttled 6x, its camera a video of a desk's
request QR. Each round is a new phone (its own IndexedDB, nothing cached) with a new offer of
10 credentials (5 of each type: the issuer's batch size is set to 5). The times are taken in the
page, from the event to the next frame painted after the screen changed, so the time Playwright
takes to notice is not counted; they are medians of N rounds:
- receive: the PIN submitted to the ``received`` screen;
- scan to consent: the camera playing to the ``consent`` screen (from the tap on "Scan" too);
- Yes to QR: the Yes tap to the ``proof`` screen with its QR.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx
from browser import chromium_path, serving
from phone_support import APP_DIST, phones, receive_batch, screen, served_issuer
from playwright.sync_api import Page, sync_playwright

from verifier.app import create_desk_app

GOALS = {"receive": 3.0, "scan_to_consent": 1.5, "yes_to_qr": 0.5}
PER_TYPE = 5
"""The issuer's batch size: the offer has two types, so a receive is 10 credentials."""

MARKS = """(() => {
  const marks = window.__cityidMarks = [];
  const note = (name) => marks.push([name, performance.now()]);
  let shown = null;
  const watch = () => {
    const name = document.body && document.body.dataset.screen;
    if (!name || name === shown) return;
    shown = name;
    note("screen:" + name);
    requestAnimationFrame(() => setTimeout(() => note("painted:" + name), 0));
  };
  new MutationObserver(watch).observe(document, {subtree: true, childList: true, attributes: true,
                                                  attributeFilter: ["data-screen"]});
  document.addEventListener("click", (e) => {
    const tapped = e.target.closest("button");
    if (tapped && tapped.id) note("click:" + tapped.id);
  }, true);
  document.addEventListener("submit", () => note("submit"), true);
  document.addEventListener("playing", (e) => note("playing:" + e.target.id), true);
})()"""
"""Milliseconds since the page opened at which the screens changed (and were next painted), and
the taps, submits and the camera starting: recorded in the page by the app's own events."""


def _marks(page: Page) -> list[tuple[str, float]]:
    return [(str(name), float(at)) for name, at in page.evaluate("() => window.__cityidMarks")]


def _span(marks: list[tuple[str, float]], start: str, end: str) -> float:
    """Seconds from the first ``start`` mark to the first ``end`` mark after it."""
    begun = next(at for name, at in marks if name == start)
    return (next(at for name, at in marks if name == end and at >= begun) - begun) / 1000


def one_round(page: Page, link: str, pin: str) -> dict[str, float]:
    page.add_init_script(MARKS)
    receive_batch(page, link, pin)
    received = "".join(ch for ch in page.inner_text("#received-count") if ch.isdigit())
    if received != str(2 * PER_TYPE):
        sys.exit(f"received {received} credentials, not {2 * PER_TYPE}")
    page.click("#done")
    screen(page, "home")
    page.click("#scan-request")
    screen(page, "consent")
    page.click("#consent-yes")
    screen(page, "proof")
    page.wait_for_function("() => window.__cityidMarks.some(([name]) => name === 'painted:proof')")
    marks = _marks(page)
    return {
        "receive": _span(marks, "submit", "painted:received"),
        "scan_to_consent": _span(marks, "playing:camera", "painted:consent"),
        "tap_to_consent": _span(marks, "click:scan-request", "painted:consent"),
        "yes_to_qr": _span(marks, "click:consent-yes", "painted:proof"),
    }


def sizes() -> None:
    """Each built file raw and gzipped; the app's code without the wasm; a first visit in all."""
    code = first_visit = 0
    for path in sorted(p for p in APP_DIST.rglob("*") if p.is_file() and not p.name.startswith(".")):
        raw = path.read_bytes()
        packed = len(gzip.compress(raw, 9))
        first_visit += packed
        if path.suffix in {".js", ".css", ".html", ".json", ".webmanifest"}:
            code += packed
        print(f"  {path.relative_to(APP_DIST)}: {len(raw):,} B raw, {packed:,} B gzip")
    print(f"app code gzip (no wasm): {code:,} B; first visit gzip: {first_visit:,} B")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    if chromium_path() is None:
        print("bench/phone.py skipped: Chromium is not installed (Debian: apt-get install chromium)")
        return
    if not (APP_DIST / "index.html").exists():
        print("bench/phone.py skipped: the phone app is not built (cd wallet/app && npm run build)")
        return
    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        work = Path(scratch)
        with served_issuer(work / "issuer", max_batch=PER_TYPE) as issuer:
            issuer.sync_desk(work / "desk")
            desk_app = create_desk_app(work / "desk", audience="desk:library", clear_after=30)
            with serving(desk_app) as desk, phones(playwright, work) as city:
                for n in range(arguments.rounds):
                    offer = issuer.offer(f"Bench{n}")
                    asked = httpx.get(f"{desk}/api/request", params={"policy": "library-card"}).json()["request"]
                    city.camera.show_text(asked)
                    with city.phone(throttle=6) as page:
                        measured = one_round(page, offer.link, offer.pin)
                    for name, value in measured.items():
                        timings.setdefault(name, []).append(value)
                    print(f"round {n + 1}: " + ", ".join(f"{name} {value:.2f} s" for name, value in measured.items()))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, value in medians.items():
        goal = f" (goal <= {GOALS[name]} s)" if name in GOALS else ""
        print(f"{name}: median {value:.2f} s{goal}")
    sizes()
    print(f"phone_receive_s={medians['receive']:.2f} phone_scan_to_consent_s={medians['scan_to_consent']:.2f} "
          f"phone_yes_to_qr_s={medians['yes_to_qr']:.2f}")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
