"""The credential core's public surface, and its purity: no I/O, no clock, no environment."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import types
from pathlib import Path

import credential
import policies

CORE = Path(credential.__file__).parent


def test_every_public_name_is_deliberate() -> None:
    """A name becomes public only by being added to __all__ (httpx's exported-members test)."""
    for name in credential.__all__:
        getattr(credential, name)  # the package loads a name from its submodule on first use
    public = {
        name
        for name, value in vars(credential).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(credential.__all__)
    assert credential.__all__ == sorted(credential.__all__, key=lambda n: (not n.isupper(), n[0].islower(), n))


def test_modules_are_private() -> None:
    assert all(path.name.startswith("_") for path in CORE.glob("*.py"))


def test_importing_the_core_pulls_in_no_edge_libraries() -> None:
    code = "import credential, sys, json; print(json.dumps(sorted(sys.modules)))"
    loaded = set(
        json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    )
    forbidden = {
        "PIL",
        "zxingcpp",
        "typer",
        "rich",
        "fastapi",
        "sqlalchemy",
        "httpx",
        "requests",
        "socket",
        "sqlite3",
        "cityid",
        "edges",
    }
    assert not loaded & forbidden


FORBIDDEN_CALLS = {
    ("builtins", "open"),
    ("builtins", "print"),
    ("builtins", "input"),
    ("os", "getenv"),
    ("os", "environ"),
    ("time", "time"),
    ("datetime", "now"),
    ("datetime", "today"),
    ("date", "today"),
    ("random", "random"),
}


def test_core_code_reads_no_clock_environment_or_files() -> None:
    """Time and randomness are arguments; the one default is secrets.token_bytes for salts."""
    offenders = []
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names]
                module = getattr(node, "module", None) or ""
                if {"os", "time", "random", "socket", "pathlib", "io", "logging", "sys"} & {module, *names}:
                    offenders.append(f"{path.name}: imports {module or names}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"open", "print", "input"}
            ):
                offenders.append(f"{path.name}: calls {node.func.id}()")
            elif isinstance(node, ast.Attribute) and node.attr in {"now", "today", "utcnow", "environ", "getenv"}:
                offenders.append(f"{path.name}: uses .{node.attr}")
    assert offenders == []
    assert FORBIDDEN_CALLS  # the list above documents what the AST scan refuses


def test_core_is_typed() -> None:
    assert (CORE / "py.typed").is_file()


POLICIES = Path(policies.__file__).parent
POLICY_EDGES = {"_files.py", "_claims.py"}  # reading files and package data


def test_every_public_policies_name_is_deliberate() -> None:
    public = {
        name
        for name, value in vars(policies).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(policies.__all__)


def test_policy_core_reads_no_clock_environment_or_files() -> None:
    """Audit, registry and request checks take ``today``/``now``; only the edges touch files."""
    offenders = []
    for path in sorted(POLICIES.glob("_*.py")):
        if path.name in POLICY_EDGES or path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"open", "print"}:
                offenders.append(f"{path.name}: calls {node.func.id}()")
            elif isinstance(node, ast.Attribute) and node.attr in {
                "now",
                "today",
                "utcnow",
                "environ",
                "getenv",
                "time",
            }:
                offenders.append(f"{path.name}: uses .{node.attr}")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                module = getattr(node, "module", None) or ""
                names = {alias.name for alias in node.names}
                if module == "pathlib" and names == {"PurePath"}:
                    continue  # path arithmetic, no I/O
                if {"os", "time", "pathlib", "socket", "sys"} & {module, *names}:
                    offenders.append(f"{path.name}: imports {module or names}")
    assert offenders == []
