"""Cold start of the desk's command: wall time of a fresh ``cityid`` process, against a Python
that does nothing.

    python bench/coldstart.py [--runs N]

Each command runs N times (interleaved, after one warm-up that fills the bytecode cache) as
``python -m cityid``, which is what the ``cityid`` script runs; the times are medians. The
commands run with bytecode caching on whatever the environment says (PYTHONDONTWRITEBYTECODE),
as an installed cityid always has its bytecode: otherwise every module changed since the last
cached run is compiled again in every run, and that is what gets measured. The
proof is a real residency proof (2 claims, key binding) as QR text in a file.

The floor is what no ``cityid verify`` can go below: a Python that imports what verifying
needs from outside cityid (cryptography's EC module, the standard library's json, zlib and
hashlib) and reads the two files, doing nothing else. The last two lines are machine-readable:

    floor_ms=<that Python>
    python_ms=<python -c pass> help_ms=<cityid verify --help> verify_ms=<cityid verify FILE ...>
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from credential import (
    RESIDENCY,
    KeySet,
    SigningKey,
    encode_qr_text,
    issue_credential,
    present,
    residency_claims,
)

ISS = "https://id.riverton.example"
AUDIENCE, NONCE = "desk:library", "bench-nonce-0123456789"


def write_proof(folder: Path) -> list[str]:
    """A valid proof and the issuer's keys in ``folder``; the ``cityid verify`` arguments for them."""
    issuer, holder = SigningKey.generate("ES256", kid="k1"), SigningKey.generate("ES256")
    now = int(time.time())
    claims = residency_claims("Riverton", dt.date(1991, 6, 14), dt.date.today())
    issued = issue_credential(RESIDENCY, claims, issuer_key=issuer, iss=ISS, holder_jwk=holder.public_jwk(), now=now)
    proof = present(issued, disclose=["resident_of", "age_over_18"], holder_key=holder, audience=AUDIENCE,
                    nonce=NONCE, now=now)  # fmt: skip
    (folder / "proof.txt").write_text(encode_qr_text(proof) + "\n")
    (folder / "issuer.jwks").write_text(json.dumps(KeySet([issuer.verifying_key()]).to_jwks()))
    return [str(folder / "proof.txt"), "--issuer-jwks", str(folder / "issuer.jwks"), "--nonce", NONCE,
            "--audience", AUDIENCE]  # fmt: skip


FLOOR = """
import hashlib, json, sys, zlib
from cryptography.hazmat.primitives.asymmetric import ec
with open(sys.argv[1], "rb") as proof, open(sys.argv[2], "rb") as keys:
    sys.stdout.write(f"{len(proof.read())} {len(json.loads(keys.read()))}\\n")
"""
"""The floor: imports and reads what a verification needs, then stops."""


ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False, env=ENVIRONMENT)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stdout.decode()}{done.stderr.decode()}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        cityid = [sys.executable, "-m", "cityid"]
        arguments = write_proof(Path(folder))
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "floor (imports, files)": [sys.executable, "-c", FLOOR, arguments[0], arguments[2]],
            "cityid verify --help": [*cityid, "verify", "--help"],
            "cityid verify FILE (QR text)": [*cityid, "verify", *arguments],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():
            wall_time(command)  # warm-up: bytecode cache, page cache
        for _ in range(runs):
            for name, command in commands.items():
                times[name].append(wall_time(command))
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(f"cold start, median of {runs} runs (Python {sys.version.split()[0]})")
    for name, median in medians.items():
        print(f"  {name:30} {median:7.1f} ms")
    python_ms, floor_ms, help_ms, verify_ms = medians.values()
    print(f"floor_ms={floor_ms:.1f}")
    print(f"python_ms={python_ms:.1f} help_ms={help_ms:.1f} verify_ms={verify_ms:.1f}")


if __name__ == "__main__":
    main()
