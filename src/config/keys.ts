/**
 * The catalogue of the "AzureBlobStorage" section: its name, every key it accepts (with its
 * type, range and default in a comment), the defaults of the optional keys, and the full path
 * of a key for messages.
 */
import { availableParallelism } from "node:os";

/** The name of the plugin's section in Orthanc's configuration. */
export const CONFIGURATION_SECTION = "AzureBlobStorage";

/** Every key accepted in the "AzureBlobStorage" section; any other key is an error. */
export const CONFIGURATION_KEYS = [
  /** Boolean [false]. Attachments go to Azure only when true; otherwise the plugin stays idle. */
  "EnableStorage",
  /** String (secret). An Azure Storage connection string (account key, SAS, or UseDevelopmentStorage=true). Exclusive with AccountUrl. */
  "ConnectionString",
  /** String, required. The blob container: 3-63 lowercase letters, digits and single hyphens. */
  "ContainerName",
  /** Boolean [false]. Encrypt new attachments (AES-256-CBC + HMAC envelope, FORMAT.md). Needs a key: AzureKeyVault or LocalKeyFile. */
  "EncryptionEnabled",
  /** Integer >= 1 [1000]. Blobs encrypted under one content-encryption key before a new one is made. */
  "KeyDecayCount",
  /** Number of seconds, 1-604800 [3600]. Longest life of the content-encryption key used for writes. */
  "KeyMaxAgeSeconds",
  /** Integer >= 0 [1000]. Unwrapped content-encryption keys kept in memory for reads; 0 = every read unwraps. */
  "KeyPoolSize",
  /** Number of seconds, 1-604800 [3600]. How long an unwrapped key stays in the read pool. */
  "KeyPoolTtlSeconds",
  /** String (path). Key-encryption key file: an RSA private key (PEM, >= 2048 bits) or an AES-256 key (64 hex characters or base64). */
  "LocalKeyFile",
  /** "RSA-OAEP-256" (RSA default), "RSA-OAEP", or "A256KW" (AES keys). How LocalKeyFile wraps keys. */
  "LocalKeyAlgorithm",
  /** Array of paths [[]]. Older key files, kept to read blobs written before a key rotation. */
  "LocalKeyFilesForReading",
  /** Boolean [false]. With encryption on, also read unencrypted blobs (migration of an existing container). */
  "AllowUnencryptedReads",
  /** Array [[]]. Deployment integrity keys (envelope version 2, SECURITY.md): each {"File": path} or {"KeyId", "EncryptedKey", "Algorithm"} (wrapped by the key-encryption key), with an optional "Id"; the first seals new blobs. */
  "IntegrityKeys",
  /** Boolean [true with IntegrityKeys and EncryptionEnabled, else false]. Read only envelope version 2 blobs: version 1 and plain blobs are refused (but see LegacyBlobsModifiedBefore). */
  "StrictIntegrity",
  /** String, ISO 8601 time with its zone. With StrictIntegrity, still read version 1 and plain blobs last modified before it. */
  "LegacyBlobsModifiedBefore",
  /** Object: Azure Key Vault holds the key-encryption key (kid, baseUrl, clientId, clientSecret, tenantId, algorithm, trustedKeyIds, keyRefreshSeconds, maxConcurrentRequests, emulator). */
  "AzureKeyVault",
  /** String. The blob endpoint, e.g. https://myaccount.blob.core.windows.net (http only on loopback). Exclusive with ConnectionString. */
  "AccountUrl",
  /** String (secret), with AccountUrl. A SAS query string containing sig=, with or without the leading "?". */
  "SasToken",
  /** String (GUID), with AccountUrl and no SasToken. Selects a user-assigned managed identity. */
  "ManagedIdentityClientId",
  /** Boolean [true]. Create the container at startup when it does not exist. */
  "CreateContainerIfNotExists",
  /** String [""]. Prefix of every blob name, so several Orthancs can share one container; "/" is appended. */
  "BlobNamePrefix",
  /** Number of seconds, > 0 and <= 3600 [30]. Timeout of one HTTP try. */
  "RequestTimeoutSeconds",
  /** Integer 0-20 [3]. Retries after the first try. */
  "MaxRetries",
  /** Integer 1-60000 [200]. First retry delay, in milliseconds. */
  "RetryDelayMs",
  /** Integer from RetryDelayMs to 300000 [10000, or RetryDelayMs if larger]. Longest retry delay, in milliseconds. */
  "MaxRetryDelayMs",
  /** Number of seconds, > 0 and <= 86400 [120]. Deadline of one storage operation, retries included. */
  "OperationTimeoutSeconds",
  /** Integer 1-1000 [32]. Storage operations in flight at once. */
  "MaxConcurrentRequests",
  /** Number of MiB, > 0 and <= 5000 [32]. Blobs up to this size are uploaded in a single request. */
  "SingleUploadThresholdMB",
  /** Number of MiB, 1-4000 [8]. Block size for larger uploads. */
  "UploadBlockSizeMB",
  /** Integer 1-64 [4]. Blocks uploaded in parallel for one blob. */
  "UploadConcurrency",
  /** Integer 0-64 [the number of CPUs, at most 4]. Worker threads for encryption and decryption; 0 runs them on the JS thread. */
  "CryptoThreads",
  /** Integer 0-1048576 [1024]. Blobs of at least this many KiB go to the crypto worker threads; smaller ones are encrypted on the JS thread, where moving them would cost more than it saves. */
  "CryptoOffloadMinKB",
  /** Integer 256-65536 [2048]. V8 heap limit of the embedded runtime, in MiB. */
  "JavaScriptHeapLimitMB",
  /** Number of seconds, 1-3600 [30]. A JS thread silent this long (busy loop) is terminated and restarted. */
  "WatchdogTimeoutSeconds",
  /** Boolean [false]. Enables the fault-injection testing routes. Never in production. */
  "EnableTestingEndpoints",
  /** Boolean [false]. Keeps attachments in the plugin's memory instead of Azure (tests, benchmarks); lost at restart. Never in production. */
  "InMemoryStoreForTesting",
] as const;

export type ConfigurationKey = (typeof CONFIGURATION_KEYS)[number];

/** Defaults of the optional keys, in the units of the configuration file. */
export const CONFIGURATION_DEFAULTS = {
  EnableStorage: false,
  EncryptionEnabled: false,
  KeyDecayCount: 1000,
  KeyMaxAgeSeconds: 3600,
  KeyPoolSize: 1000,
  KeyPoolTtlSeconds: 3600,
  AllowUnencryptedReads: false,
  CreateContainerIfNotExists: true,
  BlobNamePrefix: "",
  RequestTimeoutSeconds: 30,
  MaxRetries: 3,
  RetryDelayMs: 200,
  MaxRetryDelayMs: 10_000,
  OperationTimeoutSeconds: 120,
  MaxConcurrentRequests: 32,
  SingleUploadThresholdMB: 32,
  UploadBlockSizeMB: 8,
  UploadConcurrency: 4,
  JavaScriptHeapLimitMB: 2048,
  WatchdogTimeoutSeconds: 30,
  CryptoOffloadMinKB: 1024,
  EnableTestingEndpoints: false,
  InMemoryStoreForTesting: false,
} as const satisfies Partial<Record<ConfigurationKey, boolean | number | string>>;

/** One crypto worker per core, at most 4: beyond that Blob Storage, not crypto, is the limit. */
export function defaultCryptoThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/** The full path of a key, for messages: "AzureBlobStorage.<key>". */
export function keyPath(key: ConfigurationKey): string {
  return `${CONFIGURATION_SECTION}.${key}`;
}

/** Reads one key of the section: its own value, or undefined when it is absent. */
export type SectionReader = (key: ConfigurationKey) => unknown;
