"""Golden vectors for the phone wallet's JS core, written by the Python core.

Run ``.venv/bin/python tests/phone_vectors.py`` from the repository root: it rewrites
``wallet/app/src/core/dictionary.js`` (the CID1 and CID2 preset dictionaries, which must equal
Python's) and the files in ``wallet/app/test/vectors/``: ``cid1.json``, ``cid2.json`` and
``requests.json`` (the QR codecs), ``registry.json`` (a signed policy registry and desk requests, each with what the
Python wallet decides) and ``present.json`` (credentials and a device key for the JS core to
present with, which the Python desk then verifies). Keys come from fixed scalars and ECDSA
signing is deterministic (RFC 6979), so the output is the same on every run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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

from credential import (
    IDENTITY,
    REQUEST_PREFIX,
    RESIDENCY,
    CredentialError,
    DeskRequest,
    KeySet,
    SigningKey,
    TypeReference,
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
from credential._base45 import b45decode, b45encode
from credential._encoding import b64url_decode, b64url_encode, compact_json
from credential._qrtext import DICTIONARY_V1
from credential._qrtext2 import DICTIONARY_V2
from edges.keyfile import private_jwk
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
    """The text of dictionary.js: DICTIONARY_V1 and DICTIONARY_V2 as byte lists (FROZEN, like Python's)."""

    def numbers(dictionary: bytes) -> str:
        return ",".join(str(byte) for byte in dictionary)

    return (
        "/** The preset dictionaries of CID1 and CID2, generated from credential._qrtext.DICTIONARY_V1\n"
        " * and credential._qrtext2.DICTIONARY_V2 by tests/phone_vectors.py: do not edit. FROZEN: a\n"
        " * change needs a new prefix. */\n"
        f"export const DICTIONARY_V1 = new Uint8Array([{numbers(DICTIONARY_V1)}]);\n"
        f"export const DICTIONARY_V2 = new Uint8Array([{numbers(DICTIONARY_V2)}]);\n"
    )


def _reason(text: str) -> str:
    try:
        decode_qr_text(text)
    except CredentialError as exc:
        return exc.reason.value
    raise AssertionError(f"{text[:40]!r} decodes")


ISSUER_KEY, HOLDER_KEY = fixed_key(0x1D15_5BE4, "k1"), fixed_key(0x40_1DE4)


def type_reference(name: str) -> TypeReference:
    """The https ``vct`` and a made-up ``vct#integrity`` of the credential type ``name``."""
    return TypeReference(f"{ISS}/types/{name}/1", f"sha256-{name[0].upper() * 43}=")


def issued_credentials(*, published: bool = False) -> dict[str, str]:
    """A residency and an identity credential, issued at NOW to HOLDER_KEY by ISSUER_KEY: under
    the types' URNs, or ``published`` under their https ``vct`` with its integrity, as the
    issuer service issues them."""
    return {
        kind.name: issue_credential(kind, claims, issuer_key=ISSUER_KEY, iss=ISS, holder_jwk=HOLDER_KEY.public_jwk(),
                                    now=NOW, status=STATUS, type_reference=type_reference(kind.name) if published
                                    else None, random_bytes=counter_bytes())
        for kind, claims in ((RESIDENCY, RESIDENCY_CLAIMS), (IDENTITY, IDENTITY_CLAIMS))
    }  # fmt: skip


def proof_compacts(credentials: dict[str, str]) -> dict[str, str]:
    """The issued ``credentials`` and presentations of them, as desks meet them, by name."""
    residency, identity = credentials[RESIDENCY.name], credentials[IDENTITY.name]

    def shown(issued: str, claims: list[str], audience: str) -> str:
        return present(
            issued, disclose=claims, holder_key=HOLDER_KEY, audience=audience, nonce="n0nce-for-the-desk", now=NOW
        )

    return {
        "issued-residency": residency,
        "issued-identity": identity,
        "residency-desk": shown(residency, ["resident_of", "age_over_18"], "desk:library"),
        "residency-one-claim": shown(residency, ["resident_of"], "desk:recreation-centre"),
        "identity-name": shown(identity, ["given_name", "family_name", "birthdate"], "desk:clinic"),
        "identity-address": shown(identity, ["address"], "desk:clinic"),
        "residency-offline": shown(residency, ["age_over_65"], offline_audience("senior-discount")),
        "residency-paper": present_on_paper(residency, disclose=["resident_of"]),
    }  # fmt: skip


def cid1_vectors() -> dict[str, Any]:
    """Issued credentials and presentations with their CID1 text, and malformed CID1 texts."""
    compacts = proof_compacts(issued_credentials())
    good = encode_qr_text(compacts["residency-desk"])
    bomb = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zdict=DICTIONARY_V1)
    malformed = [
        "CID9:ABC", "HELLO", "CID1:ab", "CID1:A", "CID1:" + "0" * 5000, good[:-6], good + "00",
        "CID1:" + b45encode(bomb.compress(b"\x00" * 40_000) + bomb.flush()),
        "CID1:" + b45encode(zlib.compress(b"\x3f")),
    ]  # fmt: skip
    return {
        "proofs": [{"name": name, "compact": compact, "qr_text": encode_qr_text(compact)}
                   for name, compact in compacts.items()],
        "malformed": [{"qr_text": text, "reason": _reason(text)} for text in malformed],
    }  # fmt: skip


def _b64_json(value: object) -> str:
    return b64url_encode(compact_json(value))


def _with_payload(compact: str, change: Callable[[bytes], bytes]) -> str:
    """``compact`` with its issuer-signed payload's bytes changed (the signature no longer covers
    them: the encoder does not verify, and each case tests one of its paths)."""
    header, payload, rest = compact.split(".", 2)
    return ".".join((header, b64url_encode(change(b64url_decode(payload))), rest))


def _unusual_compacts(proof: str) -> dict[str, str]:
    """Presentations built around ``proof`` (a key-bound one) to take each other path of the
    CID2 encoder: a part left as it is, or the CID1 text when CID2 cannot carry it."""
    jwt, *disclosures, key_binding = proof.split("~")
    kb_header, kb_payload, kb_signature = key_binding.split(".")
    kb_claims = json.loads(b64url_decode(kb_payload))
    holder = HOLDER_KEY.public_jwk()
    on_curve = _b64_json(["c2FsdC1vbi1jdXJ2ZQ", "location", {"x": holder["x"], "y": holder["y"]}])
    y_flipped = b64url_encode(b64url_decode(holder["y"])[:-1] + bytes((b64url_decode(holder["y"])[-1] ^ 1,)))
    off_curve = _b64_json(["c2FsdC1vZmYtY3VydmU", "location", {"x": holder["x"], "y": y_flipped}])
    not_canonical = _b64_json(["c2FsdC1ub3QtY2Fub24", "location", {"x": "A" * 42 + "B", "y": "A" * 43}])
    same, other = _b64_json(["c2FsdA", "n", 1]), _b64_json(["c2FsdA", "n", 2])
    many_payload = _b64_json({"_sd": [b64url_encode(hashlib.sha256(text.encode()).digest()) for text in (same, other)],
                              "_sd_alg": "sha-256"})  # fmt: skip
    header = jwt.split(".")[0]
    return {
        "a plain JWS, not an SD-JWT": jwt,
        "a disclosure not in canonical base64url": "~".join((jwt, disclosures[0][:-1] + "/", key_binding)),
        "an empty disclosure": f"{jwt}~~{key_binding}",
        "a last segment that is no key binding": f"{jwt}~{disclosures[0]}~" + b64url_encode("é".encode()),
        "digests under another _sd_alg": _with_payload(proof, lambda p: p.replace(b'"sha-256"', b'"sha-512"')),
        "a vct#integrity with a control character": _with_payload(
            proof, lambda p: p.replace(b'"iat":', b'"vct#integrity":"sha256-\x01","iat":')),
        "a vct#integrity longer than 200 bytes": _with_payload(
            proof, lambda p: p.replace(b'"iat":', b'"vct#integrity":"sha256-' + b"A" * 200 + b'","iat":')),
        "a disclosure shown twice": "~".join((jwt, disclosures[0], disclosures[0], key_binding)),
        "points on and off the curve in disclosures": "~".join((jwt, on_curve, off_curve, *disclosures, key_binding)),
        "a point whose x is not canonical base64url": "~".join((jwt, not_canonical, *disclosures, key_binding)),
        "a key binding whose sd_hash is another": "~".join(
            (jwt, *disclosures, ".".join((kb_header, _b64_json(kb_claims | {"sd_hash": "A" * 43}), kb_signature)))),
        "a key binding whose nonce has a control character": "~".join(
            (jwt, *disclosures, ".".join((kb_header, b64url_encode(
                compact_json(kb_claims).replace(b'"nonce":"', b'"nonce":"\x1f')), kb_signature)))),
        "the 257th disclosure": "~".join((f"{header}.{many_payload}.c2ln", *[same] * 256, other, "")),
    }  # fmt: skip


def cid2_vectors() -> dict[str, Any]:
    """Issued credentials and presentations (under the types' URNs and their https ``vct``, and
    unusual ones) with the CID2 text the wallet answers a request with (``qr_text``: without the
    request's nonce and aud) and the CID2 text that keeps them (``unbound_qr_text``)."""
    compacts = proof_compacts(issued_credentials())
    published = proof_compacts(issued_credentials(published=True))
    compacts |= {f"{name} (published type)": compact for name, compact in published.items()}
    compacts |= _unusual_compacts(published["residency-desk"])
    return {
        "proofs": [{"name": name, "compact": compact,
                    "qr_text": encode_qr_text(compact, version=2, answers_request=True),
                    "unbound_qr_text": encode_qr_text(compact, version=2, answers_request=False)}
                   for name, compact in compacts.items()],
        "refused": [{"name": "a compact that is not ASCII", "compact": NOT_ASCII, "reason": _encode_reason(NOT_ASCII)}],
    }  # fmt: skip


NOT_ASCII = "é.e30.c2ln~"


def _encode_reason(compact: str) -> str:
    try:
        encode_qr_text(compact, version=2, answers_request=True)
    except CredentialError as exc:
        return exc.reason.value
    raise AssertionError(f"{compact[:40]!r} encodes")


def _request_reason(text: str) -> str:
    try:
        decode_request_text(text)
    except CredentialError as exc:
        return exc.reason.value
    raise AssertionError(f"{text!r} decodes")


def request_vectors() -> dict[str, Any]:
    """Desk requests with their CIDR1 or CIDR2 text, and malformed texts with Python's reason."""
    requests = [
        new_request(policy="library-card", claims=("resident_of",), audience="desk:library", now=NOW,
                    lifetime=300, random_bytes=bytes(range(16)), codec=1),
        new_request(policy="clinic-registration", claims=("given_name", "family_name", "birthdate"),
                    audience="desk:clinic-ü", now=NOW, lifetime=600, random_bytes=bytes(range(32))),
        new_request(policy="youth-programme", claims=("age_over_18", "pet_name"), audience="desk:y",
                    now=NOW, lifetime=60, random_bytes=b"\xff" * 20, codec=1),
        new_request(policy="library-card", claims=("resident_of",), audience="desk:library", now=NOW,
                    lifetime=300, random_bytes=bytes(range(16)), codec=255),
    ]  # fmt: skip
    texts = [encode_request_text(request) for request in requests]
    layout = b45decode(texts[0].removeprefix(REQUEST_PREFIX))  # a whole CIDR1 layout, without a codec byte
    malformed = ["CID1:ABC", "CIDR1:" + "0" * 200, "CIDR1:ab", "CIDR1:A", "CIDR1:" + b45encode(b"\0\0\0\1"),
                 "CIDR1:" + b45encode(b"\0\0\0\1\x03abc"), texts[0] + "00", texts[0][:-3],
                 "CIDR1:" + b45encode(layout + b"\x02"), "CIDR2:" + b45encode(layout),
                 "CIDR2:" + b45encode(layout + b"\x00"), "CIDR2:" + b45encode(layout + b"\x01"),
                 "CIDR2:" + b45encode(layout + b"\x02\x02"), "CIDR2:ab", "CIDR2:" + "0" * 200,
                 "CIDR3:" + b45encode(layout + b"\x03"), "CIDR10:ABC", "CIDR:ABC"]  # fmt: skip
    return {
        "requests": [{"policy": r.policy, "claims": list(r.claims), "nonce": r.nonce, "audience": r.audience,
                      "expiresAt": r.expires_at, "codec": r.codec, "text": text}
                     for r, text in zip(requests, texts, strict=True)],
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
    ("residency for the recreation centre", RESIDENCY.name, "recreation-centre", ("resident_of", "age_over_18"), 2),
    ("identity for the clinic", IDENTITY.name, "clinic-registration", ("given_name", "family_name", "birthdate"), 2),
    ("identity for a parking permit", IDENTITY.name, "parking-permit", ("address",), 2),
    ("residency for a desk that reads only CID1", RESIDENCY.name, "recreation-centre", ("resident_of",), 1),
)  # fmt: skip
"""Name, credential type, policy, claims asked for, and the newest proof codec the desk reads."""


def present_vectors() -> dict[str, Any]:
    """Credentials, their holder's private key and desk requests, for the JS core to present
    with; the disclosures and claims Python's own presentation of each would carry. The
    credentials name their published types, as the issuer service issues them."""
    credentials = issued_credentials(published=True)
    cases = []
    for index, (name, kind, policy_id, claims, codec) in enumerate(PRESENT_CASES):
        request = new_request(policy=policy_id, claims=claims, audience=f"desk:{policy_id}", now=NOW, lifetime=600,
                              random_bytes=bytes([index + 1]) * 16, codec=codec)  # fmt: skip
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
    "cid2.json": cid2_vectors,
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
