"""``cityid demo``: the whole story in one process, and the README's must-show flow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cityid.demo import REQUESTED, run_scenario
from cityid.qrimage import decode_qr_image
from credential import decode_qr_text, decode_request_text


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
    assert (
        decode_qr_text((out / "presentation-qr.txt").read_text().rstrip("\n"))
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
