/**
 * The CID2 QR text encoder, byte for byte like credential/_qrtext2.py: CID1's layout without what
 * the desk whose request it answers can rebuild (each disclosed digest, sd_hash, the request's nonce
 * and aud, the holder key's y, vct#integrity), with its own frozen dictionary. The phone only
 * writes proofs; desks read them, so there is no decoder here.
 */
import { CoreError, b64urlDecode, b64urlEncode } from "./bytes.js";
import { SEPARATOR_CODE, EMBEDDED_B64, canonicalBytes, compressedText, encodeProof, isUtf8, latin1, randomToBlobs, varint } from "./cid1.js";
import { DICTIONARY_V2 } from "./dictionary.js";

export const QR_PREFIX_V2 = "CID2:";
const DIGEST = 0xfe;
const SD_HASH = 0xfd;
const NONCE = 0xfc;
const AUDIENCE = 0xfb;
const POINT = 0xfa;
const KNOWN = 0xf9;
const POINT_PATTERN = /"x":"([A-Za-z0-9_-]{43})","y":"([A-Za-z0-9_-]{43})"/g;
const INTEGRITY_PATTERN = /"vct#integrity":("[^"\\]{1,200}")/g;
const KB_STRING_PATTERN = /"(nonce|aud|sd_hash)":("[^"\\]{1,300}")/g;
const NOTHING = new Uint8Array(0);
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

const bytesOf = (text) => Uint8Array.from(text, (char) => char.charCodeAt(0));

/** The SHA-256 of each text (one char per byte), all at once: WebCrypto answers asynchronously,
 * and one wait for all is much shorter on a slow phone than one wait for each. */
async function sha256s(texts) {
  const unique = [...new Set(texts)];
  const digests = await Promise.all(unique.map((text) => crypto.subtle.digest("SHA-256", bytesOf(text))));
  return new Map(unique.map((text, i) => [text, new Uint8Array(digests[i])]));
}

/** Python's _quoted for what the patterns match (no quote or backslash inside): the string, unless
 * a control character makes it something the decoder would not write back. */
function quoted(literal) {
  return /[\x00-\x1f]/.test(literal) ? null : literal.slice(1, -1);
}

/** (x, y) is a P-256 point with both coordinates below p: then y is the root of its parity, so
 * the desk rebuilds it from x and one bit, as Python's _point checks. */
function onCurve(x, y) {
  const [X, Y] = [x, y].map((bytes) => BigInt("0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")));
  return X < P256_P && Y < P256_P && (Y * Y - X * X * X + 3n * X - P256_B) % P256_P === 0n;
}

/** The bytes of canonical base64url text, or null (such a pair stays text, as in Python). */
function canonical(text) {
  try {
    return b64urlDecode(text);
  } catch {
    return null;
  }
}

function point(match) {
  const [x, y] = [canonical(match[1]), canonical(match[2])];
  if (!x || !y || x.length !== 32 || y.length !== 32 || !onCurve(x, y)) return null;
  return [String.fromCharCode(POINT, 2 + (y[31] & 1)), x];
}

/** Where the key-binding JWT starts in `h.p.s~d~...~` + `h.p.s` or nothing; null otherwise. */
function standardShape(separators) {
  const n = separators.length;
  const keyBound = n >= 2 && separators[n - 2] === "." && separators[n - 1] === "";
  const cut = keyBound ? n - 3 : n - 1;
  if (cut < 3) return null;
  return separators.join("") === "..~" + "~".repeat(cut - 3) + (keyBound ? ".." : "") ? cut : null;
}

/** A JSON segment: each replacement turns matches into markers (in the skeleton) and random bytes
 * (in `blobs`, in order); what is left of base64url goes to `0xFF n`. */
function packJson(text, separator, replace, skeleton, blobs) {
  const pieces = [];
  for (const [pattern, make] of replace) {
    for (const match of text.matchAll(pattern)) {
      const [start, end] = [match.index, match.index + match[0].length];
      const made = make(match);
      if (made !== null && !pieces.some((piece) => piece.start < end && start < piece.end)) {
        pieces.push({ start, end, marker: made[0], random: made[1] });
      }
    }
  }
  pieces.sort((a, b) => a.start - b.start);
  let body = "";
  let cursor = 0;
  for (const { start, end, marker, random } of pieces) {
    body += randomToBlobs(text.slice(cursor, start), blobs) + marker;
    blobs.push(...random);
    cursor = end;
  }
  body += randomToBlobs(text.slice(cursor), blobs);
  varint(body.length * 16 + separator, skeleton);
  skeleton.push(...bytesOf(body));
}

/** CID2 text for a presentation, or null when it does not have the usual SD-JWT shape. With
 * `answersRequest`, the key-binding JWT's nonce and aud are left out too. */
export async function encodeProofV2(compact, { answersRequest }) {
  if (!/^[\x00-\x7f]*$/.test(compact)) throw new CoreError("bad_encoding", "a compact SD-JWT is ASCII");
  const pieces = compact.split(/([.~])/);
  const texts = pieces.filter((_, i) => i % 2 === 0);
  const separators = [...pieces.filter((_, i) => i % 2 === 1), ""];
  const cut = standardShape(separators);
  const raws = texts.map(canonicalBytes);
  if (cut === null || raws.includes(null) || texts.slice(3, cut).includes("")) return null;
  const disclosures = texts.slice(3, cut);
  const covered = texts.slice(0, cut).map((text, i) => text + separators[i]).join("");
  const jsons = raws.map(latin1);
  // Every SHA-256 the markers need: each disclosure's, sd_hash's, and that of each string a marker
  // may name by a tag (a vct#integrity; the key binding's nonce and aud).
  const valuesOf = (pattern, text = "") => [...text.matchAll(pattern)].map((match) => match[match.length - 1].slice(1, -1));
  const sha = await sha256s([...disclosures, covered, ...jsons.flatMap((text) => valuesOf(INTEGRITY_PATTERN, text)),
    ...valuesOf(KB_STRING_PATTERN, jsons[cut + 1])]);
  const digests = new Map(disclosures.map((text, k) => [b64urlEncode(sha.get(text)), k]));
  const sdHash = b64urlEncode(sha.get(covered));
  /** The first `size` bytes of a value's SHA-256, as marker text. */
  const tag = (value, size) => latin1(sha.get(value).subarray(0, size));

  const digest = (match) => {
    const k = digests.get(match[1]);
    return k === undefined || k > 255 ? null : [String.fromCharCode(DIGEST, k), NOTHING];
  };
  const integrity = (match) => {
    const value = quoted(match[1]);
    return value === null ? null : ['"vct#integrity":' + String.fromCharCode(KNOWN) + tag(value, 3), NOTHING];
  };
  const keyBinding = ([whole, name, literal]) => {
    const value = quoted(literal);
    const prefix = whole.slice(0, -literal.length);
    if (value === null) return null;
    if (name === "sd_hash") return value === sdHash ? [prefix + String.fromCharCode(SD_HASH), NOTHING] : null;
    if (!answersRequest) return null;
    return [prefix + String.fromCharCode(name === "nonce" ? NONCE : AUDIENCE) + tag(value, 2), NOTHING];
  };

  const payload = jsons[1];
  const sdAlgOk = !payload.includes('"_sd_alg"') || payload.includes('"_sd_alg":"sha-256"');
  const skeleton = [];
  const blobs = [];
  for (const [index, raw] of raws.entries()) {
    const separator = SEPARATOR_CODE[separators[index]];
    if (!isUtf8(raw)) {
      varint(raw.length * 16 + 4 + separator, skeleton); // a segment of random bytes
      blobs.push(...raw);
      continue;
    }
    const replace = [[POINT_PATTERN, point], [INTEGRITY_PATTERN, integrity]];
    if (index === 1 && sdAlgOk) replace.push([EMBEDDED_B64, digest]);
    if (index === cut + 1) replace.push([KB_STRING_PATTERN, keyBinding]);
    packJson(jsons[index], separator, replace, skeleton, blobs);
  }
  return compressedText(QR_PREFIX_V2, DICTIONARY_V2, Uint8Array.from(skeleton), Uint8Array.from(blobs));
}

/** QR text for a presentation, as Python's encode_qr_text: CID2 when `version` is 2 or more and
 * the proof has the usual SD-JWT shape, else CID1 (which every desk reads). */
export async function encodeQrText(compact, { version, answersRequest }) {
  return (version >= 2 && (await encodeProofV2(compact, { answersRequest }))) || encodeProof(compact);
}
