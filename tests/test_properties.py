"""Property tests: issue, present and verify any claim set; no tampering ever verifies."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from support import (
    AUD,
    NONCE,
    NOW,
    claim_sets,
    encode_segment,
    issue_any,
    issue_residency,
    make_keys,
    present_to_desk,
    resign_kb,
    verify_at_desk,
)

from credential import (
    ClaimPath,
    CredentialError,
    Limits,
    Reason,
    VerifyOptions,
    decode_qr_text,
    encode_qr_text,
    parse_issued,
)
from credential._jws import sign_jwt
from credential._sdjwt import digest, make_disclosure, sd_hash

KEYS = make_keys()
ED_KEYS = make_keys("EdDSA")
ROOMY = Limits(max_disclosures=200)


def _prune(claims: Any, paths: list[ClaimPath]) -> Any:
    """What a verifier should see when exactly ``paths`` (and their containers) are disclosed."""
    wanted = list(paths)

    def leads_to_wanted(path: ClaimPath) -> bool:
        return any(w[: len(path)] == path for w in wanted)

    def keep(node: Any, path: ClaimPath) -> Any:
        if any(path[: len(w)] == w for w in wanted):
            return node  # chosen: the whole subtree
        if isinstance(node, dict):
            return {k: keep(v, (*path, k)) for k, v in node.items() if leads_to_wanted((*path, k))}
        if isinstance(node, list):
            return [keep(v, (*path, i)) for i, v in enumerate(node) if leads_to_wanted((*path, i))]
        return node

    return keep(claims, ())


@given(claims=claim_sets, data=st.data(), eddsa=st.booleans())
def test_any_claim_set_round_trips_through_issue_present_verify_and_the_qr_codec(
    claims: dict[str, Any], data: st.DataObject, eddsa: bool
) -> None:
    keys = ED_KEYS if eddsa else KEYS
    issued = issue_any(keys, claims)
    held = parse_issued(issued, limits=ROOMY)
    assert {k: held.claims[k] for k in claims} == claims
    paths = data.draw(st.lists(st.sampled_from([path for path, _ in held.paths]), max_size=4, unique=True))
    presentation = present_to_desk(keys, held, disclose=paths)
    for text in (presentation, decode_qr_text(encode_qr_text(presentation), limits=ROOMY)):
        assert text == presentation
        verified = verify_at_desk(keys, text, options=VerifyOptions(limits=ROOMY))
        assert verified.claims == _prune(claims, paths)


PROOF = present_to_desk(KEYS, issue_residency(KEYS))
OTHER_PROOF = present_to_desk(KEYS, issue_residency(KEYS), disclose=["age_over_21", "resident_of"])


def _rejected(presentation: str) -> Reason:
    with pytest.raises(CredentialError) as caught:
        verify_at_desk(KEYS, presentation)
    assert isinstance(caught.value.reason, Reason)
    return caught.value.reason


def test_the_untampered_proof_verifies() -> None:
    assert verify_at_desk(KEYS, PROOF).claims == {"resident_of": "Riverton", "age_over_18": True}


@given(index=st.integers(0, len(PROOF) - 1), replacement=st.characters(min_codepoint=32, max_codepoint=126))
@example(index=len(PROOF) - 1, replacement="A")
def test_any_changed_character_is_rejected(index: int, replacement: str) -> None:
    assume(PROOF[index] != replacement)
    _rejected(PROOF[:index] + replacement + PROOF[index + 1 :])


@given(index=st.integers(0, len(PROOF)), text=st.text(min_size=1, max_size=3))
def test_any_inserted_text_is_rejected(index: int, text: str) -> None:
    _rejected(PROOF[:index] + text + PROOF[index:])


@given(start=st.integers(0, len(PROOF) - 1), length=st.integers(1, 40))
def test_any_deleted_text_is_rejected(start: int, length: int) -> None:
    _rejected(PROOF[:start] + PROOF[start + length :])


def _parts(proof: str) -> tuple[str, list[str], str]:
    jwt, *disclosures, kb = proof.split("~")
    return jwt, disclosures, kb


@given(st.data())
def test_any_rearrangement_of_disclosures_is_rejected(data: st.DataObject) -> None:
    jwt, disclosures, kb = _parts(PROOF)
    pool = disclosures + _parts(OTHER_PROOF)[1]
    chosen = data.draw(st.lists(st.sampled_from(pool), max_size=5))
    assume(chosen != disclosures)
    reason = _rejected("~".join((jwt, *chosen, kb)))
    assert reason in {Reason.SD_HASH_MISMATCH, Reason.DIGEST_MISMATCH, Reason.DUPLICATE_DISCLOSURE}


def test_reordered_disclosures_are_rejected() -> None:
    jwt, disclosures, kb = _parts(PROOF)
    assert _rejected("~".join((jwt, *reversed(disclosures), kb))) is Reason.SD_HASH_MISMATCH


@pytest.mark.parametrize(
    ("make", "reasons"),
    [
        # Same holder key, other presentation: the signature is good, the digest is not.
        (lambda jwt, ds, kb, other_kb: "~".join((jwt, *ds, other_kb)), {Reason.SD_HASH_MISMATCH}),
        (lambda jwt, ds, kb, other_kb: "~".join((jwt, *ds, "")), {Reason.KB_MISSING}),
        (lambda jwt, ds, kb, other_kb: "~".join((jwt, *ds, kb, kb)), {Reason.MALFORMED_DISCLOSURE}),
        (lambda jwt, ds, kb, other_kb: "~".join((jwt, *ds, jwt)), {Reason.WRONG_TYPE}),
        (lambda jwt, ds, kb, other_kb: "~".join((kb, *ds, kb)), {Reason.WRONG_TYPE}),
    ],
)
def test_swapped_or_missing_key_binding_is_rejected(make: Any, reasons: set[Reason]) -> None:
    jwt, disclosures, kb = _parts(PROOF)
    assert _rejected(make(jwt, disclosures, kb, _parts(OTHER_PROOF)[2])) in reasons


def test_a_key_binding_jwt_from_another_presentation_of_the_same_credential_is_rejected() -> None:
    issued = issue_residency(KEYS)
    one = present_to_desk(KEYS, issued, disclose=["resident_of"])
    two = present_to_desk(KEYS, issued, disclose=["age_over_18"])
    assert _rejected(one.rsplit("~", 1)[0] + "~" + two.rsplit("~", 1)[1]) is Reason.SD_HASH_MISMATCH


@given(alg=st.sampled_from(["none", "None", "HS256", "RS256", "ES384", "ES256K", "EdDSA", "Ed25519", "", "es256"]))
def test_a_changed_alg_is_rejected(alg: str) -> None:
    jwt, rest = PROOF.split("~", 1)
    _, payload, signature = jwt.split(".")
    header = encode_segment({"alg": alg, "typ": "dc+sd-jwt", "kid": "k1"})
    assert _rejected(f"{header}.{payload}.{signature}~{rest}") is Reason.UNSUPPORTED_ALGORITHM
    _, kb_payload, kb_signature = PROOF.rsplit("~", 1)[1].split(".")
    forged_kb = encode_segment({"alg": alg, "typ": "kb+jwt"})
    assert _rejected(f"{PROOF.rsplit('~', 1)[0]}~{forged_kb}.{kb_payload}.{kb_signature}") in {
        Reason.UNSUPPORTED_ALGORITHM,
        Reason.KB_BAD_SIGNATURE,
    }


@given(st.text(max_size=200))
def test_arbitrary_text_is_rejected_with_a_reason(text: str) -> None:
    _rejected(text)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~", max_size=400))
def test_arbitrary_compact_shaped_text_is_rejected_with_a_reason(text: str) -> None:
    _rejected(text)


def test_a_proof_made_for_one_desk_fails_at_another() -> None:
    with pytest.raises(CredentialError) as caught:
        verify_at_desk(KEYS, PROOF, audience="desk:pharmacy")
    assert caught.value.reason is Reason.AUDIENCE_MISMATCH
    with pytest.raises(CredentialError) as caught:
        verify_at_desk(KEYS, PROOF, nonce=NONCE + "x")
    assert caught.value.reason is Reason.NONCE_MISMATCH
    assert verify_at_desk(KEYS, PROOF, audience=AUD, nonce=NONCE, now=NOW).claims


_FIELD_NAMES = st.sampled_from(["_sd", "...", "a", "iss", "jwk", "status_list", "idx", "uri", "x", "y", "kty", "crv"])
_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_FIELD_NAMES | st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)
_PAYLOAD_NAMES = st.sampled_from(["iss", "iat", "exp", "nbf", "vct", "cnf", "status", "_sd", "_sd_alg", "a", "b"])


@settings(max_examples=300)
@given(
    payload=st.dictionaries(_PAYLOAD_NAMES, _ANY_JSON, max_size=8),
    disclosed=st.lists(st.tuples(st.text(max_size=5), st.none() | st.text(max_size=5), _ANY_JSON), max_size=4),
    reference_them=st.booleans(),
    header=st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit"]), _ANY_JSON, max_size=2),
)
def test_a_signed_but_arbitrary_credential_only_ever_fails_with_a_reason(
    payload: dict[str, Any], disclosed: list[tuple[str, str | None, Any]], reference_them: bool, header: dict[str, Any]
) -> None:
    """A buggy or hostile issuer can sign anything: the holder and the verifier still never crash."""
    disclosures = [make_disclosure(salt, name, value) for salt, name, value in disclosed]
    if reference_them:
        payload = {**payload, "_sd": [digest(d) for d in disclosures]}
    payload.setdefault("cnf", {"jwk": KEYS.holder.public_jwk()})
    jwt = sign_jwt({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1", **header}, payload, KEYS.issuer)
    issued = "~".join((jwt, *disclosures, ""))
    with contextlib.suppress(CredentialError):
        parse_issued(issued)
    for presentation in (issued, resign_kb(KEYS, issued)):
        with contextlib.suppress(CredentialError):
            verify_at_desk(
                KEYS, presentation, options=VerifyOptions(require_expiry=False), unsafe_skip_key_binding=True
            )


@settings(max_examples=300)
@given(
    kb_payload=st.dictionaries(
        st.sampled_from(["iat", "exp", "nbf", "aud", "nonce", "sd_hash", "cnf", "a"]), _ANY_JSON, max_size=7
    ),
    keep=st.sets(st.sampled_from(["iat", "aud", "nonce", "sd_hash"])),
    kb_header=st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit", "jwk"]), _ANY_JSON, max_size=2),
)
def test_a_holder_signed_but_arbitrary_key_binding_only_ever_fails_with_a_reason(
    kb_payload: dict[str, Any], keep: set[str], kb_header: dict[str, Any]
) -> None:
    """The holder signs the KB-JWT, so anyone with a device key controls it: never a crash."""
    proof = present_to_desk(KEYS, issue_residency(KEYS))
    jwt, *disclosures, _ = proof.split("~")
    payload = {"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(jwt, disclosures)}
    payload = {**{name: payload[name] for name in keep}, **kb_payload}
    kb = sign_jwt({"alg": "ES256", "typ": "kb+jwt", **kb_header}, payload, KEYS.holder)
    try:
        verified = verify_at_desk(KEYS, "~".join((jwt, *disclosures, kb)), audience=AUD, nonce=NONCE, now=NOW)
    except CredentialError:
        return
    assert verified.key_bound and payload["nonce"] == NONCE and payload["aud"] == AUD
