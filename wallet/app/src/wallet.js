/**
 * The phone wallet, as the app's screens see it: the one module the UI talks to.
 *
 * It mirrors `cityid wallet`: receive a batch (receive.js), keep it sealed in IndexedDB
 * (store.js), check a desk's request against the signed policy registry (trust.js) and answer
 * it with an unused credential (present.js). Every refusal is a WalletError whose `reason` is
 * the Python wallet's code for the same refusal. Nothing here logs a claim, a token or a key.
 */

import { b64urlDecode, b64urlEncode } from "./core/bytes.js";
import { checkRequest } from "./core/registry.js";
import { decodeRequest, offlineAudience } from "./core/request.js";
import {
  CREDENTIAL_TYPES, DEFAULT_COUNT, IssuerCalls, MAX_CREDENTIALS, OFFER_EXPIRED,
  forgetReceive, isExpired, isFinished, newProgress, normalisePin, parseOffer, runReceive, stepOf,
} from "./receive.js";
import {
  LOW_BATCH, chosenType, heldClaims, historyEntry, noneLeft, proofText, unusedByType,
} from "./present.js";
import { STORES, Store, WalletError, randomId } from "./store.js";
import {
  IssuerUnreachable, TRUST_ID, acceptPublished, currentRegistry, fetchRegistry, heldWhileOffline, isStale,
} from "./trust.js";

export { WalletError } from "./store.js";

const PENDING_ID = "pending";
const LOCK_SETTING = "app-lock";
/** PBKDF2 rounds for the app lock: 600 000 takes seconds on an old phone, 100 000 well under one. */
const LOCK_ITERATIONS = 100_000;
/** Seconds an offline proof (`showOffline`) is valid for, as `cityid wallet show` makes it. */
const OFFLINE_LIFETIME = 120;

const seconds = () => Math.floor(Date.now() / 1000);

/** A core or unexpected error as a WalletError: the UI only ever sees reasons. */
function asWalletError(error) {
  if (error instanceof WalletError) return error;
  if (error && typeof error.reason === "string") return new WalletError(error.reason, String(error.message || error.reason));
  const name = error && error.name ? error.name : "Error";
  return new WalletError("internal_error", `the wallet could not do this (${name})`);
}

async function guarded(work) {
  try {
    return await work();
  } catch (error) {
    throw asWalletError(error);
  }
}

/** Run `work` alone: in this tab (a queue) and, where the browser has Web Locks, across tabs. */
function exclusively(wallet, name, work) {
  const run = () => (globalThis.navigator && navigator.locks && typeof navigator.locks.request === "function"
    ? navigator.locks.request(`cityid-wallet-${name}`, () => work())
    : work());
  const result = wallet.queue.then(run, run);
  wallet.queue = result.catch(() => undefined);
  return result;
}

function utcToday(now) {
  return new Date(now * 1000).toISOString().slice(0, 10);
}

function policyMap(registry) {
  return registry.policies instanceof Map ? registry.policies : new Map(Object.entries(registry.policies || {}));
}

function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index += 1) difference |= a[index] ^ b[index];
  return difference === 0;
}

async function lockHash(pin, salt, iterations) {
  const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(pin), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, material, 256);
  return new Uint8Array(bits);
}

/** Open the wallet on this phone (the database is made on first use). */
export async function openWallet(options = {}) {
  return guarded(async () => new Wallet(await Store.open(options.indexedDB), options));
}

export class Wallet {
  /**
   * @param {Store} store
   * @param {{patienceMs?: number, fetchImpl?: Function}} options  for tests: how long a receive
   *   keeps trying a busy issuer, and the fetch to use.
   */
  constructor(store, options = {}) {
    this.store = store;
    this.options = options;
    this.queue = Promise.resolve();
  }

  async _credentials() {
    return this.store.entries(STORES.credentials);
  }

  /** The issuer the phone enrolled with most recently: that of its newest credential. */
  _homeIssuer(entries) {
    let newest = null;
    for (const [, record] of entries) {
      if (typeof record.issuer === "string" && (newest === null || record.receivedAt >= newest.receivedAt)) newest = record;
    }
    return newest ? newest.issuer : null;
  }

  /** `{unused: {residency, identity}, low, issuer, hasPending}`; `low`: a type the phone holds is down to LOW_BATCH or fewer. */
  async status() {
    return guarded(async () => {
      const entries = await this._credentials();
      const records = entries.map(([, record]) => record);
      const unused = unusedByType(records);
      const held = new Set(records.map((record) => record.type));
      const low = [...held].some((type) => unused[type] <= LOW_BATCH);
      const pending = await this.store.getRaw(STORES.state, PENDING_ID);
      return { unused, low, issuer: this._homeIssuer(entries), hasPending: pending !== undefined };
    });
  }

  // ------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Keep the clerk's offer as the pending receive (it survives a reload or a closed tab) and
   * say what it is. The same offer again keeps the progress made with it; another offer takes
   * the place of an unfinished one.
   */
  async startReceive(offerText) {
    return guarded(() => exclusively(this, "receive", async () => {
      const offer = parseOffer(offerText);
      const info = {
        issuer: offer.issuer, pinLength: offer.pinLength, pinNumeric: offer.pinNumeric,
        configurations: [...offer.configurations],
      };
      const pending = await this.store.get(STORES.state, PENDING_ID);
      if (pending && pending.offer.code === offer.code) return info;
      const entries = await this._credentials();
      if (entries.length + DEFAULT_COUNT * offer.configurations.length > MAX_CREDENTIALS) {
        throw new WalletError("wallet_full", `this wallet cannot hold more than ${MAX_CREDENTIALS} credentials`);
      }
      const batch = this.store.batch();
      if (pending) {
        for (const ids of Object.values(pending.deviceKeys)) for (const id of ids) batch.delete(STORES.deviceKeys, id);
      }
      batch.put(STORES.state, PENDING_ID, newProgress(offer, { count: DEFAULT_COUNT, now: seconds() }));
      await batch.commit();
      return info;
    }));
  }

  /** The unfinished receive, or null: `{issuer, pinLength, pinNumeric, needsPin, step, expired, configurations}`. */
  async pendingReceive() {
    return guarded(async () => {
      const progress = await this.store.get(STORES.state, PENDING_ID);
      if (!progress) return null;
      const { offer } = progress;
      return {
        issuer: offer.issuer, pinLength: offer.pinLength, pinNumeric: offer.pinNumeric,
        needsPin: progress.accessToken === null, step: stepOf(progress),
        expired: isExpired(progress, seconds()) && !isFinished(progress), configurations: [...offer.configurations],
      };
    });
  }

  /**
   * Receive (or finish receiving) the pending offer's batch; `pin` may be null once the token
   * step is done. Each step is kept before the next request. Resolves with how many
   * credentials of each type the receive brought.
   */
  async receive(pin, { onProgress } = {}) {
    return guarded(() => exclusively(this, "receive", async () => {
      const progress = await this.store.get(STORES.state, PENDING_ID);
      if (!progress) {
        throw new WalletError("usage_error", "this wallet has no receive to finish: scan the clerk's offer first");
      }
      if (isExpired(progress, seconds()) && !isFinished(progress)) {
        await forgetReceive(this.store, PENDING_ID, progress);
        throw new WalletError("offer_expired", OFFER_EXPIRED);
      }
      let typed = null;
      if (progress.accessToken === null) {
        if (pin === null || pin === undefined) throw new WalletError("usage_error", "type the PIN the clerk told you");
        typed = normalisePin(progress.offer, pin); // a typo that cannot be the PIN spends no try
      }
      const calls = new IssuerCalls({ patienceMs: this.options.patienceMs, fetchImpl: this.options.fetchImpl });
      await runReceive(this.store, PENDING_ID, progress, typed, { onProgress, calls });
      await forgetReceive(this.store, PENDING_ID, progress);
      // The board key is pinned now, from the issuer just enrolled with, not at the first desk;
      // when none is published yet, or the issuer cannot be reached, the first answer fetches it.
      try {
        await this._registry(seconds());
      } catch (_error) {
        // not needed to finish the receive
      }
      const received = {};
      for (const name of Object.keys(CREDENTIAL_TYPES)) received[name] = name in progress.done ? progress.count : 0;
      return { received };
    }));
  }

  /** Forget the unfinished receive (its unused device keys too); credentials already kept stay. */
  async forgetPendingReceive() {
    return guarded(() => exclusively(this, "receive", async () => {
      const progress = await this.store.get(STORES.state, PENDING_ID);
      if (progress) await forgetReceive(this.store, PENDING_ID, progress);
    }));
  }

  // ------------------------------------------------------------------------------------------
  // The registry

  /**
   * The approved registry: the one held, or (none held, or stale) the one the phone's issuer
   * publishes when the phone is online. A newer registry is kept even if the resident then says
   * no. Offline, a current one is used; none or an expired one is refused (go online once).
   */
  async _registry(now) {
    const trust = await this.store.get(STORES.state, TRUST_ID);
    const issuer = this._homeIssuer(await this._credentials());
    if (issuer === null || !(await isStale(trust, { now }))) return currentRegistry(trust, { now });
    if (globalThis.navigator && navigator.onLine === false) {
      return heldWhileOffline(trust, new IssuerUnreachable("this phone is offline"), { now });
    }
    let published;
    try {
      published = await fetchRegistry(issuer, { fetchImpl: this.options.fetchImpl });
    } catch (error) {
      if (error instanceof IssuerUnreachable) return heldWhileOffline(trust, error, { now });
      throw error;
    }
    const [updated, registry] = await acceptPublished(trust, published, { now });
    await this.store.batch().put(STORES.state, TRUST_ID, updated).commit();
    return registry;
  }

  /** The approved policies still valid today (for offline "show" proofs). */
  async policies() {
    return guarded(async () => {
      const now = seconds();
      const today = utcToday(now);
      return [...policyMap(await this._registry(now)).values()].filter((policy) => policy.valid_until >= today);
    });
  }

  // ------------------------------------------------------------------------------------------
  // Answering

  /**
   * Check a desk's `CIDR1:` or `CIDR2:` request and say how it would be answered:
   * `{request, policy, card, insteadOf, remaining, holds}` (`remaining`: unused credentials of
   * that card now; `holds`: the claims of the one that would answer). Spends nothing; refusals
   * are WalletErrors (`claims_exceed_policy`, ...).
   */
  async prepareAnswer(requestText, { now } = {}) {
    return guarded(async () => {
      const at = now === undefined ? seconds() : now;
      const request = decodeRequest(String(requestText).replace(/^\s+/, "").replace(/[\r\n]+$/, ""));
      const registry = await this._registry(at);
      const policy = checkRequest(request, registry, at);
      return { ...(await this._choose(request)), request, policy };
    });
  }

  /** Like `prepareAnswer`, for a desk that cannot show a request (`cityid wallet show`). */
  async prepareOffline(policyId, { now } = {}) {
    return guarded(async () => {
      const at = now === undefined ? seconds() : now;
      const registry = await this._registry(at);
      const known = policyMap(registry).get(policyId);
      if (!known) throw new WalletError("unknown_policy", `policy '${policyId}' is not in the approved registry`);
      const request = {
        policy: known.id,
        claims: Object.keys(known.claims),
        nonce: b64urlEncode(crypto.getRandomValues(new Uint8Array(16))),
        audience: offlineAudience(known.id),
        expiresAt: at + OFFLINE_LIFETIME,
        codec: 1, // whichever desk scans it: every desk reads CID1
      };
      const policy = checkRequest(request, registry, at); // an expired policy is refused here
      return { ...(await this._choose(request)), request, policy };
    });
  }

  /** `holds`: the claims of the credential `share` will spend (the first unused one of `card`). */
  async _choose(request) {
    const records = (await this._credentials()).map(([, record]) => record);
    const unused = unusedByType(records);
    const { card, insteadOf } = chosenType(unused, request.claims);
    const next = records.find((record) => record.type === card && !record.used);
    return { card, insteadOf, remaining: unused[card], holds: await heldClaims(next) };
  }

  /**
   * The resident said yes: build the proof with an unused credential of `prepared.card`, mark
   * that credential used and add the history entry (one transaction), and only then resolve
   * with `{qrText, type, remaining}`, so a credential is never shown twice.
   */
  async share(prepared) {
    return guarded(() => exclusively(this, "spend", async () => {
      const now = seconds();
      const { request, card } = prepared;
      if (request.expiresAt <= now) {
        throw new WalletError("request_expired", "the desk's request has expired: ask the desk for a new one");
      }
      const unused = (await this._credentials()).filter(([, record]) => record.type === card && !record.used);
      if (unused.length === 0) throw noneLeft();
      const [id, record] = unused[0];
      const keyPair = await this.store.deviceKey(record.keyId);
      if (!keyPair) throw new WalletError("unreadable_wallet", "this credential's device key is missing");
      const qrText = await proofText(record, keyPair, request, now);
      await this.store.batch()
        .put(STORES.credentials, id, { ...record, used: true })
        .put(STORES.history, randomId(), { ...historyEntry(request, request.policy, card, now), order: Date.now() })
        .commit();
      return { qrText, type: card, remaining: unused.length - 1 };
    }));
  }

  /** A proof for a desk that cannot show a request, bound to the policy and to this minute. */
  async showOffline(policyId) {
    const prepared = await this.prepareOffline(policyId);
    return { ...(await this.share(prepared)), policy: prepared.policy };
  }

  // ------------------------------------------------------------------------------------------
  // History, settings, the app lock

  /** What was shared, with whom and when, oldest first: `[{at, policy, audience, claims, type}]`. */
  async history() {
    return guarded(async () => {
      const entries = (await this.store.entries(STORES.history)).map(([, entry]) => entry);
      entries.sort((a, b) => a.at - b.at || (a.order || 0) - (b.order || 0));
      return entries.map(({ at, policy, audience, claims, type }) => ({ at, policy, audience, claims, type }));
    });
  }

  async clearHistory() {
    return guarded(async () => {
      const batch = this.store.batch();
      for (const [id] of await this.store.entriesRaw(STORES.history)) batch.delete(STORES.history, id);
      await batch.commit();
    });
  }

  /**
   * The app lock is a privacy lock for a phone shared in a family: it keeps the others out of the
   * screens, not a thief out of the data (the data is sealed under a key the browser holds,
   * whatever the PIN). PBKDF2-SHA256 with a random salt, 100 000 rounds.
   */
  async lockSet() {
    return guarded(async () => (await this.store.getRaw(STORES.settings, LOCK_SETTING)) !== undefined);
  }

  /** Set the app lock's PIN (at least 4 characters), or remove the lock with null. */
  async setLock(pin) {
    return guarded(async () => {
      const batch = this.store.batch();
      if (pin === null || pin === undefined) {
        await batch.delete(STORES.settings, LOCK_SETTING).commit();
        return;
      }
      if (typeof pin !== "string" || Array.from(pin).length < 4) {
        throw new WalletError("invalid_pin", "choose a lock PIN of at least 4 digits");
      }
      const salt = crypto.getRandomValues(new Uint8Array(16));
      const hash = await lockHash(pin, salt, LOCK_ITERATIONS);
      await batch.put(STORES.settings, LOCK_SETTING, {
        salt: b64urlEncode(salt), hash: b64urlEncode(hash), iterations: LOCK_ITERATIONS,
      }).commit();
    });
  }

  /** Whether `pin` opens the app lock (true when no lock is set). */
  async unlock(pin) {
    return guarded(async () => {
      const lock = await this.store.getRaw(STORES.settings, LOCK_SETTING);
      if (lock === undefined) return true;
      if (typeof pin !== "string" || pin === "") return false;
      const salt = b64urlDecode(lock.salt);
      return bytesEqual(await lockHash(pin, salt, lock.iterations), b64urlDecode(lock.hash));
    });
  }

  /** A plain setting (e.g. "language"); settings hold nothing personal. */
  async getSetting(name) {
    return guarded(async () => {
      if (name === LOCK_SETTING) return undefined;
      return this.store.getRaw(STORES.settings, name);
    });
  }

  async setSetting(name, value) {
    return guarded(async () => {
      if (typeof name !== "string" || !name || name === LOCK_SETTING) {
        throw new WalletError("usage_error", "this setting cannot be set here");
      }
      await this.store.batch().put(STORES.settings, name, value).commit();
    });
  }

  /** For tests: every device key read back from IndexedDB, and whether its private half can be read out. */
  async keyReport() {
    return guarded(async () => {
      const report = [];
      for (const [, pair] of await this.store.entriesRaw(STORES.deviceKeys)) {
        const exportFails = await crypto.subtle.exportKey("jwk", pair.privateKey).then(() => false, () => true);
        report.push({ extractable: pair.privateKey.extractable, exportFails });
      }
      return report;
    });
  }
}
