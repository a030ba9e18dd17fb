// The consent screen's "They will not see" list: the claims the answering card itself holds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { heldClaims } from "../src/present.js";

const b64url = (text) => Buffer.from(text).toString("base64url");
const digest = (text) => createHash("sha256").update(text).digest("base64url");

/** An issued SD-JWT (`<jwt>~<disclosures>~`) disclosing `claims` as the issuer does: each
 * top-level claim its own disclosure, and `address` with selectively disclosable parts too. */
function issued(claims) {
  const disclosures = [];
  const disclose = (name, value) => {
    const text = b64url(JSON.stringify([b64url(`salt-${disclosures.length}`), name, value]));
    disclosures.push(text);
    return digest(text);
  };
  const sd = Object.entries(claims).map(([name, value]) => {
    if (name !== "address") return disclose(name, value);
    return disclose(name, { _sd: Object.entries(value).map(([part, text]) => disclose(part, text)) });
  });
  const header = b64url(JSON.stringify({ alg: "ES256", typ: "dc+sd-jwt" }));
  const payload = b64url(JSON.stringify({ iss: "https://city.example", vct: "urn:cityid:identity:1", _sd_alg: "sha-256", _sd: sd }));
  return `${header}.${payload}.${b64url("not checked here")}~${disclosures.join("~")}~`;
}

test("a card holds the claims its disclosures name, in issuance order, each once", async () => {
  const credential = issued({
    given_name: "Ana", family_name: "Ruiz", birthdate: "1990-01-02",
    address: { street_address: "1 Main St", locality: "Springfield" }, resident_of: "Springfield",
  });
  assert.deepEqual(await heldClaims({ credential }), ["given_name", "family_name", "birthdate", "address", "resident_of"]);
});

test("a residency card holds its own four claims, and no name", async () => {
  const credential = issued({ resident_of: "Springfield", age_over_18: true, age_over_21: true, age_over_65: false });
  assert.deepEqual(await heldClaims({ credential }), ["resident_of", "age_over_18", "age_over_21", "age_over_65"]);
});

test("a card that holds fewer claims than its type lists shows only those", async () => {
  const credential = issued({ resident_of: "Springfield", age_over_18: true });
  assert.deepEqual(await heldClaims({ credential }), ["resident_of", "age_over_18"]);
});
