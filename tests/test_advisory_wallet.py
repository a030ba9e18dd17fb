"""Security regressions in the wallet, each named after what it guards against.

Rollback of the wallet file, crafted backups, the issuer address check, and device keys that
must each serve one credential. Commands run through the real CLI (Typer's runner), as a
resident would run them.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from issuer_support import enrolled, running_issuer
from typer.testing import CliRunner

import wallet.rollback
import wallet.store
from cityid.cli import app
from credential import (
    IDENTITY,
    RESIDENCY,
    SigningKey,
    encode_request_text,
    issue_credential,
    new_request,
    parse_issued,
    residency_claims,
)
from credential._encoding import b64url_decode, b64url_encode
from credential._jws import sign_jwt
from edges.keyfile import new_es256_key, private_jwk, public_jwks
from edges.sealing import seal_with_passphrase
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry
from wallet.receive import PRE_AUTHORIZED, parse_offer, receive
from wallet.rollback import counter_path
from wallet.store import BACKUP_PURPOSE, PURPOSE, Wallet, WalletError, export_backup, load, read_backup, save

PASS = "resident passphrase"
BACKUP_PASS = "backup passphrase"
RUNNER = CliRunner()
POLICIES = ("recreation-centre", "library-card", "senior-discount")
ENV = {"CITYID_WALLET_PASSPHRASE": PASS, "CITYID_WALLET_BACKUP_PASSPHRASE": BACKUP_PASS}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("advisory-wallet")
    with running_issuer(folder / "issuer") as issuer:
        received = issuer.receive(issuer.offer(enrolled("Quetzalcoatl")), count=3)
    credentials = [{"type": item.configuration, "credential": item.credential,
                    "device_key": private_jwk(item.device_key), "used": False} for item in received]  # fmt: skip
    board = new_es256_key()
    chosen = [lp.policy for lp in load_policies([bundled_catalog()]) if lp.policy and lp.policy.id in POLICIES]
    for version in (1, 2):
        token = sign_registry(chosen, board, issuer="Board", version=version, now=int(time.time()), lifetime=86_400,
                              catalogue=default_catalogue())  # fmt: skip
        (folder / f"registry-{version}.jwt").write_text(token)
    (folder / "board.jwks").write_text(json.dumps(public_jwks(board)))
    return {"folder": folder, "credentials": credentials}


def trust(world: dict[str, Any], version: int) -> list[str]:
    folder = world["folder"]
    return ["--registry", str(folder / f"registry-{version}.jwt"), "--board-jwks", str(folder / "board.jwks")]


def fresh(world: dict[str, Any]) -> Wallet:
    return Wallet(copy.deepcopy(world["credentials"]))


def cli(path: Path, *arguments: str) -> tuple[int, str, str]:
    """``cityid wallet ...`` as a resident runs it; a traceback is a failure whatever the exit code.
    Messages come back with their line breaks undone (the console wraps them to its width)."""
    result = RUNNER.invoke(app, ["wallet", *arguments, "--wallet", str(path)], env=ENV)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def request_text(policy: str = "library-card", *claims: str) -> str:
    request = new_request(policy=policy, claims=claims or ("resident_of",), audience="desk:rec",
                          now=int(time.time()), lifetime=300, random_bytes=os.urandom(16))  # fmt: skip
    return encode_request_text(request)


def present(path: Path, *arguments: str) -> tuple[int, str, str]:
    return cli(path, "present", request_text(), *arguments, "--yes", "--json")


def unused(path: Path) -> int:
    return sum(not entry["used"] for entry in load(path, PASS).credentials)


def shared(at: int) -> dict[str, Any]:
    return {"at": at, "policy": "library-card", "audience": "desk:rec", "claims": ["resident_of"],
            "credential_type": "residency"}  # fmt: skip


def files(path: Path) -> tuple[bytes, bytes]:
    return path.read_bytes(), counter_path(path).read_bytes()


# 1. Rollback: an older copy of the wallet file, under the same passphrase.


def test_a_restored_older_wallet_file_is_refused_and_does_not_offer_the_spent_credential(
    world: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "wallet.cidw"
    save(path, PASS, fresh(world))
    code, _out, err = present(path, *trust(world, 1))
    assert code == 0, err
    old = path.read_bytes()  # every residency credential but one unused
    code, out, err = present(path, *trust(world, 1))
    assert code == 0, err
    spent = json.loads(out)["proof"]
    assert unused(path) == 4
    path.write_bytes(old)  # put the older copy back
    for command in (
        ["present", request_text(), "--yes", "--json"],
        ["show", "--policy", "library-card", "--yes", "--json"],
        ["print", "--policy", "library-card", "--out", str(tmp_path / "paper.png")],
        ["history", "--json"],
    ):
        code, out, err = cli(path, *command)
        assert code == 1 and "wallet_rolled_back" in err and out == "", (command, err)
        assert "CID1:" not in out and spent not in out
    assert not (tmp_path / "paper.png").exists()
    with pytest.raises(WalletError) as caught:
        load(path, PASS)
    assert caught.value.reason == "wallet_rolled_back"
    assert "older copy" in caught.value.message and "cityid wallet import" in caught.value.message


def test_a_restored_older_wallet_file_cannot_bring_back_an_older_registry(
    world: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "wallet.cidw"
    save(path, PASS, fresh(world))
    assert present(path, *trust(world, 1))[0] == 0
    old = path.read_bytes()  # holds registry version 1
    assert present(path, *trust(world, 2))[0] == 0
    assert json.loads(counter_path(path).read_text())["registry_version"] == 2
    path.write_bytes(old)
    for arguments in ((), tuple(trust(world, 1))):
        code, out, err = present(path, *arguments)
        assert code == 1 and "wallet_rolled_back" in err and out == ""


def test_the_registry_version_mark_outlives_the_wallet_file(world: dict[str, Any], tmp_path: Path) -> None:
    """A backup holding registry 1, imported after registry 2 was seen, does not bring 1 back."""
    path, backup = tmp_path / "wallet.cidw", tmp_path / "backup.cidw"
    save(path, PASS, fresh(world))
    assert present(path, *trust(world, 1))[0] == 0
    assert cli(path, "export", "--out", str(backup))[0] == 0
    assert present(path, *trust(world, 2))[0] == 0
    path.unlink()  # the resident puts the wallet file aside and restores the backup
    code, _out, err = cli(path, "import", str(backup))
    assert code == 0, err
    code, _out, err = present(path)
    assert code == 1 and "no_registry" in err  # the backup's registry 1 was not taken
    code, _out, err = present(path, *trust(world, 1))
    assert code == 1 and "registry_rollback" in err
    assert present(path, *trust(world, 2))[0] == 0


def test_a_backup_cannot_pair_an_old_registry_with_a_newer_version_number(
    world: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "wallet.cidw"
    save(path, PASS, fresh(world))
    assert present(path, *trust(world, 1))[0] == 0
    document = load(path, PASS).to_json()
    document["trust"]["version"] = 3  # registry 1's token, claimed to be version 3
    assert present(path, *trust(world, 2))[0] == 0
    path.unlink()
    code, _out, err = cli(path, "import", str(_sealed_backup(tmp_path, document)))
    assert code == 0, err
    code, _out, err = present(path)
    assert code == 1 and "registry_rollback" in err


def test_a_wallet_file_without_its_counter_file_is_refused(world: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "wallet.cidw"
    save(path, PASS, fresh(world))
    assert present(path, *trust(world, 1))[0] == 0
    counter_path(path).unlink()
    code, out, err = present(path)
    assert code == 1 and "wallet_counter_missing" in err and out == ""


@pytest.mark.parametrize("content", [b"", b"{", b'{"counter": -1, "registry_version": 0}', b"[]", b"x" * 5000])
def test_a_damaged_counter_file_is_refused(world: dict[str, Any], tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "wallet.cidw"
    save(path, PASS, fresh(world))
    counter_path(path).write_bytes(content)
    code, out, err = present(path, *trust(world, 1))
    assert code == 1 and "wallet_counter_damaged" in err and out == ""


class _Crash(Exception):
    """The process dies here: the write it was about to make never happens."""


@pytest.mark.parametrize(("existing", "crash_at"), [(True, 0), (True, 1), (True, None), (False, 0), (False, 1),
                                                    (False, 2), (False, None)])  # fmt: skip
def test_a_crash_at_any_step_of_a_save_never_locks_out_nor_lets_an_older_copy_in(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool, crash_at: int | None
) -> None:
    """A save makes two or three writes (the counter file first when there is none yet): a
    crash before any of them leaves a wallet that opens, old or new, and never an older one."""
    path = tmp_path / "wallet.cidw"
    older: list[bytes] = []
    if existing:
        for generation in range(2):
            save(path, PASS, Wallet(history=[shared(n) for n in range(generation + 1)]))
            older.append(path.read_bytes())
    new = Wallet(history=[shared(n) for n in range(3)])
    writes: list[str] = []

    def dying(real: Callable[..., None]) -> Callable[..., None]:
        def write(target: Path, data: bytes | str, **options: Any) -> None:
            if len(writes) == crash_at:
                raise _Crash
            writes.append(target.name)
            real(target, data, **options)

        return write

    monkeypatch.setattr(wallet.store, "write_atomic", dying(wallet.store.write_atomic))
    monkeypatch.setattr(wallet.rollback, "write_atomic", dying(wallet.rollback.write_atomic))
    with pytest.raises(_Crash) if crash_at is not None else nullcontext():
        save(path, PASS, new)
    monkeypatch.undo()
    order = ["wallet.cidw.counter"] * (not existing) + ["wallet.cidw", "wallet.cidw.counter"]
    assert writes == order[:crash_at]
    wallet_written = crash_at is None or crash_at > order.index("wallet.cidw")
    opened = load(path, PASS)  # never locked out: the new wallet, or the one before it
    assert len(opened.history) == (3 if wallet_written else 2 if existing else 0)
    current = path.read_bytes() if path.exists() else None
    if older:
        path.write_bytes(older[0])  # older than the file the crashed save replaced: refused at once
        with pytest.raises(WalletError) as caught:
            load(path, PASS)
        assert caught.value.reason == "wallet_rolled_back"
    if current is not None:
        path.write_bytes(current)
    save(path, PASS, load(path, PASS))  # the next save counts on...
    for copy_ in older:
        path.write_bytes(copy_)  # ...past every earlier file, the replaced one included
        with pytest.raises(WalletError) as caught:
            load(path, PASS)
        assert caught.value.reason == "wallet_rolled_back"


def test_a_wallet_from_before_the_counter_opens_and_is_counted_from_its_next_save(
    world: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "wallet.cidw"
    legacy = {"version": 1, "credentials": fresh(world).credentials, "history": [], "trust": {}}
    path.write_bytes(seal_with_passphrase(json.dumps(legacy).encode(), PASS, PURPOSE))
    old = path.read_bytes()
    assert present(path, *trust(world, 1))[0] == 0
    assert counter_path(path).exists()
    path.write_bytes(old)
    code, _out, err = present(path)
    assert code == 1 and "wallet_rolled_back" in err


# 2. Crafted backups, and a store that is checked as strictly when it opens.


@pytest.fixture(scope="module")
def resident(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A wallet with history and trust, and its document as a backup holds it."""
    path = tmp_path_factory.mktemp("resident") / "wallet.cidw"
    save(path, PASS, fresh(world))
    assert present(path, *trust(world, 1))[0] == 0
    return {"path": path, "document": load(path, PASS).to_json()}


def _sealed_backup(folder: Path, document: object, *, raw: bytes | None = None) -> Path:
    backup = folder / "crafted.cidw"
    plaintext = raw if raw is not None else json.dumps(document).encode()
    backup.write_bytes(seal_with_passphrase(plaintext, BACKUP_PASS, BACKUP_PURPOSE))
    return backup


def _refused_import(resident: dict[str, Any], backup: Path, reason: str = "invalid_backup") -> str:
    path = resident["path"]
    before = files(path)
    code, out, err = cli(path, "import", str(backup))
    assert code == 1 and f"[{reason}]" in err and out == "", err
    assert files(path) == before  # the wallet is unchanged
    return err


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
    st.lists(st.integers(), min_size=1, max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip
VALID = {
    "version": lambda v: v == 1 and type(v) is int,
    "counter": lambda v: type(v) is int and v >= 0,
    "credentials": lambda v: v == [],
    "history": lambda v: v == [],
    "trust": lambda v: v == {},
    "type": lambda v: v in ("residency", "identity"),
    "used": lambda v: type(v) is bool,
    "at": lambda v: type(v) is int and 0 <= v < 253_402_300_800,
    "claims": lambda v: v == [] or (type(v) is list and all(type(c) is str for c in v)),
    "credential_type": lambda v: v in ("residency", "identity"),
    "policy": lambda v: type(v) is str,
    "audience": lambda v: type(v) is str,
}
"""Values that would still be valid in each field; a crafted value is drawn outside them."""


def _junk_for(draw: st.DrawFn, name: str) -> Any:
    accepts = VALID.get(name, lambda _v: False)
    return draw(JUNK.filter(lambda value: not accepts(value)))


def _other_kind_of_key(draw: st.DrawFn, key: dict[str, str]) -> dict[str, Any]:
    """A device key of a kind the wallet does not allow, or not a key at all."""
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    ed = SigningKey.generate("EdDSA").private_key.private_bytes_raw()  # type: ignore[union-attr]
    choices = [
        {"kty": "OKP", "crv": "Ed25519", "x": key["x"], "d": b64url_encode(ed)},
        {**key, "crv": "P-384"},
        {**key, "kty": "RSA"},
        {**key, "alg": "EdDSA"},
        {**key, "d": b64url_encode(bytes(32))},  # zero scalar
        {**key, "d": b64url_encode(order.to_bytes(32, "big"))},  # the group order
        {**key, "d": private_jwk(new_es256_key())["d"]},  # another key's private part
        {**key, "d": "not base64url!"},
        {**key, "x": key["y"]},
        {name: value for name, value in key.items() if name != "d"},  # a public key
        {**key, "extra": "member"},
    ]
    return draw(st.sampled_from(choices))


@st.composite
def crafted_documents(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """The resident's own wallet document with one thing wrong in it."""
    document = copy.deepcopy(base)
    credentials, history = document["credentials"], document["history"]
    place = draw(st.sampled_from(["top", "extra", "credential", "device_key", "binding", "history", "trust"]))
    if place == "top":
        name = draw(st.sampled_from(["version", "counter", "credentials", "history", "trust"]))
        if name != "counter" and draw(st.booleans()):
            del document[name]
        else:
            document[name] = _junk_for(draw, name)
    elif place == "extra":
        target = draw(st.sampled_from([document, credentials[0], history[0], credentials[0]["device_key"]]))
        target[draw(st.text(min_size=1, max_size=10).filter(lambda n: n not in target))] = draw(JUNK)
    elif place == "credential":
        entry = draw(st.sampled_from(credentials))
        name = draw(st.sampled_from(["type", "credential", "device_key", "used"]))
        if draw(st.booleans()):
            del entry[name]
        else:
            entry[name] = _junk_for(draw, name)
    elif place == "device_key":
        entry = draw(st.sampled_from(credentials))
        entry["device_key"] = _other_kind_of_key(draw, entry["device_key"])
    elif place == "binding":
        first, second = draw(st.permutations(range(len(credentials))))[:2]
        how = draw(st.sampled_from(["swap", "twice", "relabel", "truncate", "garble"]))
        if how == "swap":  # each credential now sits with another's key
            credentials[first]["credential"], credentials[second]["credential"] = (
                credentials[second]["credential"], credentials[first]["credential"])  # fmt: skip
        elif how == "twice":  # one credential, and its key, twice
            credentials.append(copy.deepcopy(credentials[first]))
        elif how == "relabel":
            entry = credentials[first]
            entry["type"] = "identity" if entry["type"] == "residency" else "residency"
        elif how == "truncate":
            text = credentials[first]["credential"]
            credentials[first]["credential"] = text[: draw(st.integers(0, len(text) - 1))]
        else:
            credentials[first]["credential"] = draw(st.text(max_size=200))
    elif place == "history":
        entry = draw(st.sampled_from(history))
        name = draw(st.sampled_from(["at", "policy", "audience", "claims", "credential_type"]))
        if draw(st.booleans()):
            del entry[name]
        elif name in ("policy", "audience") and draw(st.booleans()):
            entry[name] = draw(st.sampled_from(["x" * 257, "\ud800"]))  # too long; a lone surrogate
        else:
            entry[name] = _junk_for(draw, name)
    else:
        trust_ = document["trust"]
        name = draw(st.sampled_from(["board_jwks", "registry", "version"]))
        if draw(st.booleans()):
            del trust_[name]
        else:
            valid = {"version": VALID["counter"], "registry": lambda v: type(v) is str}.get(name, lambda _v: False)
            trust_[name] = draw(JUNK.filter(lambda v: not valid(v)))
    return document


def test_the_residents_own_document_is_a_valid_backup(resident: dict[str, Any], tmp_path: Path) -> None:
    """The property below is only meaningful if its starting point is accepted."""
    restored = read_backup(_sealed_backup(tmp_path, resident["document"]), BACKUP_PASS)
    assert restored.credentials == resident["document"]["credentials"] and restored.history


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_crafted_backup_is_refused_with_a_reason_and_leaves_the_wallet_unchanged(
    resident: dict[str, Any], tmp_path: Path, data: st.DataObject
) -> None:
    """The wallet stays as it was for every example (the fixture is shared on purpose)."""
    _refused_import(resident, _sealed_backup(tmp_path, data.draw(crafted_documents(resident["document"]))))


def test_a_backup_entry_without_used_is_refused_instead_of_crashing_present_later(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """The reported crash: this backup was imported, then present, show and history raised KeyError."""
    path = tmp_path / "wallet.cidw"
    save(path, PASS, fresh(world))
    document = fresh(world).to_json()
    for entry in document["credentials"]:
        del entry["used"]
    document["history"] = [{"policy": "library-card"}]
    code, _out, err = cli(path, "import", str(_sealed_backup(tmp_path, document)))
    assert code == 1 and "[invalid_backup]" in err and "credentials[0] has no 'used'" in " ".join(err.split())
    assert present(path, *trust(world, 1))[0] == 0
    assert cli(path, "history")[0] == 0


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    "name", ["too many credentials", "too many history entries", "too many claims", "too deep", "not json",
             "not utf-8", "a list", "a string", "null", "empty"],
)  # fmt: skip
def test_a_backup_that_is_huge_or_not_a_wallet_at_all_is_refused(
    resident: dict[str, Any], tmp_path: Path, name: str
) -> None:
    document = copy.deepcopy(resident["document"])
    raw: bytes | None = None
    if name == "too many credentials":
        document["credentials"] = document["credentials"][:1] * 4097
    elif name == "too many history entries":
        document["history"] = document["history"] * 10_001
    elif name == "too many claims":
        document["history"][0]["claims"] = ["resident_of"] * 65
    else:
        raw = {"too deep": _deep(200_000), "not json": b"{'credentials': []}", "not utf-8": b'{"\xff": 1}',
               "a list": b"[]", "a string": b'"wallet"', "null": b"null", "empty": b""}[name]  # fmt: skip
    _refused_import(resident, _sealed_backup(tmp_path, document, raw=raw))


def test_a_wallet_file_is_not_imported_as_a_backup(world: dict[str, Any], resident: dict[str, Any]) -> None:
    """A copy of a wallet file would otherwise be a way around the rollback counter."""
    other = resident["path"].parent / "other" / "wallet.cidw"
    save(other, BACKUP_PASS, fresh(world))
    err = _refused_import(resident, other, "not_a_backup")
    assert "not a backup" in err


def test_present_show_and_history_still_work_after_a_refused_import(world: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "wallet.cidw"
    save(path, PASS, fresh(world))
    assert present(path, *trust(world, 1))[0] == 0
    document = load(path, PASS).to_json()
    document["credentials"][0]["device_key"] = "not a key"
    document["history"][0]["claims"] = {"not": "a list"}
    code, _out, err = cli(path, "import", str(_sealed_backup(tmp_path, document)))
    assert code == 1 and "invalid_backup" in err
    assert present(path)[0] == 0
    assert cli(path, "show", "--policy", "library-card", "--yes", "--json")[0] == 0
    code, out, _err = cli(path, "history", "--json")
    assert code == 0 and [item["policy"] for item in json.loads(out)] == [
        "library-card",
        "library-card",
        "library-card",
    ]


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["credentials"][0].pop("used"),
        lambda d: d["history"].append({"at": "yesterday"}),
        lambda d: d["credentials"][0].update(device_key={"kty": "EC"}),
        lambda d: d.update(trust={"registry": 7, "board_jwks": {}, "version": 1}),
    ],
)
def test_a_store_is_checked_as_strictly_as_a_backup_when_it_opens(
    world: dict[str, Any], tmp_path: Path, damage: Callable[[dict[str, Any]], object]
) -> None:
    """A sealed file under the right passphrase and counter, with the wrong content inside."""
    path = tmp_path / "wallet.cidw"
    save(path, PASS, fresh(world))
    assert present(path, *trust(world, 1))[0] == 0
    document = load(path, PASS).to_json()
    damage(document)
    path.write_bytes(seal_with_passphrase(json.dumps(document).encode(), PASS, PURPOSE))
    for command in (["present", request_text(), "--yes"], ["show", "--policy", "library-card", "--yes"],
                    ["history"]):  # fmt: skip
        code, out, err = cli(path, *command)
        assert code == 1 and "[invalid_wallet]" in err and "CID1:" not in out


def test_an_import_moves_the_counter_forward_and_keeps_used_credentials_used(
    world: dict[str, Any], tmp_path: Path
) -> None:
    path, backup = tmp_path / "wallet.cidw", tmp_path / "backup.cidw"
    save(path, PASS, fresh(world))
    export_backup(backup, BACKUP_PASS, Wallet(fresh(world).credentials, counter=1000))
    assert present(path, *trust(world, 1))[0] == 0
    assert unused(path) == 5
    code, out, err = cli(path, "import", str(backup))
    assert code == 0 and "0 credentials restored" in out, err
    assert unused(path) == 5  # the backup's copy of the spent credential does not bring it back
    assert json.loads(counter_path(path).read_text())["counter"] == 1001
    assert load(path, PASS).counter == 1001


# 3. The issuer's address: https, or http to this computer only.


def _offer(issuer: object, configurations: list[str] | None = None) -> str:
    document = {"credential_issuer": issuer, "credential_configuration_ids": configurations or ["residency"],
                "grants": {PRE_AUTHORIZED: {"pre-authorized_code": "c0de", "tx_code": {"length": 6}}}}  # fmt: skip
    return "openid-credential-offer://?credential_offer=" + quote(json.dumps(document))


@pytest.mark.parametrize(
    ("issuer", "accepted"),
    [
        ("https://id.riverton.example", True),
        ("https://id.riverton.example/", True),
        ("https://id.riverton.example:8443/tenant", True),
        ("http://127.0.0.1:8400", True),  # cityid demo, the end-to-end test, `issuer serve` by default
        ("http://localhost:8400", True),
        ("http://localhost", True),
        ("http://[::1]:8400", True),
        ("http://localhost.evil.example", False),  # the prefix test let these through
        ("http://127.0.0.1.evil.example", False),
        ("http://localhost@evil.example", False),
        ("http://127.0.0.1:80@evil.example", False),
        ("http://localhost:8400.evil.example", False),
        ("https://user:password@id.riverton.example", False),
        ("https://user@id.riverton.example", False),
        ("https://@id.riverton.example", False),
        ("http://id.riverton.example", False),
        ("http://127.0.0.2", False),
        ("http://0.0.0.0:8400", False),
        ("http://[::ffff:127.0.0.1]", False),
        ("http://localhost.", False),
        ("https://", False),
        ("https:///path", False),
        ("https://:443", False),
        ("https://id.riverton.example:99999", False),
        ("https://id.riverton.example:port", False),
        ("https://id.riverton.example#fragment", False),
        ("https://id.riverton.example?tenant=1", False),
        ("https://id.riverton.example/a b", False),
        ("https://id.riverton\n.example", False),
        ("https://id.riverton.example\\@evil.example", False),
        ("https://id.riverton.example/\u202e", False),
        ("ftp://id.riverton.example", False),
        ("file:///etc/passwd", False),
        ("javascript:alert(1)", False),
        ("id.riverton.example", False),
        ("//id.riverton.example", False),
        ("", False),
        (42, False),
        (None, False),
    ],
)
def test_the_offers_issuer_must_be_https_or_http_to_this_computer(issuer: object, accepted: bool) -> None:
    if accepted:
        assert parse_offer(_offer(issuer)).issuer == str(issuer).rstrip("/")
        return
    with pytest.raises(WalletError) as caught:
        parse_offer(_offer(issuer))
    assert caught.value.reason == "invalid_offer"


@pytest.mark.parametrize("configurations", [["passport"], ["residency", "residency"]])
def test_an_offer_for_an_unknown_or_repeated_type_is_refused(configurations: list[str]) -> None:
    with pytest.raises(WalletError) as caught:
        parse_offer(_offer("https://id.riverton.example", configurations))
    assert caught.value.reason == "invalid_offer"


# 4. One device key per credential, and each credential bound to exactly its key.

FAKE_ISSUER = "https://fake-issuer.example"


class FakeIssuer:
    """An issuer whose answers a test chooses: ``bind`` maps the wallet's keys (by type) to the
    keys its credentials are bound to. It signs with its own key, as any issuer an offer names."""

    def __init__(self, bind: Callable[[str, list[dict[str, Any]], dict[str, list[Any]]], list[Any]]) -> None:
        self.key = SigningKey.generate("ES256", kid="fake-1")
        self.bind = bind
        self.seen: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        path = request.url.path
        if path == "/.well-known/openid-credential-issuer":
            return httpx.Response(200, json={"credential_issuer": FAKE_ISSUER,
                                             "credential_endpoint": f"{FAKE_ISSUER}/credential"})  # fmt: skip
        if path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json={"issuer": FAKE_ISSUER, "token_endpoint": f"{FAKE_ISSUER}/token"})
        if path == "/.well-known/jwt-vc-issuer":
            return httpx.Response(
                200, json={"issuer": FAKE_ISSUER, "jwks": {"keys": [self.key.verifying_key().to_jwk()]}}
            )
        if path == "/token":
            return httpx.Response(200, json={"access_token": "t0ken", "c_nonce": "n0nce"})
        body = json.loads(request.content)
        configuration = body["credential_configuration_id"]
        wallet_keys = [json.loads(b64url_decode(proof.split(".")[0]))["jwk"] for proof in body["proofs"]["jwt"]]
        self.seen[configuration] = wallet_keys
        holders = self.bind(configuration, wallet_keys, self.seen)
        return httpx.Response(200, json={"credentials": [{"credential": self.issue(configuration, holder)}
                                                         for holder in holders]})  # fmt: skip

    def issue(self, configuration: str, holder: Any) -> str:
        if configuration == "residency":
            kind, claims = RESIDENCY, residency_claims("Riverton", dt.date(1990, 5, 17), dt.date.today())
        else:
            kind, claims = IDENTITY, {**enrolled(), "resident_of": "Riverton"}
        now = int(time.time())
        if isinstance(holder, dict) and "kty" in holder:
            return issue_credential(kind, claims, issuer_key=self.key, iss=FAKE_ISSUER, holder_jwk=holder, now=now)
        issued = issue_credential(kind, claims, issuer_key=self.key, iss=FAKE_ISSUER, holder_jwk=None, now=now)
        jwt, rest = issued.split("~", 1)
        header, payload = (json.loads(b64url_decode(part)) for part in jwt.split(".")[:2])
        return sign_jwt(header, {**payload, "cnf": holder}, self.key) + "~" + rest  # ``holder`` is the raw cnf


@pytest.fixture
def fake_client(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeIssuer], None]:
    """Route the CLI's HTTP client to a fake issuer."""
    real = httpx.Client

    def use(issuer: FakeIssuer) -> None:
        monkeypatch.setattr(httpx, "Client", lambda **_options: real(transport=httpx.MockTransport(issuer.handle)))

    return use


def _honest(_configuration: str, keys: list[dict[str, Any]], _seen: dict[str, list[Any]]) -> list[Any]:
    return keys


@pytest.mark.parametrize(
    ("bind", "mistake"),
    [
        (lambda c, keys, seen: [*keys[:-1], new_es256_key().public_jwk()], "a key this wallet did not make"),
        (lambda c, keys, seen: [keys[0], keys[0]], "another of this batch's keys"),
        (lambda c, keys, seen: keys[::-1], "another of this batch's keys"),
        (
            lambda c, keys, seen: [seen["residency"][0], *keys[1:]] if c == "identity" else keys,
            "another of this batch's keys",
        ),  # an identity credential on a residency key
        (lambda c, keys, seen: [{**keys[0], "alg": "ES256"}, *keys[1:]], "a key this wallet did not make"),
        (lambda c, keys, seen: ["not an object", *keys[1:]], "a key this wallet did not make"),
        (lambda c, keys, seen: [{"jwk": "x"}, *keys[1:]], "a key this wallet did not make"),
    ],
)
def test_a_credential_not_bound_to_exactly_its_own_device_key_refuses_the_whole_batch(
    world: dict[str, Any], tmp_path: Path, fake_client: Callable[[FakeIssuer], None],
    bind: Callable[..., list[Any]], mistake: str,
) -> None:  # fmt: skip
    path = tmp_path / "wallet.cidw"
    save(path, PASS, fresh(world))
    fake_client(FakeIssuer(bind))
    code, out, err = cli(path, "receive", _offer(FAKE_ISSUER, ["residency", "identity"]), "--pin", "123456",
                         "--count", "2")  # fmt: skip
    assert code == 1 and "[wrong_device_key]" in err and mistake in " ".join(err.split()), err
    assert "Received" not in out
    after = load(path, PASS)  # nothing of the batch is kept, not even the residency half, nor the offer
    assert after.credentials == fresh(world).credentials and after.pending == []


def test_a_wallet_with_no_file_keeps_nothing_from_a_refused_batch(
    tmp_path: Path, fake_client: Callable[[FakeIssuer], None]
) -> None:
    path = tmp_path / "wallet.cidw"
    fake_client(FakeIssuer(lambda c, keys, seen: [keys[0], keys[0]]))
    code, _out, err = cli(path, "receive", _offer(FAKE_ISSUER), "--pin", "123456", "--count", "2")
    assert code == 1 and "wrong_device_key" in err
    assert not path.exists() or load(path, PASS).credentials == []


def test_every_credential_of_a_grant_gets_its_own_device_key(
    tmp_path: Path, fake_client: Callable[[FakeIssuer], None]
) -> None:
    path = tmp_path / "wallet.cidw"
    fake_client(FakeIssuer(_honest))
    code, out, err = cli(path, "receive", _offer(FAKE_ISSUER, ["residency", "identity"]), "--pin", "123456",
                         "--count", "3")  # fmt: skip
    assert code == 0 and "3 residency, 3 identity" in out, err
    stored = load(path, PASS).credentials
    keys = {json.dumps(entry["device_key"], sort_keys=True) for entry in stored}
    assert len(stored) == len(keys) == 6
    for entry in stored:
        bound = parse_issued(entry["credential"]).payload["cnf"]["jwk"]
        assert bound == {name: entry["device_key"][name] for name in ("kty", "crv", "x", "y")}


def test_a_repeated_device_key_stops_the_grant_before_anything_is_sent() -> None:
    issuer = FakeIssuer(_honest)
    same = SigningKey.generate("ES256")
    client = httpx.Client(transport=httpx.MockTransport(issuer.handle))
    with pytest.raises(WalletError) as caught:
        receive(parse_offer(_offer(FAKE_ISSUER, ["residency", "identity"])), "123456", count=2, client=client,
                new_key=lambda: same)  # fmt: skip
    assert caught.value.reason == "device_key_reused"
    assert issuer.requests == []
    counter = iter([same, SigningKey.generate("ES256"), same])  # across the two types, too
    with pytest.raises(WalletError) as caught:
        receive(parse_offer(_offer(FAKE_ISSUER, ["residency", "identity"])), "123456", count=2, client=client,
                new_key=lambda: next(counter, SigningKey.generate("ES256")))  # fmt: skip
    assert caught.value.reason == "device_key_reused" and issuer.requests == []


@pytest.mark.parametrize("endpoint", ["token_endpoint", "credential_endpoint"])
def test_the_pin_and_the_keys_go_only_to_secure_endpoints(endpoint: str) -> None:
    issuer = FakeIssuer(_honest)

    def handle(request: httpx.Request) -> httpx.Response:
        response = issuer.handle(request)
        if request.url.path.startswith("/.well-known/o"):
            body = json.loads(response.content)
            if endpoint in body:
                body[endpoint] = "http://evil.example/steal"
            return httpx.Response(200, json=body)
        return response

    client = httpx.Client(transport=httpx.MockTransport(handle))
    with pytest.raises(WalletError) as caught:
        receive(parse_offer(_offer(FAKE_ISSUER)), "123456", count=1, client=client)
    assert caught.value.reason == "invalid_issuer_metadata"
    assert not [line for line in issuer.requests if line.startswith("POST")]
