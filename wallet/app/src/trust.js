/**
 * The policy registry as the phone knows it (wallet/trust.py): the board's key pinned on first
 * use, and the newest registry seen, so an older one can never be slipped back in (rollback).
 *
 * Both come from the issuer the phone enrolled with (`GET <issuer>/registry`), at the first
 * receive and again when what the phone holds is stale: expired, or last checked more than
 * `REFRESH_AFTER` seconds ago. Offline, a registry that is still current is used; with one that
 * has expired (`registry_offline`) or none (`no_registry`) the phone refuses, saying to go online
 * once. A key other than the pinned one, or an older version, is refused even online
 * (`board_key_changed`, `registry_rollback`).
 *
 * The trust record (sealed, `STORES.state`/`trust`) is `{boardJwks, registry, version, checkedAt}`.
 * The functions here decide; wallet.js reads and writes the record.
 */

import { verifyRegistry } from "./core/registry.js";
import { boundedFetch, secureUrl } from "./receive.js";
import { WalletError } from "./store.js";

/** Seconds after which the phone asks its issuer for a newer registry, when it can. */
export const REFRESH_AFTER = 86_400;
export const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
export const TRUST_ID = "trust";

/** The issuer could not be asked (no network, no answer, or an error page). */
export class IssuerUnreachable extends WalletError {
  constructor(message) {
    super("issuer_unreachable", message);
  }
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep equality of two JSON values, member order ignored (Python's `==` on dicts). */
export function sameJson(a, b) {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameJson(item, b[i]));
  }
  if (!isObject(a) || !isObject(b)) return false;
  const names = Object.keys(a);
  return names.length === Object.keys(b).length
    && names.every((name) => Object.prototype.hasOwnProperty.call(b, name) && sameJson(a[name], b[name]));
}

function asWalletError(error) {
  if (error instanceof WalletError) return error;
  const reason = error && typeof error.reason === "string" ? error.reason : "invalid_registry";
  const message = error && error.message ? error.message : "the policy registry does not verify";
  return new WalletError(reason, message);
}

/**
 * GET `issuerUrl`/registry: `{registry, boardJwks}`, neither checked yet. Throws
 * IssuerUnreachable when the issuer cannot be asked or has published none, `invalid_registry`
 * for an answer that is not one.
 */
export async function fetchRegistry(issuerUrl, { fetchImpl } = {}) {
  const base = secureUrl(issuerUrl, "invalid_issuer_metadata", "the issuer's address", { queryAllowed: false });
  let answer;
  try {
    answer = await boundedFetch(`${base.replace(/\/+$/, "")}/registry`, { method: "GET" }, {
      limit: MAX_RESPONSE_BYTES, fetchImpl: fetchImpl || ((...args) => globalThis.fetch(...args)),
    });
  } catch (error) {
    if (error instanceof WalletError && error.reason === "too_large") {
      throw new WalletError("invalid_registry", `${base}/registry is not a published policy registry`);
    }
    throw new IssuerUnreachable(`cannot reach ${base} (${error && error.name ? error.name : "Error"})`);
  }
  if (answer.status !== 200) throw new IssuerUnreachable(`${base}/registry answered ${answer.status}`);
  let published = null;
  try {
    published = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(answer.bytes));
  } catch (_error) {
    published = null;
  }
  if (!isObject(published) || typeof published.registry !== "string" || !isObject(published.board_jwks)) {
    throw new WalletError("invalid_registry", `${base}/registry is not a published policy registry`);
  }
  return { registry: published.registry, boardJwks: published.board_jwks };
}

/**
 * Accept a registry (and, the first time, the board key): returns `[newTrust, registry]`.
 * A board key other than the pinned one is `board_key_changed`; an older version than the one
 * held, `registry_rollback` (from verifyRegistry's `minimumVersion`).
 */
export async function updateTrust(trust, registryToken, boardJwks, { now }) {
  const held = trust || {};
  if (held.boardJwks !== undefined && !sameJson(held.boardJwks, boardJwks)) {
    throw new WalletError("board_key_changed", "this policy board key differs from the one this wallet trusts");
  }
  let registry;
  try {
    registry = await verifyRegistry(registryToken, boardJwks, { now, minimumVersion: held.version || 0 });
  } catch (error) {
    throw asWalletError(error);
  }
  return [{ ...held, boardJwks, registry: registryToken, version: registry.version }, registry];
}

/** Take what the issuer published, noting when it was checked: `[newTrust, registry]`. */
export async function acceptPublished(trust, published, { now }) {
  const [updated, registry] = await updateTrust(trust, published.registry, published.boardJwks, { now });
  return [{ ...updated, checkedAt: now }, registry];
}

/**
 * The registry the phone holds, checked again: it may have expired since, and it must not be
 * older than the version the phone records.
 */
export async function currentRegistry(trust, { now }) {
  if (!trust || typeof trust.registry !== "string") {
    throw new WalletError("no_registry", "no policy registry in this wallet yet: it comes from the city's service "
      + "you received your credentials from");
  }
  try {
    return await verifyRegistry(trust.registry, trust.boardJwks, { now, minimumVersion: trust.version });
  } catch (error) {
    throw asWalletError(error);
  }
}

/**
 * Whether to ask the issuer for the registry: none held, last checked `REFRESH_AFTER` seconds
 * ago or more, or no longer valid.
 */
export async function isStale(trust, { now }) {
  if (!trust || typeof trust.registry !== "string" || now - (trust.checkedAt || 0) >= REFRESH_AFTER) return true;
  try {
    await currentRegistry(trust, { now });
  } catch (_error) {
    return true;
  }
  return false;
}

/**
 * The registry held, when the issuer could not be asked for a newer one (`problem` says why):
 * used while current; refused when there is none (`no_registry`) or it has expired
 * (`registry_offline`), with a message to go online once.
 */
export async function heldWhileOffline(trust, problem, { now }) {
  try {
    return await currentRegistry(trust, { now });
  } catch (error) {
    if (error.reason === "no_registry") {
      throw new WalletError("no_registry", "this wallet has no list of approved policies yet and could not fetch "
        + `one (${problem.message}): go online once, then try again`);
    }
    if (error.reason === "registry_expired") {
      throw new WalletError("registry_offline", "this wallet's list of approved policies has expired and a new "
        + `one could not be fetched (${problem.message}): go online once, then try again`);
    }
    throw error;
  }
}
