"""The three guides, followed word for word: every ``sh`` block of docs/residents.md and
docs/desk-staff.md, and the end-to-end block of docs/operations.md, run as written.

A guide's first lines may say what someone else gives the reader (``CITY=…  # from city IT``,
``PIN=123456  # the PIN the clerk says``): those assignments, and only those, get the real values
of this run, and each must be in the guide, so a guide that drops one fails here. Everything
else runs unchanged, in an empty directory with ``cityid`` on the PATH, as a reader's shell would
(``set -e``: a step that fails stops the guide). The resident's steps run in a terminal, and the
test types the passphrase and the consent answer at the prompts, as a resident would.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from issuer_support import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RESIDENT_PASSPHRASE = "the resident's own passphrase"
ISSUER_PASSPHRASE = "the city's long passphrase"
RESIDENT = {
    "given_name": "Ana", "family_name": "Okafor", "birthdate": "1991-06-14",
    "address": {"street_address": "2130 Frederick Douglass Blvd", "locality": "Riverton", "region": "NY",
                "postal_code": "10027", "country": "US"},
}  # fmt: skip


def sh_blocks(guide: str, heading: str | None = None) -> list[str]:
    """The ``sh`` blocks of ``docs/GUIDE``, or of its section ``heading`` only."""
    text = (ROOT / "docs" / guide).read_text(encoding="utf-8")
    if heading is not None:
        text = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [match.group(1) for match in BLOCK.finditer(text)]


def given(block: str, values: Mapping[str, str]) -> str:
    """``block`` with the assignments of ``values``' names set to this run's values."""
    for name, value in values.items():
        pattern = re.compile(rf"^{name}=\S*", re.M)
        assert len(pattern.findall(block)) == 1, f"the guide no longer says where {name} comes from"
        block = pattern.sub(f"{name}={value}".replace("\\", "\\\\"), block)
    return block


def reader_env(home: Path, **extra: str) -> dict[str, str]:
    """A reader's environment: ``cityid`` on the PATH, a home of their own, nothing of ours."""
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    return {"PATH": path, "HOME": str(home), "XDG_DATA_HOME": str(home / ".local" / "share"), "LANG": "C.UTF-8",
            **extra}  # fmt: skip


def run_shell(script: str, cwd: Path, env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=dict(env), text=True,
                          capture_output=True, timeout=timeout, check=False)  # fmt: skip


def run_in_terminal(
    script: str, cwd: Path, env: Mapping[str, str], answers: Sequence[tuple[str, str]], timeout: float = 120
) -> tuple[int, str]:
    """Run ``script`` in a terminal, typing each answer whenever its prompt appears."""
    master, slave = os.openpty()
    process = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=dict(env),
                               stdin=slave, stdout=slave, stderr=slave, start_new_session=True)  # fmt: skip
    os.close(slave)
    seen, answered = "", [0] * len(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the terminal closed: the script ended
                    break
                if not chunk:
                    break
                seen += ANSI.sub("", chunk.decode("utf-8", errors="replace"))
                for number, (prompt, answer) in enumerate(answers):
                    while seen.count(prompt) > answered[number]:
                        os.write(master, answer.encode() + b"\n")
                        answered[number] += 1
            elif process.poll() is not None:
                break
        else:
            pytest.fail(f"the guide's step did not finish:\n{seen[-3000:]}")
        return process.wait(10), seen
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        os.close(master)


def cityid(*arguments: str, cwd: Path, env: Mapping[str, str]) -> str:
    done = subprocess.run([str(BIN / "cityid"), *arguments], cwd=cwd, env=dict(env), text=True,
                          capture_output=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, f"cityid {' '.join(arguments)}: {done.stderr}"
    return done.stdout


def wait_for(url: str, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, "the service stopped"
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer")


class City:
    """What city IT runs (docs/operations.md), for the guides of the people it serves."""

    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url
        self.env = reader_env(root, CITYID_ISSUER_PASSPHRASE=ISSUER_PASSPHRASE, CITYID_CLERK_PASSWORD="clerk pass 1")

    def run(self, *arguments: str) -> str:
        return cityid(*arguments, "--data", "data", cwd=self.root, env=self.env)

    def fingerprint(self) -> str:
        return self.run("issuer", "fingerprint").strip()

    def offer(self, png: Path | None = None) -> dict[str, Any]:
        """A clerk's offer for Ana (her documents checked at the desk)."""
        (self.root / "resident.json").write_text(json.dumps(RESIDENT))
        extra = ["--png", str(png)] if png is not None else []
        arguments = ["issuer", "offer", "--claims", "resident.json", "--clerk", "alice", "--json", *extra]
        offer: dict[str, Any] = json.loads(self.run(*arguments))
        return offer


@contextmanager
def city(root: Path) -> Iterator[City]:
    """An issuer serving on a free port, with the board's registry published (docs/operations.md)."""
    root.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    town = City(root, url)
    town.run("issuer", "init", "--issuer-url", url)
    town.run("issuer", "add-clerk", "alice")
    cityid("policies", "keygen", "--out", "board.jwk", "--public", "board.jwks", cwd=root, env=town.env)
    cityid("policies", "sign", str(ROOT / "policies" / "catalog" / "library-card.toml"), "--key", "board.jwk",
           "--version", "1", "--out", "registry.jwt", cwd=root, env=town.env)  # fmt: skip
    town.run("issuer", "publish-registry", "registry.jwt", "--board-jwks", "board.jwks")
    with (root / "issuer.log").open("wb") as log:
        process = subprocess.Popen([str(BIN / "cityid"), "issuer", "serve", "--data", "data", "--port",
                                    url.rsplit(":", 1)[1]], cwd=root, env=town.env, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(f"{url}/readyz", process)
        yield town
    finally:
        process.terminate()
        process.wait(10)


def resident_shows(request: str, wallet_home: Path, out: Path) -> None:
    """A resident (already enrolled, in ``wallet_home``) answers ``request`` with a proof in ``out``."""
    env = reader_env(wallet_home, CITYID_WALLET_PASSPHRASE=RESIDENT_PASSPHRASE)
    cityid("wallet", "present", request, "--yes", "--png", str(out), cwd=wallet_home, env=env)


def enrol(town: City, wallet_home: Path) -> None:
    wallet_home.mkdir(exist_ok=True)
    offer = town.offer()
    env = reader_env(wallet_home, CITYID_WALLET_PASSPHRASE=RESIDENT_PASSPHRASE)
    cityid("wallet", "receive", offer["offer"], "--pin", offer["pin"], "--count", "4", cwd=wallet_home, env=env)


def test_the_operations_guide_runs_end_to_end_on_one_machine(tmp_path: Path) -> None:
    """City IT's walk-through: issuer, clerk, board, wallet and desk; valid, then revoked."""
    (block,) = sh_blocks("operations.md", "End to end on one machine")
    (tmp_path / "policies").symlink_to(ROOT / "policies")  # "from the repository's root"
    with socket_free(8400):
        done = run_shell(block, tmp_path, reader_env(tmp_path), timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    valid, _, after_revocation = done.stdout.partition("Revoked ")
    assert "VALID" in valid and "resident_of: Riverton" in valid and "NOT VALID" not in valid, done.stdout
    assert re.search(r"NOT VALID\s+revoked", after_revocation) and "refused: revoked" in after_revocation


@contextmanager
def socket_free(port: int) -> Iterator[None]:
    """Skip, saying why, when a fixed port the guide names is taken by something else here."""
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            pytest.skip(f"port {port}, which the guide uses, is taken on this machine")
    yield


def test_the_desk_staff_guide_takes_a_desk_from_nothing_to_a_valid_proof(tmp_path: Path) -> None:
    first_sync, serve, command_line = sh_blocks("desk-staff.md")
    with city(tmp_path / "city") as town:
        desk = tmp_path / "desk"
        desk.mkdir()
        env = reader_env(desk)
        done = run_shell(given(first_sync, {"CITY": town.url, "FINGERPRINT": town.fingerprint()}), desk, env)
        assert done.returncode == 0, done.stderr
        resident = tmp_path / "resident"
        enrol(town, resident)

        with socket_free(8500):
            app = subprocess.Popen(["bash", "-e", "-c", serve], cwd=desk, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        try:
            wait_for("http://127.0.0.1:8500/", app)
            request = httpx.get("http://127.0.0.1:8500/api/request", params={"policy": "library-card"}).json()
            resident_shows(request["request"], resident, resident / "proof.png")
            scanned = httpx.post("http://127.0.0.1:8500/api/scan", params={"policy": "library-card"},
                                 content=(resident / "proof.png").read_bytes(),
                                 headers={"Content-Type": "image/png", "Origin": "http://127.0.0.1:8500"},
                                 timeout=30).json()  # fmt: skip
        finally:
            os.killpg(app.pid, signal.SIGTERM)
            app.wait(10)
        assert scanned.get("found") and scanned["result"]["valid"], scanned
        assert scanned["result"]["facts"] == ["Lives in Riverton"]  # what the library may see, and only that

        asked = json.loads(cityid("verifier", "request", "--policy", "library-card", "--audience",
                                  "desk:library-central", "--json", cwd=desk, env=env))  # fmt: skip
        resident_shows(asked["request"], resident, desk / "proof.png")
        values = {"PROOF": "proof.png", "NONCE": asked["nonce"], "YOUR_DESK": "desk:library-central"}
        still_set = f"CITY={town.url}\n"  # from the first block, in the reader's same shell
        done = run_shell(still_set + given(command_line, values), desk, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\bvalid\b", done.stdout, re.I) and "Riverton" in done.stdout


def test_the_residents_guide_takes_a_resident_from_nothing_to_a_valid_proof(tmp_path: Path) -> None:
    receive, present, afterwards = sh_blocks("residents.md")
    prompts = [("Wallet passphrase:", RESIDENT_PASSPHRASE), ("Again:", RESIDENT_PASSPHRASE), ("[y/n]", "y")]
    with city(tmp_path / "city") as town:
        home = tmp_path / "resident"
        home.mkdir()
        env = reader_env(home)
        offer = town.offer(png=home / "offer.png")
        status, seen = run_in_terminal(given(receive, {"OFFER_PICTURE": "offer.png", "PIN": offer["pin"]}), home, env,
                                       prompts)  # fmt: skip
        assert status == 0, seen
        assert "Received" in seen and not list(home.glob("*.cidw")), "the wallet goes to its default place"

        desk = tmp_path / "desk"
        desk.mkdir()
        desk_env = reader_env(desk)
        cityid("verifier", "sync", town.url, "--fingerprint", town.fingerprint(), cwd=desk, env=desk_env)
        asked = json.loads(cityid("verifier", "request", "--policy", "library-card", "--audience", "desk:library",
                                  "--png", str(home / "request.png"), "--json", cwd=desk, env=desk_env))  # fmt: skip
        status, seen = run_in_terminal(given(present, {"REQUEST_PICTURE": "request.png"}), home, env, prompts)
        assert status == 0, seen
        assert "library" in seen.lower() and (home / "proof.png").is_file()

        checked = subprocess.run([str(BIN / "cityid"), "verifier", "check", str(home / "proof.png"), "--request",
                                  asked["request"], "--json"], cwd=desk, env=desk_env, text=True,
                                 capture_output=True, timeout=60, check=False)  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
        result = json.loads(checked.stdout)
        assert result["valid"] and result["claims"] == {"resident_of": "Riverton"}

        status, seen = run_in_terminal(afterwards, home, env, prompts)
    assert status == 0, seen
    assert "desk:library" in seen or "library" in seen.lower()


def test_every_sh_block_of_the_desk_and_resident_guides_is_walked() -> None:
    """A new block in either guide must be added to its walk above, or it is never tried."""
    assert len(sh_blocks("desk-staff.md")) == 3
    assert len(sh_blocks("residents.md")) == 3
    assert shutil.which("bash"), "the guides are shell"
