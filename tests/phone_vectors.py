"""Golden vectors for the phone wallet's JS core, written by the Python core.

Run ``.venv/bin/python tests/phone_vectors.py`` from the repository root: it rewrites
``wallet/app/src/core/dictionary.js`` (the CID1 preset dictionary, which must equal Python's)
and the files in ``wallet/app/test/vectors/``: ``cid1.json`` and ``requests.json`` (the QR
codecs), ``registry.json`` (a signed policy registry and desk requests, each with what the
Python wallet decides) and ``present.json`` (credentials and a device key for the JS core to
present with, which the Python desk then verifies). Keys come from fixed scalars and ECDSA
signing is deterministic (RFC 6979), so the output is the same on every run.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from policy_support import CLEAN, claim, policy
from support import ISS, NOW, RESIDENCY_CLAIMS, STATUS, counter_bytes

from cityid.keyfile import private_jwk
from credential import (
    IDENTITY,
    RESIDENCY,
    CredentialError,
    DeskRequest,
    KeySet,
    SigningKey,
    decode_qr_text,
    decode_request_text,
    encode_qr_text,
    encode_request_text,
    issue_credential,
    new_request,
    offline_audience,
    parse_issued,
    present,
    present_on_paper,
    sign_jwt,
)
from credential._base45 import b45encode
from credential._encoding import b64url_decode, b64url_encode, compact_json
from credential._qrtext import DICTIONARY_V1
from policies import REGISTRY_TYP, check_request, default_catalogue, sign_registry, verify_registry
from wallet.errors import WalletError
from wallet.store import Wallet
from wallet.trust import update_trust

ROOT = Path(__file__).resolve().parent.parent
DICTIONARY_JS = ROOT / "wallet" / "app" / "src" / "core" / "dictionary.js"
VECTORS = ROOT / "wallet" / "app" / "test" / "vectors"
IDENTITY_CLAIMS = {
    "given_name": "Ana",
    "family_name": "Okafor",
    "birthdate": "1990-05-17",
    "address": {"street_address": "12 Elm Street", "locality": "Riverton", "region": "NY",
                "postal_code": "10001", "country": "US"},
    "resident_of": "Riverton",
}  # fmt: skip


def fixed_key(scalar: int, kid: str | None = None) -> SigningKey:
    """A P-256 key from a fixed scalar: test material only."""
    return SigningKey("ES256", ec.derive_private_key(scalar, ec.SECP256R1()), kid)


def dictionary_js() -> str:
    """The text of dictionary.js: DICTIONARY_V1 as a byte list (FROZEN, like Python's)."""
    numbers = ",".join(str(byte) for byte in DICTIONARY_V1)
    return (
        "/** The CID1 preset dictionary, generated from credential._qrtext.DICTIONARY_V1 by\n"
        " * tests/phone_vectors.py: do not edit. FROZEN: a change needs a new prefix. */\n"
        f"export const DICTIONARY_V1 = new Uint8Array([{numbers}]);\n"
    )


def _reason(text: str) -> str:
    try:
        decode_qr_text(text)
    except CredentialError as exc:
        return exc.reason.value
    raise AssertionError(f"{text[:40]!r} decodes")


ISSUER_KEY, HOLDER_KEY = fixed_key(0x1D15_5BE4, "k1"), fixed_key(0x40_1DE4)


def issued_credentials() -> dict[str, str]:
    """A residency and an identity credential, issued at NOW to HOLDER_KEY by ISSUER_KEY."""
    return {
        kind.name: issue_credential(kind, claims, issuer_key=ISSUER_KEY, iss=ISS, holder_jwk=HOLDER_KEY.public_jwk(),
                                    now=NOW, status=STATUS, random_bytes=counter_bytes())
        for kind, claims in ((RESIDENCY, RESIDENCY_CLAIMS), (IDENTITY, IDENTITY_CLAIMS))
    }  # fmt: skip


def cid1_vectors() -> dict[str, Any]:
    """Issued credentials and presentations with their CID1 text, and malformed CID1 texts."""
    holder, credentials = HOLDER_KEY, issued_credentials()
    residency, identity = credentials[RESIDENCY.name], credentials[IDENTITY.name]

    def shown(issued: str, claims: list[str], audience: str) -> str:
        return present(
            issued, disclose=claims, holder_key=holder, audience=audience, nonce="n0nce-for-the-desk", now=NOW
        )

    compacts = {
        "issued-residency": residency,
        "issued-identity": identity,
        "residency-desk": shown(residency, ["resident_of", "age_over_18"], "desk:library"),
        "residency-one-claim": shown(residency, ["resident_of"], "desk:recreation-centre"),
        "identity-name": shown(identity, ["given_name", "family_name", "birthdate"], "desk:clinic"),
        "identity-address": shown(identity, ["address"], "desk:clinic"),
        "residency-offline": shown(residency, ["age_over_65"], offline_audience("senior-discount")),
        "residency-paper": present_on_paper(residency, disclose=["resident_of"]),
    }  # fmt: skip
    good = encode_qr_text(compacts["residency-desk"])
    bomb = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zdict=DICTIONARY_V1)
    malformed = [
        "CID2:ABC", "HELLO", "CID1:ab", "CID1:A", "CID1:" + "0" * 5000, good[:-6], good + "00",
        "CID1:" + b45encode(bomb.compress(b"\x00" * 40_000) + bomb.flush()),
        "CID1:" + b45encode(zlib.compress(b"\x3f")),
    ]  # fmt: skip
    return {
        "proofs": [{"name": name, "compact": compact, "qr_text": encode_qr_text(compact)}
                   for name, compact in compacts.items()],
        "malformed": [{"qr_text": text, "reason": _reason(text)} for text in malformed],
    }  # fmt: skip


def _request_reason(text: str) -> str:
    try:
        decode_request_text(text)
    except CredentialError as exc:
        return exc.reason.value
    raise AssertionError(f"{text!r} decodes")


def request_vectors() -> dict[str, Any]:
    """Desk requests with their CIDR1 text, and malformed CIDR1 texts with Python's reason."""
    requests = [
        new_request(policy="library-card", claims=("resident_of",), audience="desk:library", now=NOW,
                    lifetime=300, random_bytes=bytes(range(16))),
        new_request(policy="clinic-registration", claims=("given_name", "family_name", "birthdate"),
                    audience="desk:clinic-ü", now=NOW, lifetime=600, random_bytes=bytes(range(32))),
        new_request(policy="youth-programme", claims=("age_over_18", "pet_name"), audience="desk:y",
                    now=NOW, lifetime=60, random_bytes=b"\xff" * 20),
    ]  # fmt: skip
    texts = [encode_request_text(request) for request in requests]
    malformed = ["CID1:ABC", "CIDR1:" + "0" * 200, "CIDR1:ab", "CIDR1:A", "CIDR1:" + b45encode(b"\0\0\0\1"),
                 "CIDR1:" + b45encode(b"\0\0\0\1\x03abc"), texts[0] + "00", texts[0][:-3]]  # fmt: skip
    return {
        "requests": [{"policy": r.policy, "claims": list(r.claims), "nonce": r.nonce, "audience": r.audience,
                      "expiresAt": r.expires_at, "text": text} for r, text in zip(requests, texts, strict=True)],
        "malformed": [{"text": text, "reason": _request_reason(text)} for text in malformed],
    }  # fmt: skip


BOARD_KEY, STRANGER_KEY = fixed_key(0xB0A2D, "board-1"), fixed_key(0x57_2A_6E_12, "board-1")
BOARD_NAME = "Riverton Policy Board"
DAY = 86_400
REGISTRY_POLICIES = (
    CLEAN,
    policy(id="recreation-centre", verifier="Riverton Recreation Centre",
           claims=(claim("resident_of"), claim("age_over_18"))),
    policy(id="clinic-registration", verifier="Riverton Community Clinic", accepts_paper=False,
           claims=(claim("given_name"), claim("family_name"),
                   claim("birthdate", "The clinic's records are kept by date of birth."))),
    policy(id="parking-permit", verifier="Riverton Parking Office",
           claims=(claim("address", "A permit is for one street."),)),
    policy(id="winter-festival", verifier="Riverton Festivals", valid_until=dt.date(2026, 11, 30),
           claims=(claim("age_over_21"),)),
)  # fmt: skip


def signed_registry(*, version: int = 3, now: int = NOW - 3600, key: SigningKey = BOARD_KEY) -> str:
    """The board's registry of REGISTRY_POLICIES, valid for 30 days from ``now``."""
    return sign_registry(REGISTRY_POLICIES, key, issuer=BOARD_NAME, version=version, now=now, lifetime=30 * DAY,
                         catalogue=default_catalogue())  # fmt: skip


def _board_signed(header: dict[str, Any] | None = None, **changes: Any) -> str:
    """A registry the board's key really signs, but not as ``sign_registry`` would make it."""
    payload = {"iss": BOARD_NAME, "iat": NOW - 3600, "exp": NOW + 30 * DAY, "version": 3,
               "policies": [CLEAN.to_json()], **changes}  # fmt: skip
    return sign_jwt({"alg": "ES256", "typ": REGISTRY_TYP, "kid": "board-1", **(header or {})}, payload, BOARD_KEY)


def _widened(token: str) -> str:
    """``token`` with the library card asking for a birthdate too, and the board's signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    library = next(entry for entry in claims["policies"] if entry["id"] == "library-card")
    library["claims"]["birthdate"] = {"justification": "Widened after signing."}
    return ".".join((header, b64url_encode(compact_json(claims)), signature))


def registries() -> dict[str, str]:
    """Every registry token a case names: the current one, and each way one can be wrong."""
    current = signed_registry()
    return {
        "current": current,
        "older": signed_registry(version=2, now=NOW - 7 * DAY),
        "expired": signed_registry(now=NOW - 31 * DAY),
        "dated-in-the-future": signed_registry(now=NOW + 3600),
        "signed-by-a-stranger": signed_registry(key=STRANGER_KEY),
        "signed-by-another-kid": signed_registry(key=fixed_key(0xB0A2D, "board-2")),
        "widened-after-signing": _widened(current),
        "wrong-type": _board_signed({"typ": "dc+sd-jwt"}),
        "alg-none": _board_signed({"alg": "none"}),
        "critical-header": _board_signed({"crit": ["exp"]}),
        "non-canonical-policy": _board_signed(policies=[{**CLEAN.to_json(), "max_status_age": "3d"}]),
        "policy-listed-twice": _board_signed(policies=[CLEAN.to_json(), CLEAN.to_json()]),
        "policy-asking-for-nothing": _board_signed(policies=[{**CLEAN.to_json(), "claims": {}}]),
        "no-version": _board_signed(version=0),
    }


def _request(policy_id: str, *claims: str, now: int = NOW, lifetime: int = 300) -> str:
    request = DeskRequest(policy=policy_id, claims=claims, nonce=b64url_encode(bytes(range(16))),
                          audience="desk:riverton", expires_at=now + lifetime)  # fmt: skip
    return encode_request_text(request)


LIBRARY = _request("library-card", "resident_of")


def _case(
    name: str,
    registry: str,
    request: str = LIBRARY,
    *,
    given: str = "board",
    pinned: str | None = "board",
    seen: int = 3,
    now: int = NOW,
) -> dict[str, Any]:
    """One request as a wallet meets it: the registry and board key its issuer publishes
    (``given``), the board key it pinned (None: first use, when it pins the one given), and the
    newest registry version it has seen."""
    return {"name": name, "registry": registry, "given": given, "pinned": pinned, "seen": seen, "now": now,
            "request": request}  # fmt: skip


REGISTRY_CASES = (
    _case("first use pins the board key", "current", pinned=None, seen=0),
    _case("a request within its policy", "current", _request("recreation-centre", "resident_of", "age_over_18")),
    _case("fewer claims than the policy names", "current", _request("clinic-registration", "given_name")),
    _case("asking for one claim more", "current", _request("library-card", "resident_of", "birthdate")),
    _case("asking for another service's claim", "current", _request("recreation-centre", "given_name")),
    _case("a policy the registry does not list", "current", _request("pet-licence", "resident_of")),
    _case("a policy past its valid_until", "current", _request("winter-festival", "age_over_21", now=NOW + 7 * DAY),
          now=NOW + 7 * DAY),
    _case("an expired request", "current", _request("library-card", "resident_of", lifetime=0)),
    _case("a request valid for two days", "current", _request("library-card", "resident_of", lifetime=2 * DAY)),
    _case("an expired registry", "expired"),
    _case("a registry dated in the future", "dated-in-the-future"),
    _case("an older registry than one seen (rollback)", "older"),
    _case("an older registry on first use", "older", pinned=None, seen=0),
    _case("the same registry seen before", "current", seen=3),
    _case("a new board key", "signed-by-a-stranger", given="stranger"),
    _case("a stranger's signature under the board's kid", "signed-by-a-stranger"),
    _case("a key the board does not have", "signed-by-another-kid"),
    _case("a policy widened after signing", "widened-after-signing",
          _request("library-card", "resident_of", "birthdate")),
    _case("a token of another type", "wrong-type"),
    _case("alg none", "alg-none"),
    _case("an unknown critical header", "critical-header"),
    _case("a policy in a non-canonical form", "non-canonical-policy"),
    _case("a policy listed twice", "policy-listed-twice"),
    _case("a policy asking for nothing", "policy-asking-for-nothing"),
    _case("version 0", "no-version"),
)  # fmt: skip


def _wallet_decides(case: dict[str, Any], tokens: dict[str, str], keys: dict[str, Any]) -> dict[str, str]:
    """What the Python wallet does with ``case`` (``wallet/trust.py``, then ``check_request``):
    ``{"policy": id}`` when it would ask the resident, ``{"reason": code}`` when it refuses."""
    pinned, now = case["pinned"], case["now"]
    wallet = Wallet(trust={} if pinned is None else {"board_jwks": keys[pinned], "version": case["seen"]})
    try:
        registry = update_trust(wallet, tokens[case["registry"]], keys[case["given"]], now=now)
        return {"policy": check_request(decode_request_text(case["request"]), registry, now=now).id}
    except WalletError as exc:
        return {"reason": exc.reason}
    except CredentialError as exc:
        return {"reason": exc.reason.value}


def registry_vectors() -> dict[str, Any]:
    """Signed registries, and desk requests met with them, each with the Python wallet's decision."""
    tokens = registries()
    keys = {"board": KeySet([BOARD_KEY.verifying_key()]).to_jwks(),
            "stranger": KeySet([STRANGER_KEY.verifying_key()]).to_jwks()}  # fmt: skip
    current = verify_registry(tokens["current"], KeySet.from_jwks(keys["board"]), now=NOW)
    return {
        "now": NOW,
        "keys": keys,
        "registries": tokens,
        "current": {"issuer": current.issuer, "version": current.version, "issuedAt": current.issued_at,
                    "expiresAt": current.expires_at,
                    "policies": {id_: list(p.claim_names) for id_, p in current.policies.items()}},
        "cases": [case | _wallet_decides(case, tokens, keys) for case in REGISTRY_CASES],
    }  # fmt: skip


PRESENT_CASES = (
    ("residency for the recreation centre", RESIDENCY.name, "recreation-centre", ("resident_of", "age_over_18")),
    ("identity for the clinic", IDENTITY.name, "clinic-registration", ("given_name", "family_name", "birthdate")),
    ("identity for a parking permit", IDENTITY.name, "parking-permit", ("address",)),
)  # fmt: skip


def present_vectors() -> dict[str, Any]:
    """Credentials, their holder's private key and desk requests, for the JS core to present
    with; the disclosures and claims Python's own presentation of each would carry."""
    credentials = issued_credentials()
    cases = []
    for index, (name, kind, policy_id, claims) in enumerate(PRESENT_CASES):
        request = new_request(policy=policy_id, claims=claims, audience=f"desk:{policy_id}", now=NOW, lifetime=600,
                              random_bytes=bytes([index + 1]) * 16)  # fmt: skip
        python_proof = present(credentials[kind], disclose=list(claims), holder_key=HOLDER_KEY,
                               audience=request.audience, nonce=request.nonce, now=NOW)  # fmt: skip
        held = parse_issued(credentials[kind]).claims
        shown = {claim: held[claim] for claim in claims}
        cases.append({"name": name, "credential": kind, "request": encode_request_text(request),
                      "disclosures": python_proof.split("~")[1:-1], "shown": shown})  # fmt: skip
    return {
        "now": NOW,
        "issuerJwks": KeySet([ISSUER_KEY.verifying_key()]).to_jwks(),
        "holderJwk": private_jwk(HOLDER_KEY),
        "credentials": credentials,
        "cases": cases,
    }


VECTOR_FILES: dict[str, Callable[[], dict[str, Any]]] = {
    "requests.json": request_vectors,
    "cid1.json": cid1_vectors,
    "registry.json": registry_vectors,
    "present.json": present_vectors,
}


def vector_text(name: str) -> str:
    """The text of ``wallet/app/test/vectors/<name>`` as this generator writes it today."""
    return json.dumps(VECTOR_FILES[name](), indent=1) + "\n"


def main() -> None:
    DICTIONARY_JS.write_text(dictionary_js(), encoding="utf-8")
    VECTORS.mkdir(parents=True, exist_ok=True)
    for name in VECTOR_FILES:
        (VECTORS / name).write_text(vector_text(name), encoding="utf-8")


if __name__ == "__main__":
    main()
