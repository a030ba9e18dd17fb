"""`cityid verify` without Typer (verifier/quickverify.py) is the Typer command, only sooner.

Its options are the Typer command's (read from the command object itself); what it is not sure
of goes to Typer; run through the real entry point, it prints byte for byte what the Typer
command prints, with the same exit status, in every environment tried; and its plain-text
panel is Rich's, for many results and widths, or it leaves the printing to Rich.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from support import ISS, Keys, issue_residency, make_keys, present_to_desk

import edges.console
import verifier.cli
from cityid.cli import COMMANDS, load
from credential import (
    IDENTITY,
    StatusList,
    StatusReference,
    VerifiedPresentation,
    encode_qr_text,
    issue_credential,
    present,
    sign_status_list,
)
from verifier.quickverify import (
    INPUT,
    VERIFY_OPTIONS,
    VerifyArguments,
    parse_verify_arguments,
    plain_text,
    rich_plain_width,
    show_with_rich,
)

KINDS = {str: "text", Path: "path", list[Path]: "path", int: "count", bool: "flag"}


def test_the_fast_parser_has_exactly_the_typer_commands_options() -> None:
    """Adding, renaming or changing an option in one of the two without the other fails here."""
    command = load("verify", COMMANDS["verify"])
    argument, *options = command.params
    assert (argument.name, argument.param_type_name, argument.required, argument.nargs) == (INPUT, "argument", True, 1)
    typer_side = {
        option.name: (option.opts, option.secondary_opts, KINDS[option.type_descriptor.annotation], option.default,
                      option.min, option.max, option.multiple, option.required, option.envvar)
        for option in options
    }  # fmt: skip
    fast_side = {
        spec.name: ([spec.flag], [], spec.kind, spec.default, spec.minimum, None, spec.repeatable, spec.required, None)
        for spec in VERIFY_OPTIONS
    }
    assert fast_side == typer_side
    assert [option.is_flag for option in options] == [spec.kind == "flag" for spec in VERIFY_OPTIONS]


def test_the_typer_command_hands_every_parameter_on() -> None:
    parameters = inspect.signature(verifier.cli.verify).parameters
    assert list(VerifyArguments._fields) == list(parameters) == [INPUT, *(spec.name for spec in VERIFY_OPTIONS)]
    defaults = {spec.name: spec.default for spec in VERIFY_OPTIONS if not spec.required}
    assert VerifyArguments._field_defaults == defaults


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["P", "--issuer-jwks", "k"], {}),
        (["--issuer-jwks=k", "P"], {}),
        (["-", "--issuer-jwks", "k"], {"proof": "-"}),
        (["P", "--issuer-jwks", "k", "--nonce", "n", "--audience=desk:a", "--json"],
         {"nonce": "n", "audience": "desk:a", "as_json": True}),
        (["--nonce=", "P", "--issuer-jwks", "k"], {"nonce": ""}),
        (["P", "--issuer-jwks", "k", "--status", "a", "--status=b", "--paper"],
         {"status_lists": [Path("a"), Path("b")], "paper": True}),
        (["P", "--issuer-jwks", "k", "--max-age", "0", "--max-status-age=007"], {"max_age": 0, "max_status_age": 7}),
        (["P", "--issuer-jwks", "k", "--nonce", "-"], {"nonce": "-"}),
    ],
)  # fmt: skip
def test_the_fast_parser_reads_what_typer_reads(arguments: list[str], expected: dict[str, Any]) -> None:
    proof = expected.pop("proof", "P")
    assert parse_verify_arguments(arguments) == VerifyArguments(proof, Path("k"), **expected)


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["P"],  # --issuer-jwks is required
        ["P", "Q", "--issuer-jwks", "k"],
        ["P", "--issuer-jwks"],
        ["P", "--issuer-jwks", "k", "--help"],
        ["--help"],
        ["P", "--issuer-jwks", "k", "--"],
        ["P", "--issuer-jwks", "k", "--nonce", "a", "--nonce", "b"],
        ["P", "--issuer-jwks", "k", "--json", "--json"],
        ["P", "--issuer-jwks", "k", "--json=1"],
        ["P", "--issuer-jwks", "k", "--nonce", "--json"],
        ["P", "--issuer-jwks", "k", "--max-age", "-1"],
        ["P", "--issuer-jwks", "k", "--max-age", "+5"],
        ["P", "--issuer-jwks", "k", "--max-age", " 5"],
        ["P", "--issuer-jwks", "k", "--max-age", "1_000"],
        ["P", "--issuer-jwks", "k", "--max-age", "٣"],
        ["P", "--issuer-jwks", "k", "--max-age", "ten"],
        ["P", "--issuer-jwks", "k", "--max-ag", "5"],
        ["P", "--issuer-jwks", "k", "-x"],
        ["-P", "--issuer-jwks", "k"],
    ],
)
def test_what_the_fast_parser_is_not_sure_of_goes_to_typer(arguments: list[str]) -> None:
    assert parse_verify_arguments(arguments) is None


# ---- the real entry point against the Typer command, byte for byte ----------------------------

FAST = "import sys, json; sys.argv = ['cityid', *json.loads(sys.argv[1])]; from cityid.cli import main; main()"
TYPER = (
    "import sys, json; sys.argv = ['cityid', *json.loads(sys.argv[1])]\n"
    "from edges.console import tolerate_unencodable_output\nfrom edges.exits import exit_on_interrupt\n"
    "from cityid.cli import app\ntolerate_unencodable_output(); exit_on_interrupt(); app()"
)
"""``main()`` as it was: every command through Typer."""
SETTINGS = {"COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TERM", "LANG", "LC_ALL", "LC_MESSAGES"}
CLEAN = {name: value for name, value in os.environ.items() if name not in SETTINGS}
"""This environment without what decides how Rich prints and in which language (each test sets its own)."""


def run(script: str, folder: Path, arguments: list[str], env: dict[str, str], stdin: bytes) -> tuple[int, bytes, bytes]:
    done = subprocess.run([sys.executable, "-c", script, json.dumps(arguments)], cwd=folder, input=stdin,
                          capture_output=True, env={**CLEAN, **env}, timeout=120, check=False)  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Files and texts for `cityid verify`: keys, valid proofs, a status list revoking one."""
    folder = tmp_path_factory.mktemp("desk")
    keys, now = make_keys(), int(time.time())
    (folder / "issuer.jwks").write_text(json.dumps(keys.trusted.to_jwks()))
    uri = f"{ISS}/status/1"
    listed = StatusList(1, bytes([0b1000]) + bytes(15))  # index 3 revoked
    (folder / "status.jwt").write_text(sign_status_list(listed, keys.issuer, uri=uri, now=now, lifetime=3600, ttl=60))
    residency = [issue_credential_at(keys, now, index) for index in (2, 3)]
    identity = issue_credential(
        IDENTITY,
        {"given_name": "Zoë", "family_name": "Ñúñez-Łukasiewicz", "birthdate": "1990-02-28",
         "address": {"street_address": "1 Main St", "locality": "Riverton", "region": "RV", "postal_code": "01234",
                     "country": "US"}, "resident_of": "Riverton"},
        issuer_key=keys.issuer, iss=ISS, holder_jwk=keys.holder.public_jwk(), now=now,
    )  # fmt: skip
    asked = {"now": now, "nonce": "n0nce-for-the-desk", "audience": "desk:library"}
    texts = {
        "valid": encode_qr_text(present_to_desk(keys, residency[0], **asked)),
        "revoked": encode_qr_text(present_to_desk(keys, residency[1], **asked)),
        "identity": encode_qr_text(present(identity, disclose=IDENTITY_SHOWN, holder_key=keys.holder, **asked)),
        "nothing": encode_qr_text(present_to_desk(keys, residency[0], disclose=[], **asked)),
    }
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text + "\n")
    return {"folder": str(folder), **texts}


IDENTITY_SHOWN = ["given_name", "family_name", "address", "birthdate"]


def issue_credential_at(keys: Keys, now: int, index: int) -> str:
    return issue_residency(keys, now=now, status=StatusReference(index, f"{ISS}/status/1"))


DESK = ["--issuer-jwks", "issuer.jwks", "--nonce", "n0nce-for-the-desk", "--audience", "desk:library"]
CASES = {
    "valid": ["valid.txt", *DESK],
    "valid, json": ["valid.txt", *DESK, "--json"],
    "valid, options first": [*DESK, "--max-age=600", "valid.txt"],
    "valid, status checked": ["valid.txt", *DESK, "--status", "status.jwt"],
    "revoked": ["revoked.txt", *DESK, "--status=status.jwt"],
    "revoked, json": ["revoked.txt", *DESK, "--status", "status.jwt", "--json"],
    "non-ASCII claims": ["identity.txt", *DESK],
    "nothing disclosed": ["nothing.txt", *DESK],
    "from standard input": ["-", *DESK],
    "wrong nonce (a long refusal)": ["valid.txt", *DESK, "--nonce", "another"],
    "wrong audience": ["valid.txt", *DESK, "--audience", "desk:pool"],
    "no request": ["valid.txt", "--issuer-jwks", "issuer.jwks"],
    "paper, no request": ["valid.txt", "--issuer-jwks", "issuer.jwks", "--paper"],
    "no such file": ["missing.txt", *DESK],
    "no such keys": ["valid.txt", "--issuer-jwks", "none.jwks", "--nonce", "n", "--audience", "a", "--json"],
    "not a proof": ["hello", *DESK],
    "help": ["--help"],
    "unknown option": ["valid.txt", *DESK, "--colour"],
    "missing value": ["valid.txt", *DESK, "--max-age"],
    "negative bound": ["valid.txt", *DESK, "--max-age", "-5"],
    "no INPUT": DESK,
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_entry_point_prints_what_the_typer_command_prints(desk: dict[str, str], case: str) -> None:
    folder, stdin = Path(desk["folder"]), desk["valid"].encode()
    arguments = ["verify", *CASES[case]]
    assert run(FAST, folder, arguments, {}, stdin) == run(TYPER, folder, arguments, {}, stdin)


@pytest.mark.parametrize("case", ["valid", "valid, json", "wrong audience"])
def test_the_same_into_a_closed_pipe(desk: dict[str, str], case: str) -> None:
    """`cityid verify ... | head -0`: what Rich (the panel) and Click (--json) do then."""
    arguments = json.dumps(["verify", *CASES[case]])
    answers = []
    for script in (FAST, TYPER):
        reader, writer = os.pipe()
        os.close(reader)
        done = subprocess.run([sys.executable, "-c", script, arguments], cwd=desk["folder"], stdin=subprocess.DEVNULL,
                              stdout=writer, stderr=subprocess.PIPE, env=CLEAN, timeout=120, check=False)  # fmt: skip
        os.close(writer)
        answers.append((done.returncode, done.stderr))
    assert answers[0] == answers[1]
    assert answers[0][0] == 1


ENVIRONMENTS = {
    "narrow": {"COLUMNS": "40"},
    "exactly the panel": {"COLUMNS": "60"},
    "wide": {"COLUMNS": "200"},
    "no colour": {"NO_COLOR": "1"},
    "forced colour": {"FORCE_COLOR": "1"},
    "forced colour, narrow": {"FORCE_COLOR": "1", "COLUMNS": "30"},
    "tty compatible": {"TTY_COMPATIBLE": "1"},
    "not tty compatible": {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
    "dumb terminal": {"TERM": "dumb", "FORCE_COLOR": "1"},
    "Spanish": {"LANG": "es_ES.UTF-8"},
    "Chinese": {"LANG": "zh_CN.UTF-8", "COLUMNS": "50"},
    "ASCII output": {"PYTHONIOENCODING": "ascii"},
}


@pytest.mark.parametrize("environment", list(ENVIRONMENTS))
@pytest.mark.parametrize("case", ["valid", "non-ASCII claims", "wrong audience", "wrong nonce (a long refusal)"])
def test_the_same_in_every_environment(desk: dict[str, str], environment: str, case: str) -> None:
    folder, arguments = Path(desk["folder"]), ["verify", *CASES[case]]
    env = ENVIRONMENTS[environment]
    assert run(FAST, folder, arguments, env, b"") == run(TYPER, folder, arguments, env, b"")


def run_in_terminal(script: str, folder: Path, arguments: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Exit status and what reached a pseudo-terminal of 100 columns (styles and colours)."""
    leader, follower = pty.openpty()
    os.set_blocking(leader, False)
    command = [sys.executable, "-c", script, json.dumps(arguments)]
    environment = {**CLEAN, "COLUMNS": "100", **env}
    with subprocess.Popen(command, cwd=folder, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                          env=environment) as process:  # fmt: skip
        os.close(follower)
        code = process.wait(timeout=120)
    printed = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        printed += chunk
    os.close(leader)
    return code, printed


@pytest.mark.parametrize("environment", [{}, {"NO_COLOR": "1"}, {"TERM": "dumb"}, {"TTY_COMPATIBLE": "0"}])
@pytest.mark.parametrize("case", ["valid", "wrong audience"])
def test_the_same_on_a_terminal(desk: dict[str, str], environment: dict[str, str], case: str) -> None:
    folder, arguments = Path(desk["folder"]), ["verify", *CASES[case]]
    fast = run_in_terminal(FAST, folder, arguments, environment)
    assert fast == run_in_terminal(TYPER, folder, arguments, environment)
    assert fast[1]


# ---- the plain renderer against Rich, in-process, for many results ------------------------------


def rich_prints(result: dict[str, Any], verified: VerifiedPresentation | None, environ: dict[str, str]) -> str:
    """What ``show_with_rich`` writes through a console made as ``edges.console`` makes it."""
    written = io.StringIO()
    with mock.patch.dict(os.environ, environ, clear=True):
        console = Console(highlight=False, file=written)
    with mock.patch.object(edges.console, "console", console, create=True):
        show_with_rich(result, verified)
    return written.getvalue()


def one_cell_texts() -> st.SearchStrategy[str]:
    """Text the plain renderer lays out itself: ASCII, Latin, Greek, Cyrillic, box drawing."""
    return st.text(st.characters(codec="utf-8", min_codepoint=0x20, max_codepoint=0x4FF), max_size=40)


def any_texts() -> st.SearchStrategy[str]:
    return st.one_of(one_cell_texts(), st.text(max_size=40))


containers = st.one_of(st.dictionaries(one_cell_texts(), one_cell_texts(), max_size=2),
                       st.lists(one_cell_texts(), max_size=2))  # fmt: skip
values = st.one_of(any_texts(), st.booleans(), st.integers(), st.none(), containers)
vcts = st.one_of(st.sampled_from(["urn:cityid:residency:1", "urn:cityid:identity:1",
                                  "https://id.riverton.example/types/residency/1"]), any_texts())  # fmt: skip
claim_names = st.one_of(st.sampled_from(["resident_of", "age_over_18", "given_name", "address"]), any_texts())
verified_presentations = st.builds(
    VerifiedPresentation,
    issuer=st.one_of(st.just(ISS), any_texts()),
    vct=vcts,
    kid=st.just("k1"),
    claims=st.dictionaries(claim_names, values, max_size=5),
    disclosed=st.just(()),
    issued_at=st.none(),
    expires_at=st.none(),
    status=st.none(),
    holder_jwk=st.none(),
    key_bound=st.booleans(),
)
widths = st.one_of(st.integers(0, 200), st.sampled_from([40, 60, 80, 100]))


@settings(max_examples=400, deadline=None)
@given(verified=verified_presentations, status=st.sampled_from(["valid", "unchecked", "none", None]), width=widths)
def test_the_plain_panel_is_richs(verified: VerifiedPresentation, status: str | None, width: int) -> None:
    result = {"valid": True, "reason": "ok", "message": "The proof is valid.", "status": status}
    environ = {"COLUMNS": str(width)}
    plain = plain_text(result, verified, io.StringIO(), environ)
    assert plain is None or plain == rich_prints(result, verified, environ)


@settings(max_examples=300, deadline=None)
@given(
    reason=st.one_of(st.sampled_from(["nonce_mismatch", "revoked", "unknown_key", "usage_error"]), any_texts()),
    message=st.one_of(any_texts(), st.text(st.sampled_from("ab c"), max_size=120)),
    width=widths,
    language=st.sampled_from(["", "es_ES.UTF-8", "ar_EG.UTF-8"]),
)
def test_the_plain_refusal_is_richs(reason: str, message: str, width: int, language: str) -> None:
    result = {"valid": False, "reason": reason, "message": message, "status": None}
    environ = {"COLUMNS": str(width), "LANG": language}
    with mock.patch.dict(os.environ, {"LANG": language}):
        plain = plain_text(result, None, io.StringIO(), environ)
        assert plain is None or plain == rich_prints(result, None, environ)


def test_an_everyday_answer_is_printed_without_rich() -> None:
    verified = VerifiedPresentation(ISS, "urn:cityid:residency:1", "k1", {"resident_of": "Zürich", "age_over_18": True},
                                    (), None, None, None, None, True)  # fmt: skip
    result = {"valid": True, "reason": "ok", "message": "The proof is valid.", "status": "unchecked"}
    for environ in ({}, {"COLUMNS": "80"}, {"NO_COLOR": "1"}):
        with mock.patch("os.get_terminal_size", side_effect=OSError):
            assert plain_text(result, verified, io.StringIO(), environ) == rich_prints(result, verified, environ)
    refused = {"valid": False, "reason": "revoked", "message": "the credential has been revoked", "status": None}
    assert (
        plain_text(refused, None, io.StringIO(), {"COLUMNS": "80"})
        == "✘ NOT VALID  revoked\nThis ID has been cancelled.\n"
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Latin1(io.StringIO):
    encoding = "latin-1"


@pytest.mark.parametrize(
    ("stream", "environ", "width"),
    [
        (io.StringIO(), {"COLUMNS": "123"}, 123),
        (io.StringIO(), {"COLUMNS": "0"}, 0),
        (Terminal(), {"COLUMNS": "123"}, None),
        (Terminal(), {"TTY_COMPATIBLE": "0", "COLUMNS": "50"}, 50),
        (io.StringIO(), {"TTY_COMPATIBLE": "1"}, None),
        (io.StringIO(), {"FORCE_COLOR": "1"}, None),
        (io.StringIO(), {"FORCE_COLOR": "", "COLUMNS": "70"}, 70),
        (Latin1(), {"COLUMNS": "80"}, None),
        (None, {}, None),
    ],
)
def test_rich_writes_plain_text_only_where_it_says(stream: io.StringIO | None, environ: dict[str, str],
                                                   width: int | None) -> None:  # fmt: skip
    assert rich_plain_width(stream, environ) == width
