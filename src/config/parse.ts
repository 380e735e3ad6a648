/**
 * Parses the "AzureBlobStorage" section of Orthanc's configuration into a frozen PluginConfig.
 * Every problem is collected, then reported in one ConfigurationError; secrets (connection
 * strings, SAS tokens, the Key Vault client secret) never appear in a message or a log line.
 *
 * The parts: the key catalogue and defaults (keys.ts), storage authentication
 * (storage-auth.ts), a local key (local-key.ts), Azure Key Vault (key-vault.ts); the one-line
 * description for the log is describe.ts.
 */

import { parseIntegrity } from "./integrity.ts";
import { parseKeyVaultSection } from "./key-vault.ts";
import {
  CONFIGURATION_DEFAULTS,
  CONFIGURATION_KEYS,
  CONFIGURATION_SECTION,
  type ConfigurationKey,
  defaultCryptoThreads,
  keyPath,
  type SectionReader,
} from "./keys.ts";
import { parseLocalKey } from "./local-key.ts";
import { parseStorageAuth } from "./storage-auth.ts";
import type { PluginConfig } from "./types.ts";
import {
  deepFreeze,
  describeReceived,
  expectation,
  type Issues,
  isRecord,
  ownValue,
  readBoolean,
  readInteger,
  readNumber,
  readString,
  unknownKeyIssues,
} from "./validators.ts";

export class ConfigurationError extends Error {
  readonly issues: readonly string[];

  constructor(issues: readonly string[]) {
    super(
      `Invalid "${CONFIGURATION_SECTION}" configuration:${issues.map((issue) => `\n  - ${issue}`).join("")}`,
    );
    this.name = "ConfigurationError";
    this.issues = Object.freeze([...issues]);
  }
}

export type ParsedConfiguration =
  | { readonly enabled: false }
  | { readonly enabled: true; readonly config: PluginConfig };

const DISABLED: ParsedConfiguration = Object.freeze({ enabled: false });
const MIB = 1024 * 1024;
const MAX_RETRY_DELAY_LIMIT_MS = 300_000;
const CONTAINER_NAME_EXPECTATION =
  "a container name of 3 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit, without consecutive hyphens";
const BLOB_NAME_PREFIX_EXPECTATION =
  'a blob name prefix of at most 512 characters: letters, digits, ".", "_" and "-" in segments separated by "/", without a leading "/", empty segments, or "." and ".." segments';

/**
 * orthancConfiguration: the whole Orthanc configuration object (JSON.parse of OrthancPluginGetConfiguration).
 * Returns {enabled: false} when the section is missing or EnableStorage is not true; throws a
 * ConfigurationError listing every problem otherwise.
 */
export function parsePluginConfiguration(orthancConfiguration: unknown): ParsedConfiguration {
  if (!isRecord(orthancConfiguration)) {
    throw new ConfigurationError([
      expectation("an object", "the Orthanc configuration", describeReceived(orthancConfiguration)),
    ]);
  }
  const section = ownValue(orthancConfiguration, CONFIGURATION_SECTION);
  if (section === undefined) return DISABLED;
  if (!isRecord(section)) {
    throw new ConfigurationError([
      expectation("an object", CONFIGURATION_SECTION, describeReceived(section)),
    ]);
  }

  const issues: Issues = [];
  const enabled = readBoolean(ownValue(section, "EnableStorage"), keyPath("EnableStorage"), issues);
  if (issues.length > 0) throw new ConfigurationError(issues);
  if (enabled !== true) return DISABLED;

  const config = parseEnabledSection(section, issues);
  if (issues.length > 0 || config === undefined) throw new ConfigurationError(issues);
  return deepFreeze({ enabled: true, config });
}

function parseEnabledSection(section: Record<string, unknown>, issues: Issues): PluginConfig | undefined {
  const get: SectionReader = (key) => ownValue(section, key);
  const integer = (key: ConfigurationKey, min: number, max?: number): number | undefined =>
    readInteger(get(key), keyPath(key), issues, max === undefined ? { min } : { min, max });
  const number = (
    key: ConfigurationKey,
    min: number,
    minExclusive: boolean,
    max: number,
  ): number | undefined => readNumber(get(key), keyPath(key), issues, { min, minExclusive, max });
  const boolean = (key: ConfigurationKey): boolean | undefined => readBoolean(get(key), keyPath(key), issues);
  const D = CONFIGURATION_DEFAULTS;

  const auth = parseStorageAuth(get, issues);
  const containerName = parseContainerName(get("ContainerName"), issues);
  const createContainerIfNotExists = boolean("CreateContainerIfNotExists") ?? D.CreateContainerIfNotExists;
  const blobNamePrefix = parseBlobNamePrefix(get("BlobNamePrefix"), issues);

  const requestTimeoutSeconds = number("RequestTimeoutSeconds", 0, true, 3600) ?? D.RequestTimeoutSeconds;
  const maxRetries = integer("MaxRetries", 0, 20) ?? D.MaxRetries;
  const retryDelayValue = get("RetryDelayMs");
  const retryDelayMs = integer("RetryDelayMs", 1, 60_000);
  const maxRetryDelayMs = parseMaxRetryDelay(
    get("MaxRetryDelayMs"),
    retryDelayValue === undefined ? D.RetryDelayMs : retryDelayMs,
    issues,
  );
  const operationTimeoutSeconds =
    number("OperationTimeoutSeconds", 0, true, 86_400) ?? D.OperationTimeoutSeconds;
  const maxConcurrentRequests = integer("MaxConcurrentRequests", 1, 1000) ?? D.MaxConcurrentRequests;
  const singleUploadThresholdMb =
    number("SingleUploadThresholdMB", 0, true, 5000) ?? D.SingleUploadThresholdMB;
  const uploadBlockSizeMb = number("UploadBlockSizeMB", 1, false, 4000) ?? D.UploadBlockSizeMB;
  const uploadConcurrency = integer("UploadConcurrency", 1, 64) ?? D.UploadConcurrency;

  const encryptionEnabled = boolean("EncryptionEnabled") ?? D.EncryptionEnabled;
  const keyDecayCountValue = get("KeyDecayCount");
  const keyDecayCount =
    readInteger(
      keyDecayCountValue,
      keyPath("KeyDecayCount"),
      issues,
      { min: 1 },
      keyDecayCountValue === 0 ? ' (0 no longer means "forever")' : "",
    ) ?? D.KeyDecayCount;
  const keyMaxAgeSeconds = number("KeyMaxAgeSeconds", 1, false, 604_800) ?? D.KeyMaxAgeSeconds;
  const keyPoolSize = integer("KeyPoolSize", 0) ?? D.KeyPoolSize;
  const keyPoolTtlSeconds = number("KeyPoolTtlSeconds", 1, false, 604_800) ?? D.KeyPoolTtlSeconds;
  const allowUnencryptedReads = boolean("AllowUnencryptedReads") ?? D.AllowUnencryptedReads;
  const localKey = parseLocalKey(get, issues);
  const integrity = parseIntegrity(get, encryptionEnabled, issues);
  const keyVaultValue = get("AzureKeyVault");
  const keyVault = parseKeyVaultSection(keyVaultValue, keyPath("AzureKeyVault"), issues);
  if (encryptionEnabled && keyVaultValue === undefined && get("LocalKeyFile") === undefined) {
    issues.push(
      `Expected ${keyPath("AzureKeyVault")} or ${keyPath("LocalKeyFile")} when ${keyPath("EncryptionEnabled")} is true but received neither`,
    );
  }
  if (keyVaultValue !== undefined && get("LocalKeyFile") !== undefined) {
    issues.push(
      `Expected one key-encryption key, ${keyPath("AzureKeyVault")} or ${keyPath("LocalKeyFile")}, but received both`,
    );
  }

  const cryptoThreads = integer("CryptoThreads", 0, 64) ?? defaultCryptoThreads();
  const cryptoOffloadMinKb = integer("CryptoOffloadMinKB", 0, 1_048_576) ?? D.CryptoOffloadMinKB;
  const heapLimitMb = integer("JavaScriptHeapLimitMB", 256, 65_536) ?? D.JavaScriptHeapLimitMB;
  const watchdogTimeoutSeconds = number("WatchdogTimeoutSeconds", 1, false, 3600) ?? D.WatchdogTimeoutSeconds;
  const enableTestingEndpoints = boolean("EnableTestingEndpoints") ?? D.EnableTestingEndpoints;
  const inMemoryStore = boolean("InMemoryStoreForTesting") ?? D.InMemoryStoreForTesting;

  issues.push(...unknownKeyIssues(section, CONFIGURATION_SECTION, CONFIGURATION_KEYS));

  if (auth === undefined || containerName === undefined || blobNamePrefix === undefined) return undefined;
  return {
    storage: { auth, containerName, createContainerIfNotExists, blobNamePrefix },
    requests: {
      requestTimeoutMs: secondsToMs(requestTimeoutSeconds),
      maxRetries,
      retryDelayMs: retryDelayMs ?? D.RetryDelayMs,
      maxRetryDelayMs,
      operationTimeoutMs: secondsToMs(operationTimeoutSeconds),
      maxConcurrentRequests,
      singleUploadThresholdBytes: mibToBytes(singleUploadThresholdMb),
      uploadBlockSizeBytes: mibToBytes(uploadBlockSizeMb),
      uploadConcurrency,
    },
    encryption: {
      enabled: encryptionEnabled,
      keyDecayCount,
      keyMaxAgeMs: secondsToMs(keyMaxAgeSeconds),
      keyPoolSize,
      keyPoolTtlMs: secondsToMs(keyPoolTtlSeconds),
      allowUnencryptedReads,
      ...(localKey === undefined ? {} : { localKey }),
      ...(keyVault === undefined ? {} : { keyVault }),
      integrity,
    },
    runtime: {
      heapLimitMb,
      watchdogTimeoutMs: secondsToMs(watchdogTimeoutSeconds),
      cryptoThreads,
      cryptoOffloadMinBytes: cryptoOffloadMinKb * 1024,
    },
    testing: { enableTestingEndpoints, inMemoryStore },
  };
}

function secondsToMs(seconds: number): number {
  return Math.max(1, Math.round(seconds * 1000));
}

function mibToBytes(mib: number): number {
  return Math.max(1, Math.round(mib * MIB));
}

function parseContainerName(value: unknown, issues: Issues): string | undefined {
  const path = keyPath("ContainerName");
  if (value === undefined) {
    issues.push(
      expectation(
        CONTAINER_NAME_EXPECTATION,
        path,
        "nothing (the key is required when EnableStorage is true)",
      ),
    );
    return undefined;
  }
  const name = readString(value, path, issues);
  if (name === undefined) return undefined;
  const problem = containerNameProblem(name);
  if (problem === undefined) return name;
  issues.push(expectation(CONTAINER_NAME_EXPECTATION, path, `${describeReceived(name)}, which ${problem}`));
  return undefined;
}

function containerNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return `has ${name.length} characters`;
  if (/[A-Z]/.test(name)) return "contains uppercase letters";
  const invalid = /[^a-z0-9-]/.exec(name);
  if (invalid !== null) return `contains ${JSON.stringify(invalid[0])}`;
  if (name.startsWith("-")) return "starts with a hyphen";
  if (name.endsWith("-")) return "ends with a hyphen";
  if (name.includes("--")) return "contains consecutive hyphens";
  return undefined;
}

function parseBlobNamePrefix(value: unknown, issues: Issues): string | undefined {
  const path = keyPath("BlobNamePrefix");
  const prefix =
    readString(value, path, issues) ??
    (value === undefined ? CONFIGURATION_DEFAULTS.BlobNamePrefix : undefined);
  if (prefix === undefined) return undefined;
  const problem = blobNamePrefixProblem(prefix);
  if (problem !== undefined) {
    issues.push(
      expectation(BLOB_NAME_PREFIX_EXPECTATION, path, `${describeReceived(prefix)}, which ${problem}`),
    );
    return undefined;
  }
  return prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
}

function blobNamePrefixProblem(prefix: string): string | undefined {
  if (prefix.length > 512) return `has ${prefix.length} characters`;
  const invalid = /[^A-Za-z0-9._/-]/.exec(prefix);
  if (invalid !== null) return `contains ${JSON.stringify(invalid[0])}`;
  if (prefix.startsWith("/")) return 'starts with "/"';
  if (prefix.includes("//")) return 'contains an empty segment ("//")';
  if (prefix.split("/").some((segment) => segment === "." || segment === "..")) {
    return 'contains a "." or ".." segment';
  }
  return undefined;
}

function parseMaxRetryDelay(value: unknown, retryDelayMs: number | undefined, issues: Issues): number {
  const path = keyPath("MaxRetryDelayMs");
  if (value === undefined) return Math.max(CONFIGURATION_DEFAULTS.MaxRetryDelayMs, retryDelayMs ?? 0);
  const min = retryDelayMs ?? 1;
  const belowRetryDelay =
    retryDelayMs !== undefined && typeof value === "number" && Number.isInteger(value) && value < min;
  const hint = belowRetryDelay ? `, which is less than ${keyPath("RetryDelayMs")} (${min})` : "";
  return readInteger(value, path, issues, { min, max: MAX_RETRY_DELAY_LIMIT_MS }, hint) ?? 0;
}
