"""`cityid verify` and `cityid verifier check` start without the rest of cityid: through the real
entry point (``cityid.cli.main``), they load no web framework, database driver, HTTP client or
another role's code, and Pillow and zxing only when the proof is a picture. `cityid verify` of a
text proof does not load Typer, Click or Rich either (verifier/quickverify.py), nor the parts of
the credential package that it does not use. ``cityid --help`` still lists every command, from
summaries that match the commands' own help."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import Keys, issue_residency, make_keys, present_to_desk

import credential
from cityid.cli import COMMANDS, load
from credential import (
    StatusList,
    StatusReference,
    encode_qr_text,
    encode_request_text,
    present,
    sign_jwt,
    sign_status_list,
)
from edges.keyfile import new_es256_key, public_jwks
from edges.qrimage import make_qr, to_png
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry
from verifier.engine import Desk
from verifier.sync import TRUST_TYP, load_trust, sync

NOT_FOR_A_DESK = ("fastapi", "starlette", "sqlalchemy", "uvicorn", "alembic", "psycopg", "psycopg2", "httpx",
                  "issuer", "wallet", "policies.cli")  # fmt: skip
IMAGE_READERS = ("PIL", "zxingcpp")
COMMAND_LINE_TOOLKITS = ("typer", "click", "rich", "pydantic", "pydantic_core")
"""What the fast path of `cityid verify` does without (Typer carries its own Click, under typer)."""
NOT_FOR_VERIFYING = ("credential._status", "credential._request", "credential._qrparse", "credential._issue",
                     "credential._present", "cryptography.hazmat.primitives.serialization", "edges.i18n",
                     "edges.words", "verifier.cli", "verifier.engine", "verifier.sync")  # fmt: skip
"""Parts of cityid a valid text proof does not need: status lists (no --status), desk requests,
issuance and presentation, cryptography's key serialization, the desk engine's parser, the
words for refusals, the Typer command."""
ISS = "https://id.riverton.example"

_RUN = """
import json, sys
record, arguments = sys.argv[1], json.loads(sys.argv[2])
from cityid.cli import main
sys.argv = ["cityid", *arguments]
try:
    main()
finally:
    with open(record, "w") as file:
        json.dump(sorted(sys.modules), file)
"""


def run_cityid(tmp_path: Path, *arguments: str, exit_status: int = 0) -> tuple[str, list[str]]:
    """What the command printed, and every module loaded by the time it exited."""
    record = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", _RUN, str(record), json.dumps(arguments)], stdin=subprocess.DEVNULL,
                          cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert done.returncode == exit_status, done.stdout + done.stderr
    return done.stdout, json.loads(record.read_text())


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [module for module in modules if module in names or module.startswith(tuple(f"{n}." for n in names))]


@pytest.fixture
def desk_proof(tmp_path: Path) -> list[str]:
    """`cityid verify` arguments for a valid proof, given as QR text on the command line."""
    keys, now = make_keys(), int(time.time())
    (tmp_path / "issuer.jwks").write_text(json.dumps(keys.trusted.to_jwks()))
    proof = encode_qr_text(present_to_desk(keys, issue_residency(keys, now=now), now=now))
    (tmp_path / "proof.png").write_bytes(to_png(make_qr(proof)))
    return [proof, "--issuer-jwks", "issuer.jwks", "--nonce", "n0nce-for-the-desk", "--audience", "desk:library"]


def test_verify_of_a_text_proof_loads_no_web_database_image_or_other_role_code(
    tmp_path: Path, desk_proof: list[str]
) -> None:
    printed, modules = run_cityid(tmp_path, "verify", *desk_proof, "--json")
    answer = json.loads(printed)
    assert answer["valid"] is True, answer
    assert loaded(modules, NOT_FOR_A_DESK + IMAGE_READERS) == []


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["panel", "json"])
def test_verify_of_a_text_proof_loads_no_typer_click_rich_or_unused_part(
    tmp_path: Path, desk_proof: list[str], output: list[str]
) -> None:
    printed, modules = run_cityid(tmp_path, "verify", *desk_proof, *output)
    assert ("✔ VALID" in printed) if not output else json.loads(printed)["valid"], printed
    assert loaded(modules, COMMAND_LINE_TOOLKITS + NOT_FOR_VERIFYING + NOT_FOR_A_DESK + IMAGE_READERS) == []


def test_a_refused_text_proof_loads_no_typer_click_or_rich(tmp_path: Path, desk_proof: list[str]) -> None:
    printed, modules = run_cityid(tmp_path, "verify", *desk_proof[:-1], "desk:pool", exit_status=1)
    assert printed == "✘ NOT VALID  audience_mismatch\nThis code was made for another desk.\n"
    assert loaded(modules, COMMAND_LINE_TOOLKITS + NOT_FOR_A_DESK + IMAGE_READERS) == []


def test_what_the_fast_path_is_not_sure_of_goes_through_typer(tmp_path: Path, desk_proof: list[str]) -> None:
    printed, modules = run_cityid(tmp_path, "verify", "--help")
    assert "Usage" in printed and "--issuer-jwks" in printed
    assert "typer" in modules


def test_the_credential_package_loads_a_submodule_when_one_of_its_names_is_used() -> None:
    code = (
        "import credential, sys; before = sorted(sys.modules); from credential import KeySet; "
        "print(sorted(m for m in sys.modules if m.startswith('credential')), before.count('credential._keys'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["['credential',", "'credential._encoding',", "'credential._errors',",
                                   "'credential._keys',", "'credential._limits']", "0"]  # fmt: skip


def test_the_credential_package_names_each_public_name_once_for_type_checkers_and_for_loading() -> None:
    """`credential/__init__.py` lists every name three times: for mypy (imports under
    TYPE_CHECKING), for loading (the submodule that defines it) and in __all__."""
    tree = ast.parse(Path(credential.__file__).read_text())
    checked = next(node for node in tree.body if isinstance(node, ast.If))
    imported = {
        alias.name: f"_{node.module.lstrip('_')}"
        for node in checked.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    homes = {name: module for module, names in credential._DEFINED_IN.items() for name in names}
    assert imported == homes
    assert sorted(homes) == sorted(credential.__all__)
    for name, module in homes.items():
        assert getattr(credential, name) is getattr(importlib.import_module(f"credential.{module}"), name)


def test_verify_of_a_photo_loads_the_image_readers_and_nothing_else_extra(
    tmp_path: Path, desk_proof: list[str]
) -> None:
    printed, modules = run_cityid(tmp_path, "verify", "proof.png", *desk_proof[1:], "--json")
    answer = json.loads(printed)
    assert answer["valid"] is True, answer
    assert loaded(modules, IMAGE_READERS) and loaded(modules, NOT_FOR_A_DESK) == []


def _synced_desk(data: Path, keys: Keys, now: int) -> None:
    """A desk's trust as `cityid verifier sync` stores it, from a trust package made here."""
    board = new_es256_key()
    chosen = [lp.policy for lp in load_policies([bundled_catalog()]) if lp.policy and lp.policy.id == "library-card"]
    registry = sign_registry(chosen, board, issuer="Board", version=1, now=now, lifetime=86_400,
                             catalogue=default_catalogue())  # fmt: skip
    issuer, uri = keys.issuer, f"{ISS}/status/1"
    payload = {"iss": ISS, "iat": now, "exp": now + 86_400, "jwks": keys.trusted.to_jwks(),
               "status_lists": [uri], "policy_registry": registry}  # fmt: skip
    bundle = sign_jwt({"alg": issuer.alg, "typ": TRUST_TYP, "kid": issuer.kid}, payload, issuer)
    status_list = sign_status_list(StatusList(1, bytes(16)), issuer, uri=uri, now=now, lifetime=86_400, ttl=300)
    package = {"bundle": bundle, "status_lists": {uri: status_list}}
    (data.parent / "package.json").write_text(json.dumps(package))
    sync(str(data.parent / "package.json"), data, fetch=lambda url: "", now=now, issuer_jwks=keys.trusted.to_jwks(),
         board_jwks=public_jwks(board))  # fmt: skip


def test_verifier_check_loads_no_web_database_image_or_other_role_code(tmp_path: Path) -> None:
    keys, now = make_keys(), int(time.time())
    _synced_desk(tmp_path / "desk", keys, now)
    request = Desk(load_trust(tmp_path / "desk")).new_request("library-card", audience="desk:lib", now=now)
    issued = issue_residency(keys, now=now, status=StatusReference(3, f"{ISS}/status/1"))
    proof = present(issued, disclose=list(request.claims), holder_key=keys.holder, audience=request.audience,
                    nonce=request.nonce, now=now)  # fmt: skip
    printed, modules = run_cityid(tmp_path, "verifier", "check", encode_qr_text(proof), "--request",
                                  encode_request_text(request), "--data", "desk", "--json")  # fmt: skip
    answer = json.loads(printed)
    assert answer["valid"] is True and answer["claims"] == {"resident_of": "Riverton"}, answer
    assert loaded(modules, NOT_FOR_A_DESK + IMAGE_READERS) == []


def test_the_root_help_lists_every_command_without_loading_one(tmp_path: Path) -> None:
    printed, modules = run_cityid(tmp_path, "--help")
    for name, lazy in COMMANDS.items():
        row = next(line for line in printed.splitlines() if line.startswith(f"│ {name} "))
        assert " ".join(lazy.summary.split()[:3]) in row, printed
    assert loaded(modules, ("cityid.demo", "verifier", "issuer", "wallet", "policies", *IMAGE_READERS)) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_help_summary_kept_in_the_root_is_the_commands_own(name: str) -> None:
    """`cityid --help` lists the summaries in cityid/cli.py without loading the commands: each
    is the first paragraph of the help the command itself has."""
    own = inspect.cleandoc(load(name, COMMANDS[name]).help or "").split("\n\n")[0]
    assert COMMANDS[name].summary == " ".join(own.split())
