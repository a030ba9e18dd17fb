/**
 * SD-JWT as the holder needs it (RFC 9901): read an issued `<jwt>~<d1>~…~<dn>~`, resolve its
 * disclosures, pick the ones that reveal exactly the chosen claims, and add the key-binding JWT.
 * The same rules as credential/_sdjwt.py and credential/_present.py: a claim brings itself,
 * everything inside it and the containers it sits in; every disclosure must match one digest.
 */

import { CoreError, b64urlDecode, b64urlEncode, utf8 } from "./bytes.js";
import { decodeJwtUnverified, signJwt } from "./jose.js";

const MAX_CHARS = 64 * 1024;

async function sha256b64(text) {
  return b64urlEncode(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(text))));
}

function decodeDisclosure(text) {
  let value;
  try {
    value = JSON.parse(utf8.decode(b64urlDecode(text)));
  } catch (error) {
    if (error instanceof CoreError) throw error;
    throw new CoreError("malformed", "a disclosure is not JSON");
  }
  if (!Array.isArray(value) || (value.length !== 2 && value.length !== 3) || typeof value[0] !== "string") {
    throw new CoreError("malformed", "a disclosure is [salt, name, value] or [salt, value]");
  }
  if (value.length === 3 && (typeof value[1] !== "string" || value[1] === "_sd" || value[1] === "...")) {
    throw new CoreError("malformed", "a disclosure names a reserved claim");
  }
  return value;
}

/** The `~`-separated parts: jwt, disclosures, and the key-binding JWT ("" when none). */
function split(compact) {
  if (typeof compact !== "string" || compact.length > MAX_CHARS) throw new CoreError("too_large", "the SD-JWT is too long");
  const parts = compact.split("~");
  if (parts.length < 2) throw new CoreError("malformed", "an SD-JWT has at least one '~'");
  return { jwt: parts[0], disclosures: parts.slice(1, -1), keyBinding: parts[parts.length - 1] };
}

/** Resolve `_sd` digests in `node` (depth first), noting each disclosure's claim path. */
function resolve(node, path, byDigest, used, paths) {
  if (Array.isArray(node)) {
    const out = [];
    node.forEach((item) => {
      if (item && typeof item === "object" && !Array.isArray(item) && Object.keys(item).length === 1 && typeof item["..."] === "string") {
        const found = byDigest.get(item["..."]);
        if (!found) return; // a decoy, or a disclosure not held
        if (used.has(found.text)) throw new CoreError("malformed", "a disclosure is referenced twice");
        if (found.value.length !== 2) throw new CoreError("malformed", "an array element disclosure has no name");
        used.add(found.text);
        const at = [...path, out.length];
        paths.push([at, found.text]);
        out.push(resolve(found.value[1], at, byDigest, used, paths));
      } else {
        out.push(resolve(item, [...path, out.length], byDigest, used, paths));
      }
    });
    return out;
  }
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [name, value] of Object.entries(node)) {
    if (name === "_sd" || name === "_sd_alg") continue;
    out[name] = resolve(value, [...path, name], byDigest, used, paths);
  }
  for (const digest of Array.isArray(node._sd) ? node._sd : []) {
    const found = byDigest.get(digest);
    if (!found) continue;
    if (used.has(found.text)) throw new CoreError("malformed", "a disclosure is referenced twice");
    if (found.value.length !== 3) throw new CoreError("malformed", "an object disclosure needs a name");
    const name = found.value[1];
    if (Object.prototype.hasOwnProperty.call(out, name)) throw new CoreError("malformed", `claim ${name} is disclosed twice`);
    used.add(found.text);
    const at = [...path, name];
    paths.push([at, found.text]);
    out[name] = resolve(found.value[2], at, byDigest, used, paths);
  }
  return out;
}

/** An issued credential as its holder keeps it: `{jwt, disclosures, payload, claims, paths}`. */
export async function parseIssued(issued) {
  const { jwt, disclosures, keyBinding } = split(issued);
  if (keyBinding) throw new CoreError("malformed", "an issued credential ends with '~', not a key-binding JWT");
  const { header, payload } = decodeJwtUnverified(jwt);
  if (header.typ !== "dc+sd-jwt" && header.typ !== "vc+sd-jwt") throw new CoreError("wrong_type", "not an SD-JWT VC");
  if (payload._sd_alg !== undefined && payload._sd_alg !== "sha-256") throw new CoreError("unsupported_algorithm", "only sha-256 digests");
  const byDigest = new Map();
  for (const text of disclosures) {
    const digest = await sha256b64(text);
    if (byDigest.has(digest)) throw new CoreError("malformed", "a disclosure is given twice");
    byDigest.set(digest, { text, value: decodeDisclosure(text) });
  }
  const used = new Set();
  const paths = [];
  const claims = resolve(payload, [], byDigest, used, paths);
  if (used.size !== disclosures.length) throw new CoreError("malformed", "a disclosure matches no digest");
  return { jwt, disclosures, payload, claims, paths };
}

function related(a, b) {
  const shorter = Math.min(a.length, b.length);
  for (let i = 0; i < shorter; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The disclosures that reveal exactly `claimNames` (top-level names), in issuance order. */
export function selectDisclosures(held, claimNames) {
  const chosen = new Set();
  for (const name of claimNames) {
    const wanted = [name];
    const hits = held.paths.filter(([path]) => related(path, wanted));
    if (!hits.length && !Object.prototype.hasOwnProperty.call(held.claims, name)) {
      throw new CoreError("unknown_claim", `the credential has no claim ${name}`);
    }
    hits.forEach(([, disclosure]) => chosen.add(disclosure));
  }
  return held.disclosures.filter((disclosure) => chosen.has(disclosure));
}

/** The key-binding `sd_hash`: the digest of `<jwt>~<d1>~…~<dn>~`. */
export async function sdHash(jwt, disclosures) {
  return sha256b64([jwt, ...disclosures, ""].join("~"));
}

/**
 * `<jwt>~<chosen disclosures>~<kb-jwt>` for one desk's `audience` and `nonce`, signed by the
 * credential's device key (`privateKey`, a non-extractable CryptoKey).
 */
export async function present(held, { claims, privateKey, audience, nonce, iat }) {
  const chosen = selectDisclosures(held, claims);
  const payload = { iat, aud: audience, nonce, sd_hash: await sdHash(held.jwt, chosen) };
  const keyBinding = await signJwt({ alg: "ES256", typ: "kb+jwt" }, payload, privateKey);
  return [held.jwt, ...chosen, keyBinding].join("~");
}
