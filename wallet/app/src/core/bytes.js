/** Strict base64url and UTF-8: every untrusted byte passes through these, as in credential/_encoding.py. */

/** An error with a stable reason code (the same strings as the Python core's Reason). */
export class CoreError extends Error {
  constructor(reason, message) {
    super(`${message} [${reason}]`);
    this.name = "CoreError";
    this.reason = reason;
  }
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

/** Unpadded base64url, the JOSE spelling. */
export function b64urlEncode(bytes) {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63];
  }
  return out;
}

/** Decode one canonical, unpadded base64url segment (zero trailing bits), or throw bad_encoding. */
export function b64urlDecode(text) {
  if (typeof text !== "string") throw new CoreError("malformed", "base64url must be text");
  const remainder = text.length % 4;
  if (remainder === 1) throw new CoreError("bad_encoding", "not canonical base64url");
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const digit = code < 128 ? VALUES[code] : -1;
    if (digit < 0) throw new CoreError("bad_encoding", "not canonical base64url");
    value = ((value << 6) | digit) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  if (bits && value & ((1 << bits) - 1)) throw new CoreError("bad_encoding", "not canonical base64url");
  return out;
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** UTF-8 both ways; decoding is strict (bad_encoding), like Python's bytes.decode("utf-8"). */
export const utf8 = {
  encode(text) {
    return ENCODER.encode(text);
  },
  decode(bytes) {
    try {
      return DECODER.decode(bytes);
    } catch {
      throw new CoreError("bad_encoding", "not valid UTF-8");
    }
  },
};

/** Concatenate byte arrays. */
export function concat(parts) {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
