"""Verification throughput of a residency proof (2 claims + key binding), against the reference
implementation and against the raw cryptography floor, all measured in this one run.

    python bench/verify.py [--rounds N] [--iterations N]

The floor is what no verifier can avoid: two ES256 signature checks (issuer JWT and KB-JWT)
and loading the holder's public key from its point. The last line is machine-readable:

    ratio_vs_reference=<reference time / our time> ratio_vs_floor=<our time / floor time>

Candidates run in interleaved rounds with the garbage collector off; each reports its best
round, the usual way to measure CPU-bound code on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Callable

import cryptography
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from credential import (
    QR_PREFIX,
    QR_PREFIX_V2,
    RESIDENCY,
    DeskRequest,
    KeySet,
    QrContext,
    SigningKey,
    StatusList,
    StatusReference,
    decode_qr_text,
    encode_qr_text,
    issue_credential,
    parse_qr_text,
    present,
    qr_context,
    residency_claims,
    sign_status_list,
    verify_presentation,
    verify_status_list_token,
)
from credential._encoding import b64url_decode, b64url_encode
from credential._keys import is_valid_signature, load_public_jwk
from edges.camerasim import camera_frame
from edges.qrimage import decode_qr_images, make_qr
from issuer.typemetadata import published_types
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry, verify_registry
from verifier.engine import Desk, Trust

AUDIENCE, NONCE = "desk:library", "Xb3kP9qLm2Zt7Rw1"
ISS = "https://id.riverton.example"
RESIDENCY_TYPE = published_types(f"{ISS}/types")["residency"]
"""The https ``vct`` and ``vct#integrity`` the issuer writes, which a ``CID2:`` proof leaves out."""
KNOWN = qr_context(known=[RESIDENCY_TYPE.integrity]).known


def _setup() -> tuple[str, KeySet, SigningKey, int]:
    issuer = SigningKey.generate(kid="k1")
    holder = SigningKey.generate()
    now = int(time.time())
    claims = residency_claims("Riverton", dt.date(1991, 6, 14), dt.date.today())
    issued = issue_credential(
        RESIDENCY, claims, issuer_key=issuer, iss=ISS, holder_jwk=holder.public_jwk(), now=now,
        status=StatusReference(48_213, f"{ISS}/status/1"), type_reference=RESIDENCY_TYPE.reference,
    )  # fmt: skip
    proof = present(
        issued, disclose=["resident_of", "age_over_18"], holder_key=holder, audience=AUDIENCE, nonce=NONCE, now=now
    )
    return proof, KeySet([issuer.verifying_key()]), issuer, now


def _der(token: str) -> tuple[bytes, bytes]:
    header, payload, signature = token.split(".")
    raw = b64url_decode(signature)
    return encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    ), f"{header}.{payload}".encode()


def _floor(proof: str, issuer: SigningKey, *, compressed: bool = False) -> Callable[[], None]:
    """The raw crypto of a check: two ES256 verifications and loading the holder key, from
    x and y, or, ``compressed``, from x and the parity of y (as a ``CID2:`` proof carries it)."""
    jwt, *_, kb = proof.split("~")
    issuer_signature, issuer_input = _der(jwt)
    kb_signature, kb_input = _der(kb)
    payload = json.loads(b64url_decode(jwt.split(".")[1]))
    x, y = b64url_decode(payload["cnf"]["jwk"]["x"]), b64url_decode(payload["cnf"]["jwk"]["y"])
    point = bytes((2 + (y[-1] & 1),)) + x if compressed else b"\x04" + x + y
    issuer_public = issuer.verifying_key().public_key
    assert isinstance(issuer_public, ec.EllipticCurvePublicKey)
    ecdsa, curve = ec.ECDSA(hashes.SHA256()), ec.SECP256R1()

    def floor() -> None:
        issuer_public.verify(issuer_signature, issuer_input, ecdsa)
        holder = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        holder.verify(kb_signature, kb_input, ecdsa)

    return floor


def _signatures_and_digests_only(proof: str, trusted: KeySet) -> Callable[[], None]:
    """A lower bound for any Python verifier: both signatures, the digests and sd_hash, and
    nothing else (no bounds, validity, status, structure or claim-name checks). Not safe to use;
    it shows how much of cityid's overhead is checking and how much is unavoidable glue."""

    def bare() -> None:
        jwt, *disclosures, kb = proof.split("~")
        header, payload_segment, signature = jwt.split(".")
        key = trusted[orjson.loads(b64url_decode(header))["kid"]]
        assert is_valid_signature(
            "ES256", key.public_key, b64url_decode(signature), f"{header}.{payload_segment}".encode()
        )
        payload = orjson.loads(b64url_decode(payload_segment))
        by_digest = {
            b64url_encode(hashlib.sha256(d.encode()).digest()): orjson.loads(b64url_decode(d)) for d in disclosures
        }
        claims = {by_digest[d][1]: by_digest[d][2] for d in payload["_sd"] if d in by_digest}
        alg, holder = load_public_jwk(payload["cnf"]["jwk"])
        kb_header, kb_payload, kb_signature = kb.split(".")
        assert is_valid_signature(alg, holder, b64url_decode(kb_signature), f"{kb_header}.{kb_payload}".encode())
        binding = orjson.loads(b64url_decode(kb_payload))
        assert binding["sd_hash"] == b64url_encode(hashlib.sha256(proof[: len(proof) - len(kb)].encode()).digest())
        assert binding["nonce"] == NONCE
        assert binding["aud"] == AUDIENCE
        assert claims

    return bare


def _reference(proof: str, issuer: SigningKey) -> Callable[[], None]:
    issuer_jwk = JWK.from_json(json.dumps(issuer.verifying_key().to_jwk()))

    def reference() -> None:
        SDJWTVerifier(
            proof, lambda _iss, _header: issuer_jwk, expected_aud=AUDIENCE, expected_nonce=NONCE
        ).get_verified_payload()

    return reference


URI = "https://id.riverton.example/status/1"


def _new_desk(issuer: SigningKey, trusted: KeySet, now: int) -> Desk:
    """A desk with a synced trust: a signed policy registry and a 1,000,000-entry status list."""
    board = SigningKey.generate(kid="board")
    policy = next(
        lp.policy for lp in load_policies([bundled_catalog()]) if lp.policy and lp.policy.id == "recreation-centre"
    )
    registry = verify_registry(
        sign_registry([policy], board, issuer="Board", version=1, now=now, lifetime=86_400,
                      catalogue=default_catalogue()),
        KeySet([board.verifying_key()]), now=now,
    )  # fmt: skip
    token = sign_status_list(StatusList(1, bytes(125_000)), issuer, uri=URI, now=now, lifetime=86_400, ttl=300)
    lists = {URI: verify_status_list_token(token, trusted, uri=URI, now=now)}
    return Desk(Trust(trusted, lists, registry, now, frozenset([RESIDENCY_TYPE.integrity])))


def _resident(issuer: SigningKey, now: int) -> tuple[SigningKey, str]:
    """A one-time residency credential as a wallet holds it: its own device key, a random status index."""
    holder = SigningKey.generate()
    claims = residency_claims("Riverton", dt.date(1991, 6, 14), dt.date.today())
    issued = issue_credential(
        RESIDENCY, claims, issuer_key=issuer, iss=ISS, holder_jwk=holder.public_jwk(), now=now,
        status=StatusReference(secrets.randbelow(1_000_000), URI), type_reference=RESIDENCY_TYPE.reference,
    )  # fmt: skip
    return holder, issued


def _answer(desk: Desk, holder: SigningKey, issued: str, now: int) -> tuple[DeskRequest, str]:
    """A fresh desk request and the wallet's answer to it, as QR text (``CID2:``, as the desk asks)."""
    request = desk.new_request("recreation-centre", audience=AUDIENCE, now=now)
    proof = present(issued, disclose=list(request.claims), holder_key=holder, audience=AUDIENCE,
                    nonce=request.nonce, now=now)  # fmt: skip
    return request, encode_qr_text(proof, version=request.codec, answers_request=True)


def _desk(issuer: SigningKey, trusted: KeySet, now: int, count: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """The desk engine end to end from QR text: a synced trust with a 1,000,000-entry status list
    and a signed policy registry, the request check, the status bit, the policy's claims and the
    replay guard. Every call checks a different proof for a different request (replays are
    refused), so the proofs are made beforehand, from 64 credentials of different residents
    with random status indexes."""
    desk = _new_desk(issuer, trusted, now)
    residents = [_resident(issuer, now) for _ in range(64)]
    work = [_answer(desk, *residents[index % len(residents)], now) for index in range(count)]
    pending = iter(work)
    floors = iter([_floor(decode_qr_text(text, context=desk.qr_context(request)), issuer) for request, text in work])

    def engine() -> None:
        request, text = next(pending)
        result = desk.check(text, request=request, now=now)
        assert result.valid, result.reason

    def floor_on_the_same_proofs() -> None:
        next(floors)()

    return engine, floor_on_the_same_proofs


def _desk_from_camera(issuer: SigningKey, trusted: KeySet, now: int, count: int) -> tuple[float, float, int]:
    """From camera-like JPEGs (tilted, blurred, noisy 1280x720 frames of wallets' QR codes) to
    the desk's answer: milliseconds per frame to find and read the code, milliseconds per
    check after that, and how many frames could be read. The frames are made beforehand:
    drawing them is the camera's work, not the desk's."""
    desk = _new_desk(issuer, trusted, now)
    resident = _resident(issuer, now)
    frames = []
    for seed in range(count):
        request, text = _answer(desk, *resident, now)
        frames.append((request, camera_frame(make_qr(text), seed=seed)))
    decoding = checking = 0.0
    checked = 0
    for request, frame in frames:
        start = time.perf_counter()
        texts = [text for text in decode_qr_images(frame) if text.startswith((QR_PREFIX, QR_PREFIX_V2))]
        decoded = time.perf_counter()
        decoding += decoded - start
        if texts:  # the desk app simply takes the next camera frame
            result = desk.check(texts[0], request=request, now=now)
            checking += time.perf_counter() - decoded
            checked += 1
            assert result.valid, result.reason
    return decoding / count * 1e3, checking / max(checked, 1) * 1e3, checked


def measure(
    candidates: dict[str, Callable[[], None]], rounds: int, iterations: dict[str, int]
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Best seconds per call for each candidate over interleaved rounds, and every round's times."""
    every: list[dict[str, float]] = []
    for _ in range(rounds):
        times = {}
        for name, function in candidates.items():
            count = iterations[name]
            gc.disable()
            start = time.perf_counter()
            for _ in range(count):
                function()
            elapsed = time.perf_counter() - start
            gc.enable()
            times[name] = elapsed / count
        every.append(times)
    return {name: min(times[name] for times in every) for name in candidates}, every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--camera-frames", type=int, default=40)
    arguments = parser.parse_args()

    proof, trusted, issuer, now = _setup()
    qr_text = encode_qr_text(proof)
    cid2_text = encode_qr_text(proof, version=2, answers_request=True)
    desk_context = QrContext(NONCE, AUDIENCE, KNOWN)

    def ours() -> None:
        verify_presentation(proof, issuer_keys=trusted, audience=AUDIENCE, nonce=NONCE, now=now)

    def ours_from_qr_text() -> None:
        verify_presentation(parse_qr_text(qr_text), issuer_keys=trusted, audience=AUDIENCE, nonce=NONCE, now=now)

    def ours_from_cid2() -> None:
        parts = parse_qr_text(cid2_text, context=desk_context)
        verify_presentation(parts, issuer_keys=trusted, audience=AUDIENCE, nonce=NONCE, now=now)

    desk_engine, desk_floor = _desk(issuer, trusted, now, arguments.rounds * arguments.iterations + 1)
    candidates = {
        "cityid verify (compact)": ours,
        "cityid verify (from QR text)": ours_from_qr_text,
        "cityid verify (from CID2 text)": ours_from_cid2,
        "lower bound: signatures+digests only": _signatures_and_digests_only(proof, trusted),
        "reference sd-jwt 0.10.4": _reference(proof, issuer),
        "floor: 2 x ES256 + holder key": _floor(proof, issuer),
        "floor, holder key from x and parity": _floor(proof, issuer, compressed=True),
        "desk engine (QR, trust, status)": desk_engine,
        "floor on the desk's fresh proofs": desk_floor,
    }
    ours()  # a proof that does not verify must not be benchmarked
    iterations = {name: arguments.iterations // (8 if name.startswith("reference") else 1) for name in candidates}
    best, every_round = measure(candidates, arguments.rounds, iterations)

    print(
        f"# {platform.python_implementation()} {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{platform.machine()}; {arguments.rounds} rounds, best round per candidate"
    )
    print(
        f"# proof: residency, 2 of 4 claims disclosed, ES256 issuer and holder keys, {len(proof)} chars compact, "
        f"{len(qr_text)} chars CID1: text, {len(cid2_text)} chars CID2: text"
    )
    for name, seconds in best.items():
        print(f"{name:36} {seconds * 1e6:9.1f} us/verify {1 / seconds:10.0f} verifies/s")
    ours_time = best["cityid verify (compact)"]
    print(f"from QR text / compact: {best['cityid verify (from QR text)'] / ours_time:.3f}")
    cid2_vs_floor = best["cityid verify (from CID2 text)"] / best["floor: 2 x ES256 + holder key"]
    point_us = (best["floor, holder key from x and parity"] - best["floor: 2 x ES256 + holder key"]) * 1e6
    print(f"cid2_ratio_vs_floor={cid2_vs_floor:.3f} (from {len(cid2_text)} chars of CID2: text; target <= 1.6); "
          f"y from x and its parity costs {point_us:.1f} us of crypto more than loading x and y")  # fmt: skip
    lower_bound = best["lower bound: signatures+digests only"]
    reachable = best["reference sd-jwt 0.10.4"] / lower_bound
    print(f"reference / lower bound: {reachable:.2f} (about the most any Python verifier could reach here)")
    ratio_vs_reference = best["reference sd-jwt 0.10.4"] / ours_time
    ratio_vs_floor = ours_time / best["floor: 2 x ES256 + holder key"]
    desk_time = best["desk engine (QR, trust, status)"]
    print(f"desk engine / floor on one repeated proof: {desk_time / best['floor: 2 x ES256 + holder key']:.3f}")
    desk_vs_floor = desk_time / best["floor on the desk's fresh proofs"]
    paired = sorted(times["desk engine (QR, trust, status)"] / times["floor on the desk's fresh proofs"]
                    for times in every_round)  # fmt: skip
    print(
        f"desk engine / fresh floor, round by round: median {statistics.median(paired):.3f}, "
        f"{paired[0]:.3f} to {paired[-1]:.3f} (how noisy this machine was)"
    )
    print(f"desk_engine_ratio_vs_floor={desk_vs_floor:.3f} (same fresh proofs for both; target <= 1.6)")
    decompressed = desk_time / (best["floor on the desk's fresh proofs"] + point_us / 1e6)
    print(f"desk engine / (fresh floor + the {point_us:.1f} us of y from x above): {decompressed:.3f} "
          "(the crypto a CID2: proof's holder key costs any verifier)")  # fmt: skip
    image_ms, check_ms, read = _desk_from_camera(issuer, trusted, now, arguments.camera_frames)
    print(
        f"desk from a camera-like JPEG (1280x720, tilted, blurred, noisy): {image_ms:.2f} ms to read the code, "
        f"then {check_ms:.3f} ms to check it; {read} of {arguments.camera_frames} frames read"
    )
    print(f"ratio_vs_reference={ratio_vs_reference:.2f} ratio_vs_floor={ratio_vs_floor:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
