// The CID1 codec against the vectors the Python core wrote (tests/phone_vectors.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { encodeProof, decodeProof } from "../src/core/cid1.js";
import { CoreError } from "../src/core/bytes.js";

const vectors = JSON.parse(fs.readFileSync(new URL("./vectors/cid1.json", import.meta.url), "utf8"));

test("encodeProof gives Python's exact text, decodeProof the exact compact", () => {
  for (const { name, compact, qr_text } of vectors.proofs) {
    assert.equal(encodeProof(compact), qr_text, name);
    assert.equal(decodeProof(qr_text), compact, name);
  }
});

test("malformed CID1 text is refused with Python's reason", () => {
  for (const { qr_text, reason } of vectors.malformed) {
    assert.throws(() => decodeProof(qr_text), (error) => error instanceof CoreError && error.reason === reason, qr_text.slice(0, 40));
  }
});

test("random mutations of a good text always throw a CoreError or decode", () => {
  const good = vectors.proofs[2].qr_text;
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  let seed = 42;
  const random = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
  for (let round = 0; round < 500; round++) {
    const chars = [...good];
    for (let k = 0; k <= random(3); k++) chars[5 + random(chars.length - 5)] = alphabet[random(45)];
    try {
      decodeProof(chars.join(""));
    } catch (error) {
      assert.ok(error instanceof CoreError && typeof error.reason === "string", String(error));
    }
  }
});
