"""Verification: every check, each with a passing and a failing case, asserted by reason code.

Where a test needs a credential no honest issuer would sign (a duplicate digest, a reserved
name), it re-signs with the issuer key: the verifier must refuse it even so.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import (
    AUD,
    DELETE,
    ISS,
    NONCE,
    NOW,
    Keys,
    encode_segment,
    issue_any,
    issue_residency,
    make_keys,
    present_to_desk,
    resign_issuer_jwt,
    resign_kb,
    verify_at_desk,
)

from credential import (
    RESIDENCY,
    ClaimsError,
    CredentialError,
    DisclosureError,
    KeyBindingError,
    KeySet,
    Limits,
    MalformedError,
    Reason,
    SignatureError,
    SigningKey,
    VerifyOptions,
    present,
)
from credential._encoding import b64url_decode
from credential._jws import sign_jwt
from credential._sdjwt import digest, make_disclosure


def _reason(keys: Keys, presentation: str, **overrides: Any) -> Reason:
    with pytest.raises(CredentialError) as caught:
        verify_at_desk(keys, presentation, **overrides)
    return caught.value.reason


@pytest.fixture
def proof(keys: Keys) -> str:
    return present_to_desk(keys, issue_residency(keys))


# --- what a valid proof gives ---------------------------------------------------------


def test_valid_proof_returns_only_disclosed_claims(keys: Keys, proof: str) -> None:
    verified = verify_at_desk(keys, proof)
    assert verified.claims == {"resident_of": "Riverton", "age_over_18": True}
    assert set(verified.disclosed) == {("resident_of",), ("age_over_18",)}
    assert verified.issuer == ISS
    assert verified.vct == RESIDENCY.vct
    assert verified.kid == "k1"
    assert verified.key_bound
    assert verified.status is not None and verified.status.idx == 4242
    assert verified.holder_jwk == keys.holder.public_jwk()


def test_eddsa_issuer_and_holder_keys_work(ed_keys: Keys) -> None:
    verified = verify_at_desk(ed_keys, present_to_desk(ed_keys, issue_residency(ed_keys)))
    assert verified.claims == {"resident_of": "Riverton", "age_over_18": True}


def test_disclosing_nothing_proves_only_the_credential_type(keys: Keys) -> None:
    verified = verify_at_desk(keys, present_to_desk(keys, issue_residency(keys), disclose=()))
    assert verified.claims == {}


def test_nested_disclosure_reveals_only_the_chosen_member(keys: Keys) -> None:
    issued = issue_any(keys, {"address": {"locality": "Riverton", "street_address": "48 Orchard Lane"}})
    verified = verify_at_desk(keys, present_to_desk(keys, issued, disclose=[("address", "locality")]))
    assert verified.claims == {"address": {"locality": "Riverton"}}


def test_unbound_proof_passes_only_with_the_labelled_escape_hatch(keys: Keys) -> None:
    paper = issue_any(keys, {"resident_of": "Riverton"}, holder_jwk=None)
    assert _reason(keys, paper) is Reason.KB_MISSING
    verified = verify_at_desk(keys, paper, audience=None, nonce=None, unsafe_skip_key_binding=True)
    assert verified.claims == {"resident_of": "Riverton"}
    assert not verified.key_bound


def test_a_key_binding_jwt_is_checked_even_when_skipping_is_allowed(keys: Keys, proof: str) -> None:
    assert _reason(keys, proof, nonce="other", unsafe_skip_key_binding=True) is Reason.NONCE_MISMATCH


def test_checking_a_key_binding_needs_audience_and_nonce(keys: Keys, proof: str) -> None:
    with pytest.raises(ValueError, match="audience and nonce"):
        verify_at_desk(keys, proof, nonce=None)


@pytest.mark.parametrize("algorithms", [frozenset({"none"}), frozenset({"HS256", "ES256"}), frozenset()])
def test_the_algorithm_allow_list_cannot_be_widened(algorithms: frozenset[str]) -> None:
    with pytest.raises(ValueError, match="subset"):
        VerifyOptions(algorithms=algorithms)


# --- malformed input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda p: p.replace("~", "."), Reason.MALFORMED),
        (lambda p: p.split("~")[0], Reason.MALFORMED),
        (lambda p: p.replace("~", "~~", 1), Reason.MALFORMED),
        (lambda p: "a.b~" + p, Reason.MALFORMED),
        (lambda p: p.replace(".", "..", 1), Reason.MALFORMED),
        (lambda p: "é" + p, Reason.BAD_ENCODING),
        (lambda p: "!" + p, Reason.BAD_ENCODING),
        (lambda p: p + "A" * 20_000, Reason.TOO_LARGE),
        (lambda p: encode_segment([1]) + p[p.index(".") :], Reason.BAD_JSON),
    ],
)
def test_malformed_presentations_are_refused(keys: Keys, proof: str, mangle: Any, reason: Reason) -> None:
    assert _reason(keys, mangle(proof)) is reason


def test_too_many_disclosures(keys: Keys) -> None:
    roomy = Limits(max_disclosures=70)
    issued = issue_any(keys, {f"c{i}": i for i in range(70)})
    proof = present_to_desk(keys, issued, disclose=[f"c{i}" for i in range(70)], limits=roomy)
    assert _reason(keys, proof) is Reason.TOO_LARGE
    assert len(verify_at_desk(keys, proof, options=VerifyOptions(limits=roomy)).claims) == 70


def test_claims_nested_too_deeply(keys: Keys) -> None:
    claims: dict[str, Any] = {"leaf": 1}
    for _ in range(40):
        claims = {"n": claims}
    roomy = Limits(max_disclosures=100, max_claims_depth=100)
    proof = present_to_desk(keys, issue_any(keys, claims), disclose=["n"], limits=roomy)
    assert _reason(keys, proof) is Reason.TOO_DEEP


# --- the issuer JWT's header and signature ---------------------------------------------


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "none", "typ": "dc+sd-jwt", "kid": "k1"}, Reason.UNSUPPORTED_ALGORITHM),
        ({"alg": "HS256", "typ": "dc+sd-jwt", "kid": "k1"}, Reason.UNSUPPORTED_ALGORITHM),
        ({"alg": "RS256", "typ": "dc+sd-jwt", "kid": "k1"}, Reason.UNSUPPORTED_ALGORITHM),
        ({"typ": "dc+sd-jwt", "kid": "k1"}, Reason.UNSUPPORTED_ALGORITHM),
        ({"alg": [], "typ": "dc+sd-jwt", "kid": "k1"}, Reason.UNSUPPORTED_ALGORITHM),
        ({"alg": {"ES256": 1}, "typ": "dc+sd-jwt", "kid": "k1"}, Reason.UNSUPPORTED_ALGORITHM),
        ({"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": "k1"}, Reason.UNSUPPORTED_ALGORITHM),  # not this key's alg
        ({"alg": "ES256", "typ": "JWT", "kid": "k1"}, Reason.WRONG_TYPE),
        ({"alg": "ES256", "typ": "kb+jwt", "kid": "k1"}, Reason.WRONG_TYPE),
        ({"alg": "ES256", "typ": "vc+sd-jwt", "kid": "k1"}, Reason.WRONG_TYPE),
        ({"alg": "ES256", "kid": "k1"}, Reason.WRONG_TYPE),
        ({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1", "crit": ["exp"]}, Reason.UNSUPPORTED_CRITICAL_HEADER),
        ({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k2"}, Reason.UNKNOWN_KEY),
        ({"alg": "ES256", "typ": "dc+sd-jwt"}, Reason.UNKNOWN_KEY),
        ({"alg": "ES256", "typ": "dc+sd-jwt", "kid": ["k1"]}, Reason.UNKNOWN_KEY),
        ({"alg": "ES256", "typ": ["dc+sd-jwt"], "kid": "k1"}, Reason.WRONG_TYPE),
    ],
)
def test_issuer_header_checks(keys: Keys, proof: str, header: dict[str, Any], reason: Reason) -> None:
    """Headers are checked before any signature: a forged header fails on its own terms."""
    with pytest.raises(SignatureError) as caught:
        verify_at_desk(keys, resign_issuer_jwt(keys, proof, header=header))
    assert caught.value.reason is reason


def test_a_key_trusted_for_nothing_else_does_not_verify(keys: Keys, proof: str) -> None:
    stranger = KeySet([SigningKey.generate(kid="k1").verifying_key()])
    assert _reason(keys, proof, issuer_keys=stranger) is Reason.BAD_SIGNATURE


def test_a_changed_payload_breaks_the_issuer_signature(keys: Keys, proof: str) -> None:
    jwt, rest = proof.split("~", 1)
    header, _, signature = jwt.split(".")
    forged_payload = encode_segment({"iss": ISS, "vct": RESIDENCY.vct, "exp": NOW + 1, "age_over_18": True})
    assert _reason(keys, f"{header}.{forged_payload}.{signature}~{rest}") is Reason.BAD_SIGNATURE


# --- registered claims and validity ----------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": DELETE}, Reason.MISSING_CLAIM),
        ({"vct": DELETE}, Reason.MISSING_CLAIM),
        ({"exp": DELETE}, Reason.MISSING_CLAIM),
        ({"iss": 7}, Reason.INVALID_CLAIM),
        ({"vct": ["urn"]}, Reason.INVALID_CLAIM),
        ({"exp": "tomorrow"}, Reason.INVALID_CLAIM),
        ({"exp": True}, Reason.INVALID_CLAIM),
        ({"iat": None, "nbf": "now"}, Reason.INVALID_CLAIM),
        ({"status": {"status_list": {"idx": -1, "uri": "https://x"}}}, Reason.INVALID_CLAIM),
        ({"status": {"status_list": {"idx": True, "uri": "https://x"}}}, Reason.INVALID_CLAIM),
        ({"status": {"status_list": {"idx": 1}}}, Reason.INVALID_CLAIM),
        ({"status": {"other_mechanism": {}}}, Reason.INVALID_CLAIM),
        ({"status": "revoked?"}, Reason.INVALID_CLAIM),
        ({"exp": NOW - 61}, Reason.EXPIRED),
        ({"exp": NOW - 10_000_000}, Reason.EXPIRED),
        ({"nbf": NOW + 61}, Reason.NOT_YET_VALID),
        ({"iat": NOW + 61}, Reason.NOT_YET_VALID),
        ({"_sd_alg": "sha-512"}, Reason.UNSUPPORTED_DIGEST_ALGORITHM),
    ],
)
def test_registered_claims(keys: Keys, proof: str, changes: dict[str, Any], reason: Reason) -> None:
    changes = {name: value for name, value in changes.items() if value is not None}
    with pytest.raises((ClaimsError, MalformedError)) as caught:
        verify_at_desk(keys, resign_issuer_jwt(keys, proof, **changes))
    assert caught.value.reason is reason


@pytest.mark.parametrize("changes", [{"exp": NOW - 59}, {"nbf": NOW + 59}, {"iat": NOW + 59}])
def test_clock_skew_is_tolerated_within_a_minute(keys: Keys, proof: str, changes: dict[str, int]) -> None:
    assert verify_at_desk(keys, resign_issuer_jwt(keys, proof, **changes)).claims


def test_expiry_can_be_made_optional_but_is_required_by_default(keys: Keys, proof: str) -> None:
    forever = resign_issuer_jwt(keys, proof, exp=DELETE)
    assert _reason(keys, forever) is Reason.MISSING_CLAIM
    assert verify_at_desk(keys, forever, options=VerifyOptions(require_expiry=False)).claims


def test_issuer_must_match_the_issuer_its_key_belongs_to(keys: Keys, proof: str) -> None:
    bound = KeySet([keys.issuer.verifying_key(issuer="https://another-city.example")])
    assert _reason(keys, proof, issuer_keys=bound) is Reason.ISSUER_MISMATCH
    assert verify_at_desk(keys, proof, issuer_keys=KeySet([keys.issuer.verifying_key(issuer=ISS)])).claims


def test_credential_types_can_be_restricted(keys: Keys, proof: str) -> None:
    only_identity = VerifyOptions(accepted_vcts=frozenset({"urn:cityid:identity:1"}))
    assert _reason(keys, proof, options=only_identity) is Reason.UNSUPPORTED_CREDENTIAL_TYPE


# --- disclosures ------------------------------------------------------------------------


def _with_disclosures(keys: Keys, proof: str, disclosures: list[str]) -> str:
    """The proof's issuer JWT with other disclosures, and a fresh KB-JWT over them."""
    return resign_kb(keys, "~".join((proof.split("~", maxsplit=1)[0], *disclosures, "")))


def test_a_disclosure_matching_no_digest_is_refused(keys: Keys, proof: str) -> None:
    """The reference implementation (sd-jwt 0.10.4) silently ignores these; we must not."""
    forged = make_disclosure("c2FsdHNhbHRzYWx0c2FsdA", "age_over_21", True)
    assert _reason(keys, _with_disclosures(keys, proof, [*proof.split("~")[1:-1], forged])) is Reason.DIGEST_MISMATCH


def test_a_disclosure_from_another_credential_is_refused(keys: Keys, proof: str) -> None:
    other = present_to_desk(keys, issue_residency(keys), disclose=["age_over_65"]).split("~")[1]
    assert _reason(keys, _with_disclosures(keys, proof, [*proof.split("~")[1:-1], other])) is Reason.DIGEST_MISMATCH


def test_the_same_disclosure_twice_is_refused(keys: Keys, proof: str) -> None:
    first = proof.split("~")[1]
    assert _reason(keys, _with_disclosures(keys, proof, [first, first])) is Reason.DUPLICATE_DISCLOSURE


@pytest.mark.parametrize(
    "disclosure",
    [
        encode_segment({"salt": "s", "name": "n"}),
        encode_segment(["only-salt"]),
        encode_segment(["s", "n", "v", "extra"]),
        encode_segment([1, "n", "v"]),
        encode_segment(["s", 1, "v"]),
        "not*base64",
        encode_segment("a string"),
    ],
)
def test_malformed_disclosures_are_refused(keys: Keys, proof: str, disclosure: str) -> None:
    with pytest.raises(DisclosureError) as caught:
        verify_at_desk(keys, _with_disclosures(keys, proof, [disclosure]))
    assert caught.value.reason is Reason.MALFORMED_DISCLOSURE


def _issued_with_payload(keys: Keys, disclosures: list[str], **payload: Any) -> str:
    holder = {"jwk": keys.holder.public_jwk()}
    base = {"iss": ISS, "iat": NOW - 100, "exp": NOW + 100, "vct": RESIDENCY.vct, "cnf": holder}
    jwt = sign_jwt({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}, {**base, **payload}, keys.issuer)
    return resign_kb(keys, "~".join((jwt, *disclosures, "")))


def test_a_digest_used_twice_is_refused(keys: Keys) -> None:
    d = make_disclosure("c2FsdA", "age_over_18", True)
    assert _reason(keys, _issued_with_payload(keys, [d], _sd=[digest(d), digest(d)])) is Reason.DUPLICATE_DIGEST
    undisclosed = digest(make_disclosure("b3RoZXI", "x", 1))
    assert (
        _reason(keys, _issued_with_payload(keys, [], _sd=[undisclosed], nested={"_sd": [undisclosed]}))
        is Reason.DUPLICATE_DIGEST
    )


@pytest.mark.parametrize("name", ["_sd", "..."])
def test_reserved_claim_names_are_refused_in_disclosures(keys: Keys, name: str) -> None:
    d = make_disclosure("c2FsdA", name, ["x"])
    assert _reason(keys, _issued_with_payload(keys, [d], _sd=[digest(d)])) is Reason.RESERVED_CLAIM_NAME


@pytest.mark.parametrize("name", ["iss", "exp", "nbf", "cnf", "vct", "status"])
def test_registered_claims_cannot_be_selectively_disclosed(keys: Keys, name: str) -> None:
    d = make_disclosure("c2FsdA", name, "x")
    payload: dict[str, Any] = {"_sd": [digest(d)]}
    reason = _reason(keys, _issued_with_payload(keys, [d], **payload))
    assert reason in {Reason.RESERVED_CLAIM_NAME, Reason.CLAIM_CONFLICT}


def test_a_disclosed_claim_cannot_overwrite_a_plain_one(keys: Keys) -> None:
    d = make_disclosure("c2FsdA", "resident_of", "Elsewhere")
    proof = _issued_with_payload(keys, [d], resident_of="Riverton", _sd=[digest(d)])
    assert _reason(keys, proof) is Reason.CLAIM_CONFLICT


def test_array_and_object_disclosures_cannot_be_swapped(keys: Keys) -> None:
    element = make_disclosure("c2FsdA", None, "es")
    assert _reason(keys, _issued_with_payload(keys, [element], _sd=[digest(element)])) is Reason.MALFORMED_DISCLOSURE
    member = make_disclosure("c2FsdA", "lang", "es")
    proof = _issued_with_payload(keys, [member], langs=[{"...": digest(member)}])
    assert _reason(keys, proof) is Reason.MALFORMED_DISCLOSURE


@pytest.mark.parametrize("sd", [["not", 1], "digest", {"a": "b"}])
def test_sd_must_be_an_array_of_strings(keys: Keys, sd: Any) -> None:
    assert _reason(keys, _issued_with_payload(keys, [], _sd=sd)) is Reason.MALFORMED_DISCLOSURE


# --- key binding -----------------------------------------------------------------------


def test_missing_key_binding_is_refused(keys: Keys, proof: str) -> None:
    without = proof.rsplit("~", 1)[0] + "~"
    with pytest.raises(KeyBindingError) as caught:
        verify_at_desk(keys, without)
    assert caught.value.reason is Reason.KB_MISSING


def test_key_binding_needs_a_holder_key(keys: Keys, proof: str) -> None:
    assert _reason(keys, resign_issuer_jwt(keys, proof, cnf=DELETE)) is Reason.NO_HOLDER_KEY


@pytest.mark.parametrize(
    "cnf",
    [
        {"kid": "device-1"},
        {"jwk": "a key"},
        {"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}},
        {"jwk": {"kty": "oct", "k": "c2VjcmV0"}},
        "jwk",
    ],
)
def test_an_unusable_holder_key_is_refused(keys: Keys, proof: str, cnf: Any) -> None:
    assert _reason(keys, resign_issuer_jwt(keys, proof, cnf=cnf)) is Reason.HOLDER_KEY_INVALID


def test_key_binding_signed_by_another_key_is_refused(keys: Keys, proof: str) -> None:
    thief = make_keys()
    stolen = resign_kb(Keys(keys.issuer, thief.holder, keys.trusted), proof)
    assert _reason(keys, stolen) is Reason.KB_BAD_SIGNATURE


def test_key_binding_with_another_algorithm_than_the_holder_key_is_refused(keys: Keys, proof: str) -> None:
    ed_holder = SigningKey.generate("EdDSA")
    issued = issue_residency(Keys(keys.issuer, ed_holder, keys.trusted))
    kb = present(issued, disclose=[], holder_key=ed_holder, audience=AUD, nonce=NONCE, now=NOW)
    spliced = proof.rsplit("~", 1)[0] + "~" + kb.rsplit("~", 1)[1]
    assert _reason(keys, spliced) is Reason.KB_BAD_SIGNATURE


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "ES256", "typ": "JWT"}, Reason.WRONG_TYPE),
        ({"alg": "ES256"}, Reason.WRONG_TYPE),
        ({"alg": "none", "typ": "kb+jwt"}, Reason.UNSUPPORTED_ALGORITHM),
        ({"alg": "ES256", "typ": "kb+jwt", "crit": ["x"]}, Reason.UNSUPPORTED_CRITICAL_HEADER),
    ],
)
def test_key_binding_header_checks(keys: Keys, proof: str, header: dict[str, Any], reason: Reason) -> None:
    kb_payload = json.loads(b64url_decode(proof.rsplit("~", 1)[1].split(".")[1]))
    forged = proof.rsplit("~", 1)[0] + "~" + sign_jwt(header, kb_payload, keys.holder)
    assert _reason(keys, forged) is reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nonce": "another-request"}, Reason.NONCE_MISMATCH),
        ({"nonce": None}, Reason.NONCE_MISMATCH),
        ({"aud": "desk:pharmacy"}, Reason.AUDIENCE_MISMATCH),
        ({"aud": [AUD]}, Reason.AUDIENCE_MISMATCH),
        ({"sd_hash": "AAAA"}, Reason.SD_HASH_MISMATCH),
        ({"iat": NOW - 300 - 61}, Reason.KB_NOT_FRESH),
        ({"iat": NOW + 61}, Reason.KB_NOT_FRESH),
        ({"iat": "now"}, Reason.KB_NOT_FRESH),
        ({"iat": None}, Reason.KB_NOT_FRESH),
    ],
)
def test_key_binding_claims(keys: Keys, proof: str, changes: dict[str, Any], reason: Reason) -> None:
    assert _reason(keys, resign_kb(keys, proof, **changes)) is reason


def test_key_binding_freshness_window_is_configurable(keys: Keys, proof: str) -> None:
    old = resign_kb(keys, proof, iat=NOW - 3000)
    assert _reason(keys, old) is Reason.KB_NOT_FRESH
    assert verify_at_desk(keys, old, options=VerifyOptions(max_kb_age=3600)).claims


def test_dropping_a_disclosure_breaks_the_key_binding(keys: Keys, proof: str) -> None:
    jwt, first, _second, kb = proof.split("~")
    assert _reason(keys, f"{jwt}~{first}~{kb}") is Reason.SD_HASH_MISMATCH
