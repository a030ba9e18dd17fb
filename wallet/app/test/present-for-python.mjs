// Presentations made by the phone's own code, for the Python desk to verify
// (tests/test_phone_codec.py runs `node wallet/app/test/present-for-python.mjs`).
// For each case in vectors/present.json it answers the desk's request with proofText, as the
// phone does: the chosen disclosures, a key-binding JWT signed through WebCrypto by the holder's
// key (imported non-extractable), the QR text (CID2 for a CIDR2 request, CID1 for a CIDR1 one).
// Prints `{case name: QR text}` as JSON.
// ECDSA signatures are randomised, so the output differs on every run; what Python checks is
// that every one verifies. `node --test test/` also runs this file: there it has nothing to do
// (present.test.mjs imports `presentations` and checks them in node).
import fs from "node:fs";
import { pathToFileURL } from "node:url";
import { proofText } from "../src/present.js";
import { decodeRequest } from "../src/core/request.js";

/** `{case name: what make(record, keyPair, request, now) gives}` for every case of `vectors`
 * (present.json), as the phone makes them: by default the QR text. */
export async function presentations(vectors, make = proofText) {
  const { kty, crv, x, y, d } = vectors.holderJwk;
  const privateKey = await crypto.subtle.importKey("jwk", { kty, crv, x, y, d }, { name: "ECDSA", namedCurve: "P-256" },
    false, ["sign"]);
  const made = {};
  for (const { name, credential, request } of vectors.cases) {
    made[name] = await make({ credential: vectors.credentials[credential] }, { privateKey }, decodeRequest(request),
      vectors.now);
  }
  return made;
}


const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain && !process.env.NODE_TEST_CONTEXT) {
  const vectors = JSON.parse(fs.readFileSync(new URL("./vectors/present.json", import.meta.url), "utf8"));
  process.stdout.write(`${JSON.stringify(await presentations(vectors))}\n`);
}
