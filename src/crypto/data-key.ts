import { StorageError } from "../errors.ts";
import type { WrappedKey } from "./key-wrapper.ts";

/** Length of a content-encryption key (CEK): an AES-256 key, 32 bytes. */
export const CEK_LENGTH = 32;

/**
 * A CEK together with its wrapped form. `cek` is owned by whoever handed it out (the key
 * cache); users must not keep it beyond the operation, and must not turn it into a string.
 */
export interface DataKey {
  readonly cek: Buffer;
  readonly wrapped: WrappedKey;
}

/** Overwrites key material in place. */
export function zeroize(buffer: Buffer | undefined): void {
  buffer?.fill(0);
}

/** Precondition of the envelope functions: `cek` is a CEK_LENGTH-byte Buffer. */
export function checkCek(cek: Buffer): void {
  if (!Buffer.isBuffer(cek) || cek.length !== CEK_LENGTH) {
    throw new StorageError("invalid-argument", `Expected a ${CEK_LENGTH}-byte content-encryption key`);
  }
}

/** Precondition of KeyWrapper.wrapKey: `cek` is a CEK_LENGTH-byte Buffer. */
export function checkCekToWrap(cek: unknown): void {
  if (!Buffer.isBuffer(cek) || cek.length !== CEK_LENGTH) {
    throw new StorageError(
      "invalid-argument",
      `Expected a ${CEK_LENGTH}-byte content key to wrap but received ${Buffer.isBuffer(cek) ? `${cek.length} bytes` : typeof cek}`,
    );
  }
}

/**
 * What KeyWrapper.unwrapKey returns: a fresh copy of the unwrapped CEK, which the caller owns.
 * The unwrapped bytes themselves are zeroed either way; anything but CEK_LENGTH bytes is an
 * integrity failure of the wrapped key named `keyId`.
 */
export function copyUnwrappedCek(unwrapped: unknown, keyId: string): Buffer {
  const bytes = Buffer.isBuffer(unwrapped) ? unwrapped : undefined;
  try {
    if (bytes === undefined || bytes.length !== CEK_LENGTH) {
      throw new StorageError(
        "integrity",
        `the wrapped content key unwraps with key ${keyId} to ${bytes?.length ?? 0} bytes instead of ${CEK_LENGTH}`,
      );
    }
    const cek = Buffer.alloc(CEK_LENGTH);
    bytes.copy(cek);
    return cek;
  } finally {
    zeroize(bytes);
  }
}
