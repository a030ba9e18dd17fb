// The phone's presentations against Python's (tests/phone_vectors.py wrote vectors/present.json):
// the same disclosures for the same request, a key binding over exactly them. The Python desk
// verifies what the phone makes in tests/test_phone_codec.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { b64urlDecode } from "../src/core/bytes.js";
import { decodeJwtUnverified } from "../src/core/jose.js";
import { parseIssued, sdHash, selectDisclosures } from "../src/core/sdjwt.js";
import { decodeRequest } from "../src/core/request.js";
import { presentation } from "../src/present.js";
import { presentations } from "./present-for-python.mjs";

const vectors = JSON.parse(fs.readFileSync(new URL("./vectors/present.json", import.meta.url), "utf8"));
const { kty, crv, x, y } = vectors.holderJwk;

test("the phone reads each credential's claims as Python does", async () => {
  for (const { name, credential, shown } of vectors.cases) {
    const { claims } = await parseIssued(vectors.credentials[credential]);
    for (const [claim, value] of Object.entries(shown)) assert.deepEqual(claims[claim], value, `${name}: ${claim}`);
  }
});

test("selectDisclosures picks the disclosures Python's present picks, in the same order", async () => {
  for (const { name, credential, request, disclosures } of vectors.cases) {
    const held = await parseIssued(vectors.credentials[credential]);
    assert.deepEqual(selectDisclosures(held, decodeRequest(request).claims), disclosures, name);
  }
});

/** The header and payload of a key-binding JWT (it names no `kid`) if the holder's key signed it. */
async function holderSigned(keyBinding) {
  const publicKey = await crypto.subtle.importKey("jwk", { kty, crv, x, y }, { name: "ECDSA", namedCurve: "P-256" }, false,
    ["verify"]);
  const [header, payload, signature] = keyBinding.split(".");
  const signed = new TextEncoder().encode(`${header}.${payload}`);
  assert.ok(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, publicKey, b64urlDecode(signature), signed));
  return decodeJwtUnverified(keyBinding);
}

test("each presentation carries those disclosures, bound to the desk's nonce by the holder's key", async () => {
  const made = await presentations(vectors, presentation);
  for (const { name, credential, request, disclosures } of vectors.cases) {
    const parts = made[name].split("~");
    const [jwt, keyBinding] = [parts[0], parts[parts.length - 1]];
    assert.equal(jwt, vectors.credentials[credential].split("~")[0], name);
    assert.deepEqual(parts.slice(1, -1), disclosures, name);
    const { header, payload } = await holderSigned(keyBinding);
    const { audience, nonce } = decodeRequest(request);
    assert.deepEqual(header, { alg: "ES256", typ: "kb+jwt" }, name);
    assert.deepEqual(payload, { iat: vectors.now, aud: audience, nonce, sd_hash: await sdHash(jwt, disclosures) }, name);
  }
});

test("each desk is answered in the newest proof codec its request names", async () => {
  const made = await presentations(vectors);
  const prefixes = vectors.cases.map(({ request }) => (decodeRequest(request).codec >= 2 ? "CID2:" : "CID1:"));
  assert.deepEqual(vectors.cases.map(({ name }) => made[name].slice(0, 5)), prefixes);
  assert.ok(prefixes.includes("CID1:") && prefixes.includes("CID2:"));
});
