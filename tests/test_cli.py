"""The ``cityid`` command: exit codes, JSON output, every input form, and no traceback ever."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from support import ISS, Keys, issue_any, issue_residency, make_keys, present_to_desk, resign_issuer_jwt, resign_kb
from typer.testing import CliRunner

from cityid.cli import app
from credential import encode_qr_text
from edges.qrimage import make_qr, to_png

KEYS = make_keys()
RESULT_FIELDS = {"valid", "reason", "message", "claims", "issuer", "vct", "status", "device_bound"}


def _fresh_proof(keys: Keys = KEYS) -> str:
    now = int(time.time())
    return present_to_desk(keys, issue_residency(keys, now=now), now=now)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("desk")
    (folder / "jwks.json").write_text(json.dumps(KEYS.trusted.to_jwks()))
    proof = _fresh_proof()
    qr_text = encode_qr_text(proof)
    (folder / "proof.png").write_bytes(to_png(make_qr(qr_text)))
    (folder / "proof.txt").write_text(qr_text + "\n")
    (folder / "compact.txt").write_text(proof + "\r\n")
    return {"folder": folder, "proof": proof, "qr_text": qr_text}


def run(*args: str, stdin: bytes | str | None = None) -> tuple[int, Any, str]:
    """Invoke in-process; return (exit code, parsed JSON when --json was given, raw output)."""
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    output = result.stdout
    parsed = json.loads(output) if "--json" in args else None
    return result.exit_code, parsed, output


def verify(desk: dict[str, Any], proof_input: str, *extra: str, stdin: bytes | str | None = None) -> tuple[int, Any]:
    code, parsed, _ = run(
        "verify",
        proof_input,
        "--issuer-jwks",
        str(desk["folder"] / "jwks.json"),
        "--nonce",
        "n0nce-for-the-desk",
        "--audience",
        "desk:library",
        "--json",
        *extra,
        stdin=stdin,
    )
    return code, parsed


@pytest.mark.parametrize("source", ["qr_text", "compact", "png", "qr_file", "compact_file"])
def test_every_input_form_verifies(desk: dict[str, Any], source: str) -> None:
    folder = desk["folder"]
    argument = {
        "qr_text": desk["qr_text"],
        "compact": desk["proof"],
        "png": str(folder / "proof.png"),
        "qr_file": str(folder / "proof.txt"),
        "compact_file": str(folder / "compact.txt"),
    }[source]
    code, result = verify(desk, argument)
    assert code == 0
    assert set(result) == RESULT_FIELDS
    assert result["valid"] is True
    assert result["reason"] == "ok"
    assert result["claims"] == {"resident_of": "Riverton", "age_over_18": True}
    assert result["issuer"] == ISS
    assert result["vct"] == "urn:cityid:residency:1"


@pytest.mark.parametrize("stdin_kind", ["qr_text", "compact", "png"])
def test_stdin_takes_text_or_an_image(desk: dict[str, Any], stdin_kind: str) -> None:
    stdin = {
        "qr_text": desk["qr_text"],
        "compact": desk["proof"],
        "png": (desk["folder"] / "proof.png").read_bytes(),
    }[stdin_kind]
    code, result = verify(desk, "-", stdin=stdin)
    assert (code, result["valid"]) == (0, True)


def test_human_output_shows_the_disclosed_claims(desk: dict[str, Any]) -> None:
    code, _, output = run(
        "verify", desk["qr_text"], "--issuer-jwks", str(desk["folder"] / "jwks.json"),
        "--nonce", "n0nce-for-the-desk", "--audience", "desk:library",
    )  # fmt: skip
    assert code == 0
    assert "VALID" in output
    assert "resident_of: Riverton" in output
    assert "age_over_21" not in output


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--nonce", "another"], "nonce_mismatch"),
        (["--audience", "desk:pharmacy"], "audience_mismatch"),
    ],
)
def test_a_proof_for_another_request_is_invalid(desk: dict[str, Any], extra: list[str], reason: str) -> None:
    code, result = verify(desk, desk["qr_text"], *extra)
    assert code == 1
    assert result == {
        "valid": False,
        "reason": reason,
        "message": result["message"],
        "claims": {},
        "issuer": None,
        "vct": None,
        "status": None,
        "device_bound": None,
    }


def test_a_tampered_proof_is_invalid_with_its_reason(desk: dict[str, Any]) -> None:
    tampered = resign_issuer_jwt(KEYS, desk["proof"], exp=1)
    code, result = verify(desk, tampered)
    assert (code, result["reason"]) == (1, "expired")


def test_an_untrusted_issuer_is_invalid(desk: dict[str, Any]) -> None:
    code, result = verify(desk, _fresh_proof(make_keys()))
    assert (code, result["reason"]) == (1, "bad_signature")


def test_the_key_binding_age_limit_is_configurable(desk: dict[str, Any]) -> None:
    two_minutes_old = resign_kb(KEYS, desk["proof"], iat=int(time.time()) - 120)
    assert verify(desk, two_minutes_old)[1]["reason"] == "ok"
    code, result = verify(desk, two_minutes_old, "--max-age", "30")
    assert (code, result["reason"]) == (1, "kb_not_fresh")


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (
            ["verify", "x~y", "--issuer-jwks", "missing.json", "--nonce", "n", "--audience", "a", "--json"],
            "unreadable_input",
        ),
        (
            ["verify", "no/such/file.png", "--issuer-jwks", "{jwks}", "--nonce", "n", "--audience", "a", "--json"],
            "unreadable_input",
        ),
        (
            ["verify", "hello", "--issuer-jwks", "{jwks}", "--nonce", "n", "--audience", "a", "--json"],
            "unreadable_input",
        ),
        (["verify", "{png}", "--issuer-jwks", "{png}", "--nonce", "n", "--audience", "a", "--json"], "invalid_key"),
        (
            ["verify", "{png}", "--issuer-jwks", "{bad_jwks}", "--nonce", "n", "--audience", "a", "--json"],
            "invalid_key",
        ),
        (["verify", "{png}", "--issuer-jwks", "{jwks}", "--json"], "usage_error"),
        (
            ["verify", "{not_an_image}", "--issuer-jwks", "{jwks}", "--nonce", "n", "--audience", "a", "--json"],
            "unreadable_input",
        ),
        (
            ["verify", "{blank_png}", "--issuer-jwks", "{jwks}", "--nonce", "n", "--audience", "a", "--json"],
            "no_qr_code",
        ),
        (
            ["verify", "{folder}", "--issuer-jwks", "{jwks}", "--nonce", "n", "--audience", "a", "--json"],
            "unreadable_input",
        ),
    ],
)
def test_unreadable_input_or_usage_errors_exit_2_with_a_reason(
    desk: dict[str, Any], arguments: list[str], reason: str
) -> None:
    folder: Path = desk["folder"]
    (folder / "bad.json").write_text('{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}')
    (folder / "junk.bin").write_bytes(bytes(range(256)) * 4)
    Image.new("L", (64, 64), 255).save(folder / "blank.png")
    names = {
        "jwks": str(folder / "jwks.json"),
        "bad_jwks": str(folder / "bad.json"),
        "png": str(folder / "proof.png"),
        "not_an_image": str(folder / "junk.bin"),
        "blank_png": str(folder / "blank.png"),
        "folder": str(folder),
    }
    code, result, _ = run(*(argument.format(**names) for argument in arguments))
    assert code == 2
    assert result["reason"] == reason
    assert result["valid"] is False


@pytest.mark.parametrize(
    "text",
    ["CID1:", "CID1:AAAA", "CID9:AAA", "a~b", "~", "~~~", "eyJ~", "é~", "\x00~"],
)
def test_malformed_proofs_exit_1_with_a_reason(desk: dict[str, Any], text: str) -> None:
    code, result = verify(desk, text)
    assert code == 1
    assert result["reason"] not in {"ok", "internal_error"}


def test_qr_text_over_the_limit_is_too_large_exit_2(desk: dict[str, Any]) -> None:
    """Too large is input the CLI will not read, like a 20 MB photo (edges/exits.py)."""
    code, result = verify(desk, "CID1:" + "Z" * 5000)
    assert (code, result["reason"]) == (2, "too_large")


@settings(max_examples=150)
@given(st.text(max_size=300))
def test_no_argument_makes_a_traceback(text: str) -> None:
    folder = Path(__file__).parent / "vectors" / "jose-rfc8037-ed25519"
    # "--" so that text starting with "-" is the INPUT, not an option.
    code, parsed, output = run(
        "verify", "--issuer-jwks", str(folder / "jwk.json"), "--nonce", "n", "--audience", "a", "--json", "--", text
    )
    assert code in {1, 2}
    assert parsed["reason"] != "internal_error"
    assert "Traceback" not in output


@settings(max_examples=100)
@given(data=st.binary(max_size=2000))
def test_no_file_content_makes_a_traceback(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "input"
    path.write_bytes(data)
    jwks = Path(__file__).parent / "vectors" / "jose-rfc8037-ed25519" / "jwk.json"
    code, parsed, _ = run("verify", str(path), "--issuer-jwks", str(jwks), "--nonce", "n", "--audience", "a", "--json")
    assert code in {1, 2}
    assert parsed["reason"] != "internal_error"


def test_hostile_claim_values_cannot_inject_markup_or_terminal_escapes(tmp_path: Path) -> None:
    keys = make_keys()
    now = int(time.time())
    issued = issue_any(keys, {"name": "[bold red]x[/] \x1b[2J\u202eevil"}, issued_at=now, expires_at=now + 99)
    proof = present_to_desk(keys, issued, disclose=["name"], now=now)
    (tmp_path / "jwks.json").write_text(json.dumps(keys.trusted.to_jwks()))
    code, _, output = run(
        "verify", proof, "--issuer-jwks", str(tmp_path / "jwks.json"), "--nonce", "n0nce-for-the-desk",
        "--audience", "desk:library",
    )  # fmt: skip
    assert code == 0
    assert "[bold red]x[/]" in output  # shown literally, not interpreted
    assert "\x1b[2J" not in output
    assert "\u202e" not in output


def test_help_explains_every_command() -> None:
    commands = (
        [], ["verify"], ["demo"], ["issuer"], ["issuer", "types"], ["wallet"], ["verifier"], ["verifier", "request"],
        ["policies"], ["policies", "audit"], ["policies", "keygen"], ["policies", "sign"], ["policies", "verify"],
        ["policies", "check"],
    )  # fmt: skip
    for command in commands:
        code, _, output = run(*command, "--help")
        assert code == 0
        assert "Usage" in output


def test_issuer_types_lists_both_credential_types() -> None:
    code, listing, _ = run("issuer", "types", "--json")
    assert code == 0
    assert set(listing) == {"residency", "identity"}
    assert set(listing["residency"]["claims"]) == {"resident_of", "age_over_18", "age_over_21", "age_over_65"}


def test_the_console_script_runs_as_a_real_process(desk: dict[str, Any]) -> None:
    """Exit codes and output through a real interpreter, as a desk would run it."""
    command = [sys.executable, "-m", "cityid", "verify", str(desk["folder"] / "proof.png")]
    command += [
        "--issuer-jwks",
        str(desk["folder"] / "jwks.json"),
        "--nonce",
        "wrong",
        "--audience",
        "desk:library",
        "--json",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 1
    assert json.loads(completed.stdout)["reason"] == "nonce_mismatch"
    assert completed.stderr == ""
