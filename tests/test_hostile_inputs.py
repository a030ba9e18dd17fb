"""Hostile proofs of every shape end in a reason code: in the core, at the desk engine, and
through ``cityid verify``; never a traceback, never ``internal_error``.

The corpus (tests/hostile.py) changes one field at a time of a validly signed proof to
each of a set of hostile JSON values, and signs again, so every input reaches the checks
behind the signatures.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hostile import HOSTILE_VALUES, hostile_proofs
from issuer_support import running_issuer
from support import Keys, make_keys
from typer.testing import CliRunner

from cityid.cli import app
from credential import (
    RESIDENCY,
    CredentialError,
    KeySet,
    SigningKey,
    StatusList,
    VerifiedPresentation,
    is_qr_text,
    offline_audience,
    parse_qr_text,
    sign_status_list,
    verify_presentation,
    verify_status_list_token,
)
from credential._jws import sign_jwt
from edges.keyfile import new_es256_key, public_jwks
from issuer.service import PRE_AUTHORIZED
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry, verify_registry
from verifier.app import create_desk_app
from verifier.engine import Desk, Trust
from verifier.sync import TRUST_TYP, sync
from wallet.receive import parse_offer

KEYS: Keys = make_keys()
NOW = int(time.time())
ISS = "https://id.riverton.example"
STATUS_URI = f"{ISS}/status/1"
POLICY = "recreation-centre"
RESIDENCY_CLAIMS = {"resident_of": "Riverton", "age_over_18": True, "age_over_21": True, "age_over_65": False}
BOARD = new_es256_key()
REGISTRY = sign_registry(
    [lp.policy for lp in load_policies([bundled_catalog()]) if lp.policy and lp.policy.id == POLICY],
    BOARD, issuer="Board", version=1, now=NOW, lifetime=86_400, catalogue=default_catalogue(),
)  # fmt: skip
STATUS_TOKEN = sign_status_list(StatusList(1, bytes(128)), KEYS.issuer, uri=STATUS_URI, now=NOW, lifetime=86_400,
                                ttl=60)  # fmt: skip


def _desk() -> Desk:
    trust = Trust(
        issuer_keys=KEYS.trusted,
        status_lists={STATUS_URI: verify_status_list_token(STATUS_TOKEN, KEYS.trusted, uri=STATUS_URI, now=NOW)},
        registry=verify_registry(REGISTRY, KeySet([BOARD.verifying_key()]), now=NOW),
        synced_at=NOW,
    )
    return Desk(trust)


def corpus_for(audience: str, nonce: str, now: int) -> list[tuple[str, str]]:
    return list(hostile_proofs(KEYS, RESIDENCY_CLAIMS, vct=RESIDENCY.vct, audience=audience, nonce=nonce, now=now,
                               status={"status_list": {"idx": 7, "uri": STATUS_URI}}))  # fmt: skip


DESK = _desk()
REQUEST = DESK.new_request(POLICY, audience="desk:recreation", now=NOW)
CORPUS = corpus_for(REQUEST.audience, REQUEST.nonce, NOW)


def test_the_corpus_is_large_and_its_valid_proof_passes() -> None:
    assert len(CORPUS) > 1000
    assert DESK.check(dict(CORPUS)["valid"], request=REQUEST, now=NOW).valid


def test_the_core_only_ever_refuses_with_a_reason() -> None:
    accepted = []
    for label, proof in CORPUS:
        try:
            parts = parse_qr_text(proof) if is_qr_text(proof) else proof
            verified = verify_presentation(parts, issuer_keys=KEYS.trusted, audience=REQUEST.audience,
                                           nonce=REQUEST.nonce, now=NOW)  # fmt: skip
        except CredentialError:
            continue
        assert isinstance(verified, VerifiedPresentation)
        RESIDENCY.check_disclosed(verified.claims)  # what passes is well-typed
        accepted.append(label)
    assert "valid" in accepted and "qr:valid" in accepted


def test_the_desk_engine_never_answers_internal_error() -> None:
    desk = _desk()
    reasons = {}
    for label, proof in CORPUS:
        result = desk.check(proof, request=REQUEST, now=NOW)  # one nonce: a valid proof passes once
        assert result.reason != "internal_error", label
        reasons[label] = result.reason
    assert reasons["valid"] == "ok" and reasons["qr:valid"] == "replayed"


@pytest.fixture(scope="module")
def jwks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "jwks.json"
    path.write_text(json.dumps(KEYS.trusted.to_jwks()))
    return path


def test_cityid_verify_answers_every_hostile_proof_with_a_reason(jwks: Path) -> None:
    runner, now = CliRunner(), int(time.time())
    corpus = corpus_for(REQUEST.audience, REQUEST.nonce, now)
    for label, proof in corpus[::13]:
        result = runner.invoke(app, ["verify", "-", "--issuer-jwks", str(jwks), "--nonce", REQUEST.nonce,
                                     "--audience", REQUEST.audience, "--json"], input=proof)  # fmt: skip
        assert result.exception is None or isinstance(result.exception, SystemExit), (label, result.exception)
        assert result.exit_code in {0, 1, 2}, label
        answer = json.loads(result.stdout)
        assert answer["reason"] and answer["reason"] != "internal_error", label
        assert "Traceback" not in result.output


def _key_proofs(holder: SigningKey, *, audience: str, nonce: str, now: int) -> Iterator[tuple[str, str]]:
    """Hostile OpenID4VCI key proofs, each signed by the key it carries where it can."""
    header = {"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": holder.public_jwk()}
    body = {"aud": audience, "nonce": nonce, "iat": now}
    for number, value in enumerate(HOSTILE_VALUES):
        for name in ("alg", "typ", "jwk", "crit"):  # a kid is ignored: the key is the jwk
            yield f"header.{name}#{number}", sign_jwt({**header, name: value}, body, holder)
        yield f"jwk.x#{number}", sign_jwt({**header, "jwk": {**holder.public_jwk(), "x": value}}, body, holder)
        for name in ("aud", "nonce", "iat", "exp"):
            yield f"body.{name}#{number}", sign_jwt(header, {**body, name: value}, holder)
        yield f"raw#{number}", json.dumps(value)


def test_the_issuer_answers_every_hostile_key_proof_with_a_reason(tmp_path: Path) -> None:
    """Never a 5xx; a refusal always names its reason. A harmless change may be issued, and
    then the next proofs go to a fresh grant (a grant issues each type once)."""
    with running_issuer(tmp_path) as issuer:

        def grant() -> dict[str, str]:
            created = issuer.offer()
            offer = parse_offer(created.offer_uri)
            return issuer.client.post("/token", data={"grant_type": PRE_AUTHORIZED, "pre-authorized_code": offer.code,
                                                      "tx_code": created.pin}).json()  # fmt: skip

        token, issued, count = grant(), 0, len(list(_key_proofs(SigningKey.generate(), audience="", nonce="", now=0)))
        for index in range(count):
            holder = SigningKey.generate()
            proofs = _key_proofs(holder, audience=issuer.settings.issuer_url, nonce=token["c_nonce"],
                                 now=int(time.time()))  # fmt: skip
            label, proof = next(itertools.islice(proofs, index, None))
            for body in ({"credential_configuration_id": "residency", "proofs": {"jwt": [proof]}},
                         {"credential_configuration_id": label, "proofs": {"jwt": [proof, proof]}}):  # fmt: skip
                response = issuer.client.post(
                    "/credential", headers={"Authorization": f"Bearer {token['access_token']}"}, json=body
                )
                if response.status_code == 200:
                    token, issued = grant(), issued + 1
                    continue
                assert 400 <= response.status_code < 500, (label, response.status_code, response.text)
                assert response.json()["reason"] not in {"", "internal_error"}, label
        assert issued <= 2  # only an exp far in the future (2**63, 1e308) is harmless


@pytest.fixture(scope="module")
def synced_desk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A desk data directory synced from a trust package signed by the corpus's issuer key."""
    folder = tmp_path_factory.mktemp("desk")
    bundle = sign_jwt({"alg": "ES256", "typ": TRUST_TYP, "kid": KEYS.issuer.kid},
                      {"iss": ISS, "iat": NOW, "exp": NOW + 86_400, "jwks": KEYS.trusted.to_jwks(),
                       "status_lists": [STATUS_URI], "policy_registry": REGISTRY}, KEYS.issuer)  # fmt: skip
    package = folder / "package.json"
    package.write_text(json.dumps({"bundle": bundle, "status_lists": {STATUS_URI: STATUS_TOKEN}}))
    sync(str(package), folder / "data", fetch=lambda url: "", now=NOW, issuer_jwks=KEYS.trusted.to_jwks(),
         board_jwks=public_jwks(BOARD))  # fmt: skip
    return folder / "data"


def offline_corpus() -> list[tuple[str, str]]:
    """Offline proofs for the desk's policy, made now (the desk app and CLI read the clock)."""
    return corpus_for(offline_audience(POLICY), "an-offline-nonce-of-22", int(time.time()))


def test_the_desk_app_answers_every_hostile_scan_with_a_reason(synced_desk: Path) -> None:
    """As the desk page sends them (text from a handheld scanner), offline proofs for its policy."""
    app = create_desk_app(synced_desk, audience="desk:recreation", allowed_hosts={"testserver"})
    reasons = set()
    with TestClient(app, raise_server_exceptions=False) as client:
        for label, proof in offline_corpus()[::2]:
            response = client.post(f"/api/scan?policy={POLICY}", content=proof.encode(),
                                   headers={"Content-Type": "text/plain", "Origin": "http://testserver"})  # fmt: skip
            assert response.status_code == 200, (label, response.status_code)
            answer = response.json()
            if answer["found"]:
                assert answer["result"]["reason"] not in {"", "internal_error"}, label
                reasons.add(answer["result"]["reason"])
    assert {"ok", "replayed", "invalid_claim", "holder_key_invalid"} <= reasons


def test_verifier_check_answers_every_hostile_proof_with_a_reason(synced_desk: Path) -> None:
    runner = CliRunner()
    for label, proof in offline_corpus()[::23]:
        result = runner.invoke(app, ["verifier", "check", "-", "--policy", POLICY, "--data", str(synced_desk),
                                     "--json"], input=proof)  # fmt: skip
        assert result.exception is None or isinstance(result.exception, SystemExit), (label, result.exception)
        assert result.exit_code in {0, 1, 2}, label
        assert json.loads(result.stdout)["reason"] not in {"", "internal_error"}, label
