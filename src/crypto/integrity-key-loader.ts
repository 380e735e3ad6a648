/**
 * Loads the deployment integrity keys (IntegrityKeys) at startup: key files are read, wrapped keys
 * are unwrapped once through the configured key-encryption key (one call each, never on the hot
 * path). Every failure names the entry; no key byte ever reaches a message.
 */
import { readFile, stat } from "node:fs/promises";
import type { OperationOptions } from "../async/operation-options.ts";
import type { IntegrityKeySource } from "../config/types.ts";
import { StorageError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import { showUntrusted } from "../logging/untrusted.ts";
import { zeroize } from "./data-key.ts";
import {
  INTEGRITY_KEY_LENGTH,
  type IntegrityKey,
  IntegrityKeyring,
  toIntegrityKey,
} from "./integrity-key.ts";
import { decodeKeyText32, trimWhitespace } from "./key-text.ts";
import type { KeyWrapper } from "./key-wrapper.ts";

const ENTRY = "AzureBlobStorage.IntegrityKeys";
const MAX_FILE_BYTES = 1024;

async function fromFile(path: string, where: string, logger: Logger | undefined): Promise<Buffer> {
  const shown = showUntrusted(path);
  let bytes: Buffer;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw Object.assign(new Error("not a file"), { code: "ENOTFILE" });
    if (info.size > MAX_FILE_BYTES) {
      throw new StorageError(
        "invalid-argument",
        `${where}: integrity key file ${shown} is larger than ${MAX_FILE_BYTES} bytes`,
      );
    }
    if ((info.mode & 0o077) !== 0) {
      logger?.warning(
        `${where}: integrity key file ${shown} can be read by other users than its owner (mode ${(info.mode & 0o777).toString(8)}); make it 600`,
      );
    }
    bytes = await readFile(path);
  } catch (error) {
    if (error instanceof StorageError) throw error;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    throw new StorageError(
      "invalid-argument",
      `${where}: cannot read integrity key file ${shown}: ${code ?? "read failed"}`,
    );
  }
  try {
    const key = decodeKeyText32(trimWhitespace(bytes));
    if (key === undefined) {
      throw new StorageError(
        "invalid-argument",
        `${where}: integrity key file ${shown} must hold 32 bytes as 64 hex digits (or padded base64), and holds something else`,
      );
    }
    return key;
  } finally {
    zeroize(bytes);
  }
}

async function fromWrapped(
  source: Extract<IntegrityKeySource, { kind: "wrapped" }>,
  where: string,
  wrapper: KeyWrapper | undefined,
  options: OperationOptions,
): Promise<Buffer> {
  if (wrapper === undefined) {
    throw new StorageError(
      "invalid-argument",
      `${where}: a wrapped integrity key needs the key-encryption key that wrapped it (AzureBlobStorage.AzureKeyVault or AzureBlobStorage.LocalKeyFile), and none is configured`,
    );
  }
  const { keyId, algorithm, encryptedKeyBase64 } = source.wrapped;
  let key: Buffer;
  try {
    key = await wrapper.unwrapKey(
      { keyId, algorithm, encryptedKey: Buffer.from(encryptedKeyBase64, "base64") },
      options,
    );
  } catch (error) {
    if (error instanceof StorageError) {
      throw new StorageError(error.code, `${where}: cannot unwrap the integrity key: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
  if (key.length !== INTEGRITY_KEY_LENGTH) {
    zeroize(key);
    throw new StorageError(
      "invalid-argument",
      `${where}: the wrapped integrity key unwraps to ${key.length} bytes instead of ${INTEGRITY_KEY_LENGTH}`,
    );
  }
  return key;
}

/**
 * The keyring of the configured integrity keys, in order (the first seals new blobs). An entry's
 * optional Id must be the id computed from its key.
 */
export async function loadIntegrityKeys(
  sources: readonly IntegrityKeySource[],
  wrapper: KeyWrapper | undefined,
  options: OperationOptions & { logger?: Logger } = {},
): Promise<IntegrityKeyring> {
  const keys: IntegrityKey[] = [];
  try {
    for (const [index, source] of sources.entries()) {
      const where = `${ENTRY}[${index}]`;
      const bytes =
        source.kind === "file"
          ? await fromFile(source.path, where, options.logger)
          : await fromWrapped(source, where, wrapper, options);
      const key = toIntegrityKey(bytes);
      keys.push(key);
      if (source.id !== undefined && source.id !== key.id) {
        throw new StorageError(
          "invalid-argument",
          `${where}: Expected the key of Id ${source.id} but received the key ${key.id}`,
        );
      }
    }
    return new IntegrityKeyring(keys);
  } catch (error) {
    for (const key of keys) zeroize(key.key);
    throw error;
  }
}
