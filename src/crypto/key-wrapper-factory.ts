/** Builds the configured KeyWrapper, and checks it before the plugin accepts any call. */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { OperationOptions } from "../async/operation-options.ts";
import { createTokenCredential } from "../auth/credentials.ts";
import type { EncryptionSettings, KeyVaultSettings, RequestSettings } from "../config/types.ts";
import { describeError, StorageError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import { CEK_LENGTH, zeroize } from "./data-key.ts";
import type { KeyWrapper } from "./key-wrapper.ts";
import { createKeyVaultClients } from "./keyvault-clients.ts";
import { KeyVaultKeyWrapper } from "./keyvault-key-wrapper.ts";
import { LocalKeyWrapper } from "./local-key-wrapper.ts";

/** The configured wrapper, or undefined when no key is configured (plain storage only). */
export async function createKeyWrapper(
  settings: EncryptionSettings,
  requests: RequestSettings,
  logger: Logger,
): Promise<KeyWrapper | undefined> {
  if (settings.keyVault !== undefined) return createKeyVaultWrapper(settings.keyVault, requests, logger);
  const local = settings.localKey;
  if (local === undefined) return undefined;
  return LocalKeyWrapper.fromFiles({
    writeKeyFile: local.writeKeyFile,
    readOnlyKeyFiles: local.readOnlyKeyFiles,
    ...(local.algorithm === undefined ? {} : { algorithm: local.algorithm }),
  });
}

async function createKeyVaultWrapper(
  vault: KeyVaultSettings,
  requests: RequestSettings,
  logger: Logger,
): Promise<KeyWrapper> {
  let caPem: string | undefined;
  if (vault.emulator !== undefined) {
    logger.warning(
      `AzureKeyVault.emulator is set: trusting ${vault.emulator.caFile} and the authority ${vault.emulator.authorityHost}; never use this in production`,
    );
    try {
      caPem = await readFile(vault.emulator.caFile, "utf8");
    } catch (error) {
      throw new StorageError(
        "invalid-argument",
        `cannot read AzureBlobStorage.AzureKeyVault.emulator.caFile (${vault.emulator.caFile}): ${describeError(error)}`,
      );
    }
  }
  const emulator =
    vault.emulator === undefined || caPem === undefined
      ? undefined
      : { authorityHost: vault.emulator.authorityHost, caPem };
  const credential = await createTokenCredential(vault.credential, {
    vaultUrlForTenantDiscovery: vault.vaultUrl,
    ...(emulator === undefined ? {} : { emulator }),
    logger,
  });
  const clients = createKeyVaultClients({
    vaultUrl: vault.vaultUrl,
    credential,
    maxRetries: requests.maxRetries,
    retryDelayMs: requests.retryDelayMs,
    maxRetryDelayMs: requests.maxRetryDelayMs,
    requestTimeoutMs: requests.requestTimeoutMs,
    ...(caPem === undefined ? {} : { emulator: { caPem } }),
  });
  return KeyVaultKeyWrapper.create({
    vaultUrl: vault.vaultUrl,
    keyName: vault.keyName,
    ...(vault.keyVersion === undefined ? {} : { keyVersion: vault.keyVersion }),
    algorithm: vault.algorithm,
    trustedKeys: vault.trustedKeys,
    keyRefreshMs: vault.keyRefreshMs,
    maxConcurrentRequests: vault.maxConcurrentRequests,
    clients,
    logger,
  });
}

/** Wraps and unwraps a throwaway key: a wrong or unusable key fails startup, not the first store. */
export async function selfTestKeyWrapper(wrapper: KeyWrapper, options: OperationOptions = {}): Promise<void> {
  const probe = randomBytes(CEK_LENGTH);
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
