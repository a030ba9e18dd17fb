"""The signed policy registry: it verifies as signed, and any change, rollback or over-asking
request is refused with a reason code."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_support import CLEAN, claim, policy
from typer.testing import CliRunner

from cityid.cli import app
from credential import (
    CredentialError,
    KeySet,
    PolicyError,
    Reason,
    SignatureError,
    SigningKey,
    decode_request_text,
    encode_request_text,
    new_request,
    sign_jwt,
)
from policies import (
    REGISTRY_TYP,
    Policy,
    UnapprovedPoliciesError,
    bundled_catalog,
    check_request,
    default_catalogue,
    load_policies,
    sign_registry,
    verify_registry,
)

NOW = 1_795_500_000  # 2026-11-24 06:00 UTC
BOARD = SigningKey.generate("ES256", kid="board-1")
TRUSTED = KeySet([BOARD.verifying_key()])
CATALOGUE = default_catalogue()
APPROVED = tuple(
    loaded.policy
    for loaded in load_policies([bundled_catalog()])
    if loaded.policy is not None and loaded.policy.id != "bank-account-opening"
)


def signed(policies: tuple[Policy, ...] = APPROVED, *, version: int = 3, key: SigningKey = BOARD) -> str:
    return sign_registry(
        policies,
        key,
        issuer="Riverton Policy Board",
        version=version,
        now=NOW,
        lifetime=86_400 * 30,
        catalogue=CATALOGUE,
    )


TOKEN = signed()


def request_for(policy_id: str, claims: tuple[str, ...], *, expires_in: int = 300):  # type: ignore[no-untyped-def]
    return new_request(
        policy=policy_id, claims=claims, audience="desk:test", now=NOW, lifetime=expires_in, random_bytes=bytes(16)
    )


def test_a_signed_registry_verifies_to_the_same_policies() -> None:
    registry = verify_registry(TOKEN, TRUSTED, now=NOW)
    assert registry.version == 3 and registry.issuer == "Riverton Policy Board"
    assert {key: value.to_json() for key, value in registry.policies.items()} == {p.id: p.to_json() for p in APPROVED}


def test_signing_refuses_policies_with_errors() -> None:
    bank = next(loaded.policy for loaded in load_policies([bundled_catalog()]) if loaded.policy)
    assert bank.id == "bank-account-opening"
    with pytest.raises(UnapprovedPoliciesError) as caught:
        signed((*APPROVED, bank))
    assert {f.policy for f in caught.value.errors} == {"bank-account-opening"}
    with pytest.raises(UnapprovedPoliciesError):
        signed((CLEAN, CLEAN))  # duplicate ids


def _flip(token: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    replacement = alphabet[(alphabet.index(token[index]) + 1) % len(alphabet)] if token[index] in alphabet else "A"
    return token[:index] + replacement + token[index + 1 :]


def _refused(token: str) -> Reason:
    with pytest.raises(CredentialError) as caught:
        verify_registry(token, TRUSTED, now=NOW)
    return caught.value.reason


def test_changing_any_single_character_is_refused() -> None:
    """Every header and signature position, and every 7th payload position, changed once."""
    header_end, signature_start = TOKEN.index("."), TOKEN.rindex(".")
    positions = [
        *range(header_end + 1),
        *range(header_end + 1, signature_start, 7),
        *range(signature_start, len(TOKEN)),
    ]
    reasons = {_refused(_flip(TOKEN, index)) for index in positions}
    assert reasons <= {
        Reason.BAD_SIGNATURE,
        Reason.BAD_ENCODING,
        Reason.BAD_JSON,
        Reason.MALFORMED,
        Reason.UNSUPPORTED_ALGORITHM,
        Reason.WRONG_TYPE,
        Reason.UNKNOWN_KEY,
    }
    assert Reason.BAD_SIGNATURE in reasons


@given(st.integers(0, len(TOKEN) - 1), st.integers(1, 255))
def test_changing_any_byte_of_the_file_is_refused(index: int, delta: int) -> None:
    raw = bytearray(TOKEN.encode())
    raw[index] = (raw[index] + delta) % 256
    text = raw.decode("latin-1")
    if text.strip() == TOKEN:  # only whitespace at the ends changed, which a file may carry
        return
    _refused(text)


def test_another_key_or_type_is_refused() -> None:
    stranger = SigningKey.generate("ES256", kid="board-1")
    assert _refused(signed(key=stranger)) is Reason.BAD_SIGNATURE
    assert _refused(signed(key=SigningKey.generate("ES256", kid="other"))) is Reason.UNKNOWN_KEY
    payload = json.loads(__import__("base64").urlsafe_b64decode(TOKEN.split(".")[1] + "=="))
    assert (
        _refused(sign_jwt({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "board-1"}, payload, BOARD)) is Reason.WRONG_TYPE
    )
    assert _refused(sign_jwt({"alg": "none", "typ": REGISTRY_TYP, "kid": "board-1"}, payload, BOARD)) is (
        Reason.UNSUPPORTED_ALGORITHM
    )


def _signed_payload(**changes: object) -> str:
    payload = {"iss": "Board", "iat": NOW, "exp": NOW + 100, "version": 1, "policies": [CLEAN.to_json()]}
    payload.update(changes)
    return sign_jwt({"alg": "ES256", "typ": REGISTRY_TYP, "kid": "board-1"}, payload, BOARD)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": NOW}, Reason.REGISTRY_EXPIRED),
        ({"iat": NOW + 3600}, Reason.INVALID_REGISTRY),
        ({"version": 0}, Reason.INVALID_REGISTRY),
        ({"version": "3"}, Reason.INVALID_REGISTRY),
        ({"iss": ""}, Reason.INVALID_REGISTRY),
        ({"policies": []}, Reason.INVALID_REGISTRY),
        ({"policies": [CLEAN.to_json(), CLEAN.to_json()]}, Reason.INVALID_REGISTRY),
        ({"policies": [{**CLEAN.to_json(), "max_status_age": "3d"}]}, Reason.INVALID_REGISTRY),  # not canonical
        ({"policies": [{**CLEAN.to_json(), "claims": {}}]}, Reason.INVALID_REGISTRY),
        ({"policies": ["library-card"]}, Reason.INVALID_REGISTRY),
    ],
)
def test_a_validly_signed_but_wrong_registry_is_refused(changes: dict[str, object], reason: Reason) -> None:
    assert _refused(_signed_payload(**changes)) is reason


def test_an_older_registry_is_refused_as_a_rollback() -> None:
    verify_registry(TOKEN, TRUSTED, now=NOW, minimum_version=3)
    with pytest.raises(PolicyError) as caught:
        verify_registry(TOKEN, TRUSTED, now=NOW, minimum_version=4)
    assert caught.value.reason is Reason.REGISTRY_ROLLBACK


REGISTRY = verify_registry(TOKEN, TRUSTED, now=NOW)


def test_a_request_within_its_policy_is_accepted() -> None:
    assert check_request(request_for("library-card", ("resident_of",)), REGISTRY, now=NOW).id == "library-card"
    clinic = request_for("clinic-registration", ("given_name", "family_name"))  # fewer claims is fine
    assert check_request(clinic, REGISTRY, now=NOW).id == "clinic-registration"


@pytest.mark.parametrize(
    ("policy_id", "claims", "reason"),
    [
        ("library-card", ("resident_of", "age_over_18"), Reason.CLAIMS_EXCEED_POLICY),
        ("senior-discount", ("birthdate",), Reason.CLAIMS_EXCEED_POLICY),
        ("clinic-registration", ("given_name", "family_name", "birthdate", "address"), Reason.CLAIMS_EXCEED_POLICY),
        ("bank-account-opening", ("given_name",), Reason.UNKNOWN_POLICY),
    ],
)
def test_a_request_beyond_its_policy_is_refused(policy_id: str, claims: tuple[str, ...], reason: Reason) -> None:
    with pytest.raises(PolicyError) as caught:
        check_request(request_for(policy_id, claims), REGISTRY, now=NOW)
    assert caught.value.reason is reason


def test_one_claim_more_than_every_policy_allows_is_refused() -> None:
    every_claim = set(CATALOGUE.claims)
    for approved in APPROVED:
        for extra in sorted(every_claim - set(approved.claim_names)):
            with pytest.raises(PolicyError) as caught:
                check_request(request_for(approved.id, (*approved.claim_names, extra)), REGISTRY, now=NOW)
            assert caught.value.reason is Reason.CLAIMS_EXCEED_POLICY


def test_expired_requests_and_policies_are_refused() -> None:
    request = request_for("library-card", ("resident_of",))
    with pytest.raises(PolicyError) as caught:
        check_request(request, REGISTRY, now=request.expires_at)
    assert caught.value.reason is Reason.REQUEST_EXPIRED
    with pytest.raises(PolicyError) as caught:
        check_request(replace(request, expires_at=NOW + 2 * 86_400), REGISTRY, now=NOW)
    assert caught.value.reason is Reason.INVALID_REQUEST
    short_lived = policy(valid_until=dt.date(2026, 11, 24))  # the day of NOW
    registry = verify_registry(signed((short_lived,)), TRUSTED, now=NOW)
    tomorrow = NOW + 86_400
    fresh = replace(request, expires_at=tomorrow + 300)
    with pytest.raises(PolicyError) as caught:
        check_request(fresh, registry, now=tomorrow)
    assert caught.value.reason is Reason.POLICY_EXPIRED


def test_request_text_survives_the_round_trip_into_the_check() -> None:
    text = encode_request_text(request_for("tenant-legal-aid", ("resident_of", "given_name", "family_name")))
    assert check_request(decode_request_text(text), REGISTRY, now=NOW).id == "tenant-legal-aid"


def test_cli_keygen_sign_verify_and_tamper(tmp_path: Path) -> None:
    runner = CliRunner()
    key, jwks, registry = tmp_path / "board.jwk", tmp_path / "board.jwks", tmp_path / "registry.jwt"
    assert runner.invoke(app, ["policies", "keygen", "--out", str(key), "--public", str(jwks)]).exit_code == 0
    assert key.stat().st_mode & 0o077 == 0
    assert runner.invoke(app, ["policies", "keygen", "--out", str(key), "--public", str(jwks)]).exit_code == 2

    refused = runner.invoke(app, ["policies", "sign", "--key", str(key), "--version", "1", "--out", str(registry)])
    assert refused.exit_code == 1 and not registry.exists()

    approved = tmp_path / "approved"
    approved.mkdir()
    for path in bundled_catalog().glob("*.toml"):
        if path.stem != "bank-account-opening":
            (approved / path.name).write_bytes(path.read_bytes())
    sign = ["policies", "sign", str(approved), "--key", str(key), "--version", "2", "--out", str(registry)]
    assert runner.invoke(app, sign).exit_code == 0

    verify = ["policies", "verify", str(registry), "--board-jwks", str(jwks), "--json"]
    result = runner.invoke(app, verify)
    assert result.exit_code == 0 and json.loads(result.output)["version"] == 2

    token = registry.read_text().strip()
    middle = len(token) // 2
    registry.write_text(token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :])
    result = runner.invoke(app, verify)
    assert result.exit_code == 1
    assert json.loads(result.output)["reason"] in {"bad_signature", "bad_json", "bad_encoding"}


def test_cli_request_and_check(tmp_path: Path) -> None:
    runner = CliRunner()
    key, jwks, registry = tmp_path / "board.jwk", tmp_path / "board.jwks", tmp_path / "registry.jwt"
    runner.invoke(app, ["policies", "keygen", "--out", str(key), "--public", str(jwks)])
    approved = tmp_path / "approved"
    approved.mkdir()
    (approved / "library-card.toml").write_bytes((bundled_catalog() / "library-card.toml").read_bytes())
    runner.invoke(app, ["policies", "sign", str(approved), "--key", str(key), "--version", "1", "--out", str(registry)])
    trust = ["--registry", str(registry), "--board-jwks", str(jwks)]
    png = tmp_path / "request.png"
    made = runner.invoke(
        app,
        [
            "verifier",
            "request",
            "--policy",
            "library-card",
            "--audience",
            "desk:lib",
            *trust,
            "--png",
            str(png),
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    request = json.loads(made.output)
    assert request["claims"] == ["resident_of"] and request["qr_version"] <= 6
    for given_as in (request["request"], str(png)):
        checked = runner.invoke(app, ["policies", "check", given_as, *trust, "--json"])
        assert checked.exit_code == 0 and json.loads(checked.output)["policy"] == "library-card"

    over = runner.invoke(
        app,
        [
            "verifier",
            "request",
            "--policy",
            "library-card",
            "--audience",
            "desk:lib",
            "--claims",
            "resident_of,age_over_18",
            *trust,
        ],
    )
    assert over.exit_code == 1 and "claims_exceed_policy" in over.output

    garbage = runner.invoke(app, ["policies", "check", "CIDR1:%%%", *trust, "--json"])
    assert garbage.exit_code == 1 and json.loads(garbage.output)["reason"] == "bad_encoding"


def test_hostile_registry_signatures_never_crash() -> None:
    assert _refused("") is Reason.MALFORMED
    assert _refused("a.b") is Reason.MALFORMED
    assert _refused("x" * 600_000) is Reason.TOO_LARGE
    header = sign_jwt(
        {"alg": "ES256", "typ": REGISTRY_TYP, "kid": "board-1"}, {"policies": [[[[[[[[[[1]]]]]]]]]]}, BOARD
    )
    assert _refused(header) is Reason.TOO_DEEP


def test_signature_error_family() -> None:
    with pytest.raises(SignatureError):
        verify_registry(signed(key=SigningKey.generate("ES256", kid="board-1")), TRUSTED, now=NOW)
    assert claim("resident_of").name == "resident_of"
