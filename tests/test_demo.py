"""``cityid demo``: the whole story in one process, and the README's must-show flow."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from cityid.demo import REQUESTED, run_scenario
from credential import decode_qr_text, decode_request_text, qr_context, type_integrity_strings
from edges.qrimage import decode_qr_image


def test_scenario_discloses_exactly_the_requested_claims() -> None:
    scenario = run_scenario(int(time.time()))
    assert scenario.verified.claims == {"resident_of": "Riverton", "age_over_18": True}
    assert set(scenario.verified.claims) == set(REQUESTED)
    assert scenario.replay_reason == "audience_mismatch"
    assert scenario.symbol.version <= 20
    assert scenario.raw_qr_version > scenario.symbol.version
    assert decode_qr_text(decode_qr_image(scenario.png)) == scenario.presentation
    # Nothing of the identity credential, or the other age thresholds, is in the proof.
    for secret in ("Flores", "1991-06-14", "Orchard", "age_over_21", "age_over_65"):
        assert secret not in json.dumps(scenario.verified.claims)


def _cityid(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "240"}  # one sentence per line, so the test can look for it
    return subprocess.run(
        [sys.executable, "-m", "cityid", *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
        env=env,
    )  # fmt: skip


def test_demo_out_then_verify_the_png(tmp_path: Path) -> None:
    """The README's flow: `cityid demo --out d`, then `cityid verify d/presentation.png ...`."""
    demo = _cityid("demo", "--out", "d", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "Traceback" not in demo.stdout + demo.stderr
    out = tmp_path / "d"
    expected = {
        "issuer-jwks.json",
        "presentation.txt",
        "presentation-qr.txt",
        "presentation.png",
        "camera-frame.jpg",
        "request.json",
    }
    assert expected <= {path.name for path in out.iterdir()}
    request = json.loads((out / "request.json").read_text())
    assert set(request) == {"nonce", "audience"}
    # The files hold what a desk puts back into the CID2: proof: its request and the issuer's type integrity.
    metadata = json.loads((out / "issuer-jwks.json").read_text())
    desk = qr_context(known=type_integrity_strings(metadata["type_integrity"]), **request)
    assert (
        decode_qr_text((out / "presentation-qr.txt").read_text().rstrip("\n"), context=desk)
        == (out / "presentation.txt").read_text().strip()
    )

    for proof in ("presentation.png", "camera-frame.jpg", "presentation-qr.txt", "presentation.txt"):
        verify = _cityid(
            "verify", f"d/{proof}", "--issuer-jwks", "d/issuer-jwks.json",
            "--nonce", request["nonce"], "--audience", request["audience"], "--json",
            cwd=tmp_path,
        )  # fmt: skip
        assert verify.returncode == 0, (proof, verify.stdout, verify.stderr)
        result = json.loads(verify.stdout)
        assert result["valid"] is True
        assert set(result["claims"]) == {"resident_of", "age_over_18"}
    assert decode_request_text((out / "request-qr.txt").read_text().strip()).nonce == request["nonce"]


def test_demo_tells_the_story(tmp_path: Path) -> None:
    demo = _cityid("demo", cwd=tmp_path)
    assert demo.returncode == 0
    story = demo.stdout
    for words in ("enrolment desk", "received over HTTP 5 residency, 5 identity", "not found", "synced its trust",
                  "They will not see", "QR version", "VALID", "Lives in Riverton", "REFUSED replayed",
                  "REFUSED revoked"):  # fmt: skip
        assert words in story, words
    assert "FOUND" not in story
    assert list(tmp_path.iterdir()) == [], "without --out the demo writes nothing"


def test_demo_serve_keeps_its_issuer_up_for_the_phone_wallet_until_ctrl_c(tmp_path: Path) -> None:
    """`cityid demo --serve`: after the story, a link opens the phone wallet with a new offer on
    the demo's own issuer, its PIN redeems it, a desk page is up, and Ctrl+C stops and deletes it all."""
    env = {**os.environ, "COLUMNS": "400", "TMPDIR": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-m", "cityid", "demo", "--serve"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("Press Ctrl+C" in line for line in lines):
            line = process.stdout.readline()
            assert line, f"the demo ended early: {''.join(lines)}{process.stderr.read() if process.stderr else ''}"
            lines.append(line)
        told = "".join(lines)
        link = re.search(r"(http://127\.0\.0\.1:\d+/wallet/#offer=\S+)", told)
        pin = re.search(r"Type the PIN (\d{6})", told)
        desk = re.search(r"A desk asking for a proof .*: (http://127\.0\.0\.1:\d+)/", told)
        assert link and pin and desk, told
        base, _, fragment = link.group(1).partition("/wallet/#offer=")
        assert httpx.get(f"{base}/wallet/").status_code == 200  # the built app, from the demo's issuer
        offer = json.loads(parse_qs(urlsplit(unquote(fragment)).query)["credential_offer"][0])
        grant = offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
        token = httpx.post(f"{base}/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
                           "pre-authorized_code": grant["pre-authorized_code"], "tx_code": pin.group(1)})  # fmt: skip
        assert token.status_code == 200 and token.json()["access_token"]
        assert httpx.get(f"{desk.group(1)}/").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=30)
    assert process.returncode == 130, errors  # interrupted, as shells report Ctrl+C (edges/exits.py)
    assert "Traceback" not in rest + errors and "deleting their files" in rest
    assert not list(tmp_path.glob("cityid-demo-*")), "the demo's folder is deleted"
