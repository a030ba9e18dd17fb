"""The wallet: consent, one-time proofs, offline and paper proofs, history, backups, languages,
and a store that is sealed and survives a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from issuer_support import enrolled, running_issuer
from PIL import Image
from typer.testing import CliRunner

from cityid.cli import app
from credential import (
    KeySet,
    decode_qr_text,
    encode_request_text,
    new_request,
    offline_audience,
    parse_issued,
    qr_context,
    verify_presentation,
)
from edges.inputs import load_issuer
from edges.keyfile import new_es256_key, private_jwk, public_jwks
from edges.qrimage import decode_qr_image
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry
from wallet.store import Wallet, load, save

PASS = "resident passphrase"
CANARY = "Quetzalcoatl"
RUNNER = CliRunner()
POLICIES = ("recreation-centre", "library-card", "clinic-registration", "senior-discount")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("wallet")
    with running_issuer(folder / "issuer") as issuer:
        received = issuer.receive(issuer.offer(enrolled(CANARY)), count=6)
        jwks = issuer.client.get("/.well-known/jwt-vc-issuer").json()
    wallet = Wallet()
    for item in received:
        wallet.credentials.append({"type": item.configuration, "credential": item.credential,
                                   "device_key": private_jwk(item.device_key), "used": False})  # fmt: skip
    board = new_es256_key()
    chosen = [lp.policy for lp in load_policies([bundled_catalog()]) if lp.policy and lp.policy.id in POLICIES]
    now = int(time.time())
    (folder / "registry-1.jwt").write_text(sign_registry(chosen, board, issuer="Board", version=1, now=now,
                                                         lifetime=86_400, catalogue=default_catalogue()))  # fmt: skip
    (folder / "registry-2.jwt").write_text(sign_registry(chosen, board, issuer="Board", version=2, now=now,
                                                         lifetime=86_400, catalogue=default_catalogue()))  # fmt: skip
    (folder / "board.jwks").write_text(json.dumps(public_jwks(board)))
    (folder / "issuer.json").write_text(json.dumps(jwks))
    return {"folder": folder, "wallet": wallet, "keys": KeySet.from_jwks(jwks)}


@pytest.fixture
def env(world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CITYID_WALLET_PASSPHRASE", PASS)
    path = tmp_path / "wallet.cidw"
    save(path, PASS, Wallet(json.loads(json.dumps(world["wallet"].credentials))))
    trust = ["--registry", str(world["folder"] / "registry-1.jwt"), "--board-jwks", str(world["folder"] / "board.jwks")]
    return {**world, "path": path, "trust": trust}


def wallet_cli(env: dict[str, Any], *arguments: str, input: str | None = None) -> tuple[int, str, str]:
    result = RUNNER.invoke(app, ["wallet", *arguments, "--wallet", str(env["path"])], input=input)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def request_text(policy: str, *claims: str, audience: str = "desk:rec") -> tuple[str, str]:
    request = new_request(policy=policy, claims=claims, audience=audience, now=int(time.time()), lifetime=300,
                          random_bytes=os.urandom(16))  # fmt: skip
    return encode_request_text(request), request.nonce


def verify(env: dict[str, Any], proof: str, nonce: str, audience: str = "desk:rec") -> tuple[int, dict[str, Any]]:
    result = RUNNER.invoke(app, ["verify", proof, "--issuer-jwks", str(env["folder"] / "issuer.json"),
                                 "--nonce", nonce, "--audience", audience, "--json"])  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


def test_present_shares_only_the_policys_claims(env: dict[str, Any]) -> None:
    text, nonce = request_text("recreation-centre", "resident_of", "age_over_18")
    code, out, err = wallet_cli(env, "present", text, *env["trust"], "--yes", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert "They will see" in err and "They will not see" in err and "Your date of birth" in err
    code, result = verify(env, shown["proof"], nonce)
    assert code == 0 and result["claims"] == {"resident_of": "Riverton", "age_over_18": True}


def test_two_proofs_share_no_signature_key_or_status_index(env: dict[str, Any]) -> None:
    held = []
    for _ in range(2):
        text, nonce = request_text("library-card", "resident_of")
        code, out, _err = wallet_cli(env, "present", text, *env["trust"], "--yes", "--json")
        assert code == 0
        desk = qr_context(nonce=nonce, audience="desk:rec", known=load_issuer(env["folder"] / "issuer.json")[1])
        held.append(parse_issued(decode_qr_text(json.loads(out)["proof"], context=desk).rsplit("~", 1)[0] + "~"))
    first, second = held
    assert first.jwt.split(".")[2] != second.jwt.split(".")[2]
    assert first.payload["cnf"] != second.payload["cnf"]
    assert first.payload["status"] != second.payload["status"]


def test_a_request_beyond_its_policy_is_refused_and_nothing_is_used(env: dict[str, Any]) -> None:
    before = load(env["path"], PASS).credentials
    text, _nonce = request_text("library-card", "resident_of", "age_over_18")
    code, out, err = wallet_cli(env, "present", text, *env["trust"], "--yes", "--json")
    assert code == 1 and out == "" and "claims_exceed_policy" in err
    assert load(env["path"], PASS).credentials == before


@pytest.mark.parametrize("answer", ["n\n", "\n", ""])
def test_saying_no_or_nothing_shares_nothing(env: dict[str, Any], answer: str) -> None:
    before = load(env["path"], PASS).credentials
    text, _nonce = request_text("library-card", "resident_of")
    code, out, _err = wallet_cli(env, "present", text, *env["trust"], input=answer)
    assert code == 1 and "CID1:" not in out and "Nothing was shared." in out
    assert load(env["path"], PASS).credentials == before


def test_the_wallet_file_holds_no_plaintext(env: dict[str, Any]) -> None:
    text, _nonce = request_text("library-card", "resident_of")
    wallet_cli(env, "present", text, *env["trust"], "--yes", "--json")
    raw = env["path"].read_bytes()
    for needle in (CANARY, "Okafor", "1990-05-17", "Riverton", "library-card", "desk:rec", "eyJ"):
        assert needle.encode() not in raw


def test_offline_show_is_bound_to_the_policy(env: dict[str, Any]) -> None:
    code, out, err = wallet_cli(env, "show", "--policy", "senior-discount", *env["trust"], "--yes", "--json")
    assert code == 0, err
    shown = json.loads(out)
    audience = offline_audience("senior-discount")
    assert shown["audience"] == audience
    code, result = verify(env, shown["proof"], shown["nonce"], audience)
    assert code == 0 and result["claims"] == {"age_over_65": False}


@pytest.mark.parametrize(("language", "suffix"), [("en", "png"), ("ar", "png"), ("zh-Hans", "png"), ("es", "pdf")])
def test_the_paper_page(env: dict[str, Any], tmp_path: Path, language: str, suffix: str) -> None:
    page = tmp_path / f"paper.{suffix}"
    code, _out, err = wallet_cli(env, "print", "--policy", "library-card", "--out", str(page), "--lang", language,
                                 *env["trust"], "--yes")  # fmt: skip
    assert code == 0, err
    if suffix == "pdf":
        assert page.read_bytes().startswith(b"%PDF")
        return
    with Image.open(page) as image:
        assert image.size == (1240, 1754)
    compact = decode_qr_text(decode_qr_image(page.read_bytes()))
    assert compact.endswith("~")  # no key binding: paper
    verified = verify_presentation(compact, issuer_keys=env["keys"], audience="-", nonce="-", now=int(time.time()),
                                   unsafe_skip_key_binding=True)  # fmt: skip
    assert verified.claims == {"resident_of": "Riverton"} and not verified.key_bound
    for flags, expected in ((["--paper"], 0), ([], 1)):
        result = RUNNER.invoke(app, ["verify", str(page), "--issuer-jwks", str(env["folder"] / "issuer.json"),
                                     *flags, "--nonce", "n", "--audience", "a", "--json"])  # fmt: skip
        assert result.exit_code == expected
        answer = json.loads(result.stdout)
        assert answer["device_bound"] is (False if expected == 0 else None)
        assert answer["reason"] == ("ok" if expected == 0 else "kb_missing")


def test_paper_only_under_a_paper_policy(env: dict[str, Any], tmp_path: Path) -> None:
    code, _out, err = wallet_cli(env, "print", "--policy", "clinic-registration", "--out", str(tmp_path / "p.png"),
                                 *env["trust"])  # fmt: skip
    assert code == 1 and "not_paper" in err and not (tmp_path / "p.png").exists()


def test_history_stays_on_the_device_and_can_be_cleared(env: dict[str, Any]) -> None:
    text, _nonce = request_text("library-card", "resident_of")
    wallet_cli(env, "present", text, *env["trust"], "--yes", "--json")
    code, out, _err = wallet_cli(env, "history", "--json")
    assert code == 0 and [item["policy"] for item in json.loads(out)] == ["library-card"]
    assert wallet_cli(env, "history", "--clear")[0] == 0
    assert json.loads(wallet_cli(env, "history", "--json")[1]) == []


def test_an_older_registry_is_refused_after_a_newer_one(env: dict[str, Any]) -> None:
    folder = env["folder"]
    newer = ["--registry", str(folder / "registry-2.jwt"), "--board-jwks", str(folder / "board.jwks")]
    text, _nonce = request_text("library-card", "resident_of")
    assert wallet_cli(env, "present", text, *newer, "--yes", "--json")[0] == 0
    code, _out, err = wallet_cli(env, "present", text, *env["trust"], "--yes", "--json")
    assert code == 1 and "registry_rollback" in err
    other_board = env["path"].parent / "other.jwks"
    other_board.write_text(json.dumps(public_jwks(new_es256_key())))
    code, _out, err = wallet_cli(env, "present", text, "--registry", str(folder / "registry-2.jwt"),
                                 "--board-jwks", str(other_board), "--yes")  # fmt: skip
    assert code == 1 and "board_key_changed" in err


def test_export_and_import(env: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYID_WALLET_BACKUP_PASSPHRASE", "backup passphrase")
    backup = tmp_path / "backup.cidw"
    assert wallet_cli(env, "export", "--out", str(backup))[0] == 0
    assert CANARY.encode() not in backup.read_bytes()
    env["path"].unlink()
    code, out, _err = wallet_cli(env, "import", str(backup))
    assert code == 0 and "12 credentials restored" in out
    monkeypatch.setenv("CITYID_WALLET_BACKUP_PASSPHRASE", "not the backup passphrase")
    code, _out, err = wallet_cli(env, "import", str(backup))
    assert code == 1 and "wrong_passphrase" in err


def test_the_consent_screen_speaks_the_residents_language(env: dict[str, Any]) -> None:
    text, _nonce = request_text("library-card", "resident_of")
    code, _out, err = wallet_cli(env, "present", text, *env["trust"], "--yes", "--json", "--lang", "es")
    assert code == 0 and "Verán" in err and "Tarjeta de la biblioteca" in err
    code, _out, err = wallet_cli(env, "present", "CIDR1:%%", *env["trust"], "--yes", "--lang", "ar")
    assert code == 1 and "مرفوض" in err


def _generation(n: int) -> dict[str, Any]:
    """A history entry standing for the n-th write."""
    return {"at": n, "policy": "library-card", "audience": "desk:rec", "claims": ["resident_of"],
            "credential_type": "residency"}  # fmt: skip


def test_a_kill_during_a_write_leaves_the_old_or_the_new_store(tmp_path: Path) -> None:
    """A writer saves generation after generation while it is killed; the file always opens
    (also when the kill falls between the wallet file and its rollback counter)."""
    path = tmp_path / "w.cidw"
    save(path, PASS, Wallet(history=[_generation(0)]))
    writer = (
        "import sys; from pathlib import Path; from wallet.store import Wallet, save\n"
        "for n in range(1, 10**6):\n"
        f"    save(Path(sys.argv[1]), {PASS!r}, Wallet(history=[{_generation(0)!r} | {{'at': n}}] * 2000))\n"
    )
    for delay in (0.3, 0.5, 0.8, 1.1, 1.5):
        process = subprocess.Popen([sys.executable, "-c", writer, str(path)])
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        history = load(path, PASS).history
        assert history and len({item["at"] for item in history}) == 1
    kept = {"w.cidw", "w.cidw.counter"}
    assert not [p for p in tmp_path.iterdir() if p.name not in kept and not p.name.startswith(".w.cidw.")]


def test_a_full_disk_leaves_the_old_store(tmp_path: Path) -> None:
    """The file size limit stands in for a full disk: the write fails, the old store stays."""
    path = tmp_path / "w.cidw"
    save(path, PASS, Wallet(history=[_generation(1)]))
    writer = (
        "import resource, signal, sys; from pathlib import Path; from wallet.store import Wallet, save\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        f"    save(Path(sys.argv[1]), {PASS!r}, Wallet(history=[{_generation(2)!r}] * 5000))\n"
        "except OSError as exc:\n"
        "    print('failed', exc.errno)\n"
    )
    result = subprocess.run([sys.executable, "-c", writer, str(path)], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("failed")
    assert load(path, PASS).history == [_generation(1)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.cidw", "w.cidw.counter"]
