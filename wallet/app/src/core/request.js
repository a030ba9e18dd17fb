/** The desk request codec, CIDR1 and CIDR2, exactly like credential/_request.py (same checks, same
 * reasons). CIDR2 is CIDR1's layout and one more byte: the newest proof codec the desk reads (2 or
 * more; a desk reads every older one too), kept on the request as `codec` (1 for CIDR1). */
import { CoreError, b64urlDecode, b64urlEncode, utf8 } from "./bytes.js";
import { b45decode, b45encode } from "./base45.js";

export const REQUEST_PREFIX = "CIDR1:";
export const REQUEST_PREFIX_V2 = "CIDR2:";
export const REQUEST_MAX_CHARS = 154;
/** APPEND ONLY, like CLAIM_CODES_V1. */
export const CLAIM_CODES_V1 = ["", "resident_of", "age_over_18", "age_over_21", "age_over_65", "given_name", "family_name", "birthdate", "address"];
const POLICY_ID = /^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$/;
const CLAIM_NAME = /^[a-z][a-z0-9_]{0,39}$/;
const UNPRINTABLE = /[\x00-\x20\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Python's _check_fields: throws invalid_request with the first problem. */
function checkFields(req) {
  const invalid = (message) => new CoreError("invalid_request", message);
  if (typeof req.policy !== "string" || !POLICY_ID.test(req.policy)) throw invalid("the policy id must be 3 to 40 characters of a-z, 0-9 and '-'");
  if (!Array.isArray(req.claims) || req.claims.length < 1 || req.claims.length > 16) throw invalid("a request asks for 1 to 16 claims");
  for (const name of req.claims) if (typeof name !== "string" || !CLAIM_NAME.test(name)) throw invalid("not a claim name");
  if (new Set(req.claims).size !== req.claims.length) throw invalid("a request names each claim once");
  let nonce;
  try {
    nonce = b64urlDecode(req.nonce);
  } catch {
    throw invalid("the nonce must be canonical base64url");
  }
  if (nonce.length < 16 || nonce.length > 32) throw invalid("the nonce must be 16 to 32 random bytes");
  if (typeof req.audience !== "string" || !req.audience || UNPRINTABLE.test(req.audience)) throw invalid("the audience must be printable text without spaces");
  if (utf8.encode(req.audience).length > 64) throw invalid("the audience must be at most 64 bytes");
  if (!Number.isInteger(req.expiresAt) || req.expiresAt <= 0 || req.expiresAt >= 2 ** 32) throw invalid("expires_at must be a unix time in seconds");
  const codec = codecOf(req);
  if (!Number.isInteger(codec) || codec < 1 || codec > 255) throw invalid("the proof codec must be 1 to 255");
  return nonce;
}

/** The newest proof codec the request's desk reads: a request made without one is answered in CID1. */
export const codecOf = (req) => (req.codec === undefined ? 1 : req.codec);

/** True when `text` looks like a desk request of this or a newer version (only the prefix is
 * checked): decodeRequest says which it cannot read. */
export const looksLikeRequest = (text) => /^CIDR[0-9]+:/.test(text);

/** CIDR1 text of {policy, claims, nonce, audience, expiresAt}, or CIDR2 with `codec` 2 or more;
 * refuses what would not fit version 6. */
export function encodeRequest(req) {
  const nonce = checkFields(req);
  const e = req.expiresAt;
  const out = [(e >>> 24) & 255, (e >>> 16) & 255, (e >>> 8) & 255, e & 255];
  for (const field of [nonce, utf8.encode(req.policy), utf8.encode(req.audience)]) out.push(field.length, ...field);
  out.push(req.claims.length);
  for (const name of req.claims) {
    const code = CLAIM_CODES_V1.indexOf(name);
    if (code > 0) out.push(code);
    else {
      const literal = utf8.encode(name);
      out.push(0, literal.length, ...literal);
    }
  }
  const codec = codecOf(req);
  if (codec > 1) out.push(codec);
  const text = (codec === 1 ? REQUEST_PREFIX : REQUEST_PREFIX_V2) + b45encode(Uint8Array.from(out));
  if (text.length > REQUEST_MAX_CHARS) throw new CoreError("invalid_request", `the request needs ${text.length} characters`);
  return text;
}

/** The request in CIDR1 or CIDR2 text, or CoreError: unsupported_format, too_large, bad_encoding, malformed. */
export function decodeRequest(text) {
  const v2 = typeof text === "string" && text.startsWith(REQUEST_PREFIX_V2);
  if (typeof text !== "string" || !(v2 || text.startsWith(REQUEST_PREFIX))) {
    if (typeof text === "string" && looksLikeRequest(text)) throw new CoreError("unsupported_format", "this desk request is from a newer cityid version");
    throw new CoreError("unsupported_format", "this is not a cityid desk request (CIDR1:...)");
  }
  if (text.length > REQUEST_MAX_CHARS && [...text].length > REQUEST_MAX_CHARS) {
    throw new CoreError("too_large", "a desk request is at most 154 characters"); // counted as Python does: by code point
  }
  const data = b45decode(text.slice(REQUEST_PREFIX.length));
  let at = 0;
  const take = (count) => {
    if (at + count > data.length) throw new CoreError("malformed", "the desk request is cut short");
    at += count;
    return data.subarray(at - count, at);
  };
  const sized = () => take(take(1)[0]);
  const asText = (bytes) => utf8.decode(bytes);
  const head = take(4);
  const expiresAt = ((head[0] << 24) >>> 0) + (head[1] << 16) + (head[2] << 8) + head[3];
  const nonce = sized();
  const policy = sized();
  const audience = sized();
  const claims = [];
  for (let count = take(1)[0]; count > 0; count--) {
    const code = take(1)[0];
    if (code === 0) {
      const name = asText(sized());
      if (CLAIM_CODES_V1.indexOf(name) > 0) throw new CoreError("malformed", "the desk request spells out a coded claim");
      claims.push(name);
    } else if (code < CLAIM_CODES_V1.length) claims.push(CLAIM_CODES_V1[code]);
    else throw new CoreError("malformed", `the desk request uses unknown claim code ${code}`);
  }
  const codec = v2 ? take(1)[0] : 1;
  // One request, one text: a desk that reads only CID1 shows CIDR1.
  if (v2 && codec < 2) throw new CoreError("malformed", "a CIDR2: request names a proof codec of 2 or more");
  if (at !== data.length) throw new CoreError("malformed", "the desk request has trailing bytes");
  if (nonce.length < 16 || nonce.length > 32) throw new CoreError("malformed", "the desk request's nonce must be 16 to 32 bytes");
  const req = { policy: asText(policy), claims, nonce: b64urlEncode(nonce), audience: asText(audience), expiresAt, codec };
  try {
    checkFields(req);
  } catch (error) {
    throw new CoreError("malformed", `the desk request is invalid: ${error.message}`);
  }
  return req;
}

/** The key-binding aud of an offline proof: "cityid:offline:" + policy id. */
export function offlineAudience(policyId) {
  if (!POLICY_ID.test(policyId)) throw new CoreError("invalid_request", "the policy id must be 3 to 40 characters of a-z, 0-9 and '-'");
  return "cityid:offline:" + policyId;
}
