/**
 * Key-encryption-key (KEK) abstraction, after the AWS Encryption SDK's keyring: the plugin
 * only ever sees wrapped CEKs and plaintext CEKs; the KEK stays in the wrapper: a local key
 * file (local-key-wrapper.ts) or an Azure Key Vault / Managed HSM key (keyvault-key-wrapper.ts,
 * whose Key Vault clients are injected, so tests never need Azure).
 */
import type { OperationOptions } from "../async/operation-options.ts";

/**
 * Wrapping algorithms, named as in JWA / Key Vault, the default for RSA keys first. RSA1_5 is
 * never used.
 */
export const WRAP_ALGORITHMS = ["RSA-OAEP-256", "RSA-OAEP", "A256KW"] as const;
export type WrapAlgorithm = (typeof WRAP_ALGORITHMS)[number];

/** The OAEP hash of an RSA wrapping algorithm: SHA-1 for RSA-OAEP, SHA-256 for RSA-OAEP-256. */
export function oaepHash(algorithm: WrapAlgorithm): "sha1" | "sha256" {
  return algorithm === "RSA-OAEP" ? "sha1" : "sha256";
}

export interface WrappedKey {
  /** Exact id of the KEK that wrapped it (versioned for Key Vault). */
  readonly keyId: string;
  readonly algorithm: WrapAlgorithm;
  readonly encryptedKey: Buffer;
}

export interface KeyWrapper {
  /** For logs; never contains key material. */
  readonly description: string;
  /** Wraps a CEK (CEK_LENGTH bytes, data-key.ts) with the current KEK. */
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
