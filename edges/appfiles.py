"""The resident's phone wallet as files: the built web app plus what Python adds to it.

The app (``wallet/app``) is bundled by esbuild into ``wallet/app/dist``; ``CITYID_WALLET_APP``
names another directory. Python adds what only it knows, so the app and the CLI wallet say the
same words: ``messages/<lang>.json`` from the gettext catalogs (the app's own ``_("...")``
messages, refusal reasons, claim and card labels, verifier names), and ``sw.js`` with its
precache list, a hash of every file, so the service worker changes whenever any file does.
The issuer serves these files from memory (``issuer/app.py``); ``cityid wallet app --out``
writes them for a city that hosts the app elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from edges.files import package_folder
from edges.i18n import LANGUAGES, RIGHT_TO_LEFT, translator

PRECACHE_MARKER = "__CITYID_PRECACHE__"
"""The string literal in the built ``sw.js`` that the precache list replaces."""

BUILD_HINT = "run ./dev demo, or `npm ci --ignore-scripts && npm run build` in wallet/app"

_JS_MESSAGE = re.compile(r'\b_\("((?:[^"\\\n]|\\.)*)"')
_JS_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
_JS_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


class AppNotBuilt(Exception):
    """The app's ``dist/`` directory (or its ``app.js``) is missing: it was never built."""

    reason = "app_not_built"

    def __init__(self, directory: Path) -> None:
        super().__init__(f"the phone wallet is not built ({directory} has no app.js): {BUILD_HINT}")
        self.directory = directory


def app_source() -> Path:
    """``wallet/app``: the app's sources, where its ``_("...")`` messages are read."""
    return package_folder("wallet") / "app"


def app_directory() -> Path:
    """Where the built app is: ``CITYID_WALLET_APP``, else ``wallet/app/dist``."""
    override = os.environ.get("CITYID_WALLET_APP")
    return Path(override) if override else app_source() / "dist"


def _unescape(text: str) -> str:
    """A JS double-quoted string literal's body as the string it means."""

    def one(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape.startswith("u{"):
            return chr(int(escape[2:-1], 16))
        if escape[0] in "ux" and len(escape) > 1:
            return chr(int(escape[1:], 16))
        return _JS_SIMPLE.get(escape, escape)

    return _JS_ESCAPE.sub(one, text)


def js_messages(source: Path | None = None) -> set[str]:
    """Every literal ``_("...")`` message in the app's JS (``src/``, not dependencies or builds)."""
    root = (source or app_source()) / "src"
    found: set[str] = set()
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*.js")):
        if {"node_modules", "dist"} & set(path.relative_to(root).parts):
            continue
        found |= {_unescape(body) for body in _JS_MESSAGE.findall(path.read_text(encoding="utf-8"))}
    return found


def verifier_names() -> list[str]:
    """The verifiers of the catalog's policies: their names are msgids, like any other words."""
    catalog = package_folder("policies") / "catalog"
    names = set()
    for path in sorted(catalog.glob("*.toml")):
        verifier = tomllib.loads(path.read_text(encoding="utf-8")).get("verifier")
        if isinstance(verifier, str):
            names.add(verifier)
    return sorted(names)


def app_reasons() -> list[str]:
    """Every reason the app has resident words for: the wallet's, the ones sharing them, the app's own."""
    from edges.words import APP_REFUSALS, REFUSALS, SHARED_WORDS  # noqa: PLC0415

    return sorted(set(REFUSALS) | set(SHARED_WORDS) | set(APP_REFUSALS))


def messages(language: str, js: set[str]) -> dict[str, object]:
    """``messages/<language>.json``: everything the app shows in words, in ``language``."""
    from credential import CREDENTIAL_TYPES  # noqa: PLC0415
    from edges.words import app_refusal, card_label, claim_label, verifier_name  # noqa: PLC0415

    _ = translator(language)
    # In the credential types' own order (the app lists claims in it): residency's, then identity's.
    claims = list(dict.fromkeys(name for kind in CREDENTIAL_TYPES.values() for name in kind.claims))
    return {
        "lang": language,
        "dir": "rtl" if language in RIGHT_TO_LEFT else "ltr",
        "name": LANGUAGES[language],
        "messages": {message: _(message) for message in sorted(js)},
        "refusals": {reason: app_refusal(_, reason) or reason for reason in app_reasons()},
        "claims": {name: claim_label(_, name) for name in claims},
        "cards": {name: card_label(_, name) for name in sorted(CREDENTIAL_TYPES)},
        "verifiers": {name: verifier_name(_, name) for name in verifier_names()},
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_files(directory: Path, source: Path | None = None) -> Mapping[str, bytes]:
    """The app's files by path relative to ``/wallet/`` (``dist/`` plus the generated ones)."""
    if not (directory / "app.js").is_file():
        raise AppNotBuilt(directory)
    files = {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }
    js = js_messages(source)
    for language in LANGUAGES:
        text = json.dumps(messages(language, js), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        files[f"messages/{language}.json"] = text.encode()
    if "sw.js" in files:
        precache = [["./", _sha256(files["index.html"])]] if "index.html" in files else []
        precache += [[name, _sha256(data)] for name, data in sorted(files.items()) if name != "sw.js"]
        listing = json.dumps(precache, separators=(",", ":"))
        worker = files["sw.js"].decode()
        for quote in '"', "'":
            worker = worker.replace(f"{quote}{PRECACHE_MARKER}{quote}", listing)
        files["sw.js"] = worker.encode()
    return MappingProxyType(dict(sorted(files.items())))


@lru_cache(maxsize=8)
def _cached(directory: str, built: float) -> Mapping[str, bytes]:
    return build_files(Path(directory))


def app_files(directory: Path | None = None) -> Mapping[str, bytes]:
    """The app's files, built once per process for each build of ``dist/`` (it is read when
    ``app.js`` changes, so a rebuilt app is served without restarting the issuer)."""
    directory = directory or app_directory()
    try:
        built = (directory / "app.js").stat().st_mtime
    except OSError:
        raise AppNotBuilt(directory) from None
    return _cached(str(directory.resolve()), built)


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}


def content_type(path: str) -> str:
    """The type a browser must be told for an app file (nosniff: it will not guess)."""
    return CONTENT_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


OUTPUT_MARKER = ".cityid-wallet-app"
"""The file that marks a directory as written by :func:`write_app` (so it may be replaced)."""


class OutputNotEmpty(Exception):
    """The output directory holds files that were not written by :func:`write_app`."""

    reason = "output_not_empty"


def write_app(out: Path, files: Mapping[str, bytes], *, force: bool = False) -> None:
    """Write ``files`` as the directory ``out``, all or nothing: they are written into a new
    directory beside it, which then takes its place, so a web server never serves half an app.
    A non-empty ``out`` is replaced only when an earlier :func:`write_app` made it, or ``force``."""
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    if out.exists() and not out.is_dir():
        raise OutputNotEmpty(f"{out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / OUTPUT_MARKER).is_file() and not force:
        raise OutputNotEmpty(f"{out} is not empty and was not written by `cityid wallet app` (use --force)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (staging / OUTPUT_MARKER).write_text("written by `cityid wallet app`; replaced as a whole\n")
        staging.chmod(0o755)
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            out.rename(retired / "app")
            staging.rename(out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
