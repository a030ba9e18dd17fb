"""The resident's phone wallet on an old phone: how long receiving, scanning and answering take,
and how big the app is.

    .venv/bin/python bench/phone.py [--rounds N]

Needs Chromium and the built app (cd wallet/app && npm run build). The phone is Playwright's
Galaxy S5 with the CPU throttled 6x, its camera a video of a desk's request QR. Times are medians
of N rounds, each on a fresh phone profile with a fresh offer:
- receive: PIN submitted to the ``received`` screen;
- scan to consent: the scan screen's camera running to the ``consent`` screen;
- Yes to QR: the Yes tap to the proof QR shown.
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
from browser import FLAGS
from phone_support import (
    APP_DIST,
    add_clerk,
    clerk_enrols,
    consent_to_proof,
    first_page,
    phone,
    receive_batch,
    scan_and_consent,
    screen,
    served_issuer,
    serving,
    text_video,
)
from playwright.sync_api import sync_playwright

from verifier.app import create_desk_app

GOALS = {"receive": 3.0, "scan_to_consent": 1.5, "yes_to_qr": 0.5}


def sizes() -> None:
    """Each built file raw and gzipped; the app's code without the wasm; a first visit in all."""
    code = first_visit = 0
    for path in sorted(p for p in APP_DIST.rglob("*") if p.is_file()):
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
    if not (APP_DIST / "index.html").exists():
        sys.exit("the phone app is not built: cd wallet/app && npm run build")
    timings: dict[str, list[float]] = {name: [] for name in GOALS}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        work = Path(scratch)
        with served_issuer(work / "issuer") as issuer:
            add_clerk(issuer)
            issuer.sync_desk(work / "desk")
            with serving(create_desk_app(work / "desk", audience="desk:library", clear_after=30)) as desk:
                clerk_browser = playwright.chromium.launch(executable_path=_chromium(), args=FLAGS)
                clerk = clerk_browser.new_page()
                offers = [clerk_enrols(clerk, issuer.url, f"Bench{n}", "1990-05-17") for n in range(arguments.rounds)]
                clerk_browser.close()
                for n, offer in enumerate(offers):
                    asked = httpx.get(f"{desk}/api/request", params={"policy": "library-card"}).json()["request"]
                    with phone(playwright, work / f"phone-{n}", text_video(asked, work / f"r{n}.y4m")) as context:
                        page = first_page(context)
                        timings["receive"].append(receive_batch(page, offer.link, offer.pin))
                        count = page.inner_text("#received-count")
                        page.click("#done")
                        screen(page, "home")
                        timings["scan_to_consent"].append(scan_and_consent(page))
                        timings["yes_to_qr"].append(consent_to_proof(page))
                    print(f"round {n + 1}: received {count.strip()!r}; " + ", ".join(
                        f"{name} {values[-1]:.2f} s" for name, values in timings.items()))  # fmt: skip
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, value in medians.items():
        print(f"{name}: median {value:.2f} s (goal <= {GOALS[name]} s)")
    sizes()
    print(f"phone_receive_s={medians['receive']:.2f} phone_scan_to_consent_s={medians['scan_to_consent']:.2f} "
          f"phone_yes_to_qr_s={medians['yes_to_qr']:.2f}")  # fmt: skip
    sys.stdout.flush()


def _chromium() -> str:
    from phone_support import require_browser_and_app  # noqa: PLC0415

    return str(require_browser_and_app())


if __name__ == "__main__":
    main()
