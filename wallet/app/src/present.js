/**
 * Answering a desk (wallet/present.py): pick an unused credential that can, and disclose only
 * what was asked.
 *
 * Every proof uses a credential that was never shown before (its own device key, signature and
 * status index), so two desks comparing notes cannot tell they saw the same resident. The least
 * revealing type that can answer is used first; when those have run out, another type may
 * answer (`insteadOf` says which type it stands in for) and the app asks the resident first:
 * the desk still sees only what it asked for, but it sees a different card, with more in it.
 */

import { encodeQrText } from "./core/cid2.js";
import { codecOf } from "./core/request.js";
import { parseIssued, present } from "./core/sdjwt.js";
import { CREDENTIAL_TYPES } from "./receive.js";
import { WalletError } from "./store.js";

/** At or below this many unused credentials of a type, the app says to ask for a new batch. */
export const LOW_BATCH = 2;

/** Credential types carrying every requested claim, fewest claims first (least revealing). */
export function coveringTypes(claims) {
  return Object.entries(CREDENTIAL_TYPES)
    .filter(([, kind]) => claims.every((name) => kind.claims.includes(name)))
    .sort((a, b) => a[1].claims.length - b[1].claims.length)
    .map(([name]) => name);
}

/** How many unused credentials of each type `records` hold (every known type, 0 included). */
export function unusedByType(records) {
  const counts = {};
  for (const name of Object.keys(CREDENTIAL_TYPES)) counts[name] = 0;
  for (const record of records) if (!record.used) counts[record.type] = (counts[record.type] || 0) + 1;
  return counts;
}

export function noneLeft() {
  return new WalletError(
    "no_credential",
    "no unused credential can answer this request: ask a clerk for a new batch",
  );
}

/**
 * The type a proof of `claims` would use, and, when that is not the least revealing type that
 * could answer (those have run out), the type it falls back from: `{card, insteadOf}`.
 */
export function chosenType(unused, claims) {
  const covering = coveringTypes(claims);
  for (const name of covering) {
    if (unused[name]) return { card: name, insteadOf: name !== covering[0] ? covering[0] : null };
  }
  throw noneLeft();
}

/**
 * The compact presentation answering `request` from the stored credential `record`, signed by its
 * non-extractable device key (`keyPair.privateKey`, used through WebCrypto only).
 */
export async function presentation(record, keyPair, request, now) {
  const held = await parseIssued(record.credential);
  return present(held, {
    claims: [...request.claims],
    privateKey: keyPair.privateKey,
    audience: request.audience,
    nonce: request.nonce,
    iat: now,
  });
}

/**
 * The QR text of that presentation: CID2 without the request's nonce and aud when the desk reads
 * CID2 (its request says so: the desk puts its own back), else CID1.
 */
export async function proofText(record, keyPair, request, now) {
  const compact = await presentation(record, keyPair, request, now);
  return encodeQrText(compact, { version: codecOf(request), answersRequest: true });
}

/**
 * The claims the stored credential `record` holds, as the consent screen names them: the
 * top-level name of each of its disclosures, in issuance order. Read from the credential
 * itself rather than from its type, so "They will not see" lists exactly what this card holds.
 */
export async function heldClaims(record) {
  const held = await parseIssued(record.credential);
  return [...new Set(held.paths.map(([path]) => path[0]))];
}

/** What was shared, with whom and when: kept sealed on the phone, never sent anywhere. */
export function historyEntry(request, policyId, type, now) {
  return { at: now, policy: policyId, audience: request.audience, claims: [...request.claims], type };
}
