/** Base45 (RFC 9285): bytes in the QR alphanumeric alphabet, strict like credential/_base45.py. */
import { CoreError } from "./bytes.js";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < 45; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

/** Each 2 bytes become 3 characters, a last odd byte 2. */
export function b45encode(bytes) {
  let out = "";
  let i = 0;
  for (; i + 1 < bytes.length; i += 2) {
    const word = (bytes[i] << 8) | bytes[i + 1];
    out += ALPHABET[word % 45] + ALPHABET[Math.floor(word / 45) % 45] + ALPHABET[Math.floor(word / 2025)];
  }
  if (i < bytes.length) out += ALPHABET[bytes[i] % 45] + ALPHABET[Math.floor(bytes[i] / 45)];
  return out;
}

/** Strict decoding: alphabet, length and value range are all checked (bad_encoding). */
export function b45decode(text) {
  const values = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? VALUES[code] : -1;
    if (value < 0) throw new CoreError("bad_encoding", "QR text has characters outside base45");
    values[i] = value;
  }
  const tail = values.length % 3;
  if (tail === 1) throw new CoreError("bad_encoding", "QR text has a base45 length that cannot occur");
  const groups = (values.length - tail) / 3;
  const out = new Uint8Array(groups * 2 + (tail ? 1 : 0));
  for (let g = 0; g < groups; g++) {
    const word = values[3 * g] + 45 * values[3 * g + 1] + 2025 * values[3 * g + 2];
    if (word > 0xffff) throw new CoreError("bad_encoding", "QR text has an out-of-range base45 group");
    out[2 * g] = word >> 8;
    out[2 * g + 1] = word & 0xff;
  }
  if (tail) {
    const last = values[values.length - 2] + 45 * values[values.length - 1];
    if (last > 0xff) throw new CoreError("bad_encoding", "QR text has an out-of-range base45 group");
    out[out.length - 1] = last;
  }
  return out;
}
