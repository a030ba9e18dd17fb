"""A resident receives from a photo of the clerk's QR code: the offer made through the desk
pages of a real ``cityid issuer serve``, photographed a little soft and rescaled, read by
``wallet receive --from``; a photo with no QR code and a QR code that is a proof are refused
before anything is sent."""

from __future__ import annotations

import html
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from issuer_support import PASSPHRASE, free_port, init_database, issuer_process
from PIL import Image, ImageFilter
from support import issue_residency, make_keys, present_to_desk
from typer.testing import CliRunner

from cityid.cli import app
from credential import encode_qr_text
from edges.inputs import InputError
from edges.qrimage import make_qr, to_image
from wallet.offer_source import offer_text, read_offer

RUNNER = CliRunner()
RESIDENT = {"given_name": "Ana", "family_name": "Okafor", "birthdate": "1990-05-17", "street_address": "12 Elm",
            "locality": "Riverton", "region": "NY", "postal_code": "10001", "country": "US"}  # fmt: skip


def _photo(text: str) -> bytes:
    """``text`` as a QR code, the way a phone's photo of the screen comes out: soft, resampled, JPEG."""
    sharp = to_image(make_qr(text), scale=6).convert("L")
    soft = sharp.filter(ImageFilter.GaussianBlur(1.2)).resize(
        (sharp.width * 7 // 5, sharp.height * 7 // 5), Image.Resampling.BILINEAR
    )
    buffer = io.BytesIO()
    soft.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _offer_from_the_desk(base: str) -> tuple[str, str]:
    """Sign in, enrol, confirm and create, as the clerk's browser posts; the offer link and PIN."""
    with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as client:

        def csrf(page: str) -> str:
            found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
            assert found is not None
            return found.group(1)

        signed = client.post("/desk/login", data={"username": "alice", "password": "clerk-password-1",
                                                  "csrf": csrf(client.get("/desk").text)})  # fmt: skip
        token = csrf(signed.text)
        confirm = client.post("/desk/offer", data={**RESIDENT, "csrf": token, "action": "review"})
        confirmation = re.search(r'name="confirmation" value="([0-9a-f]+)"', confirm.text)
        assert confirm.status_code == 200 and confirmation is not None
        created = client.post("/desk/offer", data={**RESIDENT, "csrf": token, "step": "confirm", "action": "create",
                                                   "confirmation": confirmation.group(1)})  # fmt: skip
        link = re.search(r'<textarea id="offer-link"[^>]*>([^<]+)</textarea>', created.text)
        pin = re.search(r'class="pin" aria-label="PIN">(\d{6})<', created.text)
        assert created.status_code == 200 and link is not None and pin is not None
        return html.unescape(link.group(1)), pin.group(1)


def test_a_resident_receives_from_a_photo_of_the_clerks_qr_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    init_database(tmp_path, None)
    env = {**os.environ, "CITYID_ISSUER_PASSPHRASE": PASSPHRASE, "CITYID_CLERK_PASSWORD": "clerk-password-1"}
    subprocess.run([sys.executable, "-m", "cityid", "issuer", "add-clerk", "alice", "--data", str(tmp_path)],
                   env=env, check=True, capture_output=True)  # fmt: skip
    monkeypatch.setenv("CITYID_WALLET_PASSPHRASE", "resident-passphrase")
    wallet = tmp_path / "wallet.cidw"
    no_code, proof = tmp_path / "wall.png", tmp_path / "proof.jpg"
    Image.linear_gradient("L").resize((400, 300)).save(no_code)
    keys = make_keys()
    proof.write_bytes(_photo(encode_qr_text(present_to_desk(keys, issue_residency(keys)))))

    def receive(source: Path, pin: str) -> tuple[int, str]:
        result = RUNNER.invoke(app, ["wallet", "receive", "--from", str(source), "--pin", pin, "--count", "2",
                                     "--wallet", str(wallet)])  # fmt: skip
        assert "Traceback" not in result.output
        return result.exit_code, result.output

    with issuer_process(tmp_path, None, port, tmp_path / "issuer.log", issuer_url=base):
        link, pin = _offer_from_the_desk(base)
        assert link.startswith("openid-credential-offer://")
        photo = tmp_path / "offer.jpg"
        photo.write_bytes(_photo(link))
        for refused, reason in ((no_code, "no_qr_code"), (proof, "invalid_offer")):
            code, output = receive(refused, pin)
            assert code != 0 and f"[{reason}]" in output, output
        assert not wallet.exists()  # refused before the wallet was made or anything was sent
        code, output = receive(photo, pin)
        assert code == 0 and "2 residency, 2 identity" in output, output


OFFER = ("openid-credential-offer://?credential_offer=%7B%22credential_issuer%22%3A%22https%3A%2F%2Fid.riverton."
         "example%22%2C%22credential_configuration_ids%22%3A%5B%22residency%22%5D%2C%22grants%22%3A%7B%22urn%3Aietf"
         "%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code%22%3A%7B%22pre-authorized_code%22%3A%22c%22%2C%22tx_"
         "code%22%3A%7B%22length%22%3A6%7D%7D%7D%7D")  # fmt: skip


def test_the_offer_from_a_text_file_or_standard_input(tmp_path: Path) -> None:
    """Read, then checked on the device: a PIN that cannot be right is refused before anything is sent."""
    saved = tmp_path / "offer.txt"
    saved.write_text(f"\ufeff{OFFER}\r\n")
    assert read_offer(str(saved)) == OFFER
    for source, stdin in ((str(saved), None), ("-", OFFER.encode())):
        result = RUNNER.invoke(app, ["wallet", "receive", "--from", source, "--pin", "12", "--wallet",
                                     str(tmp_path / "w.cidw")], input=stdin)  # fmt: skip
        assert result.exit_code != 0 and "[invalid_pin]" in result.output, result.output
    for text in ("CIDR1:ABC", "https://id.riverton.example/desk", ""):
        with pytest.raises(InputError) as refused:
            offer_text(text)
        assert refused.value.reason == "invalid_offer"
    result = RUNNER.invoke(app, ["wallet", "receive", "--from", str(tmp_path / "none.png"), "--pin", "123456"])
    assert result.exit_code != 0 and "[unreadable_input]" in result.output and "Traceback" not in result.output
