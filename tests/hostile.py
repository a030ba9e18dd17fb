"""A corpus of hostile proofs, each validly signed where a signature is possible.

An attacker holds a device key, so every key-binding JWT here is a real signature; the
issuer's signature is real too (as if the issuer were buggy or compromised), so each input
reaches past the signature checks into the parsers and checks behind them. What the tests
assert with it: every input ends in a typed refusal with a reason, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from support import Keys

from credential import encode_qr_text, issue_sd_jwt
from credential._encoding import b64url_encode
from credential._jws import sign_jwt
from credential._sdjwt import digest, make_disclosure, sd_hash

HOSTILE_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 2**63, -(2**70), 1.5, 1e308, "", "x" * 3000, "\u202e\x00\x1b[31m",
    [], [None], [[[[[]]]]], {}, {"a": {}}, {"jwk": "x"}, {"status_list": {"idx": "1", "uri": 5}},
)  # fmt: skip
PAYLOAD_FIELDS = ("iss", "vct", "iat", "exp", "nbf", "cnf", "status", "_sd", "_sd_alg")
KB_FIELDS = ("iat", "aud", "nonce", "sd_hash", "exp", "nbf")
HEADER_FIELDS = ("alg", "typ", "kid", "crit")


def _kb_claims(jwt: str, disclosures: list[str], *, audience: str, nonce: str, now: int) -> dict[str, Any]:
    return {"iat": now, "aud": audience, "nonce": nonce, "sd_hash": sd_hash(jwt, disclosures)}


def hostile_proofs(
    keys: Keys, residency: dict[str, Any], *, vct: str, status: dict[str, Any], audience: str, nonce: str, now: int
) -> Iterator[tuple[str, str]]:
    """``(label, proof)``: compact proofs first, then each of them as QR text too."""
    claims_payload = {"iss": "https://id.riverton.example", "vct": vct, "iat": now - 86_400, "exp": now + 86_400,
                      "cnf": {"jwk": keys.holder.public_jwk()}, "status": status}  # fmt: skip
    disclosures = [make_disclosure(b64url_encode(bytes([n]) * 16), name, value) for n, (name, value) in
                   enumerate(residency.items())]  # fmt: skip
    base = {**claims_payload, "_sd": sorted(digest(d) for d in disclosures), "_sd_alg": "sha-256"}
    header = {"alg": keys.issuer.alg, "typ": "dc+sd-jwt", "kid": keys.issuer.kid}

    def proof(payload: dict[str, Any], shown: list[str], kb: dict[str, Any] | None = None,
              jwt_header: dict[str, Any] | None = None) -> str:  # fmt: skip
        jwt = sign_jwt(jwt_header or header, payload, keys.issuer)
        kb_claims = kb if kb is not None else _kb_claims(jwt, shown, audience=audience, nonce=nonce, now=now)
        return "~".join((jwt, *shown, sign_jwt({"alg": keys.holder.alg, "typ": "kb+jwt"}, kb_claims, keys.holder)))

    corpus: list[tuple[str, str]] = [("valid", proof(base, disclosures[:2]))]
    for name in PAYLOAD_FIELDS:
        for number, value in enumerate(HOSTILE_VALUES):
            corpus.append((f"payload.{name}#{number}", proof({**base, name: value}, disclosures[:2])))
        corpus.append((f"payload.-{name}", proof({k: v for k, v in base.items() if k != name}, disclosures[:2])))
    for number, value in enumerate(HOSTILE_VALUES):
        corpus.append((f"cnf.jwk#{number}", proof({**base, "cnf": {"jwk": value}}, disclosures[:2])))
        corpus.append((f"cnf.jwk.x#{number}", proof({**base, "cnf": {"jwk": {**keys.holder.public_jwk(), "x": value}}},
                                                    disclosures[:2])))  # fmt: skip
        corpus.append((f"status.idx#{number}", proof({**base, "status": {"status_list": {**status["status_list"],
                                                                                           "idx": value}}},
                                                     disclosures[:2])))  # fmt: skip
        for position, claim in enumerate(residency):
            forged = make_disclosure(b64url_encode(bytes([position]) * 16), claim, value)
            shown = [forged if d == disclosures[position] else d for d in disclosures]
            payload = {**base, "_sd": sorted(digest(d) for d in shown)}
            corpus.append((f"disclosure.{claim}#{number}", proof(payload, shown)))
        raw = b64url_encode(json.dumps(value).encode())
        corpus.append((f"disclosure.raw#{number}", proof({**base, "_sd": [*base["_sd"], digest(raw)]}, [raw])))
        for name in KB_FIELDS:
            jwt = sign_jwt(header, base, keys.issuer)
            kb = {**_kb_claims(jwt, disclosures[:2], audience=audience, nonce=nonce, now=now), name: value}
            corpus.append((f"kb.{name}#{number}", proof(base, disclosures[:2], kb)))
        for name in HEADER_FIELDS:
            corpus.append((f"header.{name}#{number}", proof(base, disclosures[:2], jwt_header={**header, name: value})))
    paper = "~".join((sign_jwt(header, base, keys.issuer), *disclosures[:2], ""))
    corpus.append(("paper", paper))
    unbound = issue_sd_jwt(residency, issuer_key=keys.issuer, iss=claims_payload["iss"], vct=vct,
                           issued_at=now - 86_400, expires_at=now + 86_400, holder_jwk=None)  # fmt: skip
    corpus.append(("unbound+kb", unbound + sign_jwt({"alg": "ES256", "typ": "kb+jwt"}, {}, keys.holder)))
    yield from corpus
    for label, compact in corpus:
        if len(compact) < 6000:
            try:
                yield f"qr:{label}", encode_qr_text(compact)
            except Exception:
                continue
