/**
 * The phone wallet's storage: one IndexedDB database, `cityid-wallet`.
 *
 * What is in it, and why it is safe to find on a lost phone:
 * - `deviceKeys`: one P-256 key pair per credential, the private key made `extractable: false`
 *   and stored as the CryptoKey object itself, so no script (ours included) can read it out.
 * - `credentials`, `history`, `state` (the pending receive, the policy registry and the pinned
 *   board key): every value sealed with AES-GCM 256 under a key that is itself non-extractable
 *   and kept in `meta`. The record's store and id are the associated data, so a sealed value
 *   cannot be moved to another record. Ids are random: no claim value, not even in a key.
 * - `settings`: the language and the app lock's salt and hash, in the clear (nothing personal).
 *
 * Every change that belongs together is one IndexedDB transaction (`Batch.commit`): values are
 * sealed first, because a transaction closes by itself as soon as the code awaits anything that
 * is not IndexedDB. A crash therefore leaves the old state or the new one, never half.
 */

/**
 * A refusal the resident can be told about: `reason` is the same stable code the Python wallet
 * uses for the same refusal (`claims_exceed_policy`, `offer_expired`, ...), `message` English.
 * Defined here, the lowest layer, and re-exported by wallet.js.
 */
export class WalletError extends Error {
  constructor(reason, message, detail) {
    super(message);
    this.name = "WalletError";
    this.reason = reason;
    if (detail !== undefined) this.detail = detail;
  }
}

export const DB_NAME = "cityid-wallet";
const DB_VERSION = 1;

/** The object stores, by what they hold. */
export const STORES = Object.freeze({
  deviceKeys: "deviceKeys",
  credentials: "credentials",
  history: "history",
  state: "state",
  settings: "settings",
  meta: "meta",
});

const SEALED = new Set([STORES.credentials, STORES.history, STORES.state]);
const SEAL_KEY_ID = "seal";
const PERSIST_ASKED = "persist-asked";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A random id for a record: 16 random bytes as hex, saying nothing about what it holds. */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function requested(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function finished(transaction) {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onabort = () => reject(transaction.error || new DOMException("the write was aborted", "AbortError"));
    transaction.onerror = () => reject(transaction.error);
  });
}

function storageError(what, error) {
  const name = error && error.name ? error.name : "Error";
  if (name === "QuotaExceededError") {
    return new WalletError("storage_full", `this phone has no room left to ${what}: free some space and try again`);
  }
  return new WalletError("storage_unavailable", `this browser's storage could not ${what} (${name})`);
}

function openDatabase(factory) {
  return new Promise((resolve, reject) => {
    let request;
    try {
      request = factory.open(DB_NAME, DB_VERSION);
    } catch (error) {
      reject(error);
      return;
    }
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const name of Object.values(STORES)) {
        if (!db.objectStoreNames.contains(name)) db.createObjectStore(name);
      }
    };
    request.onsuccess = () => {
      const db = request.result;
      // Another tab with a newer app asks to upgrade: let it, this tab reloads on its next use.
      db.onversionchange = () => db.close();
      resolve(db);
    };
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new DOMException("another tab holds the wallet open", "InvalidStateError"));
  });
}

async function sealingKey(db) {
  const read = db.transaction([STORES.meta], "readonly");
  const held = await requested(read.objectStore(STORES.meta).get(SEAL_KEY_ID));
  if (held) return held;
  const made = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const write = db.transaction([STORES.meta], "readwrite");
  const done = finished(write);
  // add, not put: when another tab made one first, theirs is kept and read back below.
  write.objectStore(STORES.meta).add(made, SEAL_KEY_ID).onerror = (event) => event.preventDefault();
  try {
    await done;
  } catch (_error) {
    // the add lost the race: fall through and read the key that won
  }
  const again = db.transaction([STORES.meta], "readonly");
  const key = await requested(again.objectStore(STORES.meta).get(SEAL_KEY_ID));
  if (!key) throw new WalletError("storage_unavailable", "this browser did not keep the wallet's sealing key");
  return key;
}

function associatedData(storeName, id) {
  return encoder.encode(`cityid-wallet/${storeName}/${id}`);
}

/** Ask once that the browser keep the wallet's storage under pressure (ignored where unsupported). */
async function askToPersist(db) {
  try {
    const read = db.transaction([STORES.meta], "readonly");
    if (await requested(read.objectStore(STORES.meta).get(PERSIST_ASKED))) return;
    if (globalThis.navigator && navigator.storage && typeof navigator.storage.persist === "function") {
      await navigator.storage.persist();
    }
    const write = db.transaction([STORES.meta], "readwrite");
    write.objectStore(STORES.meta).put(true, PERSIST_ASKED);
    await finished(write);
  } catch (_error) {
    // persistence is a wish, not a requirement
  }
}

/**
 * Changes to make together: sealed when committed, then written in one transaction.
 * Build one with `store.batch()`, add puts and deletes, then `await batch.commit()`.
 */
export class Batch {
  constructor(store) {
    this.store = store;
    this.operations = [];
  }

  /** Put `value` (any JSON) at `id` in `storeName`; sealed if the store is a sealed one. */
  put(storeName, id, value) {
    this.operations.push({ kind: "put", storeName, id, value });
    return this;
  }

  delete(storeName, id) {
    this.operations.push({ kind: "delete", storeName, id });
    return this;
  }

  get empty() {
    return this.operations.length === 0;
  }

  async commit() {
    const ready = [];
    for (const operation of this.operations) {
      if (operation.kind === "put" && SEALED.has(operation.storeName)) {
        const sealed = await this.store.seal(operation.storeName, operation.id, operation.value);
        ready.push({ ...operation, value: sealed });
      } else {
        ready.push(operation);
      }
    }
    if (ready.length === 0) return;
    const names = [...new Set(ready.map((operation) => operation.storeName))];
    let transaction;
    try {
      transaction = this.store.db.transaction(names, "readwrite", { durability: "strict" });
    } catch (error) {
      throw storageError("save", error);
    }
    const done = finished(transaction);
    for (const operation of ready) {
      const objects = transaction.objectStore(operation.storeName);
      if (operation.kind === "put") objects.put(operation.value, operation.id);
      else objects.delete(operation.id);
    }
    try {
      await done;
    } catch (error) {
      throw storageError("save", error);
    }
  }
}

/** The open database and its sealing key. */
export class Store {
  constructor(db, sealKey) {
    this.db = db;
    this.sealKey = sealKey;
  }

  /** Open (or create) the wallet database; `factory` is `indexedDB` unless a test gives another. */
  static async open(factory = globalThis.indexedDB) {
    if (!factory) throw new WalletError("storage_unavailable", "this browser has no storage for a wallet (IndexedDB)");
    let db;
    try {
      db = await openDatabase(factory);
    } catch (error) {
      throw storageError("open the wallet", error);
    }
    const key = await sealingKey(db);
    await askToPersist(db);
    return new Store(db, key);
  }

  batch() {
    return new Batch(this);
  }

  async seal(storeName, id, value) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const plaintext = encoder.encode(JSON.stringify(value));
    const ciphertext = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: associatedData(storeName, id) },
      this.sealKey,
      plaintext,
    );
    return { iv, ciphertext: new Uint8Array(ciphertext) };
  }

  async unseal(storeName, id, sealed) {
    try {
      const plaintext = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: sealed.iv, additionalData: associatedData(storeName, id) },
        this.sealKey,
        sealed.ciphertext,
      );
      return JSON.parse(decoder.decode(plaintext));
    } catch (_error) {
      throw new WalletError("unreadable_wallet", "a record in this wallet is damaged and cannot be opened");
    }
  }

  async _read(storeNames, reading) {
    let transaction;
    try {
      transaction = this.db.transaction(storeNames, "readonly");
    } catch (error) {
      throw storageError("read the wallet", error);
    }
    try {
      return await reading(transaction);
    } catch (error) {
      if (error instanceof WalletError) throw error;
      throw storageError("read the wallet", error);
    }
  }

  /** The raw value at `id` (a sealed store's value stays sealed), or undefined. */
  async getRaw(storeName, id) {
    return this._read([storeName], (t) => requested(t.objectStore(storeName).get(id)));
  }

  /** Every `[id, raw value]` of `storeName`. */
  async entriesRaw(storeName) {
    return this._read([storeName], async (t) => {
      const objects = t.objectStore(storeName);
      const [ids, values] = await Promise.all([requested(objects.getAllKeys()), requested(objects.getAll())]);
      return ids.map((id, index) => [id, values[index]]);
    });
  }

  /** The opened value at `id` of a sealed store, or undefined. */
  async get(storeName, id) {
    const raw = await this.getRaw(storeName, id);
    if (raw === undefined) return undefined;
    return SEALED.has(storeName) ? this.unseal(storeName, id, raw) : raw;
  }

  /** Every `[id, opened value]` of a store. */
  async entries(storeName) {
    const raw = await this.entriesRaw(storeName);
    if (!SEALED.has(storeName)) return raw;
    return Promise.all(raw.map(async ([id, value]) => [id, await this.unseal(storeName, id, value)]));
  }

  /** The device key pair with `id`, as stored (CryptoKey objects), or undefined. */
  async deviceKey(id) {
    return this.getRaw(STORES.deviceKeys, id);
  }

  /** Make and keep nothing yet: a fresh non-extractable P-256 signing key pair. */
  static async newDeviceKey() {
    return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  }
}

/** The public half of a device key as the JWK the issuer binds a credential to: kty, crv, x, y only. */
export async function publicJwk(keyPair) {
  const full = await crypto.subtle.exportKey("jwk", keyPair.publicKey);
  return { kty: full.kty, crv: full.crv, x: full.x, y: full.y };
}
