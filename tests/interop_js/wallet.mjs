#!/usr/bin/env node
// A third-party wallet, built from other people's libraries, that receives cityid credentials.
//
//   node wallet.mjs OFFER_URI PIN [--batch N] [--dpop] [--legacy-proof] [--allow-http]
//                   [--audience AUD --nonce NONCE] [--trace]
//
// It runs the OpenID4VCI 1.0 pre-authorized code flow with @openid4vc/openid4vci (a client that
// follows the final specification strictly): the offer, the issuer's metadata, /token with the
// PIN as tx_code, the Nonce Endpoint before every credential request, ES256 key proofs (one new
// P-256 key per credential) and the credential request. --dpop binds the access token to a DPoP
// key (RFC 9449) and sends DPoP proofs to /token, /credential and /notification; --legacy-proof sends the key
// proof in the pre-1.0 singular form `proof: {proof_type, jwt}`, one credential per request.
//
// Every credential is then verified with @sd-jwt/sd-jwt-vc: the signature against the keys in the
// issuer's /.well-known/jwt-vc-issuer, its status list, and its `vct` type metadata fetched from
// the issuer and checked against `vct#integrity`. With --audience and --nonce it also presents
// each credential (every disclosure, a key-binding JWT signed with the holder key) for a verifier.
//
// Once all verify, it tells the issuer it kept them (the Notification Endpoint, credential_accepted).
//
// It prints one JSON line: {credentials, holder_keys, configuration_ids, claims, presentations,
// vct_metadata_ok, ...}. On failure it exits 1 with the reason, and the HTTP exchanges so far on
// standard error (every JWT in them shown as its decoded header and payload); --trace prints
// them on success too.

import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { parseArgs } from 'node:util';

import { clientAuthenticationAnonymous, HashAlgorithm, setGlobalConfig } from '@openid4vc/oauth2';
import { Openid4vciClient, Openid4vciVersion } from '@openid4vc/openid4vci';
import { digest, generateSalt } from '@sd-jwt/crypto-nodejs';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';

const USAGE = 'usage: node wallet.mjs OFFER_URI PIN [--batch N] [--dpop] [--legacy-proof] [--allow-http] ' +
  '[--audience AUD --nonce NONCE] [--trace]';

class WalletError extends Error {}

// --- HTTP, recorded for the failure report ---------------------------------------------------

const exchanges = [];

/** JWTs in a dump shown as their decoded header and payload (no signatures, nothing to replay). */
function shortened(value) {
  if (typeof value === 'string') {
    return value.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, (jwt) => {
      const [header, payload] = jwt.split('.');
      return `<jwt ${decodePart(header)} ${decodePart(payload)}>`;
    });
  }
  if (Array.isArray(value)) return value.map(shortened);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shortened(v)]));
  return value;
}

function decodePart(part) {
  try {
    return Buffer.from(part, 'base64url').toString('utf8');
  } catch {
    return '?';
  }
}

async function recordingFetch(input, init = {}) {
  const url = typeof input === 'string' ? input : input.url;
  const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries());
  const entry = { method: init.method ?? 'GET', url, request_headers: headers, request_body: init.body ?? null };
  exchanges.push(entry);
  const response = await fetch(input, init);
  entry.status = response.status;
  const telling = ['content-type', 'www-authenticate', 'dpop-nonce', 'access-control-allow-origin'];
  entry.response_headers = Object.fromEntries([...response.headers.entries()].filter(([name]) => telling.includes(name)));
  entry.response_body = (await response.clone().text()).slice(0, 2000);
  return response;
}

function exchangeReport() {
  return exchanges.map((entry) => JSON.stringify(shortened({
    ...entry,
    request_body: typeof entry.request_body === 'string' ? entry.request_body : null,
  }))).join('\n');
}

// --- Keys and signatures: node's crypto, JWKs in and out --------------------------------------

function newEs256Key() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privateJwk = privateKey.export({ format: 'jwk' });
  const { d: _private, ...publicJwk } = privateJwk;
  return { privateJwk, publicJwk };
}

const SIGNATURE_HASH = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', EdDSA: null, Ed25519: null };

function signBytes(alg, privateJwk, data) {
  if (!(alg in SIGNATURE_HASH)) throw new WalletError(`cannot sign with ${alg}`);
  const key = { key: privateJwk, format: 'jwk' };
  return sign(SIGNATURE_HASH[alg], Buffer.from(data), alg.startsWith('ES') ? { ...key, dsaEncoding: 'ieee-p1363' } : key);
}

function verifyBytes(alg, publicJwk, data, signature) {
  if (!(alg in SIGNATURE_HASH)) return false;
  const key = createPublicKey({ key: publicJwk, format: 'jwk' });
  const options = alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : key;
  return verify(SIGNATURE_HASH[alg], Buffer.from(data), options, Buffer.from(signature, 'base64url'));
}

function compactJwt(header, payload, alg, privateJwk) {
  const encode = (part) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  return `${input}.${signBytes(alg, privateJwk, input).toString('base64url')}`;
}

/** The client's callbacks: it asks us to hash, to draw random bytes and to sign JWTs with keys we hold. */
function clientCallbacks(privateKeys) {
  return {
    fetch: recordingFetch,
    hash: (data, alg) => {
      const name = { [HashAlgorithm.Sha256]: 'sha256', [HashAlgorithm.Sha384]: 'sha384', [HashAlgorithm.Sha512]: 'sha512' }[alg];
      if (!name) throw new WalletError(`unsupported hash ${alg}`);
      return new Uint8Array(createHash(name).update(data).digest());
    },
    generateRandom: (length) => new Uint8Array(randomBytes(length)),
    clientAuthentication: clientAuthenticationAnonymous(),
    signJwt: (signer, { header, payload }) => {
      if (signer.method !== 'jwk') throw new WalletError(`cannot sign for a ${signer.method} signer`);
      const privateJwk = privateKeys.get(signer.publicJwk.x);
      if (!privateJwk) throw new WalletError('asked to sign with a key this wallet does not hold');
      return { jwt: compactJwt(header, payload, signer.alg, privateJwk), signerJwk: signer.publicJwk };
    },
  };
}

// --- Verification with @sd-jwt/sd-jwt-vc --------------------------------------------------------

/** W3C Subresource Integrity: `alg-base64digest`, several may be given; the strongest must match. */
function checkIntegrity(url, bytes, integrity) {
  const strength = { sha256: 1, sha384: 2, sha512: 3 };
  const expressions = integrity.trim().split(/\s+/).map((token) => {
    const [alg, value] = token.split('?')[0].split(/-(.*)/s);
    return { alg, value };
  }).filter(({ alg }) => alg in strength);
  if (expressions.length === 0) throw new WalletError(`${url}: vct#integrity ${JSON.stringify(integrity)} names no SRI hash`);
  const strongest = Math.max(...expressions.map(({ alg }) => strength[alg]));
  const matches = expressions.filter(({ alg }) => strength[alg] === strongest)
    .some(({ alg, value }) => createHash(alg).update(bytes).digest('base64') === value);
  if (!matches) {
    throw new WalletError(`${url}: the type metadata does not match vct#integrity ${integrity} ` +
      `(sha256-${createHash('sha256').update(bytes).digest('base64')} served)`);
  }
}

function verifierFor(issuerJwks) {
  // The library hands over only `header.payload` and the signature: the header names the key.
  return async (data, signature) => {
    const header = JSON.parse(decodePart(data.split('.')[0]));
    const key = issuerJwks.keys.find((jwk) => jwk.kid === header.kid) ?? (issuerJwks.keys.length === 1 ? issuerJwks.keys[0] : undefined);
    if (!key) throw new WalletError(`no issuer key with kid ${header.kid}`);
    return verifyBytes(header.alg, key, data, signature);
  };
}

async function fetchJson(url) {
  const response = await recordingFetch(url);
  if (!response.ok) throw new WalletError(`GET ${url} answered ${response.status}`);
  return response.json();
}

async function verifyCredentials(issued, credentialIssuer, presentTo) {
  const issuerMetadata = await fetchJson(new URL('/.well-known/jwt-vc-issuer', credentialIssuer).href);
  if (issuerMetadata.issuer !== credentialIssuer) {
    throw new WalletError(`jwt-vc-issuer metadata names issuer ${issuerMetadata.issuer}, not ${credentialIssuer}`);
  }
  const typeMetadata = new Map();
  // The library resolves `vct` through this hook. Its own fetcher (0.19) compares a hex digest
  // with the SRI value, which is base64 (W3C SRI), so it refuses every correct `vct#integrity`:
  // this one checks SRI as written. What the library's own check says is reported all the same.
  const vctFetcher = async (uri, integrity) => {
    if (!/^https?:\/\//.test(uri)) throw new WalletError(`vct ${uri} is not a URL: its type metadata cannot be fetched`);
    const response = await recordingFetch(uri);
    if (!response.ok) throw new WalletError(`GET ${uri} (the vct) answered ${response.status}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    if (!integrity) throw new WalletError(`the credential has no vct#integrity for ${uri}`);
    checkIntegrity(uri, bytes, integrity);
    const metadata = JSON.parse(bytes.toString('utf8'));
    typeMetadata.set(uri, metadata);
    return metadata;
  };
  const sdjwt = new SDJwtVcInstance({
    verifier: verifierFor(issuerMetadata.jwks),
    hasher: digest,
    hashAlg: 'sha-256',
    saltGenerator: generateSalt,
    loadTypeMetadataFormat: true,
    vctFetcher,
  });
  const results = [];
  for (const { credential, privateJwk } of issued) {
    const verified = await sdjwt.verify(credential);
    const { payload } = verified;
    if (payload.iss !== credentialIssuer) throw new WalletError(`credential iss ${payload.iss}, expected ${credentialIssuer}`);
    if (verified.typeMetadata?.mergedTypeMetadata?.vct !== payload.vct) {
      throw new WalletError(`type metadata for ${payload.vct} names vct ${verified.typeMetadata?.mergedTypeMetadata?.vct}`);
    }
    const { d: _private, ...holderPublic } = privateJwk;
    if (payload.cnf?.jwk?.x !== holderPublic.x || payload.cnf?.jwk?.y !== holderPublic.y) {
      throw new WalletError('the credential is not bound to the key whose proof asked for it');
    }
    let presentation = null;
    if (presentTo) {
      const holder = new SDJwtVcInstance({
        hasher: digest,
        hashAlg: 'sha-256',
        kbSigner: (data) => signBytes('ES256', privateJwk, data).toString('base64url'),
        kbSignAlg: 'ES256',
      });
      presentation = await holder.present(credential, undefined, {
        kb: { payload: { iat: Math.floor(Date.now() / 1000), aud: presentTo.audience, nonce: presentTo.nonce } },
      });
    }
    const { iss, iat, exp, nbf, vct, 'vct#integrity': _integrity, cnf, status, _sd_alg, ...claims } = payload;
    results.push({ claims, vct, presentation, builtinIntegrity: await builtinIntegrityCheck(credential, issuerMetadata.jwks) });
  }
  return { results, typeMetadata: Object.fromEntries(typeMetadata) };
}

/** What the library's own fetcher says of the same `vct#integrity` (reported, not relied on). */
async function builtinIntegrityCheck(credential, jwks) {
  const library = new SDJwtVcInstance({ verifier: verifierFor(jwks), hasher: digest, hashAlg: 'sha-256', loadTypeMetadataFormat: true });
  try {
    await library.getVct(credential);
    return 'ok';
  } catch (error) {
    return error.message;
  }
}

// --- The flow ------------------------------------------------------------------------------------

async function receive({ offerUri, pin, batch, dpop: useDpop, legacyProof }) {
  const privateKeys = new Map();
  const remember = (key) => {
    privateKeys.set(key.publicJwk.x, key.privateJwk);
    return key;
  };
  const client = new Openid4vciClient({ callbacks: clientCallbacks(privateKeys) });

  const credentialOffer = await client.resolveCredentialOffer(offerUri);
  const issuerMetadata = await client.resolveIssuerMetadata(credentialOffer.credential_issuer);
  const credentialIssuer = issuerMetadata.credentialIssuer;
  if (issuerMetadata.originalDraftVersion !== Openid4vciVersion.V1) {
    throw new WalletError(`the client reads the issuer metadata as OpenID4VCI ${issuerMetadata.originalDraftVersion}, not 1.0`);
  }
  if (!credentialIssuer.nonce_endpoint) throw new WalletError('the issuer metadata has no nonce_endpoint');

  let dpop;
  if (useDpop) {
    const dpopKey = remember(newEs256Key());
    dpop = { signer: { method: 'jwk', alg: 'ES256', publicJwk: dpopKey.publicJwk } };
  }
  const token = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
    credentialOffer, issuerMetadata, txCode: pin, dpop,
  });
  const { accessTokenResponse } = token;
  if (useDpop) {
    if (accessTokenResponse.token_type?.toLowerCase() !== 'dpop') {
      throw new WalletError(`asked for a DPoP-bound token, got token_type ${accessTokenResponse.token_type}`);
    }
    dpop = token.dpop ?? dpop;
  }

  const issued = [];
  const notificationIds = [];
  const configurations = credentialOffer.credential_configuration_ids;
  for (const configurationId of configurations) {
    const count = legacyProof ? 1 : batch;
    const { c_nonce: nonce } = await client.requestNonce({ issuerMetadata });
    const keys = Array.from({ length: count }, () => remember(newEs256Key()));
    const jwts = [];
    for (const key of keys) {
      const proof = await client.createCredentialRequestJwtProof({
        issuerMetadata,
        credentialConfigurationId: configurationId,
        signer: { method: 'jwk', alg: 'ES256', publicJwk: key.publicJwk },
        nonce,
      });
      jwts.push(proof.jwt);
    }
    const response = await client.retrieveCredentials({
      issuerMetadata,
      credentialConfigurationId: configurationId,
      accessToken: accessTokenResponse.access_token,
      ...(legacyProof ? { proof: { proof_type: 'jwt', jwt: jwts[0] } } : { proofs: { jwt: jwts } }),
      dpop,
    });
    if (useDpop && response.dpop?.nonce) dpop = { ...dpop, nonce: response.dpop.nonce };
    const { credentials: entries = [], notification_id: notificationId } = response.credentialResponse;
    const credentials = entries.map((entry) => entry.credential);
    if (notificationId) notificationIds.push(notificationId);
    if (credentials.length !== keys.length) {
      throw new WalletError(`${configurationId}: asked for ${keys.length} credentials, got ${credentials.length}`);
    }
    // One credential per proof, in the order of the proofs; each is checked against its key below.
    credentials.forEach((credential, index) => issued.push({ configurationId, credential, privateJwk: keys[index].privateJwk }));
  }
  // Told only once every credential has verified (main): what a careful wallet does.
  const acceptAll = async () => {
    for (const id of notificationIds) {
      await client.sendNotification({
        issuerMetadata, accessToken: accessTokenResponse.access_token, dpop,
        notification: { notificationId: id, event: 'credential_accepted' },
      });
    }
    return notificationIds.length;
  };
  const nonceRequests = exchanges.filter((entry) => entry.url === credentialIssuer.nonce_endpoint && entry.method === 'POST');
  return {
    credentialIssuer: credentialIssuer.credential_issuer, issued, tokenType: accessTokenResponse.token_type, acceptAll,
    anonymousNonceRequests: nonceRequests.filter((entry) => !('authorization' in entry.request_headers)).length,
  };
}

function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      batch: { type: 'string', default: '1' },
      dpop: { type: 'boolean', default: false },
      'legacy-proof': { type: 'boolean', default: false },
      'allow-http': { type: 'boolean', default: false },
      audience: { type: 'string' },
      nonce: { type: 'string' },
      trace: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 2) throw new WalletError(USAGE);
  const batch = Number.parseInt(values.batch, 10);
  if (!(batch >= 1)) throw new WalletError(`--batch must be a positive number, not ${values.batch}`);
  if (Boolean(values.audience) !== Boolean(values.nonce)) throw new WalletError('give --audience and --nonce together');
  return {
    offerUri: positionals[0],
    pin: positionals[1],
    batch,
    dpop: values.dpop,
    legacyProof: values['legacy-proof'],
    allowHttp: values['allow-http'],
    presentTo: values.audience ? { audience: values.audience, nonce: values.nonce } : null,
    trace: values.trace,
  };
}

async function main() {
  let options;
  try {
    options = parse(process.argv.slice(2));
    // The library refuses http:// URLs unless told; a test issuer on the loopback has no TLS.
    setGlobalConfig({ allowInsecureUrls: options.allowHttp });
    const received = await receive(options);
    const { results, typeMetadata } = await verifyCredentials(received.issued, received.credentialIssuer, options.presentTo);
    const notified = await received.acceptAll();
    const output = {
      credential_issuer: received.credentialIssuer,
      token_type: received.tokenType,
      notifications_sent: notified,
      anonymous_nonce_requests: received.anonymousNonceRequests,
      configuration_ids: received.issued.map((entry) => entry.configurationId),
      credentials: received.issued.map((entry) => entry.credential),
      holder_keys: received.issued.map((entry) => entry.privateJwk),
      claims: results.map((result) => result.claims),
      vcts: results.map((result) => result.vct),
      presentations: options.presentTo ? results.map((result) => result.presentation) : null,
      vct_metadata_ok: true,
      type_metadata: typeMetadata,
      library_own_integrity_check: results.map((result) => result.builtinIntegrity),
    };
    if (options.trace) process.stderr.write(`${exchangeReport()}\n`);
    process.stdout.write(`${JSON.stringify(output)}\n`);
  } catch (error) {
    const detail = error.response ? ` (HTTP ${error.response.status})` : '';
    process.stderr.write(`wallet.mjs failed: ${error.constructor.name}: ${error.message}${detail}\n`);
    if (error.cause) process.stderr.write(`cause: ${error.cause.message ?? error.cause}\n`);
    if (exchanges.length) process.stderr.write(`HTTP exchanges:\n${exchangeReport()}\n`);
    process.exit(1);
  }
}

await main();
