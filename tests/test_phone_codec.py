"""The phone wallet's JS core agrees with the Python core: committed vectors, node's own tests, and
presentations node makes that the Python desk verifies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from typing import Any

import pytest
from phone_vectors import (
    DICTIONARY_JS,
    ISSUER_KEY,
    ROOT,
    VECTOR_FILES,
    VECTORS,
    dictionary_js,
    type_reference,
    vector_text,
)
from support import NOW, STATUS

from credential import (
    CREDENTIAL_TYPES,
    QR_PREFIX,
    QR_PREFIX_V2,
    CredentialError,
    DeskRequest,
    KeySet,
    StatusList,
    decode_qr_text,
    decode_request_text,
    encode_qr_text,
    encode_request_text,
    qr_context,
    sign_status_list,
    verify_status_list_token,
)
from credential._encoding import b64url_decode, b64url_encode, compact_json
from policies import verify_registry
from verifier.engine import Desk, ReplayGuard, Trust

KNOWN_STRINGS = frozenset(type_reference(name).integrity for name in CREDENTIAL_TYPES)
"""What a desk's trust bundle holds of the vectors' published types: each one's integrity."""


def _vectors(name: str) -> dict[str, Any]:
    vectors: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return vectors


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        message = "node is not installed; the phone wallet's JS tests need it"
        if os.environ.get("CITYID_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return node


def test_dictionary_js_is_current() -> None:
    assert DICTIONARY_JS.read_text(encoding="utf-8") == dictionary_js()


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_vector_file_is_what_the_python_core_writes_today(name: str) -> None:
    """Run ``.venv/bin/python tests/phone_vectors.py`` when the Python core changes on purpose."""
    assert (VECTORS / name).read_text(encoding="utf-8") == vector_text(name)


def test_python_agrees_with_every_cid1_vector() -> None:
    vectors = json.loads((VECTORS / "cid1.json").read_text(encoding="utf-8"))
    for vector in vectors["proofs"]:
        assert encode_qr_text(vector["compact"]) == vector["qr_text"], vector["name"]
        assert decode_qr_text(vector["qr_text"]) == vector["compact"], vector["name"]
    for vector in vectors["malformed"]:
        with pytest.raises(CredentialError) as caught:
            decode_qr_text(vector["qr_text"])
        assert caught.value.reason.value == vector["reason"]


def _key_binding_claims(compact: str) -> dict[str, Any]:
    """The key-binding JWT's claims, read as they are (some vectors hold a control character);
    nothing when the compact ends without one."""
    last = compact.rsplit("~", maxsplit=1)[-1].split(".")
    claims: dict[str, Any] = json.loads(b64url_decode(last[1]), strict=False) if len(last) == 3 else {}
    return claims


def test_python_agrees_with_every_cid2_vector() -> None:
    """Each text is what the wallet writes, and a desk holding the request's nonce and aud and the
    types' integrity rebuilds the exact compact from it."""
    known = qr_context(known=KNOWN_STRINGS).known
    for vector in _vectors("cid2.json")["proofs"]:
        compact, bound, unbound = vector["compact"], vector["qr_text"], vector["unbound_qr_text"]
        assert encode_qr_text(compact, version=2, answers_request=True) == bound, vector["name"]
        assert encode_qr_text(compact, version=2, answers_request=False) == unbound, vector["name"]
        claims = _key_binding_claims(compact)
        context = replace(qr_context(nonce=claims.get("nonce"), audience=claims.get("aud")), known=known)
        assert decode_qr_text(bound, context=context) == compact, vector["name"]
        assert decode_qr_text(unbound, context=replace(context, nonce=None, audience=None)) == compact, vector["name"]
    for vector in _vectors("cid2.json")["refused"]:
        with pytest.raises(CredentialError) as caught:
            encode_qr_text(vector["compact"], version=2, answers_request=True)
        assert caught.value.reason.value == vector["reason"]


def test_python_agrees_with_every_request_vector() -> None:
    vectors = json.loads((VECTORS / "requests.json").read_text(encoding="utf-8"))
    for vector in vectors["requests"]:
        request = DeskRequest(policy=vector["policy"], claims=tuple(vector["claims"]), nonce=vector["nonce"],
                              audience=vector["audience"], expires_at=vector["expiresAt"],
                              codec=vector["codec"])  # fmt: skip
        assert encode_request_text(request) == vector["text"]
        assert decode_request_text(vector["text"]) == request
    for vector in vectors["malformed"]:
        with pytest.raises(CredentialError) as caught:
            decode_request_text(vector["text"])
        assert caught.value.reason.value == vector["reason"]


def test_registry_cases_cover_every_refusal_the_phone_must_match() -> None:
    """registry.test.mjs holds the phone to each decision here (None: a request accepted)."""
    decided = {case.get("reason") for case in _vectors("registry.json")["cases"]}
    assert {None, "claims_exceed_policy", "unknown_policy", "policy_expired", "request_expired", "invalid_request",
            "registry_expired", "invalid_registry", "registry_rollback", "board_key_changed", "bad_signature",
            "unknown_key", "wrong_type", "unsupported_algorithm", "unsupported_critical_header"} <= decided  # fmt: skip


def test_node_tests_pass() -> None:
    node = _node()
    result = subprocess.run([node, "--test", "wallet/app/test/"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _desk() -> Desk:
    """The Python desk, trusting the issuer and board of the phone vectors, at their NOW."""
    present, registry = _vectors("present.json"), _vectors("registry.json")
    issuer_keys = KeySet.from_jwks(present["issuerJwks"])
    status = sign_status_list(StatusList(1, bytes(1024)), ISSUER_KEY, uri=STATUS.uri, now=NOW, lifetime=86_400, ttl=300)
    return Desk(
        Trust(
            issuer_keys=issuer_keys,
            status_lists={STATUS.uri: verify_status_list_token(status, issuer_keys, uri=STATUS.uri, now=NOW)},
            registry=verify_registry(registry["registries"]["current"], KeySet.from_jwks(registry["keys"]["board"]),
                                     now=NOW),
            synced_at=NOW,
            known_strings=KNOWN_STRINGS,
        ),
        replay=ReplayGuard(started_at=None),
    )  # fmt: skip


@pytest.fixture(scope="module")
def node_presentations() -> dict[str, str]:
    """``{case name: QR text}``: what the phone's own code presents for each case of present.json."""
    result = subprocess.run([_node(), "wallet/app/test/present-for-python.mjs"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    made: dict[str, str] = json.loads(result.stdout)
    return made


def _decoded(proof: str, request: DeskRequest) -> str:
    """The compact behind a proof, rebuilt as the desk that showed ``request`` rebuilds it."""
    return decode_qr_text(proof, context=_desk().qr_context(request))


def test_python_desk_verifies_what_node_presents(node_presentations: dict[str, str]) -> None:
    """Valid, key-bound, and showing exactly the claims the desk asked for: none dropped, none
    missing; in CID2 to a desk whose request says it reads CID2, else in CID1."""
    cases = _vectors("present.json")["cases"]
    assert set(node_presentations) == {case["name"] for case in cases}
    for case in cases:
        proof, request = node_presentations[case["name"]], decode_request_text(case["request"])
        assert proof.startswith(QR_PREFIX_V2 if request.codec >= 2 else QR_PREFIX), case["name"]
        result = _desk().check(proof, request=request, now=NOW)
        assert (result.valid, result.reason, result.device_bound) == (True, "ok", True), (case["name"], result.message)
        assert (dict(result.claims), result.dropped) == (case["shown"], ()), case["name"]
        assert _decoded(proof, request).split("~")[1:-1] == case["disclosures"]


def _changed_disclosure(disclosure: str, value: object) -> str:
    """The object disclosure ``[salt, name, value]`` with another value (so another digest)."""
    salt, name, _ = json.loads(b64url_decode(disclosure))
    return b64url_encode(compact_json([salt, name, value]))


def _tampered(compact: str, how: str) -> str:
    jwt, *disclosures, key_binding = compact.split("~")
    if how == "a disclosure's value changed":
        disclosures[0] = _changed_disclosure(disclosures[0], "Elsewhere")
    elif how == "a disclosure dropped after signing":
        disclosures = disclosures[:-1]
    elif how == "the key binding's nonce changed":
        header, payload, signature = key_binding.split(".")
        claims = json.loads(b64url_decode(payload)) | {"nonce": b64url_encode(b"another desk's nonce")}
        key_binding = ".".join((header, b64url_encode(compact_json(claims)), signature))
    return "~".join((jwt, *disclosures, key_binding))


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("a disclosure's value changed", "digest_mismatch"),
        ("a disclosure dropped after signing", "sd_hash_mismatch"),
        ("the key binding's nonce changed", "kb_bad_signature"),
    ],
)
def test_a_tampered_node_presentation_is_refused(node_presentations: dict[str, str], how: str, reason: str) -> None:
    case = _vectors("present.json")["cases"][0]
    request = decode_request_text(case["request"])
    compact = _tampered(_decoded(node_presentations[case["name"]], request), how)
    result = _desk().check(encode_qr_text(compact), request=request, now=NOW)
    assert (result.valid, result.reason) == (False, reason), result.message


def test_a_node_presentation_answers_only_the_request_it_was_made_for(node_presentations: dict[str, str]) -> None:
    """Shown to another desk (another audience), or to the same desk's next request (another
    nonce), it is refused."""
    first, other = _vectors("present.json")["cases"][:2]
    proof, request = node_presentations[first["name"]], decode_request_text(first["request"])
    another_desk = replace(request, audience=decode_request_text(other["request"]).audience)
    next_request = replace(request, nonce=b64url_encode(bytes(16)))
    assert _desk().check(proof, request=another_desk, now=NOW).reason == "audience_mismatch"
    assert _desk().check(proof, request=next_request, now=NOW).reason == "nonce_mismatch"
