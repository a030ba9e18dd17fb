"""The clerk's desk in Chromium: sign in, enrol, the offer QR decodes, only the slip prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from browser import chromium
from issuer_support import PASSPHRASE, free_port, init_database, issuer_process

from cityid.qrimage import decode_qr_image
from wallet.receive import parse_offer


def test_a_clerk_enrols_a_resident_in_chromium(tmp_path: Path) -> None:
    init_database(tmp_path, None)
    env = {**os.environ, "CITYID_ISSUER_PASSPHRASE": PASSPHRASE, "CITYID_CLERK_PASSWORD": "clerk-password-1"}
    subprocess.run(
        [sys.executable, "-m", "cityid", "issuer", "add-clerk", "alice", "--data", str(tmp_path)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    with issuer_process(tmp_path, None, port, tmp_path / "issuer.log"), chromium() as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        outside: list[str] = []
        page.on(
            "request", lambda r: outside.append(r.url) if not r.url.startswith(f"http://127.0.0.1:{port}") else None
        )
        page.goto(f"http://127.0.0.1:{port}/desk")
        page.fill("#username", "alice")
        page.fill("#password", "clerk-password-1")
        page.keyboard.press("Enter")
        page.wait_for_selector("text=Enrol a resident")
        for field, value in {
            "given_name": "Ana", "family_name": "Okafor", "street_address": "12 Elm Street", "locality": "Riverton",
            "region": "NY", "postal_code": "10001", "country": "US",
        }.items():  # fmt: skip
            page.fill(f"#{field}", value)
        page.fill("#birthdate", "1990-05-17")
        page.click("text=Create offer")
        page.wait_for_selector(".pin")
        assert len(page.inner_text(".pin").strip()) == 6
        shot = page.locator(".qr").screenshot()
        offer = parse_offer(decode_qr_image(shot))
        assert offer.issuer == "https://id.riverton.example" and offer.configurations == ("residency", "identity")
        if keep := os.environ.get("CITYID_SCREENSHOTS"):
            page.screenshot(path=str(Path(keep) / "clerk-offer.png"))
        page.emulate_media(media="print")
        assert page.locator(".slip").is_visible()
        assert page.locator(".qr").is_hidden() and page.locator("header").is_hidden()
        assert outside == []
