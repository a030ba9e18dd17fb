/** The CID1 QR text codec, byte for byte like credential/_qrtext.py: repack, zlib with the
 * preset dictionary, base45. */
import { Deflate, Z_BLOCK, Z_FINISH, ZStream, zlibInflate, zlibInflateInit2, zlibInflateSetDictionary } from "pako";
import { CoreError, b64urlDecode, b64urlEncode, concat, utf8 } from "./bytes.js";
import { b45decode, b45encode } from "./base45.js";
import { DICTIONARY_V1 } from "./dictionary.js";

export const QR_PREFIX = "CID1:";
export const SEPARATOR_CODE = { ".": 0, "~": 1, "": 2 };
const JSON_KIND = 0;
const BLOB_KIND = 1;
const TEXT_KIND = 2;
export const EMBEDDED_B64 = /"([A-Za-z0-9_-]{16,340})"/g;

export function varint(value, out) {
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
}

export function canonicalBytes(segment) {
  try {
    return b64urlDecode(segment);
  } catch {
    return null;
  }
}

export function isUtf8(bytes) {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Bytes as a string of one char per byte: JSON is matched so, which is exact because every
 * pattern is ASCII only. */
export function latin1(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

/** Python's _extract_random: each quoted canonical base64url string becomes a marker `0xFF n`,
 * its bytes go to `blobs`. */
export function randomToBlobs(text, blobs) {
  return text.replace(EMBEDDED_B64, (match, inner) => {
    const raw = canonicalBytes(inner);
    if (raw === null) return match;
    for (const byte of raw) blobs.push(byte);
    return String.fromCharCode(0xff, raw.length);
  });
}

/** Step 1, as Python's repack(): [skeleton, blobs]. JSON is matched as a latin1 string, which
 * is exact because the pattern is ASCII only. */
export function repack(compact) {
  if (!/^[\x00-\x7f]*$/.test(compact)) throw new CoreError("bad_encoding", "a compact SD-JWT is ASCII");
  const pieces = compact.split(/([.~])/);
  const skeleton = [];
  const blobs = [];
  for (let index = 0; index < pieces.length; index += 2) {
    const segment = pieces[index];
    const separator = SEPARATOR_CODE[index + 1 < pieces.length ? pieces[index + 1] : ""];
    const decoded = canonicalBytes(segment);
    if (decoded === null) {
      varint(segment.length * 16 + TEXT_KIND * 4 + separator, skeleton);
      for (let i = 0; i < segment.length; i++) skeleton.push(segment.charCodeAt(i));
    } else if (!isUtf8(decoded)) {
      varint(decoded.length * 16 + BLOB_KIND * 4 + separator, skeleton);
      for (const byte of decoded) blobs.push(byte);
    } else {
      const body = randomToBlobs(latin1(decoded), blobs);
      varint(body.length * 16 + JSON_KIND * 4 + separator, skeleton);
      for (let i = 0; i < body.length; i++) skeleton.push(body.charCodeAt(i));
    }
  }
  return [Uint8Array.from(skeleton), Uint8Array.from(blobs)];
}

/** Steps 2 and 3, as Python does them: zlib with a preset dictionary, the block ended after the
 * skeleton so the random bytes get one of their own, then base45 behind the version's prefix. */
export function compressedText(prefix, dictionary, skeleton, blobs) {
  const deflate = new Deflate({ level: 9, windowBits: 15, memLevel: 9, dictionary, legacyHash: true });
  deflate.push(skeleton, Z_BLOCK);
  deflate.push(blobs, Z_FINISH);
  if (deflate.err) throw new CoreError("malformed", "compression failed");
  return prefix + b45encode(deflate.result);
}

/** Encode a compact SD-JWT (issued or presented) as CID1 text, identical to encode_qr_text. */
export function encodeProof(compact) {
  const [skeleton, blobs] = repack(compact);
  return compressedText(QR_PREFIX, DICTIONARY_V1, skeleton, blobs);
}

/** credential._limits.DEFAULT_LIMITS, the bounds that apply before any work. */
export const DEFAULT_LIMITS = { maxQrTextChars: 4296, maxDecompressedBytes: 16384, maxPresentationChars: 16384 };

/** Base45 and inflate into a buffer of exactly the limit, so a zip bomb stops there. */
function inflateBounded(text, limits) {
  if (text.length > limits.maxQrTextChars && [...text].length > limits.maxQrTextChars) {
    throw new CoreError("too_large", `QR text is longer than ${limits.maxQrTextChars} characters`);
  }
  if (!text.startsWith(QR_PREFIX)) {
    throw new CoreError("unsupported_format", /^CID[0-9]+:/.test(text) ? "QR text is from a newer cityid version" : "QR text does not start with CID1:");
  }
  const compressed = b45decode(text.slice(QR_PREFIX.length));
  const strm = new ZStream();
  zlibInflateInit2(strm, 15);
  strm.input = compressed;
  strm.next_in = 0;
  strm.avail_in = compressed.length;
  strm.output = new Uint8Array(limits.maxDecompressedBytes);
  strm.next_out = 0;
  strm.avail_out = limits.maxDecompressedBytes;
  let status = zlibInflate(strm, 0);
  if (status === 2) {
    status = zlibInflateSetDictionary(strm, DICTIONARY_V1);
    if (status === 0) status = zlibInflate(strm, 0);
  }
  if (status === 1) {
    if (strm.avail_in > 0) throw new CoreError("bad_encoding", "QR text is truncated or has trailing data");
    return strm.output.subarray(0, strm.next_out);
  }
  if (status !== 0 && status !== -5) throw new CoreError("bad_encoding", "QR text is corrupted (zlib)");
  if (strm.avail_out === 0) throw new CoreError("too_large", "QR text inflates beyond the size limit");
  throw new CoreError("bad_encoding", "QR text is truncated or has trailing data");
}

const broken = (problem) => new CoreError("malformed", `QR payload ${problem}`);

/** Python's unpack(): rebuild the exact compact string from skeleton + blobs. */
function unpack(data, limits) {
  const segments = [];
  const lengths = [];
  let at = 0;
  for (;;) {
    if (at >= data.length) throw broken("has a broken segment header");
    let header = data[at++];
    if (header & 0x80) {
      let shift = 7;
      header &= 0x7f;
      for (;;) {
        if (at >= data.length || shift > 21) throw broken("has a broken segment header");
        const byte = data[at++];
        header += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if (!(byte & 0x80)) break;
      }
    }
    const kind = (header >> 2) & 3;
    const separator = header & 3;
    const size = Math.floor(header / 16);
    if (kind > TEXT_KIND || separator > 2) throw broken("has an unknown segment kind");
    if (kind === BLOB_KIND) {
      segments.push({ kind, separator, size });
      lengths.push(size);
    } else {
      if (at + size > data.length) throw broken("ends inside a segment");
      const body = data.subarray(at, at + size);
      at += size;
      const parts = [];
      if (kind === JSON_KIND) {
        let start = 0;
        for (let i = 0; i < body.length; i++) {
          if (body[i] !== 0xff) continue;
          if (i + 1 >= body.length) throw broken("has a cut-off marker");
          parts.push(body.subarray(start, i), body[i + 1]);
          lengths.push(body[i + 1]);
          start = i + 2;
          i++;
        }
        parts.push(body.subarray(start));
      }
      segments.push({ kind, separator, body, parts });
    }
    if (separator === 2) break;
  }
  const total = lengths.reduce((a, b) => a + b, 0);
  if (lengths.includes(0) || total > data.length - at) throw broken("is missing random bytes");
  if (total !== data.length - at) throw broken("has unused random bytes");
  let text = "";
  const quote = Uint8Array.of(34);
  for (const segment of segments) {
    let raw;
    if (segment.kind === BLOB_KIND) {
      raw = data.subarray(at, at + segment.size);
      at += segment.size;
    } else if (segment.kind === JSON_KIND && segment.parts.length > 1) {
      const pieces = [];
      for (let i = 0; i < segment.parts.length; i++) {
        if (i % 2 === 0) pieces.push(segment.parts[i]);
        else {
          const run = data.subarray(at, at + segment.parts[i]);
          at += segment.parts[i];
          pieces.push(quote, utf8.encode(b64urlEncode(run)), quote);
        }
      }
      raw = concat(pieces);
    } else if (segment.kind === JSON_KIND) {
      raw = segment.body;
    } else {
      let verbatim = "";
      for (const byte of segment.body) {
        if (byte > 0x7f || byte === 0x2e || byte === 0x7e) throw broken("has an invalid text segment");
        verbatim += String.fromCharCode(byte);
      }
      text += verbatim + [".", "~", ""][segment.separator];
      continue;
    }
    text += b64urlEncode(raw) + [".", "~", ""][segment.separator];
  }
  if (text.length > limits.maxPresentationChars) throw new CoreError("too_large", "QR payload expands beyond the presentation limit");
  return text;
}

/** Decode CID1 text back to the exact compact SD-JWT, bounded like decode_qr_text. */
export function decodeProof(text, limits = DEFAULT_LIMITS) {
  if (typeof text !== "string") throw new CoreError("malformed", "QR text must be text");
  return unpack(inflateBounded(text, { ...DEFAULT_LIMITS, ...limits }), { ...DEFAULT_LIMITS, ...limits });
}
