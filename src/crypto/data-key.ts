import type { WrappedKey } from "./key-wrapper.ts";

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
