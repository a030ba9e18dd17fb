"""``cityid issuer`` commands: set-up, clerks, offers, revocation, rotation and the trust bundle."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from issuer_support import PASSPHRASE, enrolled, running_issuer
from typer.testing import CliRunner

from cityid.cli import app
from credential import KeySet, decode_qr_text, verify_jwt, verify_presentation
from credential._limits import Limits
from edges.keyfile import new_es256_key, public_jwks
from edges.qrimage import decode_qr_image
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry

RUNNER = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYID_ISSUER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CITYID_CLERK_PASSWORD", "a-long-clerk-password")


def run(*arguments: str) -> tuple[int, str]:
    result = RUNNER.invoke(app, list(arguments))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_the_operator_commands_end_to_end(tmp_path: Path, env: None) -> None:
    data = str(tmp_path / "issuer")
    assert run("issuer", "init", "--data", data)[0] == 0
    assert run("issuer", "init", "--data", data)[0] == 0  # again: only migrates
    assert Path(data, "issuer.db").stat().st_mode & 0o077 == 0
    assert run("issuer", "add-clerk", "alice", "--data", data)[0] == 0
    code, output = run("issuer", "add-clerk", "alice", "--data", data)
    assert code == 1 and "clerk_exists" in output

    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(enrolled()))
    code, output = run("issuer", "offer", "--claims", str(claims), "--clerk", "alice", "--data", data, "--json")
    assert code == 0, output
    created = json.loads(output)
    assert created["offer"].startswith("openid-credential-offer://") and re.fullmatch(r"\d{6}", created["pin"])

    code, output = run("issuer", "revoke", created["revocation_code"], "--clerk", "alice", "--data", data)
    assert code == 0 and "Revoked 0 credentials" in output  # nothing issued yet, but the batch is closed

    (tmp_path / "issuer" / "registry.jwt").write_text("REGISTRY.JWT.VALUE\n")
    bundle_file = tmp_path / "trust.jwt"
    assert run("issuer", "export-trust", "--data", data, "--out", str(bundle_file))[0] == 0
    assert run("issuer", "rotate-key", "--data", data)[0] == 0
    bundle = bundle_file.read_text().strip()
    payload = json.loads(__import__("base64").urlsafe_b64decode(bundle.split(".")[1] + "==="))
    keys = KeySet.from_jwks(payload["jwks"])
    verified = verify_jwt(bundle, keys, typ="cityid-trust+jwt", what="bundle", limits=Limits(max_json_bytes=100_000))
    assert verified["policy_registry"] == "REGISTRY.JWT.VALUE"
    assert verified["status_lists"] == ["http://127.0.0.1:8400/status/1"]


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["issuer", "offer", "--claims", "{claims}", "--clerk", "nobody"], "unknown_clerk"),
        (["issuer", "offer", "--claims", "{missing}", "--clerk", "alice"], "unreadable_input"),
        (["issuer", "revoke", "AAAA-BBBB", "--clerk", "alice"], "unknown_revocation_code"),
    ],
)
def test_operator_mistakes_are_reported_with_a_reason(
    tmp_path: Path, env: None, arguments: list[str], reason: str
) -> None:
    data = str(tmp_path / "issuer")
    run("issuer", "init", "--data", data)
    run("issuer", "add-clerk", "alice", "--data", data)
    (tmp_path / "claims.json").write_text(json.dumps(enrolled()))
    filled = [a.format(claims=tmp_path / "claims.json", missing=tmp_path / "nope.json") for a in arguments]
    code, output = run(*filled, "--data", data)
    assert code in {1, 2} and reason in output


def test_missing_passphrase_wrong_passphrase_and_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = str(tmp_path / "issuer")
    monkeypatch.delenv("CITYID_ISSUER_PASSPHRASE", raising=False)
    code, output = run("issuer", "init", "--data", data)
    assert code == 2 and "CITYID_ISSUER_PASSPHRASE" in output
    monkeypatch.setenv("CITYID_ISSUER_PASSPHRASE", "changeme")
    assert run("issuer", "init", "--data", data)[0] == 2  # a placeholder is refused
    code, output = run("issuer", "rotate-key", "--data", str(tmp_path / "elsewhere"))
    assert code == 2 and "not_initialised" in output
    monkeypatch.setenv("CITYID_ISSUER_PASSPHRASE", PASSPHRASE)
    run("issuer", "init", "--data", data)
    monkeypatch.setenv("CITYID_ISSUER_PASSPHRASE", "another long passphrase")
    code, output = run("issuer", "export-trust", "--data", data)
    assert code == 1 and "wrong_passphrase" in output  # read, and refused: edges/exits.py


def _sign_in(client: Any, username: str, password: str) -> Any:
    """Post the sign-in form the way a browser does: with the token of the page's sign-in cookie."""
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/desk").text)
    assert csrf is not None
    form = {"username": username, "password": password, "csrf": csrf.group(1)}
    return client.post("/desk/login", data=form, follow_redirects=False)


def test_the_clerk_desk_pages(tmp_path: Path) -> None:
    with running_issuer(tmp_path) as issuer:
        issuer.clerk("alice")
        client = issuer.client
        page = client.get("/desk")
        assert "Sign in" in page.text and "default-src 'none'" in page.headers["content-security-policy"]
        assert _sign_in(client, "alice", "wrong").status_code == 401
        signed = _sign_in(client, "alice", "clerk-password-1")
        assert signed.status_code == 303
        home = client.get("/desk")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', home.text)
        assert csrf is not None and "Enrol a resident" in home.text
        form = {"given_name": "Ana", "family_name": "Okafor", "birthdate": "1990-05-17", "street_address": "12 Elm",
                "locality": "Riverton", "region": "NY", "postal_code": "10001", "country": "US"}  # fmt: skip
        assert client.post("/desk/offer", data={**form, "csrf": "0" * 64}).status_code == 403
        confirm = client.post("/desk/offer", data={**form, "csrf": csrf.group(1)})
        confirmation = re.search(r'name="confirmation" value="([0-9a-f]+)"', confirm.text)
        assert confirm.status_code == 200 and confirmation is not None and "<svg" not in confirm.text
        confirmed = {"step": "confirm", "action": "create", "confirmation": confirmation.group(1)}
        offer = client.post("/desk/offer", data={**form, "csrf": csrf.group(1), **confirmed})
        assert offer.status_code == 200 and "<svg" in offer.text
        assert re.search(r'class="pin" aria-label="PIN">\d{6}<', offer.text)
        code = re.search(r'class="code">([A-Z0-9-]{19})<', offer.text)
        assert code is not None
        assert not re.search(r'(src|href)="(https?:)?//', offer.text)  # nothing loaded from elsewhere
        revoked = client.post("/desk/revoke", data={"code": code.group(1), "csrf": csrf.group(1)})
        assert revoked.status_code == 200 and "credentials are revoked" in revoked.text
        bad = client.post("/desk/offer", data={**form, "birthdate": "1990-13-45", "csrf": csrf.group(1)})
        assert bad.status_code == 400 and "date" in bad.text
        assert client.post("/desk/logout", data={"csrf": csrf.group(1)}, follow_redirects=False).status_code == 303
        signed_out = client.post("/desk/revoke", data={"code": "x", "csrf": csrf.group(1)})
        assert signed_out.status_code == 401 and "Sign in" in signed_out.text


def test_clerk_password_guessing_locks_the_account(tmp_path: Path) -> None:
    with running_issuer(tmp_path) as issuer:
        issuer.clerk("alice")
        statuses = [_sign_in(issuer.client, "alice", f"guess-{n}").status_code for n in range(11)]
        assert statuses == [401] * 10 + [429]
        right = _sign_in(issuer.client, "alice", "clerk-password-1")
        assert right.status_code == 429  # even the right password waits out the lock


def test_the_desk_prints_a_paper_proof_for_a_resident_without_a_phone(tmp_path: Path) -> None:
    board = new_es256_key()
    chosen = [lp.policy for lp in load_policies([bundled_catalog()])
              if lp.policy and lp.policy.id in {"library-card", "clinic-registration"}]  # fmt: skip
    (tmp_path / "registry.jwt").write_text(sign_registry(chosen, board, issuer="Board", version=1,
                                                         now=int(time.time()), lifetime=86_400,
                                                         catalogue=default_catalogue()))  # fmt: skip
    (tmp_path / "board.jwks").write_text(json.dumps(public_jwks(board)))
    with running_issuer(tmp_path) as issuer:
        issuer.clerk("alice")
        client = issuer.client
        assert _sign_in(client, "alice", "clerk-password-1").status_code == 303
        form_page = client.get("/desk/paper")
        assert 'value="library-card"' in form_page.text and "clinic-registration" not in form_page.text
        spanish = client.get("/desk/paper?lang=es")  # the policy's own title in the page's language
        assert 'lang="es"' in spanish.text and ">Tarjeta de la biblioteca</option>" in spanish.text
        assert client.get("/desk/paper?lang=en").status_code == 200
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form_page.text)
        assert csrf is not None
        canary = "Paperwhite" + "xyz"
        form = {"csrf": csrf.group(1), "policy": "library-card", "language": "es", "given_name": canary,
                "family_name": "Okafor", "birthdate": "1950-02-03", "street_address": "12 Elm", "locality": "Riverton",
                "region": "NY", "postal_code": "10001", "country": "US"}  # fmt: skip
        future = client.post("/desk/paper", data={**form, "birthdate": "2999-01-01"})
        assert future.status_code == 400 and "cannot be in the future" in future.text
        assert f'value="{canary}"' in future.text and 'value="library-card" selected' in future.text
        page = client.post("/desk/paper", data=form)
        assert page.status_code == 200 and re.search(r'class="code">[A-Z0-9-]{19}<', page.text)
        png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
        compact = decode_qr_text(decode_qr_image(png))
        keys = KeySet.from_jwks(client.get("/.well-known/jwt-vc-issuer").json())
        verified = verify_presentation(compact, issuer_keys=keys, audience="-", nonce="-", now=int(time.time()),
                                       unsafe_skip_key_binding=True)  # fmt: skip
        assert verified.claims == {"resident_of": "Riverton"} and verified.holder_jwk is None
        refused = client.post("/desk/paper", data={**form, "policy": "clinic-registration"})
        assert refused.status_code == 400 and "paper" in refused.text
        issuer.engine.dispose()
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("issuer.db*"))
    assert canary.encode() not in stored and b"1950-02-03" not in stored
