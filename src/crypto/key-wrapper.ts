/**
 * Key-encryption-key (KEK) abstraction, after the AWS Encryption SDK's keyring: the plugin
 * only ever sees wrapped CEKs and plaintext CEKs; the KEK stays in the wrapper (a local key
 * file here; Azure Key Vault later). Clients are injected, so tests never need Azure.
 */
import type { OperationOptions } from "../async/operation-options.ts";

/** Wrapping algorithms, named as in JWA / Key Vault. RSA1_5 is never used. */
export type WrapAlgorithm = "RSA-OAEP" | "RSA-OAEP-256" | "A256KW";
export const WRAP_ALGORITHMS: readonly WrapAlgorithm[] = ["RSA-OAEP", "RSA-OAEP-256", "A256KW"];

export interface WrappedKey {
  /** Exact id of the KEK that wrapped it (versioned for Key Vault). */
  readonly keyId: string;
  readonly algorithm: WrapAlgorithm;
  readonly encryptedKey: Buffer;
}

export interface KeyWrapper {
  /** For logs; never contains key material. */
  readonly description: string;
  /** Wraps a 32-byte CEK with the current KEK. */
  wrapKey(cek: Buffer, options?: OperationOptions): Promise<WrappedKey>;
  /**
   * Unwraps with exactly the KEK named by wrapped.keyId. Returns a new Buffer that the caller
   * owns and must zero. Throws StorageError("integrity") when the wrapped key does not unwrap,
   * and StorageError("unavailable") when the KEK cannot be reached or is not trusted.
   */
  unwrapKey(wrapped: WrappedKey, options?: OperationOptions): Promise<Buffer>;
  /** Allow-list: whether a key id read from blob metadata names a KEK this deployment trusts. */
  trusts(keyId: string): boolean;
  /** Stops background work (Key Vault's refresh timer), where there is any. */
  dispose?(): void;
}
