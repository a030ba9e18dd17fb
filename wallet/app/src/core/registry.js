/**
 * The signed policy registry, checked as policies/_registry.py checks it: the board's ES256
 * signature (typ `cityid-policies+jwt`), a current date, no rollback below the newest version
 * seen; then a desk request is allowed only when its policy is listed, still valid, and asks for
 * no claim the policy does not name. Same reason codes as the Python core.
 */

import { CoreError } from "./bytes.js";
import { verifyJwt } from "./jose.js";

export const REGISTRY_TYP = "cityid-policies+jwt";
export const MAX_REQUEST_LIFETIME = 86_400;
export const CLOCK_SKEW = 300;
const POLICY_ID = /^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

function invalid(message) {
  return new CoreError("invalid_registry", `the policy registry ${message}`);
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

const POLICY_MEMBERS = ["accepts_paper", "acknowledged", "claims", "id", "legal_basis", "max_status_age", "purpose",
  "retention", "title", "valid_until", "verifier"];

const hasExactly = (object, names) => JSON.stringify(Object.keys(object).sort()) === JSON.stringify([...names].sort());
const isTextMap = (value) => isObject(value) && Object.values(value).every((text) => typeof text === "string");

/** Whether a claim entry is in the form Policy.to_json() writes: a justification, and a reason
 * a substitute will not do only when there is one. */
function canonicalClaim(entry) {
  if (!isObject(entry) || typeof entry.justification !== "string") return false;
  if (hasExactly(entry, ["justification"])) return true;
  return hasExactly(entry, ["justification", "why_not_substitute"]) && typeof entry.why_not_substitute === "string" &&
    entry.why_not_substitute !== "";
}

function canonicalRetention(retention) {
  if (retention === "none") return true;
  return isObject(retention) && hasExactly(retention, ["keeps", "period"]) && Array.isArray(retention.keeps) &&
    retention.keeps.length > 0 && retention.keeps.every((name) => typeof name === "string") &&
    typeof retention.period === "string";
}

/** One policy entry, checked to be in the canonical form the board signs (Policy.to_json()),
 * as policies/_registry.py refuses any other: the desk and the wallet read the same words. */
function checkedPolicy(entry) {
  if (!isObject(entry) || typeof entry.id !== "string" || !POLICY_ID.test(entry.id)) throw invalid("has an entry that is not a policy");
  if (!isObject(entry.title) || typeof entry.title.en !== "string") throw invalid(`has policy '${entry.id}' without an English title`);
  if (!isObject(entry.purpose) || typeof entry.purpose.en !== "string") throw invalid(`has policy '${entry.id}' without an English purpose`);
  if (typeof entry.verifier !== "string" || !entry.verifier) throw invalid(`has policy '${entry.id}' without a verifier`);
  if (!isObject(entry.claims) || !Object.keys(entry.claims).length) throw invalid(`has policy '${entry.id}' asking for no claims`);
  if (typeof entry.valid_until !== "string" || !DAY.test(entry.valid_until)) throw invalid(`has policy '${entry.id}' without valid_until`);
  const canonical = hasExactly(entry, POLICY_MEMBERS) && isTextMap(entry.title) && isTextMap(entry.purpose) &&
    typeof entry.legal_basis === "string" && canonicalRetention(entry.retention) && typeof entry.accepts_paper === "boolean" &&
    Number.isInteger(entry.max_status_age) && entry.max_status_age > 0 && isTextMap(entry.acknowledged) &&
    Object.values(entry.claims).every(canonicalClaim);
  if (!canonical) throw invalid(`has policy '${entry.id}' in a form other than the canonical one`);
  return entry;
}

/** `{issuer, version, issuedAt, expiresAt, policies: Map}` of a registry token the board signed. */
export async function verifyRegistry(token, boardJwks, { now, minimumVersion = 0 }) {
  const { payload } = await verifyJwt(token, boardJwks, { typ: REGISTRY_TYP });
  const { iss, version, iat, exp, policies: entries } = payload;
  if (typeof iss !== "string" || !iss) throw invalid("names no issuer");
  if (!Number.isInteger(version) || version < 1) throw invalid("has no valid version");
  if (!Number.isInteger(iat) || !Number.isInteger(exp)) throw invalid("needs iat and exp as whole seconds");
  if (!Array.isArray(entries) || !entries.length) throw invalid("lists no policies");
  if (iat > now + CLOCK_SKEW) throw invalid("is dated in the future");
  if (exp <= now) throw new CoreError("registry_expired", "the policy registry has expired: sync a newer one");
  if (version < minimumVersion) {
    throw new CoreError("registry_rollback", `the policy registry is version ${version}, older than version ${minimumVersion} already seen`);
  }
  const policies = new Map();
  for (const entry of entries) {
    const policy = checkedPolicy(entry);
    if (policies.has(policy.id)) throw invalid(`lists policy '${policy.id}' twice`);
    policies.set(policy.id, policy);
  }
  return { issuer: iss, version, issuedAt: iat, expiresAt: exp, policies };
}

/** The UTC day of unix time `now`, as YYYY-MM-DD (what valid_until is compared with). */
export function utcDay(now) {
  return new Date(Math.floor(now / 86_400) * 86_400_000).toISOString().slice(0, 10);
}

/** The policy that allows `request`; a CoreError with the reason otherwise. */
export function checkRequest(request, registry, now) {
  if (request.expiresAt <= now) {
    const error = new CoreError("request_expired", "the desk's request has expired: ask the desk for a new one");
    error.moment = request.expiresAt;
    throw error;
  }
  if (request.expiresAt > now + MAX_REQUEST_LIFETIME) {
    throw new CoreError("invalid_request", "the desk's request claims to be valid for more than a day");
  }
  const policies = registry.policies instanceof Map ? registry.policies : new Map(Object.entries(registry.policies || {}));
  const policy = policies.get(request.policy);
  if (!policy) {
    throw new CoreError("unknown_policy", `the desk names policy '${request.policy}', which the policy registry does not list`);
  }
  if (utcDay(now) > policy.valid_until) throw new CoreError("policy_expired", `policy '${policy.id}' expired on ${policy.valid_until}`);
  const extra = request.claims.filter((name) => !Object.prototype.hasOwnProperty.call(policy.claims, name));
  if (extra.length) {
    throw new CoreError("claims_exceed_policy", `the desk asks for ${extra.join(", ")}, which policy '${policy.id}' does not allow`);
  }
  return policy;
}
