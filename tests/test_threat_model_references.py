"""Every test the threat model names exists: a defence is only as good as the test that holds it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?(?:\[[^\]]*\])?`")


def test_every_test_named_in_the_threat_model_exists() -> None:
    named: list[tuple[str, str]] = []
    for line in (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8").splitlines():
        current = None  # a bare `::name` continues the file named before it on the same line
        for path, name in REFERENCE.findall(line):
            current = path or current
            if current and name:
                named.append((current, name))
            elif path:
                assert (ROOT / path).is_file(), path
    assert len(named) > 40
    sources = {path: (ROOT / path).read_text(encoding="utf-8") for path, _ in named}
    missing = [f"{path}::{name}" for path, name in named if not re.search(rf"^def {name}\(", sources[path], re.M)]
    assert not missing
