"""``./dev``, the project's one entry point: its help is whole, and a wrong command says so."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_dev_without_arguments_prints_its_whole_header_comment() -> None:
    result = subprocess.run([str(ROOT / "dev")], capture_output=True, text=True, check=False, timeout=30)
    comments = itertools.takewhile(lambda line: line.startswith("#"), (ROOT / "dev").read_text().splitlines()[1:])
    header = [line.removeprefix("#").removeprefix(" ") for line in comments]
    assert result.returncode == 0
    assert result.stdout.splitlines() == header
    assert result.stdout.rstrip().endswith(".")  # never cut off mid-sentence


def test_an_unknown_command_prints_the_help_and_fails() -> None:
    result = subprocess.run([str(ROOT / "dev"), "nonsense"], capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 2
    assert "./dev test" in result.stdout


def test_dev_is_plain_posix_sh() -> None:
    """It runs on a fresh machine's /bin/sh (dash on Debian), so no bash-only syntax."""
    shell = shutil.which("dash") or "sh"
    checked = subprocess.run([shell, "-n", str(ROOT / "dev")], capture_output=True, check=False, timeout=30)
    assert checked.returncode == 0, checked.stderr
