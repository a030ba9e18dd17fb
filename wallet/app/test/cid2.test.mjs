// The CID2 encoder against the vectors the Python core wrote (tests/phone_vectors.py): for each
// presentation, the text the wallet answers a desk's request with, and the one that keeps the
// request's nonce and aud; CID1 where CID2 cannot carry the proof.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { encodeQrText } from "../src/core/cid2.js";
import { encodeProof } from "../src/core/cid1.js";
import { CoreError } from "../src/core/bytes.js";

const vectors = JSON.parse(fs.readFileSync(new URL("./vectors/cid2.json", import.meta.url), "utf8"));

test("encodeQrText gives Python's exact CID2 text, bound to the request or not", async () => {
  for (const { name, compact, qr_text, unbound_qr_text } of vectors.proofs) {
    assert.equal(await encodeQrText(compact, { version: 2, answersRequest: true }), qr_text, name);
    assert.equal(await encodeQrText(compact, { version: 2, answersRequest: false }), unbound_qr_text, name);
  }
});

test("a desk that reads only CID1 gets CID1", async () => {
  for (const { name, compact } of vectors.proofs) {
    assert.equal(await encodeQrText(compact, { version: 1, answersRequest: true }), encodeProof(compact), name);
  }
});

test("the vectors take both ways: CID2, and CID1 for what CID2 cannot carry", () => {
  const prefixes = new Set(vectors.proofs.map(({ qr_text }) => qr_text.slice(0, 5)));
  assert.deepEqual([...prefixes].sort(), ["CID1:", "CID2:"]);
});

test("what Python refuses to encode, the app refuses with the same reason", async () => {
  for (const { name, compact, reason } of vectors.refused) {
    await assert.rejects(encodeQrText(compact, { version: 2, answersRequest: true }),
      (error) => error instanceof CoreError && error.reason === reason, name);
  }
});
