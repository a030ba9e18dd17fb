/**
 * The phone's side of OpenID4VCI's pre-authorized code flow, as wallet/receive.py does it:
 * the clerk's offer and PIN in, a batch of one-time credentials out.
 *
 * For each offered type the phone makes `count` fresh device keys (non-extractable WebCrypto
 * keys, one per credential, none shared across types), proves it holds each one with a key
 * proof over the issuer's nonce, and receives one credential per key. Every credential is
 * checked before any of its type is kept: the issuer's signature, the issuer and the type, and
 * that it is bound to exactly the key made for it.
 *
 * A receive can stop at any step (the tab closed, the battery flat, the issuer restarting), so
 * each step is kept before the next request: the offer, then the access token, then each type's
 * device keys before their proofs are sent, then each type's credentials once they check. The
 * next `receive` goes on from there: the issuer sends a fresh batch for a type whose answer was
 * lost (and revokes the one that never arrived). A busy issuer (503, `Retry-After` honoured) or
 * one out of reach is tried again with backoff for about a minute. Last the phone tells the
 * issuer it kept each type (`credential_accepted`), and the issuer deletes the resident's claims.
 */

import { signJwt, verifyJwt } from "./core/jose.js";
import { parseIssued } from "./core/sdjwt.js";
import { STORES, Store, WalletError, publicJwk, randomId } from "./store.js";

export const PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
const PROOF_TYP = "openid4vci-proof+jwt";
const VC_TYP = "dc+sd-jwt";
const OFFER_SCHEME = "openid-credential-offer://";
const MAX_OFFER_CHARS = 4096;
const MAX_URL_CHARS = 2048;
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "::1"]);

/** The credential types this wallet knows (credential/_types.py), with their URN `vct` and version. */
export const CREDENTIAL_TYPES = Object.freeze({
  residency: Object.freeze({ vct: "urn:cityid:residency:1", version: 1, claims: ["resident_of", "age_over_18", "age_over_21", "age_over_65"] }),
  identity: Object.freeze({ vct: "urn:cityid:identity:1", version: 1, claims: ["given_name", "family_name", "birthdate", "address", "resident_of"] }),
});

/**
 * True when `vct` names the type `name`: its URN (credentials issued before the city published
 * its types), or its published URL, which ends in `/<name>/<version>` under whatever base the
 * issuer chose (`CredentialType.is_named_by` in credential/_types.py).
 */
export function namesType(name, vct) {
  const kind = CREDENTIAL_TYPES[name];
  if (kind === undefined || typeof vct !== "string") return false;
  return vct === kind.vct || (/^https?:\/\//.test(vct) && vct.endsWith(`/${name}/${kind.version}`));
}

/** Where `issuer`'s SD-JWT VC issuer metadata is: the well-known part between host and path. */
export function jwtVcIssuerUrl(issuer) {
  const url = new URL(issuer);
  return `${url.origin}/.well-known/jwt-vc-issuer${url.pathname.replace(/\/+$/, "")}`;
}

/**
 * The JWKS in `issuer`'s metadata, given by value (`jwks`) or by reference (`jwks_uri`, fetched
 * with `get`): exactly one of them, and only when the metadata is `issuer`'s own
 * (edges/issuermetadata.py does the same for the wallet CLI and the desk).
 */
export async function issuerJwks(metadata, issuer, get) {
  if (!isObject(metadata) || metadata.issuer !== issuer) {
    throw new WalletError("invalid_issuer_metadata", "the issuer metadata is not this issuer's: it is not used");
  }
  if ("jwks" in metadata && "jwks_uri" in metadata) {
    throw new WalletError("invalid_issuer_metadata", "the issuer metadata has both jwks and jwks_uri");
  }
  const jwks = "jwks_uri" in metadata
    ? await get(secureUrl(metadata.jwks_uri, "invalid_issuer_metadata", "the issuer's jwks_uri", { queryAllowed: true }))
    : metadata.jwks;
  if (!isObject(jwks) || !Array.isArray(jwks.keys)) throw incomplete("the issuer's keys");
  return jwks;
}

export const DEFAULT_COUNT = 10;
/** Credentials of each type asked for: the CLI's default (`--count 10`), less if the issuer sends fewer. */
export const MAX_CREDENTIALS = 4096;
export const MAX_ANSWER_BYTES = 2 * 1024 * 1024;
/** Milliseconds a receive keeps trying a busy or unreachable issuer, in all. */
export const DEFAULT_PATIENCE_MS = 60_000;
/** The longest pause between two tries, whatever `Retry-After` asks for. */
const RETRY_CAP_MS = 30_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** Reasons after which an unfinished receive can never finish: it is forgotten. */
export const FINISHED = new Set(["offer_unknown", "offer_locked", "offer_expired", "resume_limit"]);
/** Reasons that show the issuer sent what no wallet may keep: the whole receive is forgotten,
 * the types already kept included (a credential bound to the wrong key could link two). */
export const DISTRUSTED = new Set(["wrong_device_key", "invalid_credential"]);
export const OFFER_EXPIRED = "this offer's time is up: ask the clerk for a new one";

// ---------------------------------------------------------------------------------------------
// The offer, the PIN and addresses

/**
 * The offer in `text`: an `openid-credential-offer://?credential_offer=...` URI, or the wallet
 * link the clerk's page shows (`https://.../wallet/#offer=<the percent-encoded URI>`).
 */
export function parseOffer(text) {
  if (typeof text !== "string") throw invalidOffer();
  let uri = text.trim();
  if (!uri.startsWith(OFFER_SCHEME) && /^https?:\/\//i.test(uri) && uri.includes("#")) {
    const fragment = new URLSearchParams(uri.slice(uri.indexOf("#") + 1));
    uri = (fragment.get("offer") || "").trim();
  }
  if (uri.length > MAX_OFFER_CHARS || !uri.startsWith(OFFER_SCHEME)) {
    throw new WalletError("invalid_offer", "this is not a credential offer (openid-credential-offer://...)");
  }
  let issuer, code, configurations, pinLength, pinMode;
  try {
    const query = splitUrl(uri).query;
    const value = new URLSearchParams(query).get("credential_offer");
    const document = value ? JSON.parse(value) : {};
    const grant = document.grants[PRE_AUTHORIZED];
    issuer = document.credential_issuer;
    code = grant["pre-authorized_code"];
    configurations = document.credential_configuration_ids;
    const txCode = grant.tx_code;
    const hasTxCode = isObject(txCode);
    pinLength = hasTxCode ? txCode.length : undefined;
    pinMode = hasTxCode && txCode.input_mode !== undefined ? txCode.input_mode : "numeric";
    if (!Array.isArray(configurations)) throw new TypeError("credential_configuration_ids");
  } catch (error) {
    if (error instanceof WalletError) throw error;
    throw invalidOffer();
  }
  issuer = secureUrl(issuer, "invalid_offer", "the offer's issuer", { queryAllowed: false });
  if (typeof code !== "string" || configurations.length === 0 || !configurations.every((c) => typeof c === "string")) {
    throw invalidOffer();
  }
  if (!configurations.every((c) => Object.prototype.hasOwnProperty.call(CREDENTIAL_TYPES, c))
      || new Set(configurations).size !== configurations.length) {
    throw new WalletError("invalid_offer", "the offer names a credential type this wallet does not know, or one twice");
  }
  const length = Number.isInteger(pinLength) && typeof pinLength === "number" && pinLength > 0 ? pinLength : null;
  return {
    text: uri,
    issuer: issuer.replace(/\/+$/, ""),
    code,
    configurations: [...configurations],
    pinLength: length,
    pinNumeric: pinMode !== "text",
  };
}

function invalidOffer() {
  return new WalletError("invalid_offer", "the credential offer is incomplete or malformed");
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What people type between a PIN's digits when they read it off a slip: spaces and dashes. */
const PIN_SEPARATORS = /[ \t\-\u00a0\u2010\u2011\u2012\u2013\u2014\u2212]/g;
const DECIMAL_DIGIT = /^\p{Nd}$/u;

/** The value of a Unicode decimal digit: Unicode keeps each script's digits 0 to 9 in a row. */
function digitValue(character) {
  let point = character.codePointAt(0);
  let steps = 0;
  while (DECIMAL_DIGIT.test(String.fromCodePoint(point - 1))) {
    point -= 1;
    steps += 1;
  }
  return steps % 10;
}

/**
 * `pin` without spaces or dashes, refused here (`invalid_pin`) when it cannot be the PIN.
 * The issuer counts every wrong PIN and closes the offer after a few, so a typo that cannot be
 * right is caught before it is sent and uses no try. Digits typed on another script's keypad
 * (Arabic-Indic, full-width) become ASCII.
 */
export function normalisePin(offer, pin) {
  let compact = String(pin).trim().replace(PIN_SEPARATORS, "");
  if (offer.pinNumeric) {
    const characters = Array.from(compact);
    if (characters.length === 0 || !characters.every((c) => DECIMAL_DIGIT.test(c))) {
      throw new WalletError("invalid_pin", "the PIN is digits only: check what you typed (no try was used)");
    }
    compact = characters.map((c) => String(digitValue(c))).join("");
  }
  if (!compact) throw new WalletError("invalid_pin", "type the PIN the clerk told you (no try was used)");
  const typed = Array.from(compact).length;
  if (offer.pinLength !== null && typed !== offer.pinLength) {
    throw new WalletError(
      "invalid_pin",
      `the PIN has ${offer.pinLength} digits and you typed ${typed}: check it (no try was used)`,
    );
  }
  return compact;
}

/** A URL's parts as Python's urllib.parse.urlsplit finds them (enough for `secureUrl`). */
function splitUrl(url) {
  let rest = url;
  let scheme = "";
  const colon = rest.indexOf(":");
  if (colon > 0 && /^[A-Za-z][A-Za-z0-9+\-.]*$/.test(rest.slice(0, colon))) {
    scheme = rest.slice(0, colon).toLowerCase();
    rest = rest.slice(colon + 1);
  }
  let netloc = "";
  if (rest.startsWith("//")) {
    const end = rest.slice(2).search(/[/?#]/);
    netloc = end === -1 ? rest.slice(2) : rest.slice(2, 2 + end);
    rest = end === -1 ? "" : rest.slice(2 + end);
  }
  const hash = rest.indexOf("#");
  if (hash !== -1) rest = rest.slice(0, hash);
  const question = rest.indexOf("?");
  const query = question === -1 ? "" : rest.slice(question + 1);
  return { scheme, netloc, query };
}

/** `[hostname, port]` of a netloc with no user info, as urlsplit reads it; throws when invalid. */
function hostAndPort(netloc) {
  let hostname, port;
  if (netloc.startsWith("[")) {
    const close = netloc.indexOf("]");
    if (close === -1) throw new TypeError("unbalanced [");
    hostname = netloc.slice(1, close);
    const after = netloc.slice(close + 1);
    if (after && !after.startsWith(":")) throw new TypeError("text after ]");
    port = after ? after.slice(1) : "";
  } else {
    if (netloc.includes("[") || netloc.includes("]")) throw new TypeError("stray bracket");
    const colon = netloc.indexOf(":");
    hostname = colon === -1 ? netloc : netloc.slice(0, colon);
    port = colon === -1 ? "" : netloc.slice(colon + 1);
  }
  if (port && (!/^[0-9]+$/.test(port) || Number(port) > 65535)) throw new TypeError("port");
  return [hostname.toLowerCase(), port];
}

function isSecure(url, queryAllowed) {
  if (url.length === 0 || url.length > MAX_URL_CHARS) return false;
  for (const character of url) if (character < "!" || character > "~") return false;
  if (url.includes("\\") || url.includes("#") || (!queryAllowed && url.includes("?"))) return false;
  const parts = splitUrl(url);
  let hostname;
  try {
    [hostname] = hostAndPort(parts.netloc);
  } catch (_error) {
    return false;
  }
  if (parts.netloc.includes("@") || !hostname) return false;
  return parts.scheme === "https" || (parts.scheme === "http" && LOOPBACK_HOSTS.has(hostname));
}

/**
 * `url` when it is https://, or http:// to this phone (`localhost`, `127.0.0.1`, `[::1]`, any
 * port); no user name or password, no fragment and, unless `queryAllowed`, no query. The code,
 * the PIN and the keys go nowhere else.
 */
export function secureUrl(url, reason, what, { queryAllowed }) {
  if (typeof url !== "string" || !isSecure(url, queryAllowed)) {
    const shown = typeof url === "string" ? url.slice(0, 80) : String(url).slice(0, 80);
    throw new WalletError(reason, `${what} must be an https:// address (or http:// to this computer), not ${shown}`);
  }
  return url;
}

// ---------------------------------------------------------------------------------------------
// HTTP with bounded answers and patient retries

class TransportError extends Error {}

/**
 * One request, its answer read to at most `limit` bytes (`too_large` beyond): a server that
 * streams without end cannot fill the phone's memory. No cookies, no cache, no redirects.
 */
export async function boundedFetch(url, init = {}, { limit = MAX_ANSWER_BYTES, fetchImpl = globalThis.fetch } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    let response;
    try {
      response = await fetchImpl(url, {
        ...init, credentials: "omit", cache: "no-store", redirect: "manual", signal: controller.signal,
      });
    } catch (error) {
      throw new TransportError(error && error.name ? error.name : "network error");
    }
    if (response.type === "opaqueredirect") return { status: 302, headers: response.headers, bytes: new Uint8Array() };
    const declared = response.headers.get("content-length");
    if (declared && /^[0-9]+$/.test(declared) && Number(declared) > limit) {
      controller.abort();
      throw tooLarge(limit);
    }
    const chunks = [];
    let read = 0;
    try {
      if (response.body && typeof response.body.getReader === "function") {
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          read += value.length;
          if (read > limit) {
            controller.abort();
            throw tooLarge(limit);
          }
          chunks.push(value);
        }
      } else {
        const whole = new Uint8Array(await response.arrayBuffer());
        if (whole.length > limit) throw tooLarge(limit);
        chunks.push(whole);
        read = whole.length;
      }
    } catch (error) {
      if (error instanceof WalletError) throw error;
      throw new TransportError(error && error.name ? error.name : "network error");
    }
    const bytes = new Uint8Array(read);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return { status: response.status, headers: response.headers, bytes };
  } finally {
    clearTimeout(timer);
  }
}

function tooLarge(limit) {
  return new WalletError("too_large", `the issuer's answer is larger than ${Math.floor(limit / 1024)} kB`);
}

function parseBody(bytes) {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (_error) {
    return null;
  }
}

/** The issuer's answer as JSON, or its refusal as a WalletError in the resident's terms. */
function answerJson(answer, what) {
  const body = parseBody(answer.bytes);
  if (answer.status >= 400 || !isObject(body)) {
    const reason = isObject(body) && body.reason !== undefined ? String(body.reason) : "issuer_refused";
    const message = isObject(body) && body.error_description ? String(body.error_description) : String(answer.status);
    throw refusal(reason, message, what);
  }
  return body;
}

/** The issuer's refusal in the resident's terms: an offer already used is not a wrong PIN. */
function refusal(reason, message, what) {
  if (reason === "offer_unknown") {
    return new WalletError(reason, "this offer was already used (or its time is up): ask the clerk for a new one");
  }
  if (reason === "wrong_pin") {
    return new WalletError(reason, `${message}: check the PIN the clerk told you and type it again`);
  }
  if (reason === "invalid_token") return new WalletError("offer_expired", OFFER_EXPIRED);
  return new WalletError(reason, `the issuer refused ${what}: ${message}`);
}

function retryAfter(headers) {
  const value = headers && headers.get ? headers.get("retry-after") : null;
  if (value === null || value === undefined || value.trim() === "") return null;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

/**
 * Calls to the issuer, tried again with backoff while it is busy (503) or out of reach, until
 * `patienceMs` (from the start of the receive) runs out. Only steps safe to repeat go through here.
 */
export class IssuerCalls {
  constructor({ patienceMs = DEFAULT_PATIENCE_MS, fetchImpl, sleep, onWait } = {}) {
    this.fetchImpl = fetchImpl || ((...args) => globalThis.fetch(...args));
    this.sleep = sleep || ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.onWait = onWait;
    this.deadline = Date.now() + patienceMs;
    this.tries = 0;
  }

  request(url, init) {
    return boundedFetch(url, init, { fetchImpl: this.fetchImpl });
  }

  async json(method, url, what, init = {}) {
    return this.jsonOf(() => this.request(url, { ...init, method }), what);
  }

  async jsonOf(make, what) {
    return answerJson(await this.send(make), what);
  }

  /** `make()` until it is answered with anything but 503, or patience runs out. */
  async send(make) {
    for (;;) {
      let answer;
      try {
        answer = await make();
      } catch (error) {
        if (!(error instanceof TransportError)) throw error;
        if (!(await this.pause(null))) {
          throw new WalletError("issuer_unreachable", `cannot reach the issuer: ${error.message}`);
        }
        continue;
      }
      if (answer.status !== 503) {
        this.tries = 0; // the issuer answered: the next outage starts its backoff afresh
        return answer;
      }
      if (!(await this.pause(retryAfter(answer.headers)))) return answer;
    }
  }

  async pause(askedMs) {
    this.tries += 1;
    let pause = Math.min(RETRY_CAP_MS, askedMs !== null ? askedMs : 1000 * 2 ** Math.min(this.tries - 1, 5));
    pause = Math.min(RETRY_CAP_MS, pause * (1 + Math.random() * 0.25)); // jitter, not a secret
    if (Date.now() + pause > this.deadline) return false;
    if (this.onWait) this.onWait(Math.ceil(pause / 1000));
    await this.sleep(pause);
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// The receive

/** The most credentials of one type the issuer sends per call; null when it does not say. */
export function batchSize(issuerMetadata) {
  const batching = issuerMetadata.batch_credential_issuance;
  if (batching === undefined || batching === null) return null;
  const size = isObject(batching) ? batching.batch_size : undefined;
  if (!Number.isInteger(size) || size < 1) {
    throw new WalletError("invalid_issuer_metadata", "the issuer's batch_credential_issuance.batch_size is not valid");
  }
  return size;
}

function endpoint(url, name) {
  return secureUrl(url, "invalid_issuer_metadata", `the issuer's ${name}`, { queryAllowed: true });
}

function incomplete(what) {
  return new WalletError("issuer_refused", `the issuer's answer is incomplete (${what})`);
}

function endpointsOf(server, issuerMetadata) {
  const optional = (name) => (name in issuerMetadata ? endpoint(issuerMetadata[name], name) : null);
  return {
    token: endpoint(server.token_endpoint, "token_endpoint"),
    credential: endpoint(issuerMetadata.credential_endpoint, "credential_endpoint"),
    nonce: optional("nonce_endpoint"),
    notification: optional("notification_endpoint"),
  };
}

/** A new pending receive for `offer` (not yet kept). Never the PIN. */
export function newProgress(offer, { count = DEFAULT_COUNT, now }) {
  return {
    offer, count, startedAt: now, accessToken: null, expiresAt: null, deviceKeys: {}, done: {}, kept: [],
  };
}

export function isFinished(progress) {
  return progress.offer.configurations.every((name) => name in progress.done);
}

export function isExpired(progress, now) {
  return progress.expiresAt !== null && now >= progress.expiresAt;
}

/** Where a pending receive stands, for the app to say: `pin`, `credentials` or `finishing`. */
export function stepOf(progress) {
  if (progress.accessToken === null) return "pin";
  return isFinished(progress) ? "finishing" : "credentials";
}

function sameJwk(a, b) {
  return isObject(a) && isObject(b)
    && Object.keys(a).length === Object.keys(b).length
    && Object.keys(a).every((name) => a[name] === b[name]);
}

function jwkText(jwk) {
  return JSON.stringify(Object.keys(jwk).sort().map((name) => [name, jwk[name]]));
}

const seconds = () => Math.floor(Date.now() / 1000);

/**
 * Go on with `progress` (kept at `STORES.state`/`pendingId` after every step) until every offered
 * type's credentials are kept; `pin` may be null once the progress holds the access token.
 * Returns the progress when done (the caller deletes it). On a refusal after which it can never
 * finish, the pending receive is forgotten here (and, when the issuer proved untrustworthy, the
 * credentials this receive kept).
 */
export async function runReceive(store, pendingId, progress, pin, { onProgress, calls } = {}) {
  const issuerCalls = calls || new IssuerCalls();
  try {
    await receiveSteps(store, pendingId, progress, pin, issuerCalls, onProgress);
  } catch (error) {
    if (error instanceof WalletError && (FINISHED.has(error.reason) || DISTRUSTED.has(error.reason))) {
      await forgetReceive(store, pendingId, progress, { credentials: DISTRUSTED.has(error.reason) });
    }
    throw error;
  }
  return progress;
}

/** Delete a pending receive and its unused device keys (with `credentials`, also what it kept). */
export async function forgetReceive(store, pendingId, progress, { credentials = false } = {}) {
  const batch = store.batch().delete(STORES.state, pendingId);
  for (const ids of Object.values(progress.deviceKeys)) for (const id of ids) batch.delete(STORES.deviceKeys, id);
  if (credentials) {
    for (const kept of progress.kept) {
      batch.delete(STORES.credentials, kept.id).delete(STORES.deviceKeys, kept.keyId);
    }
  }
  await batch.commit();
}

async function receiveSteps(store, pendingId, progress, pin, calls, onProgress) {
  const { offer } = progress;
  const report = () => {
    if (onProgress) onProgress(Object.keys(progress.done).length * progress.count, offer.configurations.length * progress.count);
  };
  const [issuerMetadata, server, issuerKeys] = await Promise.all([
    calls.json("GET", `${offer.issuer}/.well-known/openid-credential-issuer`, "metadata"),
    calls.json("GET", `${offer.issuer}/.well-known/oauth-authorization-server`, "metadata"),
    calls.json("GET", jwtVcIssuerUrl(offer.issuer), "its keys"),
  ]);
  const size = batchSize(issuerMetadata);
  if (size !== null && size < progress.count) progress.count = size;
  const jwks = await issuerJwks(issuerKeys, offer.issuer, (uri) => calls.json("GET", uri, "its keys"));
  const endpoints = endpointsOf(server, issuerMetadata);
  let nonce = await access(calls, endpoints, progress, pin);
  await store.batch().put(STORES.state, pendingId, progress).commit();
  report();
  const made = [];
  for (const configuration of offer.configurations) {
    if (configuration in progress.done) continue;
    nonce = await fetchType(store, pendingId, calls, endpoints, progress, configuration, nonce, jwks, made);
    report();
  }
  await accept(calls, endpoints, progress);
}

/** The access token (from the token endpoint, unless the progress holds it) and its nonce, if fresh. */
async function access(calls, endpoints, progress, pin) {
  if (progress.accessToken !== null) return null; // the saved nonce may have been used by a request whose answer was lost
  if (pin === null || pin === undefined) throw new WalletError("usage_error", "type the PIN the clerk told you");
  const form = new URLSearchParams({
    grant_type: PRE_AUTHORIZED, "pre-authorized_code": progress.offer.code, tx_code: pin,
  });
  const token = await calls.json("POST", endpoints.token, "the PIN", {
    headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: form.toString(),
  });
  if (typeof token.access_token !== "string" || typeof token.c_nonce !== "string") throw incomplete("access_token or c_nonce");
  const lifetime = token.expires_in;
  progress.accessToken = token.access_token;
  progress.expiresAt = Number.isInteger(lifetime) && lifetime > 0 ? seconds() + lifetime : null;
  return token.c_nonce;
}

async function freshNonce(calls, endpoints, authorization) {
  if (endpoints.nonce === null) {
    throw new WalletError("issuer_refused", "the issuer has no nonce endpoint, so this receive cannot go on");
  }
  const answer = await calls.json("POST", endpoints.nonce, "a nonce", { headers: authorization });
  if (typeof answer.c_nonce !== "string") throw incomplete("c_nonce");
  return answer.c_nonce;
}

/** `count` new device keys for `configuration`, kept (with the progress) before their proofs are sent. */
async function newKeys(store, pendingId, progress, configuration, made) {
  const pairs = [];
  for (let index = 0; index < progress.count; index += 1) {
    const pair = await Store.newDeviceKey();
    pairs.push({ id: randomId(), pair, jwk: await publicJwk(pair) });
  }
  const seen = new Set(made.map(jwkText));
  for (const key of pairs) {
    const text = jwkText(key.jwk);
    if (seen.has(text)) throw new WalletError("device_key_reused", "the wallet made the same device key twice: nothing was sent");
    seen.add(text);
  }
  made.push(...pairs.map((key) => key.jwk));
  const replaced = progress.deviceKeys[configuration] || [];
  progress.deviceKeys[configuration] = pairs.map((key) => key.id);
  const batch = store.batch();
  for (const key of pairs) batch.put(STORES.deviceKeys, key.id, key.pair);
  for (const id of replaced) batch.delete(STORES.deviceKeys, id); // a try whose answer was lost: never used again
  batch.put(STORES.state, pendingId, progress);
  await batch.commit();
  return pairs;
}

function keyProof(pair, jwk, issuer, nonce) {
  const header = { alg: "ES256", typ: PROOF_TYP, jwk };
  return signJwt(header, { aud: issuer, iat: seconds(), nonce }, pair.privateKey);
}

/** One type's credentials, checked and kept; returns the nonce for the next type (or null). */
async function fetchType(store, pendingId, calls, endpoints, progress, configuration, nonce, jwks, made) {
  const authorization = { Authorization: `Bearer ${progress.accessToken}` };
  let unusedNonce = nonce;
  let lastNonce = nonce;
  let wanted = [];
  const attempt = async () => {
    wanted = await newKeys(store, pendingId, progress, configuration, made);
    const used = unusedNonce || (await freshNonce(calls, endpoints, authorization));
    lastNonce = used;
    unusedNonce = null; // a nonce serves one request, answered or not
    const proofs = await Promise.all(wanted.map((key) => keyProof(key.pair, key.jwk, progress.offer.issuer, used)));
    return calls.request(endpoints.credential, {
      method: "POST",
      headers: { ...authorization, "Content-Type": "application/json" },
      body: JSON.stringify({ credential_configuration_id: configuration, proofs: { jwt: proofs } }),
    });
  };
  const body = await calls.jsonOf(attempt, `the ${configuration} credentials`);
  if (!Array.isArray(body.credentials)) throw incomplete("credentials");
  const issued = body.credentials.map((entry) => (isObject(entry) ? entry.credential : undefined));
  if (issued.length !== wanted.length) throw new WalletError("issuer_refused", "the issuer sent a different number of credentials");
  for (let index = 0; index < issued.length; index += 1) {
    await checkCredential(issued[index], jwks, configuration, wanted[index].jwk, made, progress.offer.issuer);
  }
  const notificationId = typeof body.notification_id === "string" ? body.notification_id : "";
  const now = seconds();
  const batch = store.batch();
  for (let index = 0; index < issued.length; index += 1) {
    const id = randomId();
    batch.put(STORES.credentials, id, {
      type: configuration, issuer: progress.offer.issuer, credential: issued[index], keyId: wanted[index].id,
      used: false, receivedAt: now,
    });
    progress.kept.push({ id, keyId: wanted[index].id });
  }
  progress.done[configuration] = notificationId;
  delete progress.deviceKeys[configuration];
  batch.put(STORES.state, pendingId, progress);
  await batch.commit();
  if (typeof body.c_nonce === "string") return body.c_nonce;
  return endpoints.nonce === null ? lastNonce : null; // an issuer with no nonce endpoint takes the same nonce again
}

/**
 * Refuse `credential` unless the issuer signed it, for this issuer and type, bound to exactly
 * `deviceJwk` (`made`: every key this receive made, to say which mistake it is).
 */
async function checkCredential(credential, jwks, configuration, deviceJwk, made, issuer) {
  if (typeof credential !== "string") {
    throw new WalletError("invalid_credential", "the issuer sent something that is not a credential");
  }
  let payload;
  try {
    const held = await parseIssued(credential);
    ({ payload } = await verifyJwt(held.jwt, jwks, { typ: VC_TYP }));
  } catch (error) {
    const message = error && error.message ? error.message : "it does not verify";
    throw new WalletError("invalid_credential", `the issuer sent a credential that does not verify: ${message}`);
  }
  if (payload.iss !== issuer || !namesType(configuration, payload.vct)) {
    throw new WalletError("invalid_credential", "the issuer sent a credential for another issuer or of another type");
  }
  const bound = isObject(payload.cnf) ? payload.cnf.jwk : undefined;
  if (!sameJwk(bound, deviceJwk)) {
    const mistake = made.some((jwk) => sameJwk(jwk, bound)) ? "another of this batch's keys" : "a key this wallet did not make";
    throw new WalletError("wrong_device_key", `the issuer sent a ${configuration} credential bound to ${mistake}: nothing was kept`);
  }
}

/**
 * Tell the issuer the phone kept each type (`credential_accepted`), so that it deletes the
 * resident's claims now. Best effort: it deletes them anyway when the resume window ends.
 */
async function accept(calls, endpoints, progress) {
  if (endpoints.notification === null || progress.accessToken === null) return;
  const headers = { Authorization: `Bearer ${progress.accessToken}`, "Content-Type": "application/json" };
  for (const notificationId of Object.values(progress.done)) {
    if (!notificationId) continue;
    const body = JSON.stringify({ notification_id: notificationId, event: "credential_accepted" });
    try {
      await calls.send(() => calls.request(endpoints.notification, { method: "POST", headers, body }));
    } catch (error) {
      if (error instanceof WalletError && error.reason === "issuer_unreachable") return;
      throw error;
    }
  }
}
