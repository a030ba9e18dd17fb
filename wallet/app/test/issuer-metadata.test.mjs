// Other issuers' metadata and the city's published types, as the phone wallet reads them when it
// receives credentials (edges/issuermetadata.py and credential/_types.py do the same in Python).
import { test } from "node:test";
import assert from "node:assert/strict";
import { issuerJwks, jwtVcIssuerUrl, namesType } from "../src/receive.js";

const ISSUER = "https://id.riverton.example";
const JWKS = { keys: [{ kty: "EC", crv: "P-256", kid: "k1", x: "x", y: "y" }] };

test("a type is named by its URN or by its published URL, under any base", () => {
  assert.equal(namesType("residency", "urn:cityid:residency:1"), true);
  assert.equal(namesType("residency", `${ISSUER}/types/residency/1`), true);
  assert.equal(namesType("identity", "https://city.example/id/cards/identity/1"), true);
  assert.equal(namesType("residency", `${ISSUER}/types/identity/1`), false);
  assert.equal(namesType("residency", `${ISSUER}/types/residency/2`), false);
  assert.equal(namesType("residency", "urn:other:residency:1"), false);
  assert.equal(namesType("residency", undefined), false);
});

test("the well-known part goes between the host and the issuer's path", () => {
  assert.equal(jwtVcIssuerUrl(ISSUER), `${ISSUER}/.well-known/jwt-vc-issuer`);
  assert.equal(jwtVcIssuerUrl("https://city.example/id/"), "https://city.example/.well-known/jwt-vc-issuer/id");
});

test("keys are taken by value or by reference, from the issuer's own metadata only", async () => {
  const never = async () => assert.fail("nothing to fetch");
  assert.deepEqual(await issuerJwks({ issuer: ISSUER, jwks: JWKS }, ISSUER, never), JWKS);
  const fetched = [];
  const get = async (uri) => { fetched.push(uri); return JWKS; };
  assert.deepEqual(await issuerJwks({ issuer: ISSUER, jwks_uri: "https://keys.example/city.jwks" }, ISSUER, get), JWKS);
  assert.deepEqual(fetched, ["https://keys.example/city.jwks"]);
  const refused = (metadata) => assert.rejects(issuerJwks(metadata, ISSUER, get), { reason: "invalid_issuer_metadata" });
  await refused({ issuer: "https://elsewhere.example", jwks: JWKS });
  await refused({ issuer: ISSUER, jwks: JWKS, jwks_uri: "https://keys.example/city.jwks" });
  await refused({ issuer: ISSUER, jwks_uri: "http://keys.example/city.jwks" });
});
