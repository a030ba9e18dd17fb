"""QR size and speed: how big a proof's QR code is as a plain SD-JWT and with cityid's codec,
and how long rendering and decoding take.

    python bench/qr.py [--repeat N]

Sizes are for error correction M. Times are medians of N runs after one warm-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import statistics
import time
from collections.abc import Callable

from cityid.demo import RESIDENT
from credential import (
    IDENTITY,
    RESIDENCY,
    SigningKey,
    StatusReference,
    decode_qr_text,
    encode_qr_text,
    issue_credential,
    jwk_thumbprint,
    present,
    residency_claims,
)
from credential._encoding import b64url_encode
from edges.camerasim import camera_frame
from edges.qrimage import decode_qr_image, make_qr, to_png, to_svg, to_terminal
from issuer.typemetadata import published_types

ISS = "https://id.riverton.example"
CITY_ISS = "https://id.city-of-riverton.us"
"""An issuer URL of 30 characters, the size the QR goal is set for."""
TYPES = published_types(f"{ISS}/types")
"""The https ``vct`` and ``vct#integrity`` the issuer writes (``issuer/typemetadata.py``)."""


def _proof(
    *, kid: str = "k1", alg: str = "ES256", identity: tuple[str, ...] | None = None, urn: bool = False, iss: str = ISS
) -> str:
    issuer = SigningKey.generate(alg, kid=kid)  # type: ignore[arg-type]
    if kid == "thumbprint":
        issuer = SigningKey(issuer.alg, issuer.private_key, jwk_thumbprint(issuer.public_jwk()))
    holder = SigningKey.generate(alg)  # type: ignore[arg-type]
    now = int(time.time())
    status = StatusReference(48_213, f"{iss}/status/1")
    if identity is None:
        claims = residency_claims("Riverton", dt.date(1991, 6, 14), dt.date.today())
        kind, disclose = RESIDENCY, ("resident_of", "age_over_18")
    else:
        claims, kind, disclose = RESIDENT, IDENTITY, identity
    reference = None if urn else published_types(f"{iss}/types")[kind.name].reference
    issued = issue_credential(kind, claims, issuer_key=issuer, iss=iss, holder_jwk=holder.public_jwk(), now=now,
                              status=status, type_reference=reference)  # fmt: skip
    nonce = b64url_encode(secrets.token_bytes(16))  # as a desk makes it
    return present(issued, disclose=disclose, holder_key=holder, audience="desk:library", nonce=nonce, now=now)


def _median_ms(function: Callable[[], object], repeat: int) -> float:
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    repeat = parser.parse_args().repeat

    cases = {
        "residency: resident_of + age_over_18 (ES256)": _proof(),
        "  same, kid = full JWK thumbprint": _proof(kid="thumbprint"),
        "  same, EdDSA keys": _proof(alg="EdDSA"),
        "  same, vct the type's URN (issued before)": _proof(urn=True),
        "identity: given_name + family_name + birthdate": _proof(identity=("given_name", "family_name", "birthdate")),
        "identity: every claim": _proof(identity=tuple(IDENTITY.claims)),
    }
    cases["residency, issuer URL of 30 characters (the goal's case)"] = _proof(iss=CITY_ISS)
    print(f"{'proof':56} {'compact':>8} {'QR':>4}   {'CID1:':>6} {'QR':>4}   {'CID2:':>6} {'QR':>4}")
    for name, proof in cases.items():
        cid1, cid2 = encode_qr_text(proof), encode_qr_text(proof, version=2, answers_request=True)
        print(f"{name:56} {len(proof):>8} {make_qr(proof).version:>4}   {len(cid1):>6} {make_qr(cid1).version:>4}"
              f"   {len(cid2):>6} {make_qr(cid2).version:>4}")  # fmt: skip
    goal = cases["residency, issuer URL of 30 characters (the goal's case)"]
    cid1_version = make_qr(encode_qr_text(goal)).version
    cid2_version = make_qr(encode_qr_text(goal, version=2, answers_request=True)).version
    print(f"residency_qr_version_cid1={cid1_version} residency_qr_version_cid2={cid2_version} (goal: CID2 <= 16)")

    proof = cases["residency: resident_of + age_over_18 (ES256)"]
    text = encode_qr_text(proof)
    symbol = make_qr(text)
    png = to_png(symbol)
    photo = camera_frame(symbol, seed=7)
    print()
    print(f"residency proof QR: version {symbol.version} at M, {len(text)} characters, PNG {len(png)} bytes")
    timings = {
        "QR text encode (codec)": lambda: encode_qr_text(proof),
        "QR text decode (codec)": lambda: decode_qr_text(text),
        "make QR symbol": lambda: make_qr(text),
        "render PNG (symbol + PNG)": lambda: to_png(make_qr(text)),
        "render SVG (symbol + SVG)": lambda: to_svg(make_qr(text)),
        "render terminal (symbol + text)": lambda: to_terminal(make_qr(text)),
        "decode clean PNG": lambda: decode_qr_image(png),
        "decode camera-like JPEG": lambda: decode_qr_image(photo),
    }
    for name, function in timings.items():
        print(f"{name:34} {_median_ms(function, repeat):8.3f} ms")


if __name__ == "__main__":
    main()
