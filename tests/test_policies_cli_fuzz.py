"""Hostile registries and desk requests at the CLI: exit 1 or 2 with a reason, never a traceback."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_support import CLEAN
from typer.testing import CliRunner

from cityid.cli import app
from credential import REQUEST_PREFIX, encode_request_text, new_request
from edges.keyfile import new_es256_key, public_jwks
from policies import default_catalogue, sign_registry

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("trust")
    key = new_es256_key()
    now = int(time.time())
    token = sign_registry(
        [CLEAN], key, issuer="Board", version=1, now=now, lifetime=86_400, catalogue=default_catalogue()
    )
    (folder / "registry.jwt").write_text(token)
    (folder / "board.jwks").write_text(json.dumps(public_jwks(key)))
    return {"registry": folder / "registry.jwt", "jwks": folder / "board.jwks", "folder": folder}


def _run(*arguments: str) -> tuple[int, dict[str, object]]:
    result = RUNNER.invoke(app, list(arguments))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.output)


@settings(max_examples=150)
@given(tail=st.text(max_size=160))
def test_any_request_text_is_refused_with_a_reason(trust: dict[str, Path], tail: str) -> None:
    code, parsed = _run(
        "policies", "check", REQUEST_PREFIX + tail, "--registry", str(trust["registry"]),
        "--board-jwks", str(trust["jwks"]), "--json",
    )  # fmt: skip
    assert code in {1, 2} and parsed["valid"] is False and parsed["reason"] != "internal_error"


@settings(max_examples=100)
@given(data=st.binary(max_size=3000))
def test_any_registry_file_is_refused_with_a_reason(trust: dict[str, Path], data: bytes) -> None:
    path = trust["folder"] / "fuzzed.jwt"
    path.write_bytes(data)
    code, parsed = _run("policies", "verify", str(path), "--board-jwks", str(trust["jwks"]), "--json")
    assert code == 1 and parsed["reason"] != "internal_error"


def test_the_fixture_registry_verifies(trust: dict[str, Path]) -> None:
    code, parsed = _run("policies", "verify", str(trust["registry"]), "--board-jwks", str(trust["jwks"]), "--json")
    assert code == 0 and parsed["policies"] == ["library-card"]


def test_a_request_in_a_file_with_a_newline_is_accepted(trust: dict[str, Path]) -> None:
    request = new_request(
        policy="library-card", claims=("resident_of",), audience="desk:lib", now=int(time.time()), lifetime=300,
        random_bytes=bytes(16),
    )  # fmt: skip
    path = trust["folder"] / "request.txt"
    path.write_text("\n" + encode_request_text(request) + "\r\n")
    code, parsed = _run(
        "policies", "check", str(path), "--registry", str(trust["registry"]), "--board-jwks", str(trust["jwks"]),
        "--json",
    )  # fmt: skip
    assert code == 0, parsed
