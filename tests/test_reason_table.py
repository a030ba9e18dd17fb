"""docs/reason-codes.md's table of every reason, its exit status and the words people read,
checked against the code: ``edges.exits.exit_code`` for the status, ``edges.words`` and the
catalogs for the words, and every reason the code base can raise for the rows. Real commands
then show that the table is what happens.

Run as a script to print rows for reasons the table lacks (or for the reasons named)::

    python tests/test_reason_table.py [REASON...]
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from desk_support import make_world
from issuer_support import running_issuer

from credential import Reason
from edges.exits import exit_code
from edges.i18n import LANGUAGES, translator
from edges.keyfile import new_es256_key, public_jwks
from edges.words import desk_words, refusal

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "reason-codes.md"
TABLE_START = "<!-- reason table: one row per reason and reader; add new rows at its end -->"
PACKAGES = ("cityid", "credential", "edges", "issuer", "policies", "verifier", "wallet")
NO_WORDS = "—"
"""A message cell for a reason with no plain words: the error's own message is shown."""

RAISERS = frozenset(
    {"WalletError", "IssuerError", "SyncError", "InputError", "QrImageError", "IssuerUnreachable", "_Refused",
     "_fail", "_refused", "FingerprintError"}
)  # fmt: skip
"""What the code base passes a reason string to: its error types and their helpers."""
NOT_REASONS = frozenset({"ok"})
READERS = {"resident": refusal, "desk staff": desk_words}


def _constants(node: ast.AST | None) -> list[str]:
    """The reason strings an expression can be: a constant, or either side of ``a if c else b``."""
    if isinstance(node, ast.IfExp):
        return _constants(node.body) + _constants(node.orelse)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
        return [node.value] if node.value == node.value.lower() else []
    return []


def reasons_in(source: str) -> set[str]:
    """Reason strings in Python ``source``: the first reason-like string given to an error type
    (``WalletError("no_wallet", ...)``, ``_fail(_, "usage_error", ...)``), ``reason=...`` and
    ``reason = ...``, and ``{"reason": ...}``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in RAISERS:
                found += next((_constants(arg) for arg in node.args if _constants(arg)), [])
            for keyword in node.keywords:
                found += _constants(keyword.value) if keyword.arg == "reason" else []
        elif isinstance(node, ast.Assign) and any(
            getattr(target, "id", getattr(target, "attr", None)) == "reason" for target in node.targets
        ):
            found += _constants(node.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "reason":
                    found += _constants(value)
    return set(found) - NOT_REASONS


def code_reasons() -> set[str]:
    """Every reason the code base can give: ``credential.Reason`` and what its shells raise."""
    found = {reason.value for reason in Reason}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found |= reasons_in(path.read_text(encoding="utf-8"))
    return found


def rows(reason: str) -> list[list[str]]:
    """The table's rows for ``reason``: one per reader with plain words for it, else one without."""
    made = []
    for reader, words in READERS.items():
        if words(translator("en"), reason) is not None:
            made.append([f"`{reason}`", str(exit_code(reason)), reader,
                         *(words(translator(language), reason) or "" for language in LANGUAGES)])  # fmt: skip
    return made or [[f"`{reason}`", str(exit_code(reason)), NO_WORDS, *(NO_WORDS for _ in LANGUAGES)]]


def markdown(row: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"


def documented() -> list[list[str]]:
    """The table's rows as cells: every row after the marker, its header and rule (the table
    ends the file, so rows appended below a blank line still count)."""
    lines = TABLE.read_text(encoding="utf-8").split(TABLE_START, 1)[1].strip().splitlines()[2:]
    return [[cell.strip().replace("\\|", "|") for cell in line.strip().strip("|").split(" | ")]
            for line in lines if line.startswith("|")]  # fmt: skip


def test_the_table_has_a_column_per_language_and_well_formed_rows() -> None:
    header = TABLE.read_text(encoding="utf-8").split(TABLE_START, 1)[1].strip().splitlines()[0]
    assert header == markdown(["reason", "exit", "read by", *LANGUAGES])
    for row in documented():
        assert len(row) == 3 + len(LANGUAGES), row
        assert row[0].startswith("`") and row[0].endswith("`"), row
        assert row[2] in {*READERS, NO_WORDS}, row


def test_each_documented_exit_status_is_the_one_every_command_uses() -> None:
    wrong = [(row[0], row[1], exit_code(row[0].strip("`"))) for row in documented()
             if row[1] != str(exit_code(row[0].strip("`")))]  # fmt: skip
    assert not wrong, f"exit statuses differ from edges.exits.exit_code (reason, documented, actual): {wrong}"


def test_each_documented_message_is_what_that_reader_sees_in_that_language() -> None:
    """A row's words are ``refusal()``'s or ``desk_words()``'s in each language; ``—`` only for a
    reason neither has words for. A row that differs is printed as it should read."""
    stale = []
    for row in documented():
        expected = rows(row[0].strip("`"))
        if row[2] == NO_WORDS:
            ok = expected == [row]
        else:
            ok = any(made[2] == row[2] and made[3:] == row[3:] for made in expected)
        stale += [] if ok else [markdown(made) for made in expected]
    assert not stale, "rows in docs/reason-codes.md that differ from the code; they should read:\n" + "\n".join(stale)


def test_every_reader_of_every_documented_reason_has_a_row() -> None:
    listed = {(row[0].strip("`"), row[2]) for row in documented()}
    missing = [markdown(row) for reason in {reason for reason, _reader in listed} for row in rows(reason)
               if (reason, row[2]) not in listed]  # fmt: skip
    assert not missing, "add these rows to the table in docs/reason-codes.md:\n" + "\n".join(missing)


def test_every_reason_the_code_base_gives_is_in_the_table() -> None:
    listed = {row[0].strip("`") for row in documented()}
    missing = sorted(code_reasons() - listed)
    lines = "\n".join(markdown(row) for reason in missing for row in rows(reason))
    assert not missing, (
        f"{len(missing)} reasons are not in docs/reason-codes.md; append these rows at the end of its table "
        f"(and say what each means in its section):\n{lines}"
    )


def test_the_reason_finder_sees_each_way_a_reason_is_given() -> None:
    source = """
raise WalletError("no_wallet", "x")
raise _fail(_, "usage_error", "x")
error = InputError(reason, "not a reason")
result = {"found": False, "reason": "busy"}
reason = "desk_request" if ours else "not_city_id"
Refusal(reason="from_keyword")
print("not_a_reason")
"""
    assert reasons_in(source) == {"no_wallet", "usage_error", "busy", "desk_request", "not_city_id", "from_keyword"}


def _cityid(*args: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "", "CITYID_WALLET_PASSPHRASE": "a long enough passphrase",
           "XDG_DATA_HOME": str(cwd / "data"), **environment}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "cityid", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120, check=False)  # fmt: skip


def _row(reason: str, reader: str | None = None) -> list[str]:
    return next(row for row in documented() if row[0] == f"`{reason}`" and reader in {None, row[2]})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reasons")


def test_an_empty_file_is_unreadable_input_exit_2_as_documented(workdir: Path) -> None:
    (workdir / "empty.txt").write_text("")
    (workdir / "keys.json").write_text(json.dumps(public_jwks(new_es256_key())))
    run = _cityid("verify", "empty.txt", "--issuer-jwks", "keys.json", "--nonce", "n", "--audience", "a", "--json",
                  cwd=workdir)  # fmt: skip
    assert run.returncode == 2 == int(_row("unreadable_input")[1]), run.stdout + run.stderr
    assert '"reason": "unreadable_input"' in run.stdout and "empty" in run.stdout


def test_a_picture_without_a_qr_code_at_the_desk_is_no_qr_code_exit_2(workdir: Path) -> None:
    from PIL import Image  # noqa: PLC0415

    Image.new("RGB", (64, 64), "white").save(workdir / "blank.png")
    desk = workdir / "desk"
    unsynced = _cityid("verifier", "check", "blank.png", "--policy", "library-card", "--data", str(desk), cwd=workdir)
    assert unsynced.returncode == 2 == int(_row("not_synced")[1]), unsynced.stdout + unsynced.stderr
    with running_issuer(workdir / "issuer") as issuer:
        make_world(issuer, desk, count=1).sync()
    run = _cityid("verifier", "check", "blank.png", "--policy", "library-card", "--data", str(desk), cwd=workdir)
    assert "no_qr_code" in run.stdout, run.stdout + run.stderr
    assert run.returncode == 2 == int(_row("no_qr_code")[1])
    assert _row("no_qr_code", "desk staff")[3] in " ".join(run.stdout.split())  # plain words, not the detail


def test_a_missing_wallet_is_no_wallet_with_the_documented_words_and_status(workdir: Path) -> None:
    """Not an empty history, nor ``no_registry`` from ``present``: wallet commands other than
    ``receive`` and ``import`` read the store with ``wallet.store.load_existing``."""
    run = _cityid("wallet", "history", "--wallet", str(workdir / "nowhere.cidw"), "--lang", "es", cwd=workdir)
    row = _row("no_wallet", "resident")
    assert "[no_wallet]" in run.stderr, run.stdout + run.stderr
    assert row[3 + list(LANGUAGES).index("es")] in " ".join(run.stderr.split())
    assert run.returncode == int(row[1]) == 2


def test_a_damaged_desk_request_reads_as_damaged_not_as_base45(workdir: Path) -> None:
    run = _cityid("wallet", "present", "CIDR1:ABC$%", "--lang", "ar", cwd=workdir)
    said = " ".join(run.stderr.split())
    assert "[bad_encoding]" in said and "base45" not in said, said
    assert _row("bad_encoding", "resident")[3 + list(LANGUAGES).index("ar")] in said
    assert run.returncode == int(_row("bad_encoding")[1]) == 1


def test_a_damaged_wallet_and_a_wrong_passphrase_are_told_apart(workdir: Path) -> None:
    """An emptied or cut-short file cannot open with any passphrase: restore a backup (exit 2).
    Only a file of the right shape that does not open is a wrong passphrase (exit 1)."""
    from wallet.store import Wallet, save  # noqa: PLC0415

    path = workdir / "wallet.cidw"
    save(path, "a long enough passphrase", Wallet())
    sealed = path.read_bytes()
    wrong = _cityid("wallet", "history", "--wallet", str(path), cwd=workdir, CITYID_WALLET_PASSPHRASE="not the one!")
    assert "[wrong_passphrase]" in wrong.stderr and wrong.returncode == int(_row("wrong_passphrase")[1]) == 1
    for damaged in (b"", sealed[:20]):
        path.write_bytes(damaged)
        run = _cityid("wallet", "history", "--wallet", str(path), cwd=workdir)
        assert "[wallet_damaged]" in run.stderr, run.stderr
        assert _row("wallet_damaged", "resident")[3] in " ".join(run.stderr.split())
        assert run.returncode == int(_row("wallet_damaged")[1]) == 2


def test_ctrl_c_ends_a_command_with_130(workdir: Path) -> None:
    """The CLI with ``edges.exits.exit_on_interrupt``, interrupted while it waits for standard input."""
    (workdir / "keys.json").write_text(json.dumps(public_jwks(new_es256_key())))
    program = (
        "import sys; from edges.exits import exit_on_interrupt; exit_on_interrupt(); from cityid.cli import app; "
        "print('ready', file=sys.stderr, flush=True); "
        "app(['verify', '-', '--issuer-jwks', 'keys.json', '--nonce', 'n', '--audience', 'a'])"
    )
    with subprocess.Popen([sys.executable, "-c", program], cwd=workdir, stdin=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as waiting:  # fmt: skip
        assert waiting.stderr is not None and waiting.stderr.readline() == "ready\n"
        waiting.send_signal(signal.SIGINT)
        assert waiting.wait(timeout=60) == exit_code("interrupted") == 130


if __name__ == "__main__":
    wanted = sys.argv[1:] or sorted(code_reasons() - {row[0].strip("`") for row in documented()})
    print("\n".join(markdown(row) for reason in wanted for row in rows(reason)))
