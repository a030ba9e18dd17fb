"""The desk app in Chromium with a fake camera playing a video of the wallet's QR code.

The page asks the local server for its request, the test's wallet answers it, the answer is
rendered as a QR image and played to Chromium as the camera (`--use-file-for-fake-video-capture`);
the page must show the valid result with only the policy's claims, and for a stranger's proof
the invalid one. Set CITYID_SCREENSHOTS=DIR to keep the screenshots (docs/images/ has them).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
from browser import camera_flags, chromium, desk_result, serving, write_qr_video
from desk_support import answer, make_world
from issuer_support import running_issuer

from credential import decode_request_text
from edges.qrimage import make_qr, to_png
from issuer.db import sessions
from issuer.service import revoke_batch
from verifier.app import create_desk_app


def scan_with_fake_camera(
    base: str, video: Path, policy: str, shot: str | None, *, held: bool = False
) -> dict[str, str]:
    outside: list[str] = []
    with chromium(*camera_flags(video)) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
        page.goto(f"{base}/?policy={policy}&lang=en")
        found = desk_result(page)
        if shot and (keep := os.environ.get("CITYID_SCREENSHOTS")):
            page.screenshot(path=str(Path(keep) / shot))
        page.keyboard.press("Escape")
        page.wait_for_selector("#result", state="hidden")
        if held:  # the phone is still held up to the camera: its answer is not shown again
            page.wait_for_timeout(1500)
            assert page.is_hidden("#result"), page.get_attribute("#result", "data-reason")
    assert outside == [], outside
    return found


def _proof_video(base: str, item: object, tmp_path: Path, name: str, now: int) -> Path:
    asked = httpx.get(f"{base}/api/request", params={"policy": "recreation-centre"}).json()
    request = decode_request_text(asked["request"])
    proof = answer(item, request, disclose=("resident_of", "age_over_18", "age_over_65"), now=now)  # type: ignore[arg-type]
    return write_qr_video(to_png(make_qr(proof)), tmp_path / name)


def test_the_desk_page_scans_a_wallet_proof_from_the_camera(tmp_path: Path) -> None:
    with running_issuer(tmp_path / "issuer") as issuer:
        world = make_world(issuer, tmp_path / "desk", count=4)
        world.sync()
        app = create_desk_app(world.data, audience="desk:rec", clear_after=30)
        with serving(app) as base:
            video = _proof_video(base, world.residency[0], tmp_path, "proof.y4m", int(time.time()))
            valid = scan_with_fake_camera(base, video, "recreation-centre", "desk-valid.png", held=True)
            assert valid["class"] == "valid" and valid["reason"] == "ok"
            assert "Lives in Riverton" in valid["facts"] and "Is 18 or older" in valid["facts"]
            assert "65" not in valid["facts"]  # disclosed, but not the policy's: dropped, never shown

            # The same proof again: its request is answered, so it is refused, in plain words.
            again = scan_with_fake_camera(base, video, "recreation-centre", "desk-invalid.png")
            assert again["class"] == "invalid" and again["reason"] in {"nonce_mismatch", "replayed"}
            assert "another request" in again["verdict"] or "already shown" in again["verdict"]

            # The phone is lost: the batch is revoked, the desk syncs, the next proof is refused.
            with sessions(issuer.engine).begin() as session:
                revoke_batch(session, issuer.clerk(), world.revocation_code, now=int(time.time()))
            issuer.client.app.state.runtime.status_cache.invalidate()
            world.sync()
            video = _proof_video(base, world.residency[1], tmp_path, "revoked.y4m", int(time.time()))
            revoked = scan_with_fake_camera(base, video, "recreation-centre", "desk-revoked.png")
            assert (revoked["class"], revoked["reason"]) == ("invalid", "revoked")
            assert "cancelled" in revoked["verdict"]

        # Four days without a sync: the list is older than the policy's max_status_age (3 days).
        later = time.time() + 4 * 86_400
        stale_app = create_desk_app(world.data, audience="desk:rec", clear_after=30, clock=lambda: later)
        with serving(stale_app) as base:
            video = _proof_video(base, world.residency[2], tmp_path, "stale.y4m", int(later))
            stale = scan_with_fake_camera(base, video, "recreation-centre", "desk-stale.png")
            assert (stale["class"], stale["reason"]) == ("invalid", "status_stale")
            assert "Sync the desk" in stale["verdict"]
