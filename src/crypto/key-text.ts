/**
 * Key material written as text: 32 secret bytes as 64 hex digits or canonical padded base64 (an
 * AES-256 key-encryption key, a deployment integrity key). Parsed byte by byte, so the secret
 * never becomes a JS string (strings cannot be zeroed).
 */

const KEY_LENGTH = 32;

/**
 * The 32 bytes that `text` (already trimmed) encodes as 64 hex digits or 44 canonical base64
 * characters, in a new Buffer the caller owns and zeroes; undefined for anything else.
 */
export function decodeKeyText32(text: Buffer): Buffer | undefined {
  let decode: ((text: Buffer, out: Buffer) => void) | undefined;
  if (text.length === 2 * KEY_LENGTH && isAllHex(text)) decode = decodeHex;
  else if (isCanonicalBase64Of32Bytes(text)) decode = decodeBase64;
  if (decode === undefined) return undefined;
  const out = Buffer.alloc(KEY_LENGTH);
  decode(text, out);
  return out;
}

/** Whether every byte is a hex digit (for messages that say which form was meant). */
export function isAllHex(text: Buffer): boolean {
  return isAll(text, isHexDigit);
}

/** A view of `bytes` without leading/trailing whitespace or a leading UTF-8 BOM. */
export function trimWhitespace(bytes: Buffer): Buffer {
  let start = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  let end = bytes.length;
  while (start < end && isWhitespace(bytes[start])) start++;
  while (end > start && isWhitespace(bytes[end - 1])) end--;
  return bytes.subarray(start, end);
}

function isWhitespace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

export function isAll(bytes: Buffer, predicate: (c: number) => boolean): boolean {
  for (const c of bytes) if (!predicate(c)) return false;
  return true;
}

function isHexDigit(c: number): boolean {
  return hexValue(c) >= 0;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function base64Value(c: number): number {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c === 0x2b) return 62;
  if (c === 0x2f) return 63;
  return -1;
}

/** 43 base64 digits then one "=", the last digit's two low bits zero (RFC 4648 canonical form). */
function isCanonicalBase64Of32Bytes(text: Buffer): boolean {
  if (text.length !== 44 || text[43] !== 0x3d) return false;
  for (let i = 0; i < 43; i++) if (base64Value(text[i] ?? 0) < 0) return false;
  return (base64Value(text[42] ?? 0) & 0b11) === 0;
}

/** Decodes hex digits into `out` without creating a string. */
function decodeHex(text: Buffer, out: Buffer): void {
  for (let i = 0; i < out.length; i++) {
    out[i] = (hexValue(text[2 * i] ?? 0) << 4) | hexValue(text[2 * i + 1] ?? 0);
  }
}

/** Decodes checked base64 (isCanonicalBase64Of32Bytes) into `out` without creating a string. */
function decodeBase64(text: Buffer, out: Buffer): void {
  let bits = 0;
  let bitCount = 0;
  let written = 0;
  for (let i = 0; i < text.length && written < out.length; i++) {
    const value = base64Value(text[i] ?? 0);
    if (value < 0) break;
    bits = ((bits << 6) | value) & 0xffffff;
    bitCount += 6;
    if (bitCount >= 8) {
      bitCount -= 8;
      out[written++] = (bits >> bitCount) & 0xff;
    }
  }
}
