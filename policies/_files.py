"""Finding and reading policy files: the only part of ``policies`` that touches the disk."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ._model import Finding, Severity
from ._source import MAX_POLICY_BYTES, LoadedPolicy, parse_policy_text

MAX_POLICY_FILES = 1000


class PolicyPathError(Exception):
    """A path given to the audit names nothing readable."""


def bundled_catalog() -> Path:
    """The catalog shipped with cityid (``policies/catalog``)."""
    return Path(str(resources.files("policies").joinpath("catalog")))


def policy_files(paths: list[Path]) -> list[Path]:
    """Every ``*.toml`` file named, or directly inside a named directory, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*.toml"))
        elif path.is_file():
            found.append(path)
        else:
            raise PolicyPathError(f"{path} is not a policy file or a directory of them")
    if not found:
        raise PolicyPathError("no policy files (*.toml) found in " + ", ".join(map(str, paths)))
    if len(found) > MAX_POLICY_FILES:
        raise PolicyPathError(f"more than {MAX_POLICY_FILES} policy files")
    return found


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it, for shorter reports."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def read_policy_file(path: Path) -> LoadedPolicy:
    """One policy file, read with a size bound; unreadable files become schema findings."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        return _unreadable(path, exc)
    return parse_policy_text(data, shown_path(path))


def _unreadable(path: Path, exc: OSError) -> LoadedPolicy:
    source = shown_path(path)
    finding = Finding("schema", Severity.ERROR, f"cannot read the file: {exc.strerror}", source=source)
    return LoadedPolicy(source, None, (finding,), {})


def load_policies(paths: list[Path]) -> list[LoadedPolicy]:
    return [read_policy_file(path) for path in policy_files(paths)]
