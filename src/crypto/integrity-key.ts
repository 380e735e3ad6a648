/**
 * Deployment integrity keys (FORMAT.md, envelope version 2): 32 secret bytes that every Orthanc
 * of a deployment holds, and nothing in the container does. The MAC key of a version 2 blob comes
 * from one of them, so write access to the container, the KEK's public key and any number of
 * CEKs are together not enough to make a blob that verifies.
 *
 * An id is computed from the key itself, so a configuration cannot pair a key with the wrong id.
 * Key buffers are owned by the keyring and zeroed by dispose().
 */
import { createHmac } from "node:crypto";
import { StorageError } from "../errors.ts";

export const INTEGRITY_KEY_LENGTH = 32;
/** `ik-` and 32 lowercase hex digits. */
export const INTEGRITY_KEY_ID_PATTERN = /^ik-[0-9a-f]{32}$/;
const KEY_ID_LABEL = Buffer.from("OABS-v2-integrity-key-id", "ascii");

export interface IntegrityKey {
  /** integrityKeyId(key). */
  readonly id: string;
  /** 32 bytes. */
  readonly key: Buffer;
}

/** IntegrityKeyId = "ik-" ‖ hex(trunc16(HMAC-SHA-256(K_int, "OABS-v2-integrity-key-id"))). */
export function integrityKeyId(key: Buffer): string {
  checkLength(key);
  return `ik-${createHmac("sha256", key).update(KEY_ID_LABEL).digest().subarray(0, 16).toString("hex")}`;
}

function checkLength(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== INTEGRITY_KEY_LENGTH) {
    throw new StorageError(
      "invalid-argument",
      `Expected an integrity key of ${INTEGRITY_KEY_LENGTH} bytes but received ${Buffer.isBuffer(key) ? `${key.length} bytes` : typeof key}`,
    );
  }
}

/** An IntegrityKey over `key`, which the caller hands over (the keyring zeroes it on dispose). */
export function toIntegrityKey(key: Buffer): IntegrityKey {
  return { id: integrityKeyId(key), key };
}

/**
 * The integrity keys of a deployment: the first one seals new blobs, every one verifies. Two
 * entries with the same key are one (configurations may list a key twice during a rotation).
 */
export class IntegrityKeyring {
  readonly #keys: ReadonlyMap<string, IntegrityKey>;
  readonly #sealing: IntegrityKey | undefined;
  #disposed = false;

  constructor(keys: readonly IntegrityKey[]) {
    const byId = new Map<string, IntegrityKey>();
    for (const key of keys) {
      checkLength(key.key);
      if (integrityKeyId(key.key) !== key.id) {
        throw new StorageError("invalid-argument", `Expected integrity key ${key.id} to match its key bytes`);
      }
      if (!byId.has(key.id)) byId.set(key.id, key);
      else key.key.fill(0);
    }
    this.#keys = byId;
    this.#sealing = keys[0] === undefined ? undefined : byId.get(keys[0].id);
  }

  /** The key that seals new blobs (envelope version 2); undefined: new blobs are version 1. */
  get sealing(): IntegrityKey | undefined {
    this.#checkOpen();
    return this.#sealing;
  }

  /** The key named by a blob's IntegrityKeyId, or undefined when this deployment has none by that id. */
  find(id: string): IntegrityKey | undefined {
    this.#checkOpen();
    return this.#keys.get(id);
  }

  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  get size(): number {
    return this.#keys.size;
  }

  /** Zeroes every key. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const key of this.#keys.values()) key.key.fill(0);
  }

  #checkOpen(): void {
    if (this.#disposed) throw new StorageError("internal", "The integrity keyring has been disposed");
  }
}
