"""The resident's phone wallet, end to end in real browsers: a clerk enrols a resident, an old
phone (throttled Galaxy S5) receives the batch, answers a desk's request it read with its camera,
the desk reads the phone's proof with its own camera; replays, revocation, an over-asking desk,
offline use, the keys and what is stored, and that nothing leaves the phone but calls to its issuer.

One world for the whole journey keeps it fast: every camera scene is a browser launch, so the
phone's profile directory carries its IndexedDB and service worker from one scene to the next.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
from browser import FLAGS
from phone_support import (
    add_clerk,
    clerk_enrols,
    clerk_revokes,
    consent_to_proof,
    current_screen,
    desk_scans,
    dump_storage,
    first_page,
    phone,
    proof_text,
    receive_batch,
    require_browser_and_app,
    scan_and_consent,
    screen,
    served_issuer,
    serving,
    text_video,
    unused_count,
    write_qr_video,
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
    profile = tmp_path / "phone-profile"
    seen: list[str] = []
    with served_issuer(tmp_path / "issuer") as issuer, sync_playwright() as playwright:
        add_clerk(issuer)
        issuer.sync_desk(tmp_path / "desk")
        desk_app = create_desk_app(tmp_path / "desk", audience="desk:library", clear_after=30)
        with serving(desk_app) as desk:
            # 1. The clerk, on a desktop browser without a camera.
            clerk_browser = playwright.chromium.launch(executable_path=str(require_browser_and_app()), args=FLAGS)
            clerk = clerk_browser.new_page(viewport={"width": 1000, "height": 1400})
            offer = clerk_enrols(clerk, issuer.url, CANARY_NAME, CANARY_BIRTHDATE)
            assert offer.link.startswith(f"{issuer.url}/wallet/#offer=") and len(offer.pin) == 6

            # 2. The phone opens the link, types the PIN, receives the batch.
            request = _desk_request(desk)
            with phone(playwright, profile, text_video(request, tmp_path / "request.y4m")) as context:
                page = first_page(context)
                _record(page, seen)
                receive_batch(page, offer.link, offer.pin)
                page.click("#done")
                screen(page, "home")
                before = unused_count(page)
                assert before > 0

                # 3. Spanish, then the desk's request from the camera, consent, the proof QR.
                page.select_option("#language", "es")
                page.wait_for_selector('html[lang="es"]')
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
                first_proof = proof_text(page)
                assert first_proof.startswith("CID1:")
                shot = page.locator("#proof-qr").screenshot()
                page.click("#proof-done")
                screen(page, "home")
                assert unused_count(page) == before - 1

            proof_video = write_qr_video(shot, tmp_path / "proof.y4m")
            valid = desk_scans(playwright, desk, proof_video, POLICY)
            assert (valid["class"], valid["reason"]) == ("valid", "ok"), valid
            assert "Riverton" in valid["facts"] and CANARY_NAME not in valid["facts"]
            assert CANARY_BIRTHDATE not in valid["facts"]

            # 4. The same proof again: refused. Then the batch is revoked and the desk syncs.
            again = desk_scans(playwright, desk, proof_video, POLICY)
            assert again["class"] == "invalid" and again["reason"] in {"nonce_mismatch", "replayed"}, again
            clerk_revokes(clerk, issuer.url, offer.revocation_code)
            clerk_browser.close()
            issuer.sync_desk(tmp_path / "desk")
            with phone(playwright, profile, text_video(_desk_request(desk), tmp_path / "r2.y4m")) as context:
                page = first_page(context)
                _record(page, seen)
                page.goto(f"{issuer.url}/wallet/")
                screen(page, "home")
                scan_and_consent(page)
                consent_to_proof(page)
                shot = page.locator("#proof-qr").screenshot()
            revoked = desk_scans(playwright, desk, write_qr_video(shot, tmp_path / "p2.y4m"), POLICY)
            assert (revoked["class"], revoked["reason"]) == ("invalid", "revoked"), revoked

            # 5. A desk asking for more than its policy allows: refused, nothing spent.
            asked = decode_request_text(_desk_request(desk))
            greedy = encode_request_text(dataclasses.replace(asked, claims=(*asked.claims, "birthdate")))
            with phone(playwright, profile, text_video(greedy, tmp_path / "greedy.y4m")) as context:
                page = first_page(context)
                _record(page, seen)
                page.goto(f"{issuer.url}/wallet/")
                screen(page, "home")
                left = unused_count(page)
                scan_and_consent(page)
                page.wait_for_selector("#refusal[data-reason=claims_exceed_policy]")
                page.click("#refusal-back")
                screen(page, "home")
                assert unused_count(page) == left

            # 6. Offline: the app comes from its service worker and still answers a desk.
            with phone(playwright, profile, text_video(_desk_request(desk), tmp_path / "r3.y4m")) as context:
                page = first_page(context)
                _record(page, seen)
                page.goto(f"{issuer.url}/wallet/")
                screen(page, "home")
                page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller")
                context.set_offline(True)
                page.reload()
                screen(page, "home")
                scan_and_consent(page)
                assert current_screen(page) == "consent"
                consent_to_proof(page)
                assert proof_text(page).startswith("CID1:")
                context.set_offline(False)

                # 7. The keys cannot leave, and nothing personal is stored in the clear.
                stored = dump_storage(page)
                assert stored["keys"], "no private key found in IndexedDB"
                assert all(not k["extractable"] and k["exportFails"] for k in stored["keys"]), stored["keys"]
                for secret in (CANARY_NAME, CANARY_BIRTHDATE, "Okafor", "12 Elm Street"):
                    assert secret not in stored["text"], secret

    # 8. Nothing but the issuer: every request the phone made went to its origin.
    assert seen and all(url.startswith(issuer.url) for url in seen), [u for u in seen if not u.startswith(issuer.url)]
