"""The clerk's desk in Chromium: sign in, enrol with each field checked, read the details back
before any offer exists, the offer's QR code and link text agree, four languages, and the
printed page holds only the slip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from browser import chromium
from issuer_support import PASSPHRASE, free_port, init_database, issuer_process
from sqlalchemy import func, select

from edges.qrimage import decode_qr_image
from issuer.db import make_engine
from issuer.models import Offer
from wallet.receive import parse_offer


def test_a_clerk_enrols_a_resident_in_chromium(tmp_path: Path) -> None:
    settings = init_database(tmp_path, None)
    engine = make_engine(settings.url)

    def offers() -> int:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Offer)) or 0)

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
        for language, direction, button in (("ar", "rtl", "تسجيل الدخول"), ("zh-Hans", "ltr", "登录"),
                                            ("es", "ltr", "Iniciar sesión"), ("en", "ltr", "Sign in")):  # fmt: skip
            page.click(f'nav.languages a[hreflang="{language}"]')  # the switcher on the sign-in page
            page.wait_for_selector(f'html[lang="{language}"][dir="{direction}"]')
            assert page.inner_text("button[type=submit]") == button
            page.goto(f"http://127.0.0.1:{port}/desk")  # the cookie keeps the choice
            assert page.get_attribute("html", "lang") == language
            assert page.evaluate("getComputedStyle(document.body).direction") == direction
        page.fill("#username", "alice")
        page.fill("#password", "clerk-password-1")
        page.keyboard.press("Enter")
        page.wait_for_selector("text=Enrol a resident")
        for field, value in {
            "given_name": "Ana", "family_name": "Okafor", "street_address": "12 Elm Street", "locality": "Riverton",
            "region": "NY", "postal_code": "10001", "country": "US",
        }.items():  # fmt: skip
            page.fill(f"#{field}", value)
        page.fill("#birthdate", "2999-05-17")
        page.fill("#locality", "Lakeside")
        page.click("text=Continue")
        page.wait_for_selector("#birthdate-error")
        assert "future" in page.inner_text("#birthdate-error") and "Riverton" in page.inner_text("#locality-error")
        assert page.input_value("#given_name") == "Ana" and page.input_value("#locality") == "Lakeside"
        page.click('a[href="#locality"]')  # the summary's link takes the clerk to the field
        assert page.evaluate("location.hash") == "#locality"
        page.fill("#birthdate", "1990-05-17")
        page.fill("#locality", "Riverton")
        page.click("text=Continue")
        page.wait_for_selector("dl.readback")
        assert "Okafor" in page.inner_text("dl.readback") and "1990-05-17" in page.inner_text("dl.readback")
        assert "Okafor" not in page.url and offers() == 0  # not in a URL, not stored: only in the page's form

        page.click('nav.languages button[value="ar"]')  # the same details, read back in Arabic
        page.wait_for_selector('html[dir="rtl"][lang="ar"]')
        assert "Okafor" in page.inner_text("dl.readback") and offers() == 0
        page.click('nav.languages button[value="es"]')
        page.wait_for_selector('html[lang="es"][dir="ltr"]')
        page.click("text=Volver a editar")
        page.wait_for_selector("#given_name")
        assert page.input_value("#family_name") == "Okafor" and offers() == 0
        page.click('nav.languages button[value="en"]')
        page.wait_for_selector('html[lang="en"]')
        page.click("text=Continue")
        page.click("text=Create offer")
        page.wait_for_selector(".pin")
        assert len(page.inner_text(".pin").strip()) == 6 and offers() == 1
        shot = page.locator(".qr").screenshot()
        link = page.input_value("#offer-link")
        assert decode_qr_image(shot) == link  # the text to paste is the QR code's
        offer = parse_offer(link)
        assert offer.issuer == "https://id.riverton.example" and offer.configurations == ("residency", "identity")
        if keep := os.environ.get("CITYID_SCREENSHOTS"):
            page.screenshot(path=str(Path(keep) / "clerk-offer.png"))
        page.emulate_media(media="print")
        assert page.locator(".slip").is_visible() and page.locator(".slip .code").is_visible()
        for screen_only in ("header", "h1", "nav", ".slip .hint", ".qr", ".pin", "#offer-link", "#copy-hint"):
            assert page.locator(screen_only).is_hidden(), screen_only
        assert outside == []
    engine.dispose()
    log = (tmp_path / "issuer.log").read_text()
    assert "Okafor" not in log and "Lakeside" not in log and "1990-05-17" not in log
