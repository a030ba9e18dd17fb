"""SD-JWT VC Type Metadata and the issuer metadata as other makers' clients read it.

Each credential type is published at its https ``vct`` with display names and claim labels in
the city's four languages, and credentials carry the SRI hash of the exact bytes served there.
Credentials issued before, under the type's URN, still verify at a desk and with ``cityid
verify`` until they expire. Clients read issuer metadata that gives its keys by reference
(``jwks_uri``) and find it for an issuer URL with a path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from desk_support import World, answer, make_world
from issuer_support import ISSUER_URL, running_issuer
from support import DELETE, ISS, Keys, counter_bytes, issue_residency, present_to_desk, resign_issuer_jwt
from typer.testing import CliRunner

from cityid.cli import app
from credential import (
    ADDRESS_FIELDS,
    IDENTITY,
    RESIDENCY,
    KeySet,
    SigningKey,
    TypeReference,
    credential_type_of,
    encode_qr_text,
    jwk_thumbprint,
    parse_issued,
)
from edges.fingerprint import trust_fingerprint
from edges.i18n import LANGUAGES, translator
from edges.issuermetadata import jwt_vc_issuer_url
from edges.qrimage import make_qr
from edges.words import claim_label
from issuer.app import create_app
from issuer.settings import IssuerSettings, SettingsError
from issuer.typemetadata import published_types
from verifier.engine import Desk
from verifier.sync import SyncError, anchors_from, load_trust

RESIDENCY_VCT = f"{ISSUER_URL}/types/residency/1"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("type-metadata")
    with running_issuer(folder / "issuer") as issuer:
        world = make_world(issuer, folder / "desk", count=2)
        world.sync()
        yield world


def _payload(credential: str) -> dict[str, Any]:
    return parse_issued(credential).payload


def _sri(data: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_each_type_is_described_at_its_vct_in_four_languages(world: World) -> None:
    for kind in (RESIDENCY, IDENTITY):
        vct = f"{ISSUER_URL}/types/{kind.name}/1"
        response = world.issuer.client.get(vct)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        document = response.json()
        assert document["vct"] == vct
        assert [entry["locale"] for entry in document["display"]] == list(LANGUAGES) == ["en", "es", "zh-Hans", "ar"]
        assert all(entry["name"].strip() for entry in document["display"])
        top_level = [claim for claim in document["claims"] if len(claim["path"]) == 1]
        assert [claim["path"][0] for claim in top_level] == list(kind.claims)
        for claim in document["claims"]:
            assert claim["sd"] == "always" and claim["mandatory"] is True  # every claim is its own disclosure
        for claim in top_level:
            labels = {entry["locale"]: entry["label"] for entry in claim["display"]}
            assert labels == {language: claim_label(translator(language), claim["path"][0]) for language in LANGUAGES}
            assert labels["es"] != labels["en"] and labels["ar"] != labels["en"]  # translated, not copied


def test_identity_address_members_are_described_as_disclosable_one_by_one(world: World) -> None:
    document = world.issuer.client.get(f"{ISSUER_URL}/types/identity/1").json()
    members = [claim["path"] for claim in document["claims"] if len(claim["path"]) > 1]
    assert members == [["address", field] for field in ADDRESS_FIELDS]


def test_vct_integrity_is_the_hash_of_the_served_bytes_and_the_document_is_cacheable(world: World) -> None:
    for received in (world.residency[0], world.identity[0]):
        payload = _payload(received.credential)
        assert payload["vct"] == f"{ISSUER_URL}/types/{received.configuration}/1"
        response = world.issuer.client.get(payload["vct"])
        assert payload["vct#integrity"] == _sri(response.content)
        assert "max-age=" in response.headers["cache-control"] and "public" in response.headers["cache-control"]
    assert (
        published_types(f"{ISSUER_URL}/types")["residency"].integrity
        == _payload(world.residency[1].credential)["vct#integrity"]
    )  # every credential of a type names the same document


def test_jwt_vc_issuer_metadata_is_cacheable(world: World) -> None:
    response = world.issuer.client.get("/.well-known/jwt-vc-issuer")
    assert response.json()["issuer"] == ISSUER_URL
    assert response.headers["cache-control"].startswith("public, max-age=")


def test_a_desk_accepts_credentials_under_the_new_vct_and_the_old_urn(world: World) -> None:
    desk, now = Desk(load_trust(world.data)), int(time.time())
    old = _as_issued_before(world, world.residency[1].credential)
    assert _payload(old)["vct"] == "urn:cityid:residency:1" and "vct#integrity" not in _payload(old)
    for item in (world.residency[0], replace(world.residency[1], credential=old)):
        request = desk.new_request("library-card", audience="desk:lib", now=now)
        result = desk.check(answer(item, request, now=now), request=request, now=now)
        assert (result.valid, result.claims) == (True, {"resident_of": "Riverton"}), result


def _as_issued_before(world: World, credential: str) -> str:
    """``credential`` as this issuer made it before publishing its types: the same claims and
    signing key, under the type's URN and without ``vct#integrity``."""
    runtime = world.issuer.client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.reading() as session:
        key = runtime.signing_key(session)
    keys = Keys(key, key, KeySet([key.verifying_key()]))
    return resign_issuer_jwt(keys, credential, vct="urn:cityid:residency:1", **{"vct#integrity": DELETE})


def _verify(proof: str, folder: Path, keys: Keys) -> tuple[int, dict[str, Any], str]:
    (folder / "jwks.json").write_text(json.dumps(keys.trusted.to_jwks()))
    arguments = ["verify", encode_qr_text(proof), "--issuer-jwks", str(folder / "jwks.json"), "--nonce",
                 "n0nce-for-the-desk", "--audience", "desk:library"]  # fmt: skip
    runner = CliRunner()
    parsed = json.loads(runner.invoke(app, [*arguments, "--json"]).stdout)
    human = runner.invoke(app, arguments)
    return human.exit_code, parsed, human.stdout


@pytest.mark.parametrize("reference", [None, TypeReference(f"{ISS}/types/residency/1", "sha256-" + "A" * 43 + "=")])
def test_cityid_verify_accepts_the_old_urn_and_the_https_vct(tmp_path: Path, reference: TypeReference | None) -> None:
    keys = _fixed_keys()
    now = int(time.time())
    proof = present_to_desk(keys, issue_residency(keys, now=now, type_reference=reference), now=now)
    code, result, output = _verify(proof, tmp_path, keys)
    assert (code, result["valid"], result["reason"]) == (0, True, "ok")
    assert result["vct"] == ("urn:cityid:residency:1" if reference is None else reference.vct)
    assert credential_type_of(result["vct"]) is RESIDENCY
    assert "Proof of residency" in output  # the type is recognised under either name


def test_disclosed_claims_are_type_checked_under_the_https_vct_too() -> None:
    assert credential_type_of("https://id.elsewhere.example/cards/types/identity/1") is IDENTITY
    assert credential_type_of("urn:cityid:identity:1") is IDENTITY
    assert credential_type_of("https://id.riverton.example/types/residency/2") is None  # another version
    assert credential_type_of("urn:other:residency:1") is None


def test_a_desk_takes_issuer_keys_given_by_jwks_uri(world: World) -> None:
    client = world.issuer.client
    metadata = client.get("/.well-known/jwt-vc-issuer").json()
    by_reference = {"issuer": metadata["issuer"], "jwks_uri": f"{ISSUER_URL}/keys.jwks"}
    registry = {"registry": (world.issuer.settings.data / "registry.jwt").read_text(), "board_jwks": world.board_jwks}
    pages = {f"{ISSUER_URL}/.well-known/jwt-vc-issuer": json.dumps(by_reference),
             f"{ISSUER_URL}/keys.jwks": json.dumps(metadata["jwks"]),
             f"{ISSUER_URL}/registry": json.dumps(registry)}  # fmt: skip
    fingerprint = trust_fingerprint(metadata["jwks"], world.board_jwks)
    issuer_jwks, board_jwks = anchors_from(ISSUER_URL, pages.__getitem__, fingerprint)
    assert (issuer_jwks, board_jwks) == (metadata["jwks"], world.board_jwks)

    both = {**by_reference, "jwks": metadata["jwks"]}
    with pytest.raises(SyncError) as refused:
        anchors_from(ISSUER_URL, {**pages, f"{ISSUER_URL}/.well-known/jwt-vc-issuer": json.dumps(both)}.__getitem__,
                     fingerprint)  # fmt: skip
    assert refused.value.reason == "invalid_issuer_metadata"
    another = {"issuer": "https://id.elsewhere.example", "jwks": metadata["jwks"]}
    with pytest.raises(SyncError) as refused:
        anchors_from(ISSUER_URL, {**pages, f"{ISSUER_URL}/.well-known/jwt-vc-issuer": json.dumps(another)}.__getitem__,
                     fingerprint)  # fmt: skip
    assert refused.value.reason == "invalid_issuer_metadata"


def test_the_well_known_part_goes_between_host_and_path() -> None:
    assert jwt_vc_issuer_url("https://city.example") == "https://city.example/.well-known/jwt-vc-issuer"
    assert jwt_vc_issuer_url("https://city.example/id/") == "https://city.example/.well-known/jwt-vc-issuer/id"
    assert (
        jwt_vc_issuer_url("https://city.example:8443/a/b") == "https://city.example:8443/.well-known/jwt-vc-issuer/a/b"
    )


def test_an_issuer_url_with_a_path_serves_its_metadata_and_types_where_clients_look(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient  # noqa: PLC0415
    from issuer_support import initialise, settings_for  # noqa: PLC0415

    base = "https://city.example/id"
    settings = settings_for(tmp_path, None).model_copy(update={"issuer_url": base, "vct_base_url": f"{base}/cards"})
    engine = initialise(settings)
    with TestClient(create_app(settings, engine=engine), base_url="https://city.example") as client:
        metadata = client.get(jwt_vc_issuer_url(base))  # /.well-known/jwt-vc-issuer/id
        assert metadata.status_code == 200 and metadata.json()["issuer"] == base
        assert metadata.headers["cache-control"].startswith("public, max-age=")
        assert len(KeySet.from_jwks(metadata.json())) >= 1
        # Behind the proxy that strips the issuer's path, as every other route of the issuer is served:
        document = client.get("/cards/residency/1")
        assert document.json()["vct"] == f"{base}/cards/residency/1"
    engine.dispose()


def test_a_vct_base_outside_the_issuer_url_stops_start_up(tmp_path: Path) -> None:
    settings = IssuerSettings(data=tmp_path, issuer_url=ISSUER_URL, vct_base_url="https://types.elsewhere.example")
    with pytest.raises(SettingsError, match="CITYID_VCT_BASE_URL"):
        create_app(settings, passphrase="correct horse battery staple")
    assert IssuerSettings(issuer_url=ISSUER_URL + "/").type_base_url == f"{ISSUER_URL}/types"


def _fixed_keys() -> Keys:
    """The issuer's kid is its key's JWK thumbprint, as ``issuer/keys.py`` makes it."""
    private = ec.derive_private_key(0x1D, ec.SECP256R1())
    issuer = SigningKey("ES256", private, kid=jwk_thumbprint(SigningKey("ES256", private).public_jwk()))
    holder = SigningKey("ES256", ec.derive_private_key(0x2E, ec.SECP256R1()))
    return Keys(issuer, holder, KeySet([issuer.verifying_key()]))


def test_a_residency_proof_with_the_https_vct_and_its_integrity_still_fits_qr_version_20() -> None:
    keys = _fixed_keys()
    reference = published_types(f"{ISS}/types")["residency"].reference
    proof = present_to_desk(keys, issue_residency(keys, type_reference=reference, random_bytes=counter_bytes()))
    assert make_qr(encode_qr_text(proof)).version <= 20
