"""Privacy invariants of verification, asserted rather than promised.

Verifying proofs must write nothing and open no connection. A CPython audit hook sees every
file opened for writing, every file removal or rename, every socket and every subprocess;
it is installed in a fresh interpreter after set-up, and the run fails on the first event.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from desk_support import answer, make_world
from issuer_support import running_issuer

from credential import encode_request_text
from verifier.engine import Desk
from verifier.sync import load_trust

GUARD = textwrap.dedent(
    """
    import os, sys
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    NETWORK = ("socket.", "urllib.", "http.", "ftplib.", "smtplib.", "ssl.")
    ELSEWHERE = ("subprocess.", "os.system", "os.exec", "os.fork", "os.posix_spawn", "os.remove", "os.rename",
                 "os.unlink", "os.mkdir", "os.rmdir", "os.truncate", "os.chmod", "shutil.", "sqlite3.")
    events = []

    def guard(event, args):
        if event == "open":
            path, mode, flags = args
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS:
                events.append(f"open for writing: {path!r}")
        elif event.startswith(NETWORK) or event.startswith(ELSEWHERE):
            events.append(f"{event} {args!r:.80}")

    def armed(work):
        sys.addaudithook(guard)
        work()
        if events:
            raise SystemExit("privacy violation: " + "; ".join(sorted(set(events))[:5]))
    """
)


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    tests = Path(__file__).parent
    program = GUARD + textwrap.dedent(script)
    return subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tests), "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_the_guard_catches_a_write_and_a_socket(tmp_path: Path) -> None:
    """The guard itself must be able to fail, or its silence proves nothing."""
    wrote = _run("armed(lambda: open('log.txt', 'w').write('who came by'))", tmp_path)
    assert "privacy violation: open for writing" in wrote.stderr
    connected = _run("import socket\narmed(lambda: socket.socket().close())", tmp_path)
    assert "privacy violation: socket." in connected.stderr


def test_verifying_a_thousand_proofs_writes_nothing_and_opens_no_socket(tmp_path: Path) -> None:
    completed = _run(
        """
        import time
        from support import make_keys, issue_residency, present_to_desk, AUD, NONCE
        from credential import encode_qr_text, decode_qr_text, verify_presentation
        keys = make_keys()
        now = int(time.time())
        proofs = [encode_qr_text(present_to_desk(keys, issue_residency(keys, now=now), now=now)) for _ in range(1000)]
        results = []

        def work():
            for text in proofs:
                verified = verify_presentation(
                    decode_qr_text(text), issuer_keys=keys.trusted, audience=AUD, nonce=NONCE, now=now
                )
                results.append(sorted(verified.claims))

        armed(work)
        assert len(results) == 1000 and results[0] == ["age_over_18", "resident_of"]
        print("ok")
        """,
        tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_the_verify_command_reads_its_inputs_and_writes_nothing(tmp_path: Path) -> None:
    """Through the CLI, from a PNG: reading files is fine; writing, deleting or connecting is not."""
    completed = _run(
        """
        import json, time
        from pathlib import Path
        from support import make_keys, issue_residency, present_to_desk
        from credential import encode_qr_text
        from edges.qrimage import make_qr, to_png
        from cityid.cli import app
        keys = make_keys()
        now = int(time.time())
        Path("jwks.json").write_text(json.dumps(keys.trusted.to_jwks()))
        proof = present_to_desk(keys, issue_residency(keys, now=now), now=now)
        Path("proof.png").write_bytes(to_png(make_qr(encode_qr_text(proof))))
        before = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(".").iterdir())

        def work():
            try:
                app(["verify", "proof.png", "--issuer-jwks", "jwks.json", "--nonce", "n0nce-for-the-desk",
                     "--audience", "desk:library", "--json"])
            except SystemExit as exit:
                assert exit.code == 0, exit.code

        armed(work)
        assert before == sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(".").iterdir())
        """,
        tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["valid"] is True


def test_the_desk_engine_checks_a_thousand_proofs_without_writing_or_connecting(tmp_path: Path) -> None:
    """Synced trust on disk, 1,000 proofs with their requests: the data directory is byte-identical
    afterwards, and the guard sees no write, no socket, no subprocess."""
    with running_issuer(tmp_path / "issuer") as issuer:
        world = make_world(issuer, tmp_path / "desk", count=1)
        world.sync()
    desk, now = Desk(load_trust(world.data)), int(time.time())
    work = []
    for _ in range(1000):
        request = desk.new_request("library-card", audience="desk:lib", now=now)
        work.append([encode_request_text(request), answer(world.residency[0], request, now=now)])
    (tmp_path / "work.json").write_text(json.dumps(work))

    def snapshot() -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(world.data.iterdir())}

    before = snapshot()
    completed = _run(
        f"""
        import json, time
        from pathlib import Path
        from credential import decode_request_text
        from verifier.engine import Desk
        from verifier.sync import load_trust
        work = json.loads(Path("work.json").read_text())
        desk = Desk(load_trust(Path({str(world.data)!r})))
        results = []

        def check():
            now = int(time.time())
            for request, proof in work:
                results.append(desk.check(proof, request=decode_request_text(request), now=now))

        armed(check)
        assert len(results) == 1000 and all(r.valid for r in results), [r.reason for r in results if not r.valid][:3]
        assert results[0].claims == {{"resident_of": "Riverton"}}
        print("ok")
        """,
        tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"
    assert snapshot() == before
