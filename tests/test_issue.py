"""Issuance: the shape of what the city signs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import ISS, NOW, RESIDENCY_CLAIMS, STATUS, Keys, counter_bytes, issue_any, issue_residency

from cityid.demo import RESIDENT
from credential import IDENTITY, RESIDENCY, Reason, UsageError, issue_credential, parse_issued
from credential._encoding import b64url_decode
from credential._sdjwt import digest

DAY = 86_400


def _segments(issued: str) -> tuple[dict[str, Any], dict[str, Any], list[list[Any]]]:
    jwt, *disclosures, last = issued.split("~")
    header, payload, _ = (json.loads(b64url_decode(part)) if i < 2 else part for i, part in enumerate(jwt.split(".")))
    assert last == "", "an issued credential ends with '~'"
    return header, payload, [json.loads(b64url_decode(d)) for d in disclosures]


def test_residency_credential_has_the_sd_jwt_vc_shape(keys: Keys) -> None:
    header, payload, disclosures = _segments(issue_residency(keys))
    assert header == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}
    assert payload["iss"] == ISS
    assert payload["vct"] == RESIDENCY.vct
    assert payload["cnf"] == {"jwk": keys.holder.public_jwk()}
    assert payload["status"] == {"status_list": {"idx": STATUS.idx, "uri": STATUS.uri}}
    assert payload["_sd_alg"] == "sha-256"
    # Every user claim is a disclosure; none is in the payload in the clear.
    assert not set(RESIDENCY_CLAIMS) & set(payload)
    assert {name: value for _, name, value in disclosures} == RESIDENCY_CLAIMS
    assert len(payload["_sd"]) == len(RESIDENCY_CLAIMS)
    assert payload["_sd"] == sorted(payload["_sd"]), "digest order must not reveal claim order"


def test_timestamps_are_rounded_to_the_day(keys: Keys) -> None:
    _, morning, _ = _segments(issue_residency(keys, now=NOW - NOW % DAY + 3600))
    _, evening, _ = _segments(issue_residency(keys, now=NOW - NOW % DAY + 80_000))
    assert morning["iat"] == evening["iat"] == NOW - NOW % DAY
    assert morning["exp"] == evening["exp"] == morning["iat"] + RESIDENCY.validity_days * DAY


def test_salts_are_128_bits_and_never_repeat(keys: Keys) -> None:
    salts = [salt for _ in range(20) for salt, *_ in _segments(issue_residency(keys))[2]]
    assert all(len(b64url_decode(salt)) == 16 for salt in salts)
    assert len(set(salts)) == len(salts)


def test_randomness_is_an_argument_so_issuance_is_reproducible(keys: Keys) -> None:
    first = issue_residency(keys, random_bytes=counter_bytes())
    second = issue_residency(keys, random_bytes=counter_bytes())
    assert first == second  # deterministic salts and RFC 6979 signatures
    assert issue_residency(keys) != issue_residency(keys)


def test_nested_claims_are_disclosable_one_by_one(keys: Keys) -> None:
    claims = RESIDENT
    holder = keys.holder.public_jwk()
    issued = issue_credential(IDENTITY, claims, issuer_key=keys.issuer, iss=ISS, holder_jwk=holder, now=NOW)
    held = parse_issued(issued)
    assert held.claims["address"] == claims["address"]
    paths = {path for path, _ in held.paths}
    assert ("address",) in paths and ("address", "postal_code") in paths


def test_array_elements_are_disclosable(keys: Keys) -> None:
    held = parse_issued(issue_any(keys, {"languages": ["es", "en"]}))
    assert held.claims["languages"] == ["es", "en"]
    assert {path for path, _ in held.paths} == {("languages",), ("languages", 0), ("languages", 1)}


def test_decoys_add_digests_that_match_nothing(keys: Keys) -> None:
    issued = issue_any(keys, {"a": 1, "b": {"c": 2}}, decoys=3)
    _, payload, disclosures = _segments(issued)
    assert len(payload["_sd"]) == 2 + 3
    real = {digest(d) for d in issued.split("~")[1:-1]}
    assert len(set(payload["_sd"]) - real) == 3
    assert parse_issued(issued).claims["b"] == {"c": 2}
    assert len(disclosures) == 3


@pytest.mark.parametrize(
    "claims",
    [
        {**RESIDENCY_CLAIMS, "extra": True},
        {name: value for name, value in RESIDENCY_CLAIMS.items() if name != "age_over_65"},
        {**RESIDENCY_CLAIMS, "age_over_18": "yes"},
        {**RESIDENCY_CLAIMS, "resident_of": ""},
        {**RESIDENCY_CLAIMS, "resident_of": "x" * 201},
    ],
)
def test_a_residency_credential_has_exactly_its_claims(keys: Keys, claims: dict[str, Any]) -> None:
    with pytest.raises(UsageError) as caught:
        issue_credential(RESIDENCY, claims, issuer_key=keys.issuer, iss=ISS, holder_jwk=None, now=NOW)
    assert caught.value.reason is Reason.INVALID_CLAIMS


@pytest.mark.parametrize("birthdate", ["14/06/1991", "1991-6-14", "1991-02-30", 19910614, "19910614"])
def test_identity_birthdate_must_be_an_iso_date(keys: Keys, birthdate: object) -> None:
    claims = {
        "given_name": "Ana",
        "family_name": "Flores",
        "birthdate": birthdate,
        "address": dict.fromkeys(("street_address", "locality", "region", "postal_code", "country"), "x"),
        "resident_of": "Riverton",
    }
    with pytest.raises(UsageError):
        issue_credential(IDENTITY, claims, issuer_key=keys.issuer, iss=ISS, holder_jwk=None, now=NOW)


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://evil.example"},
        {"cnf": {}},
        {"_sd_alg": "md5"},
        {"nested": {"_sd": ["x"]}},
        {"nested": {"...": "x"}},
        {"value": float("nan")},
        {"value": b"bytes"},
        {"value": ("tuple",)},
        {"value": "\ud800"},
        {"value": 2**53 + 1},
        {1: "non-string name"},
    ],
)
def test_generic_issuance_refuses_claims_it_cannot_sign_faithfully(keys: Keys, claims: dict[Any, Any]) -> None:
    with pytest.raises(UsageError) as caught:
        issue_any(keys, claims)
    assert caught.value.reason is Reason.INVALID_CLAIMS


def test_an_unbound_credential_has_no_cnf(keys: Keys) -> None:
    _, payload, _ = _segments(issue_any(keys, {"a": 1}, holder_jwk=None))
    assert "cnf" not in payload
