"""The desk engine against the floor in CPU instructions, a figure a busy host cannot move.

    python bench/instructions.py [--checks N]

``bench/verify.py`` times the desk engine against the floor (two ES256 checks and loading the
holder key) on the same fresh ``CID2:`` proofs; on a shared host that time ratio moves with
the neighbours (the floor is a little assembly that stays in cache, the engine is interpreter
code that does not). This counts instructions instead, under valgrind's callgrind: each side
runs once with no checks and once with N, from the same set-up, and the difference over N is
one check. Needs ``valgrind`` (the Debian package). The last line is machine-readable:

    desk_engine_instructions=<per check> floor_instructions=<per check> instruction_ratio=<engine / floor>
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SIDES = ("desk engine", "floor")
_COLLECTED = re.compile(rb"Collected : (\d+)")


def _child(side: str, checks: int, made: int) -> None:
    """Make ``made`` fresh proofs as bench/verify.py does, then run ``checks`` of one side."""
    sys.path.insert(0, str(Path(__file__).parent))
    import verify  # noqa: PLC0415 - the bench next door, only in the measured child

    _, trusted, issuer, now = verify._setup()
    engine, floor = verify._desk(issuer, trusted, now, made)
    run = engine if side == "desk engine" else floor
    run()  # the first proof makes the plan of its shape: the desk's steady state starts after it
    for _ in range(checks):
        run()


def _instructions(side: str, checks: int, made: int) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
               "--child", side, "--checks", str(checks), "--made", str(made)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, check=True)
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{done.stderr.decode(errors='replace')}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--made", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    made = arguments.checks + 2
    if arguments.child:
        _child(arguments.child, arguments.checks, arguments.made)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/instructions.py needs valgrind (apt install valgrind)")
    runs = [(side, checks) for side in SIDES for checks in (0, arguments.checks)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(runs, pool.map(lambda run: _instructions(*run, made), runs), strict=True))
    per_check = {side: (counts[side, arguments.checks] - counts[side, 0]) / arguments.checks for side in SIDES}
    print(f"# {arguments.checks} checks of fresh CID2: proofs after one that makes the plan; instructions per check")
    for side, count in per_check.items():
        print(f"{side:12} {count / 1e6:7.3f} M")
    engine, floor = per_check["desk engine"], per_check["floor"]
    ratio = engine / floor
    print(f"desk_engine_instructions={engine:.0f} floor_instructions={floor:.0f} instruction_ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
