/**
 * The configuration in one line for the startup log and `cli.cjs check-config`: every setting
 * that matters, and every secret (account key, SAS token, client secret) replaced by "<redacted>".
 */
import { showUntrusted } from "../logging/untrusted.ts";
import { redactConnectionString } from "./connection-string.ts";
import type { PluginConfig, StorageAuth } from "./types.ts";
import { redactUrl } from "./validators.ts";

/** A one-line description of the config for the startup log, with every secret replaced by "<redacted>". */
export function describeConfiguration(config: PluginConfig): string {
  const { storage, requests, encryption } = config;
  const fields = [
    `auth=${describeAuth(storage.auth)}`,
    `container=${storage.containerName}`,
    `blobNamePrefix=${JSON.stringify(storage.blobNamePrefix)}`,
    `createContainerIfNotExists=${storage.createContainerIfNotExists}`,
    `requestTimeoutMs=${requests.requestTimeoutMs}`,
    `maxRetries=${requests.maxRetries}`,
    `retryDelayMs=${requests.retryDelayMs}..${requests.maxRetryDelayMs}`,
    `operationTimeoutMs=${requests.operationTimeoutMs}`,
    `maxConcurrentRequests=${requests.maxConcurrentRequests}`,
    `singleUploadThresholdBytes=${requests.singleUploadThresholdBytes}`,
    `uploadBlockSizeBytes=${requests.uploadBlockSizeBytes}`,
    `uploadConcurrency=${requests.uploadConcurrency}`,
    `encryption=${describeEncryption(encryption)}`,
    `cryptoThreads=${config.runtime.cryptoThreads}`,
    `cryptoOffloadMinBytes=${config.runtime.cryptoOffloadMinBytes}`,
    `heapLimitMb=${config.runtime.heapLimitMb}`,
    `watchdogTimeoutMs=${config.runtime.watchdogTimeoutMs}`,
    `testingEndpoints=${config.testing.enableTestingEndpoints}`,
    ...(config.testing.inMemoryStore ? ["IN-MEMORY STORE (testing only)"] : []),
  ];
  return fields.join(", ");
}

function describeAuth(auth: StorageAuth): string {
  switch (auth.kind) {
    case "connection-string":
      return `connection-string(${redactConnectionString(auth.connectionString)})`;
    case "sas":
      return `sas(accountUrl=${redactUrl(auth.accountUrl)}, sasToken=<redacted>)`;
    case "token-credential":
      return (
        `token-credential(accountUrl=${redactUrl(auth.accountUrl)}` +
        (auth.managedIdentityClientId === undefined
          ? ""
          : `, managedIdentityClientId=${auth.managedIdentityClientId}`) +
        ")"
      );
  }
}

function describeEncryption(encryption: PluginConfig["encryption"]): string {
  const details: string[] = [
    `keyDecayCount=${encryption.keyDecayCount}`,
    `keyMaxAgeMs=${encryption.keyMaxAgeMs}`,
    `keyPoolSize=${encryption.keyPoolSize}`,
    `keyPoolTtlMs=${encryption.keyPoolTtlMs}`,
    `allowUnencryptedReads=${encryption.allowUnencryptedReads}`,
  ];
  const local = encryption.localKey;
  if (local !== undefined) {
    details.push(
      `localKeyFile=${showUntrusted(local.writeKeyFile)}${local.algorithm === undefined ? "" : `(${local.algorithm})`}, readOnlyKeyFiles=${local.readOnlyKeyFiles.length}`,
    );
  }
  const vault = encryption.keyVault;
  if (vault !== undefined) {
    const credential =
      vault.credential.kind === "client-secret"
        ? `client-secret(clientId=${vault.credential.clientId}, clientSecret=<redacted>, tenantId=${vault.credential.tenantId ?? "<from the vault's challenge>"})`
        : `credential-chain(${vault.credential.managedIdentityClientId === undefined ? "system-assigned" : `managedIdentityClientId=${vault.credential.managedIdentityClientId}`})`;
    const parts = [
      `key=${vault.vaultUrl}/keys/${vault.keyName}${vault.keyVersion === undefined ? " (latest)" : `/${vault.keyVersion}`}`,
      `algorithm=${vault.algorithm}`,
      credential,
      `trustedKeys=${vault.trustedKeys.length}`,
      `keyRefreshMs=${vault.keyRefreshMs}`,
      `maxConcurrentRequests=${vault.maxConcurrentRequests}`,
      ...(vault.emulator === undefined ? [] : [`EMULATOR(authorityHost=${vault.emulator.authorityHost})`]),
    ];
    details.push(`keyVault(${parts.join(", ")})`);
  }
  const { integrity } = encryption;
  details.push(
    `integrity(keys=${integrity.keys.map((key) => (key.kind === "file" ? `file:${showUntrusted(key.path)}` : "wrapped")).join("|") || "none"}, strict=${integrity.strict}${integrity.legacyBlobsModifiedBefore === undefined ? "" : `, legacyBlobsModifiedBefore=${integrity.legacyBlobsModifiedBefore.toISOString()}`})`,
  );
  const state = encryption.enabled ? "on" : "off";
  return details.length === 0 ? state : `${state}(${details.join(", ")})`;
}
