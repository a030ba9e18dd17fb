/**
 * ES256 compact JWS over WebCrypto, spelled as credential/_jws.py spells it: compact JSON in
 * insertion order, UTF-8 (JSON.stringify gives the same bytes as Python's compact_json for the
 * strings and integers cityid signs). WebCrypto's ECDSA signature is raw r‖s, the JWS form.
 * Only ES256 is accepted: the allow-list is one entry long, so `none` and HMAC never verify.
 */

import { CoreError, b64urlDecode, b64urlEncode, utf8 } from "./bytes.js";

const ECDSA = { name: "ECDSA", hash: "SHA-256" };
const MAX_TOKEN_CHARS = 512 * 1024;

function segment(value) {
  return b64urlEncode(utf8.encode(JSON.stringify(value)));
}

function parseObject(bytes, what) {
  let value;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch (error) {
    if (error instanceof CoreError) throw error;
    throw new CoreError("malformed", `${what} is not JSON`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new CoreError("malformed", `${what} is not a JSON object`);
  }
  return value;
}

/** Sign `header`.`payload` with a (non-extractable) P-256 private key. */
export async function signJwt(header, payload, privateKey) {
  const input = `${segment(header)}.${segment(payload)}`;
  const signature = new Uint8Array(await crypto.subtle.sign(ECDSA, privateKey, utf8.encode(input)));
  return `${input}.${b64urlEncode(signature)}`;
}

/** Header and payload of a compact JWS, not verified (the wallet's own copies). */
export function decodeJwtUnverified(token) {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) throw new CoreError("malformed", "a JWT has three parts");
  return { header: parseObject(b64urlDecode(parts[0]), "a JWT header"), payload: parseObject(b64urlDecode(parts[1]), "a JWT payload") };
}

async function importKey(jwk) {
  if (!jwk || jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.x !== "string" || typeof jwk.y !== "string") {
    throw new CoreError("unsupported_algorithm", "only P-256 (ES256) keys are trusted here");
  }
  if (jwk.alg !== undefined && jwk.alg !== "ES256") {
    throw new CoreError("unsupported_algorithm", `the key is for ${jwk.alg}, not ES256`);
  }
  return crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
}

/**
 * The header and payload of `token` when the key its `kid` names in `jwks` ({keys: [...]}) signed
 * it and its `typ` is `typ`. The key comes from `jwks` only, never from the token.
 */
export async function verifyJwt(token, jwks, { typ } = {}) {
  if (typeof token !== "string") throw new CoreError("malformed", "a JWT must be text");
  if (token.length > MAX_TOKEN_CHARS) throw new CoreError("too_large", "the JWT is too long");
  const parts = token.trim().split(".");
  if (parts.length !== 3) throw new CoreError("malformed", "a JWT has three parts");
  const header = parseObject(b64urlDecode(parts[0]), "a JWT header");
  if (header.alg !== "ES256") throw new CoreError("unsupported_algorithm", `algorithm ${String(header.alg)} is not allowed`);
  if (typ !== undefined && header.typ !== typ) throw new CoreError("wrong_type", `expected typ ${typ}`);
  if (header.crit !== undefined) throw new CoreError("unsupported_critical_header", "unknown critical header parameters");
  const keys = jwks && Array.isArray(jwks.keys) ? jwks.keys : [];
  const jwk = typeof header.kid === "string" ? keys.find((key) => key && key.kid === header.kid) : undefined;
  if (!jwk) throw new CoreError("unknown_key", "signed with a key that is not trusted here");
  const signature = b64urlDecode(parts[2]);
  if (signature.length !== 64) throw new CoreError("bad_signature", "an ES256 signature is 64 bytes");
  const payloadBytes = b64urlDecode(parts[1]);
  const ok = await crypto.subtle.verify(ECDSA, await importKey(jwk), signature, utf8.encode(`${parts[0]}.${parts[1]}`));
  if (!ok) throw new CoreError("bad_signature", "the signature does not verify");
  return { header, payload: parseObject(payloadBytes, "a JWT payload") };
}
