"""The phone wallet as the issuer serves it at /wallet/ and as `cityid wallet app` writes it:
exact headers, only the app's own files, a service worker whose precache list hashes every
file, messages in four languages, a clear 503 before it is built, and the clerk's offer page
linking to it. Runs against a small fake build, so it does not depend on node or the app's UI."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from issuer_support import running_issuer
from typer.testing import CliRunner

from cityid.cli import app as cli
from edges.appfiles import PRECACHE_MARKER, AppNotBuilt, app_files, js_messages, verifier_names
from edges.i18n import translator
from edges.words import refusal
from issuer.desk import _offer_body

CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'"


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny built app: what build.mjs puts in dist/, with the precache marker in sw.js."""
    directory = tmp_path / "dist"
    (directory / "icons").mkdir(parents=True)
    (directory / "index.html").write_text('<!doctype html><script type="module" src="app.js"></script>\n')
    (directory / "app.js").write_text('console.log("app");\n')
    (directory / "app.css").write_text("body { margin: 0; }\n")
    (directory / "sw.js").write_text(f'const PRECACHE = "{PRECACHE_MARKER}";\n')
    (directory / "zxing_reader.wasm").write_bytes(b"\0asm\1\0\0\0")
    (directory / "manifest.webmanifest").write_text('{"name": "cityid"}\n')
    (directory / "icons" / "icon-192.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    monkeypatch.setenv("CITYID_WALLET_APP", str(directory))
    return directory


def test_the_app_is_served_with_exact_headers_and_types(dist: Path, tmp_path: Path) -> None:
    with running_issuer(tmp_path / "issuer") as issuer:
        client = issuer.client
        moved = client.get("/wallet", follow_redirects=False)
        assert moved.status_code in {301, 307, 308} and moved.headers["location"] == "/wallet/"
        types = {"/wallet/": "text/html; charset=utf-8", "/wallet/index.html": "text/html; charset=utf-8",
                 "/wallet/app.js": "text/javascript; charset=utf-8", "/wallet/sw.js": "text/javascript; charset=utf-8",
                 "/wallet/app.css": "text/css; charset=utf-8", "/wallet/zxing_reader.wasm": "application/wasm",
                 "/wallet/manifest.webmanifest": "application/manifest+json", "/wallet/icons/icon-192.png": "image/png",
                 "/wallet/messages/ar.json": "application/json"}  # fmt: skip
        for path, kind in types.items():
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == kind, path
            assert response.headers["content-security-policy"] == CSP, path
            assert response.headers["cache-control"] == "no-cache", path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["referrer-policy"] == "no-referrer", path
        assert client.get("/wallet/").content == (dist / "index.html").read_bytes()
        assert client.get("/wallet/zxing_reader.wasm").content == b"\0asm\1\0\0\0"
        desk = client.get("/desk")
        assert desk.headers["content-security-policy"] != CSP  # the clerk's pages keep their own
        assert "/wallet/" not in json.dumps(client.get("/openapi.json").json()["paths"])


@pytest.mark.parametrize(
    "path", ["/wallet/../app.py", "/wallet/%2e%2e/", "/wallet/%2e%2e/issuer.db", "/wallet/..%2fapp.py",
             "/wallet/missing.js", "/wallet//etc/passwd", "/wallet/.cityid-wallet-app"],
)  # fmt: skip
def test_only_the_apps_own_files_answer(dist: Path, tmp_path: Path, path: str) -> None:
    (dist.parent / "app.py").write_text("secret = 1\n")
    with running_issuer(tmp_path / "issuer") as issuer:
        response = issuer.client.get(path)
        assert response.status_code == 404 or not response.content.startswith(b"secret")
        assert b"secret" not in response.content and b"SQLite" not in response.content


def test_the_precache_list_hashes_every_file(dist: Path) -> None:
    files = app_files()
    worker = files["sw.js"].decode()
    assert PRECACHE_MARKER not in worker
    listed = json.loads(re.fullmatch(r"const PRECACHE = (.*);\n", worker, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert listed == sorted(listed, key=lambda entry: (entry[0] != "./", entry[0]))
    assert {name for name, _ in listed} == {"./", *files} - {"sw.js"}
    for name, digest in listed:
        assert digest == hashlib.sha256(files["index.html" if name == "./" else name]).hexdigest()
    assert app_files() is files  # built once per process
    (dist / "app.js").write_text('console.log("changed");\n')
    os.utime(dist / "app.js", (1, 1))
    assert app_files()["sw.js"] != files["sw.js"]  # a new build: a new service worker


def test_messages_in_four_languages(dist: Path) -> None:
    files = app_files()
    for language, direction in {"en": "ltr", "es": "ltr", "zh-Hans": "ltr", "ar": "rtl"}.items():
        catalog = json.loads(files[f"messages/{language}.json"])
        _ = translator(language)
        assert catalog["lang"] == language and catalog["dir"] == direction and catalog["name"]
        assert set(catalog["messages"]) == js_messages()
        assert catalog["refusals"]["claims_exceed_policy"] == refusal(_, "claims_exceed_policy")
        assert catalog["refusals"]["registry_rollback"] == refusal(_, "registry")
        assert set(catalog["claims"]) >= {"resident_of", "age_over_18", "birthdate", "address"}
        assert set(catalog["cards"]) == {"residency", "identity"}
        assert set(catalog["verifiers"]) == set(verifier_names()) and len(verifier_names()) >= 10
        if language != "en":
            library = "Riverton Public Library, circulation desks"
            assert catalog["verifiers"][library] != library
            assert catalog["refusals"]["claims_exceed_policy"] != refusal(translator("en"), "claims_exceed_policy")
    assert (
        "Biblioteca" in json.loads(files["messages/es.json"])["verifiers"]["Riverton Public Library, circulation desks"]
    )


def test_js_messages_are_read_as_js_strings(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "ui").mkdir(parents=True)
    (source / "node_modules").mkdir()
    (source / "ui" / "home.js").write_text(
        'el.textContent = _("Say \\"yes\\" or no") + _("Caf\\u00e9 {name}", {name}) + x_("not this");\n'
        "t(_('single quotes are not messages'));\n"
    )
    (source / "node_modules" / "dep.js").write_text('_("from a dependency")\n')
    assert js_messages(tmp_path) == {'Say "yes" or no', "Café {name}"}


def test_not_built_is_a_clear_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYID_WALLET_APP", str(tmp_path / "nowhere"))
    with pytest.raises(AppNotBuilt, match="npm run build"):
        app_files()
    with running_issuer(tmp_path / "issuer") as issuer:
        response = issuer.client.get("/wallet/")
        assert response.status_code == 503 and "text/html" in response.headers["content-type"]
        assert "not built" in response.text and "npm run build" in response.text
        assert response.headers["content-security-policy"] == CSP
    result = CliRunner().invoke(cli, ["wallet", "app", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "app_not_built" in result.output and "npm run build" in result.output
    assert not (tmp_path / "out").exists()


def test_wallet_app_writes_the_served_files(dist: Path, tmp_path: Path) -> None:
    out = tmp_path / "site" / "wallet"
    result = CliRunner().invoke(cli, ["wallet", "app", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "gzip" in result.output
    files = app_files()
    written = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {name: data for name, data in written.items() if not name.startswith(".")} == dict(files)
    again = CliRunner().invoke(cli, ["wallet", "app", "--out", str(out)])  # its own output is replaced
    assert again.exit_code == 0, again.output
    assert [p.name for p in out.parent.iterdir()] == ["wallet"]  # no staging left behind

    foreign = tmp_path / "www"
    foreign.mkdir()
    (foreign / "index.html").write_text("the city's home page\n")
    refused = CliRunner().invoke(cli, ["wallet", "app", "--out", str(foreign)])
    assert refused.exit_code == 2 and "output_not_empty" in refused.output
    assert (foreign / "index.html").read_text() == "the city's home page\n"
    forced = CliRunner().invoke(cli, ["wallet", "app", "--out", str(foreign), "--force"])
    assert forced.exit_code == 0 and (foreign / "app.js").is_file()
    assert re.search(r"same\s+origin", CliRunner().invoke(cli, ["wallet", "app", "--help"]).output)


def test_the_offer_page_links_to_the_phone_wallet(tmp_path: Path) -> None:
    with running_issuer(tmp_path / "issuer") as issuer:
        issuer.clerk("alice")
        created = issuer.offer()
    for language in ("en", "ar"):
        page = _offer_body(translator(language), created, 10, "https://id.riverton.example/")
        link = re.search(r'<p id="app-link" class="app-link">([^<]+)</p>', page)
        assert link is not None
        prefix = "https://id.riverton.example/wallet/#offer="
        assert link.group(1).startswith(prefix) and "&" not in link.group(1) and "?" not in link.group(1)[len(prefix) :]
        assert unquote(link.group(1).removeprefix(prefix)) == created.offer_uri
        assert page.count("<svg") == 2 and '<div class="qr">' in page and '<div class="qr-app">' in page
    assert "Open the city wallet on your phone" in _offer_body(translator("en"), created, 10, "https://x.example")
