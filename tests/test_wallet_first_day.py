"""The wallet on a resident's first day: commands at once, batch size, PIN typos, yes in one's
own language, paper that asks first, a different card only when asked, and ``wallet list``.

Regressions found by trying the wallet as a resident would: two ``present`` runs at once showed
the same one-time credential, a larger ``--count`` than the issuer's batch lost the batch, a
typo in the PIN used up one of its few tries, "sí" was not a yes, ``print`` spent a credential
without asking (and printed a senior page for someone not 65), and the identity card was used
silently when the residency cards ran out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from issuer_support import enrolled, running_issuer
from typer.testing import CliRunner

from cityid.cli import app
from credential import decode_qr_text, encode_request_text, new_request, parse_issued
from edges.keyfile import new_es256_key, private_jwk, public_jwks
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry
from wallet.lock import locked
from wallet.receive import normalise_pin, parse_offer, receive
from wallet.store import Wallet, WalletError, export_backup, load, save

PASS = "resident passphrase"
RUNNER = CliRunner()
CITYID = str(Path(sys.executable).with_name("cityid"))
PAIRS = 20


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two enrolments' worth of credentials (40 of each type), a board and its signed registry."""
    folder = tmp_path_factory.mktemp("first-day")
    credentials = []
    with running_issuer(folder / "issuer") as issuer:
        for name in ("Ana", "Ana again"):
            for item in issuer.receive(issuer.offer(enrolled(name)), count=PAIRS):
                credentials.append({"type": item.configuration, "credential": item.credential,
                                    "device_key": private_jwk(item.device_key), "used": False})  # fmt: skip
    board = new_es256_key()
    wanted = {"library-card", "senior-discount"}
    chosen = [lp.policy for lp in load_policies([bundled_catalog()]) if lp.policy and lp.policy.id in wanted]
    (folder / "registry.jwt").write_text(sign_registry(chosen, board, issuer="Board", version=1, now=int(time.time()),
                                                       lifetime=86_400, catalogue=default_catalogue()))  # fmt: skip
    (folder / "board.jwks").write_text(json.dumps(public_jwks(board)))
    return {"folder": folder, "credentials": credentials}


@pytest.fixture
def wallet_file(world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CITYID_WALLET_PASSPHRASE", PASS)
    path = tmp_path / "wallet.cidw"
    save(path, PASS, Wallet(json.loads(json.dumps(world["credentials"]))))
    return path


def _request() -> str:
    request = new_request(policy="library-card", claims=("resident_of",), audience="desk:library",
                          now=int(time.time()), lifetime=600, random_bytes=os.urandom(16), codec=1)  # fmt: skip
    return encode_request_text(request)  # a CID1:-only desk, so that the proofs can be read back here


def _present_process(world: dict[str, Any], path: Path) -> subprocess.Popen[str]:
    folder = world["folder"]
    command = [CITYID, "wallet", "present", _request(), "--registry", str(folder / "registry.jwt"),
               "--board-jwks", str(folder / "board.jwks"), "--yes", "--json", "--wallet", str(path)]  # fmt: skip
    env = {**os.environ, "CITYID_WALLET_PASSPHRASE": PASS, "CITYID_WALLET_WAIT": "300"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _credential_of(proof: str) -> str:
    """The issuer-signed credential a proof was made from (its JWT: signature, key and status are its own)."""
    return parse_issued(decode_qr_text(proof).rsplit("~", 1)[0] + "~").jwt


def test_presents_at_once_never_share_a_credential_and_lose_no_write(world: dict[str, Any], wallet_file: Path) -> None:
    """20 pairs of ``wallet present`` started at once on one wallet file, as real processes."""
    processes = [_present_process(world, wallet_file) for _ in range(2 * PAIRS)]
    shown = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        shown.append(_credential_of(json.loads(out)["proof"]))
    assert len(set(shown)) == len(shown) == 2 * PAIRS
    held = load(wallet_file, PASS)
    used = {entry["credential"].split("~")[0] for entry in held.credentials if entry["used"]}
    assert used == set(shown)
    assert len(held.history) == 2 * PAIRS


def test_an_import_beside_presents_keeps_both(world: dict[str, Any], wallet_file: Path, tmp_path: Path) -> None:
    """A command that adds credentials (here ``import``) while proofs are made: nothing is lost or revived."""
    everything = load(wallet_file, PASS)
    kept, incoming = everything.credentials[: 2 * PAIRS], everything.credentials[2 * PAIRS :]
    save(wallet_file, PASS, Wallet(kept, counter=everything.counter))
    backup = tmp_path / "backup.cidw"
    export_backup(backup, "backup passphrase", Wallet(incoming))
    env = {**os.environ, "CITYID_WALLET_PASSPHRASE": PASS, "CITYID_WALLET_BACKUP_PASSPHRASE": "backup passphrase",
           "CITYID_WALLET_WAIT": "300"}  # fmt: skip
    importing = [CITYID, "wallet", "import", str(backup), "--wallet", str(wallet_file)]
    processes = [_present_process(world, wallet_file) for _ in range(4)]
    processes.insert(2, subprocess.Popen(importing, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    for process in processes:
        _out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    held = load(wallet_file, PASS)
    assert len(held.credentials) == len(everything.credentials)
    assert sum(entry["used"] for entry in held.credentials) == len(held.history) == 4


def test_a_busy_wallet_says_so(world: dict[str, Any], wallet_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYID_WALLET_WAIT", "0.3")
    with locked(wallet_file):
        result = RUNNER.invoke(app, ["wallet", "history", "--json", "--wallet", str(wallet_file)])
    assert result.exit_code == 1 and "wallet_busy" in result.stderr
    assert RUNNER.invoke(app, ["wallet", "history", "--json", "--wallet", str(wallet_file)]).exit_code == 0


def test_count_is_clamped_to_the_issuers_batch_size(tmp_path: Path) -> None:
    with running_issuer(tmp_path / "issuer", max_batch=4) as issuer:
        received = issuer.receive(issuer.offer(enrolled()), count=9)
    kinds = [item.configuration for item in received]
    assert kinds.count("residency") == kinds.count("identity") == 4


def _offer(length: int | None = 6, mode: str | None = None) -> str:
    tx_code: dict[str, Any] = {} if length is None else {"length": length}
    if mode:
        tx_code["input_mode"] = mode
    grant = {"pre-authorized_code": "code", "tx_code": tx_code}
    document = {"credential_issuer": "http://127.0.0.1:9", "credential_configuration_ids": ["residency"],
                "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": grant}}  # fmt: skip
    from urllib.parse import quote  # noqa: PLC0415

    return "openid-credential-offer://?credential_offer=" + quote(json.dumps(document))


FULL_WIDTH = "".join(chr(0xFF10 + digit) for digit in (1, 2, 3, 4, 5, 6))


@pytest.mark.parametrize("typed", ["123 456", "123-456", " 12 34 56 ", "١٢٣٤٥٦", FULL_WIDTH, "123\u2013456"])
def test_spaces_dashes_and_other_digits_are_read_as_the_pin(typed: str) -> None:
    assert normalise_pin(parse_offer(_offer()), typed) == "123456"


@pytest.mark.parametrize("typed", ["12345", "1234567", "12345a", "abcdef", "", "12 34 5"])
def test_a_pin_that_cannot_be_right_is_refused_before_it_is_sent(typed: str, tmp_path: Path) -> None:
    with pytest.raises(WalletError) as caught:
        normalise_pin(parse_offer(_offer()), typed)
    assert caught.value.reason == "invalid_pin"
    result = RUNNER.invoke(app, ["wallet", "receive", _offer(), "--pin", typed, "--wallet", str(tmp_path / "w.cidw")],
                           env={"CITYID_WALLET_PASSPHRASE": PASS})  # fmt: skip
    assert result.exit_code == 1 and "invalid_pin" in result.stderr  # not issuer_unreachable: nothing was sent
    assert not (tmp_path / "w.cidw").exists()


def test_without_a_length_any_digits_go_and_a_text_pin_keeps_its_letters() -> None:
    assert normalise_pin(parse_offer(_offer(None)), "1234 5678") == "12345678"
    assert normalise_pin(parse_offer(_offer(6, "text")), "ab-c d12") == "abcd12"


def test_a_tidied_pin_spends_no_try_and_is_accepted(tmp_path: Path) -> None:
    with running_issuer(tmp_path / "issuer") as issuer:
        created = issuer.offer(enrolled())
        offer = parse_offer(created.offer_uri)
        spaced = f"{created.pin[:3]} {created.pin[3:]}"
        with pytest.raises(WalletError):
            normalise_pin(offer, created.pin[:5])
        received = receive(offer, normalise_pin(offer, spaced), count=1, client=issuer.client)
    assert len(received) == 2


def _trust(world: dict[str, Any]) -> list[str]:
    return ["--registry", str(world["folder"] / "registry.jwt"), "--board-jwks", str(world["folder"] / "board.jwks")]


def _unused(path: Path) -> int:
    return sum(not entry["used"] for entry in load(path, PASS).credentials)


@pytest.mark.parametrize(
    ("language", "typed", "shared"),
    [
        ("en", "yes\n", True), ("en", "Y\n", True), ("en", "no\n", False), ("en", "\n", False),
        ("es", "sí\n", True), ("es", "si\n", True), ("es", "S\n", True), ("es", "no\n", False),
        ("zh-Hans", "是\n", True), ("zh-Hans", "y\n", True), ("zh-Hans", "否\n", False),
        ("ar", "نعم\n", True), ("ar", "y\n", True), ("ar", "لا\n", False),
        ("es", "quizá\nsí\n", True), ("en", "maybe\n", False), ("en", "a\nb\nc\nyes\n", False),
    ],
)  # fmt: skip
def test_consent_takes_yes_and_no_in_the_residents_language(
    world: dict[str, Any], wallet_file: Path, language: str, typed: str, shared: bool
) -> None:
    before = _unused(wallet_file)
    result = RUNNER.invoke(app, ["wallet", "present", _request(), *_trust(world), "--lang", language,
                                 "--wallet", str(wallet_file)], input=typed)  # fmt: skip
    assert (result.exit_code == 0) is shared, result.output
    assert ("CID1:" in result.stdout or "█" in result.stdout or "▀" in result.stdout) is shared
    assert _unused(wallet_file) == before - shared


def test_print_asks_first_and_spends_nothing_on_a_no(world: dict[str, Any], wallet_file: Path, tmp_path: Path) -> None:
    page = tmp_path / "paper.png"
    before = _unused(wallet_file)
    arguments = ["wallet", "print", "--policy", "library-card", "--out", str(page), *_trust(world),
                 "--wallet", str(wallet_file)]  # fmt: skip
    result = RUNNER.invoke(app, arguments, input="n\n")
    assert result.exit_code == 1 and "They will see" in result.stdout and "Nothing was shared." in result.stdout
    assert not page.exists() and _unused(wallet_file) == before
    assert RUNNER.invoke(app, arguments, input="y\n").exit_code == 0 and page.exists()
    assert _unused(wallet_file) == before - 1


def test_print_refuses_a_page_the_wallet_cannot_prove(world: dict[str, Any], wallet_file: Path, tmp_path: Path) -> None:
    """Ana is not 65: a senior-discount page would say so, and spend a credential for nothing."""
    page = tmp_path / "senior.png"
    before = _unused(wallet_file)
    result = RUNNER.invoke(app, ["wallet", "print", "--policy", "senior-discount", "--out", str(page), *_trust(world),
                                 "--yes", "--wallet", str(wallet_file)])  # fmt: skip
    assert result.exit_code == 1 and "cannot_prove" in result.stderr
    assert not page.exists() and _unused(wallet_file) == before


def _only_identity_left(path: Path) -> None:
    held = load(path, PASS)
    for entry in held.credentials:
        entry["used"] = entry["used"] or entry["type"] == "residency"
    save(path, PASS, held)


def test_a_different_card_is_used_only_when_the_resident_agrees(world: dict[str, Any], wallet_file: Path) -> None:
    _only_identity_left(wallet_file)
    before = _unused(wallet_file)
    arguments = ["wallet", "present", _request(), *_trust(world), "--wallet", str(wallet_file)]
    result = RUNNER.invoke(app, arguments, input="n\n")
    assert result.exit_code == 1 and "no unused residency cards left" in result.stderr
    assert f"({before} left)" in result.stderr and "identity cards" in result.stdout
    assert _unused(wallet_file) == before
    result = RUNNER.invoke(app, ["wallet", "present", _request(), *_trust(world), "--wallet", str(wallet_file),
                                 "--json"], input="y\n")  # fmt: skip
    assert result.exit_code == 0 and json.loads(result.stdout)["credential_type"] == "identity"
    assert _unused(wallet_file) == before - 1


def test_wallet_list(world: dict[str, Any], wallet_file: Path) -> None:
    assert RUNNER.invoke(app, ["wallet", "present", _request(), *_trust(world), "--yes", "--wallet",
                               str(wallet_file)]).exit_code == 0  # fmt: skip
    result = RUNNER.invoke(app, ["wallet", "list", "--json", "--wallet", str(wallet_file)])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["cards"] == [{"type": "residency", "unused": 2 * PAIRS - 1, "total": 2 * PAIRS},
                               {"type": "identity", "unused": 2 * PAIRS, "total": 2 * PAIRS}]  # fmt: skip
    assert listed["registry"]["version"] == 1 and listed["registry"]["valid"]
    assert 0 <= listed["registry"]["age_seconds"] < 3600
    assert "CID1" not in result.stdout and "eyJ" not in result.stdout
    result = RUNNER.invoke(app, ["wallet", "list", "--lang", "es", "--wallet", str(wallet_file)])
    assert result.exit_code == 0 and "tarjetas de residencia" in result.stdout and "versión 1" in result.stdout


@pytest.mark.parametrize("declared", [True, False])
def test_an_endless_answer_from_an_issuer_is_refused_not_read(declared: bool) -> None:
    """A server that says (or streams) more than the wallet reads: ``too_large``, with the wallet's
    memory never holding more than the bound, whether the length is declared or not."""
    import socket  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from wallet.receive import MAX_ANSWER_BYTES, Patience, issuer_client  # noqa: PLC0415

    sent = [0]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            head = f"Content-Length: {8 * MAX_ANSWER_BYTES}" if declared else "Transfer-Encoding: chunked"
            connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{head}\r\n\r\n".encode())
            chunk = b"[" * 65536
            try:
                while sent[0] < 16 * MAX_ANSWER_BYTES:
                    connection.sendall(chunk if declared else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent[0] += len(chunk)
            except OSError:  # the wallet hung up: what it refused is not sent on
                pass

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    offer = parse_offer("openid-credential-offer://?credential_offer=" + json.dumps({
        "credential_issuer": f"http://127.0.0.1:{listener.getsockname()[1]}",
        "credential_configuration_ids": ["residency"],
        "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": "c"}},
    }))  # fmt: skip
    with issuer_client(10) as client, pytest.raises(WalletError) as refused:
        receive(offer, "123456", count=1, client=client, patience=Patience(wait=0))
    worker.join(10)
    listener.close()
    assert refused.value.reason == "too_large"
    assert sent[0] < 16 * MAX_ANSWER_BYTES  # it stopped reading; the server did not get to send it all
