// The CIDR1 and CIDR2 request codecs against the vectors the Python core wrote.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { decodeRequest, encodeRequest, offlineAudience } from "../src/core/request.js";
import { CoreError } from "../src/core/bytes.js";

const vectors = JSON.parse(fs.readFileSync(new URL("./vectors/requests.json", import.meta.url), "utf8"));

test("requests encode to Python's text and decode back", () => {
  for (const { text, ...request } of vectors.requests) {
    assert.equal(encodeRequest(request), text);
    assert.deepEqual(decodeRequest(text), request);
  }
});

test("the vectors hold requests of both versions", () => {
  assert.deepEqual([...new Set(vectors.requests.map(({ text }) => text.slice(0, 6)))].sort(), ["CIDR1:", "CIDR2:"]);
});

test("malformed CIDR1 and CIDR2 text, or a newer version's, is refused with Python's reason", () => {
  for (const { text, reason } of vectors.malformed) {
    assert.throws(() => decodeRequest(text), (error) => error instanceof CoreError && error.reason === reason, text);
  }
});

test("offline audience", () => {
  assert.equal(offlineAudience("senior-discount"), "cityid:offline:senior-discount");
  assert.throws(() => offlineAudience("X"), (error) => error.reason === "invalid_request");
});
