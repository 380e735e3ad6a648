/** Builds the configured KeyWrapper, and checks it before the plugin accepts any call. */
import { randomBytes } from "node:crypto";
import type { EncryptionSettings } from "../config/types.ts";
import { StorageError } from "../errors.ts";
import type { OperationOptions } from "../storage/blob-store.ts";
import { zeroize } from "./data-key.ts";
import type { KeyWrapper } from "./key-wrapper.ts";
import { LocalKeyWrapper } from "./local-key-wrapper.ts";

/** The configured wrapper, or undefined when no key is configured (plain storage only). */
export async function createKeyWrapper(settings: EncryptionSettings): Promise<KeyWrapper | undefined> {
  const local = settings.localKey;
  if (local === undefined) return undefined;
  return LocalKeyWrapper.fromFiles({
    writeKeyFile: local.writeKeyFile,
    readOnlyKeyFiles: local.readOnlyKeyFiles,
    ...(local.algorithm === undefined ? {} : { algorithm: local.algorithm }),
  });
}

/** Wraps and unwraps a throwaway key: a wrong or unusable key fails startup, not the first store. */
export async function selfTestKeyWrapper(wrapper: KeyWrapper, options: OperationOptions = {}): Promise<void> {
  const probe = randomBytes(32);
  let unwrapped: Buffer | undefined;
  try {
    const wrapped = await wrapper.wrapKey(probe, options);
    unwrapped = await wrapper.unwrapKey(wrapped, options);
    if (!unwrapped.equals(probe)) {
      throw new StorageError(
        "internal",
        `the key-encryption key (${wrapper.description}) does not unwrap what it wraps`,
      );
    }
  } finally {
    zeroize(probe);
    zeroize(unwrapped);
  }
}
