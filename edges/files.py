"""Writing files so that a crash never leaves half of one: temp file, fsync, rename, and an
fsync of the directory, so that renames done one after another reach the disk in that order."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path


def read_at_most(path: Path, limit: int) -> bytes | None:
    """Up to ``limit + 1`` bytes of ``path`` (so that a caller can tell a file is too large
    without reading all of it), or ``None`` when there is no such file; other errors raise."""
    try:
        with path.open("rb") as file:
            return file.read(limit + 1)
    except FileNotFoundError:
        return None


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o644, exclusive: bool = False) -> None:
    """Replace ``path`` with ``data`` in one step; with ``exclusive``, refuse to replace anything.

    The new content is written to a temporary file in the same directory, flushed to disk,
    given ``mode`` and renamed over the target, so readers see the old file or the new one;
    the rename itself is then flushed (``sync_directory``).
    """
    content = data.encode("utf-8") if isinstance(data, str) else data
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        if exclusive:
            os.link(temporary, path)  # fails if path exists, atomically
            os.unlink(temporary)
        else:
            os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    sync_directory(directory)


def sync_directory(directory: Path) -> None:
    """Flush a rename in ``directory`` to the disk (POSIX; elsewhere the order is left to the system)."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def package_folder(package: str) -> Path:
    """The folder of a top-level package of this install, found without importing it.

    ``edges`` sits below the roles and the policies, and never imports them; where it needs their
    files (the phone wallet's build in ``wallet/app``, the policy catalog, the sources whose
    messages the catalogs cover) it reads them as files from here. Works alike from a checkout,
    an editable install and a wheel."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"{package} is not a package of this install")
    return Path(next(iter(spec.submodule_search_locations)))
