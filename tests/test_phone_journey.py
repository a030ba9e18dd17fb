"""The resident's phone wallet, end to end in real browsers: a clerk enrols a resident, an old
phone (throttled Galaxy S5) receives the batch, answers a desk's request it read with its camera,
the desk reads the phone's proof with its own camera; replays, revocation, an over-asking desk,
offline use, the keys and what is stored, and that nothing leaves the phone but calls to its issuer.

One world for the whole journey keeps it fast: one Chromium for the phone and one for the desk
and the clerk, each with a fake camera that is pointed at the next code between scenes. The
phone is one browser context all along, so its IndexedDB and service worker carry from one
scene to the next, as on a real phone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
from browser import serving
from phone_support import (
    clerk_enrols,
    clerk_revokes,
    consent_to_proof,
    current_screen,
    desk_browser,
    dump_storage,
    phones,
    proof_text,
    receive_batch,
    require_browser_and_app,
    scan_and_consent,
    screen,
    served_issuer,
    unused_count,
)
from playwright.sync_api import Page, sync_playwright

from credential import decode_request_text, encode_request_text
from verifier.app import create_desk_app

CANARY_NAME = "Zephyrine"
CANARY_BIRTHDATE = "1987-11-23"
POLICY = "library-card"


def _desk_request(desk: str) -> str:
    return str(httpx.get(f"{desk}/api/request", params={"policy": POLICY}, timeout=10).json()["request"])


def _record(page: Page, seen: list[str]) -> None:
    """Every request that left the phone: answered by the network, or failed trying. data: and blob:
    URLs stay inside the page, and what the app's service worker answers from the phone's own
    cache never leaves it."""
    page.on("response", lambda answer: None if answer.from_service_worker or not answer.url.startswith("http")
            else seen.append(answer.url))  # fmt: skip
    page.on("requestfailed", lambda request: seen.append(request.url) if request.url.startswith("http") else None)


def test_a_resident_uses_the_phone_wallet_from_enrolment_to_revocation(tmp_path: Path) -> None:
    require_browser_and_app()
    seen: list[str] = []
    with served_issuer(tmp_path / "issuer") as issuer, sync_playwright() as playwright:
        issuer.sync_desk(tmp_path / "desk")
        desk_app = create_desk_app(tmp_path / "desk", audience="desk:library", clear_after=30)
        with serving(desk_app) as desk, desk_browser(playwright, tmp_path) as counter, \
                phones(playwright, tmp_path) as city, city.phone() as page:  # fmt: skip
            # 1. The clerk, on the desk's desktop browser (its pages use no camera).
            clerk = counter.browser.new_page(viewport={"width": 1000, "height": 1400})
            offer = clerk_enrols(clerk, issuer.url, CANARY_NAME, CANARY_BIRTHDATE)
            assert offer.link.startswith(f"{issuer.url}/wallet/#offer=") and len(offer.pin) == 6

            # 2. The phone (throttled) opens the link, types the PIN, receives the batch.
            _record(page, seen)
            receive_batch(page, offer.link, offer.pin)
            page.click("#done")
            screen(page, "home")
            before = unused_count(page)
            assert before > 0

            # 3. Spanish, then the desk's request from the camera, consent, the proof QR.
            page.select_option("#language", "es")
            page.wait_for_selector('html[lang="es"]')
            city.camera.show_text(_desk_request(desk))
            quiet_from = len(seen)
            scan_and_consent(page)
            assert current_screen(page) == "consent", page.inner_text("body")
            assert page.get_attribute("html", "lang") == "es"
            assert "gratuita" in page.inner_text("#consent-purpose")  # the registry's Spanish purpose
            assert "Tarjeta de la biblioteca" in page.inner_text("#consent-title")
            assert page.inner_text("#consent-yes") != "Yes"  # the app's own words are Spanish too
            assert page.locator("#consent-shared li").count() >= 1
            consent_to_proof(page)
            assert seen[quiet_from:] == [], seen[quiet_from:]  # the desk step asks nothing of anyone
            assert proof_text(page).startswith("CID2:")  # the desk reads CID2: its request says so
            shot = page.locator("#proof-qr").screenshot()
            page.click("#proof-done")
            screen(page, "home")
            assert unused_count(page) == before - 1

            valid = counter.scans(desk, shot, POLICY)
            assert (valid["class"], valid["reason"]) == ("valid", "ok"), valid
            assert "Riverton" in valid["facts"] and CANARY_NAME not in valid["facts"]
            assert CANARY_BIRTHDATE not in valid["facts"]

            # 4. The same proof again: refused. Then the batch is revoked and the desk syncs.
            again = counter.scans(desk, shot, POLICY)
            assert again["class"] == "invalid" and again["reason"] in {"nonce_mismatch", "replayed"}, again
            clerk_revokes(clerk, issuer.url, offer.revocation_code)
            issuer.sync_desk(tmp_path / "desk")
            city.camera.show_text(_desk_request(desk))
            scan_and_consent(page)
            consent_to_proof(page)
            revoked = counter.scans(desk, page.locator("#proof-qr").screenshot(), POLICY)
            assert (revoked["class"], revoked["reason"]) == ("invalid", "revoked"), revoked
            page.click("#proof-done")
            screen(page, "home")

            # 5. A desk asking for more than its policy allows: refused, nothing spent.
            asked = decode_request_text(_desk_request(desk))
            city.camera.show_text(encode_request_text(dataclasses.replace(asked, claims=(*asked.claims, "birthdate"))))
            left = unused_count(page)
            scan_and_consent(page)
            page.wait_for_selector("#refusal[data-reason=claims_exceed_policy]")
            page.click("#refusal-back")
            screen(page, "home")
            assert unused_count(page) == left

            # 6. Offline: the app comes from its service worker and still answers a desk.
            page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller")
            city.camera.show_text(_desk_request(desk))
            page.context.set_offline(True)
            page.reload()
            screen(page, "home")
            scan_and_consent(page)
            assert current_screen(page) == "consent"
            consent_to_proof(page)
            assert proof_text(page).startswith("CID2:")  # the desk reads CID2: its request says so
            page.context.set_offline(False)

            # 7. The keys cannot leave, and nothing personal is stored in the clear.
            stored = dump_storage(page)
            assert stored["keys"], "no private key found in IndexedDB"
            assert all(not k["extractable"] and k["exportFails"] for k in stored["keys"]), stored["keys"]
            for secret in (CANARY_NAME, CANARY_BIRTHDATE, "Okafor", "12 Elm Street"):
                assert secret not in stored["text"], secret

    # 8. Nothing but the issuer: every request the phone made went to its origin.
    assert seen and all(url.startswith(issuer.url) for url in seen), [u for u in seen if not u.startswith(issuer.url)]
