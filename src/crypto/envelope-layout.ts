/**
 * Pure layout arithmetic of envelope version 1 (FORMAT.md, "Body", "Segments", "Range reads"):
 * ciphertext length, segment size and count, and which segments a plaintext range needs.
 * No key material and no I/O here.
 */
import { rangeBeyondEndError, StorageError } from "../errors.ts";

/** AES block size: CBC works on 16-byte blocks and PKCS#7 pads to them. */
export const AES_BLOCK_SIZE = 16;
/** Smallest segment, S = 65536 * 2^0. */
export const MIN_SEGMENT_SIZE = 65_536;
/** There are never more than 256 segment tags, whatever the blob size. */
export const MAX_SEGMENT_COUNT = 256;
/** Largest value of a u32 field of the header (content type, segment size, segment count). */
export const MAX_U32 = 0xffff_ffff;

function assertLength(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new StorageError(
      "invalid-argument",
      `Expected a non-negative integer for ${name} but received ${String(value)}`,
    );
  }
}

/** `Lc = 16 * (floor(L / 16) + 1)`: PKCS#7 always adds 1 to 16 bytes. */
export function ciphertextLengthFor(plaintextLength: number): number {
  assertLength("plaintextLength", plaintextLength);
  return AES_BLOCK_SIZE * (Math.floor(plaintextLength / AES_BLOCK_SIZE) + 1);
}

/** `S = 65536 * 2^k` for the smallest `k >= 0` such that `ceil(Lc / S) <= 256`. */
export function segmentSizeFor(ciphertextLength: number): number {
  assertLength("ciphertextLength", ciphertextLength);
  let segmentSize = MIN_SEGMENT_SIZE;
  // Divisions by a power of two are exact in binary floating point, so Math.ceil is exact.
  while (Math.ceil(ciphertextLength / segmentSize) > MAX_SEGMENT_COUNT) segmentSize *= 2;
  return segmentSize;
}

/** `n = ceil(Lc / S)`. */
export function segmentCountFor(ciphertextLength: number, segmentSize: number): number {
  return Math.ceil(ciphertextLength / segmentSize);
}

export interface RangePlan {
  /** First ciphertext byte to fetch (a segment start). */
  fetchOffset: number;
  /** Number of ciphertext bytes to fetch (whole segments; 0 for an empty range). */
  fetchLength: number;
  /** Index of the first fetched segment. */
  firstSegment: number;
  /** Index of the last fetched segment (firstSegment - 1 when nothing is fetched). */
  lastSegment: number;
}

/**
 * Which ciphertext bytes (whole segments) must be fetched to serve plaintext
 * `[offset, offset + length)`: the segments covering AES blocks `max(b0 - 1, 0)` to `b1`,
 * where block `b0 - 1` is the CBC IV of block `b0`.
 */
export function planRange(
  parsed: {
    readonly ciphertextLength: number;
    readonly plaintextLength: number;
    readonly segmentSize: number;
    readonly segmentCount: number;
  },
  offset: number,
  length: number,
): RangePlan {
  assertLength("offset", offset);
  assertLength("length", length);
  if (offset + length > parsed.plaintextLength) {
    throw rangeBeyondEndError(offset, length, parsed.plaintextLength, "attachment");
  }
  if (length === 0) return { fetchOffset: 0, fetchLength: 0, firstSegment: 0, lastSegment: -1 };

  const firstBlock = Math.floor(offset / AES_BLOCK_SIZE);
  const lastBlock = Math.floor((offset + length - 1) / AES_BLOCK_SIZE);
  const ivBlock = Math.max(firstBlock - 1, 0);
  const firstSegment = Math.floor((ivBlock * AES_BLOCK_SIZE) / parsed.segmentSize);
  const lastSegment = Math.floor((lastBlock * AES_BLOCK_SIZE) / parsed.segmentSize);
  const fetchOffset = firstSegment * parsed.segmentSize;
  const fetchEnd = Math.min((lastSegment + 1) * parsed.segmentSize, parsed.ciphertextLength);
  return { fetchOffset, fetchLength: fetchEnd - fetchOffset, firstSegment, lastSegment };
}
