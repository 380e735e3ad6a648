/**
 * Parses the "AzureBlobStorage" section of Orthanc's configuration into a frozen PluginConfig.
 * Every problem is collected, then reported in one ConfigurationError; secrets (connection
 * strings, SAS tokens, the Key Vault client secret) never appear in a message or a log line.
 */
import { availableParallelism } from "node:os";
import {
  CONNECTION_STRING_EXPECTATION,
  checkConnectionString,
  redactConnectionString,
} from "./connection-string.ts";
import { parseKeyVaultSection } from "./key-vault.ts";
import type { LocalKeySettings, PluginConfig, StorageAuth } from "./types.ts";
import {
  deepFreeze,
  describeReceived,
  expectation,
  type Issues,
  isRecord,
  ownValue,
  parseHttpUrl,
  readBoolean,
  readInteger,
  readNumber,
  readString,
  redactUrl,
  unknownKeyIssues,
} from "./validators.ts";

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
  /** Boolean [false]. Encrypt new attachments (AES-256-CBC + HMAC envelope, FORMAT.md). Needs a key: LocalKeyFile. */
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

export { KEY_VAULT_KEYS } from "./key-vault.ts";

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
} as const;

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
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"];
const ACCOUNT_URL_EXPECTATION = "an https URL (http only for 127.0.0.1, localhost or [::1])";
const SAS_TOKEN_EXPECTATION = "a SAS token (the query string of a SAS URL, with a sig= signature)";
const CONTAINER_NAME_EXPECTATION =
  "a container name of 3 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit, without consecutive hyphens";
const BLOB_NAME_PREFIX_EXPECTATION =
  'a blob name prefix of at most 512 characters: letters, digits, ".", "_" and "-" in segments separated by "/", without a leading "/", empty segments, or "." and ".." segments';

function keyPath(key: ConfigurationKey): string {
  return `${CONFIGURATION_SECTION}.${key}`;
}

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
  const get = (key: ConfigurationKey): unknown => ownValue(section, key);
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

  const auth = parseAuth(get, issues);
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

/** One crypto worker per core, at most 4: beyond that Blob Storage, not crypto, is the limit. */
export function defaultCryptoThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

function secondsToMs(seconds: number): number {
  return Math.max(1, Math.round(seconds * 1000));
}

function mibToBytes(mib: number): number {
  return Math.max(1, Math.round(mib * MIB));
}

/** Describes a URL that failed a check, without echoing a query string or credentials it may carry. */
function describeUrlValue(url: URL | undefined, value: string): string {
  if (url?.search || url?.hash) return "a URL with a query string (not shown)";
  if (url?.username || url?.password) return "a URL with a user name or password (not shown)";
  return describeReceived(value);
}

function parseAuth(get: (key: ConfigurationKey) => unknown, issues: Issues): StorageAuth | undefined {
  const before = issues.length;
  const has = (key: ConfigurationKey): boolean => get(key) !== undefined;

  const rawConnectionString = readString(get("ConnectionString"), keyPath("ConnectionString"), issues, {
    secret: true,
  });
  let connectionString: string | undefined;
  if (rawConnectionString !== undefined) {
    const check = checkConnectionString(rawConnectionString);
    if (check.ok) connectionString = check.canonical;
    else issues.push(expectation(CONNECTION_STRING_EXPECTATION, keyPath("ConnectionString"), check.received));
  }

  const accountUrl = parseAccountUrl(get("AccountUrl"), issues);
  const sasToken = parseSasToken(get("SasToken"), issues);
  const managedIdentityClientId = readString(
    get("ManagedIdentityClientId"),
    keyPath("ManagedIdentityClientId"),
    issues,
  );
  if (managedIdentityClientId !== undefined && !GUID.test(managedIdentityClientId)) {
    issues.push(
      expectation(
        "a client ID (a GUID such as 00000000-0000-0000-0000-000000000000)",
        keyPath("ManagedIdentityClientId"),
        describeReceived(managedIdentityClientId),
      ),
    );
  }

  const eitherKeys = `${keyPath("ConnectionString")} or ${keyPath("AccountUrl")}`;
  if (has("ConnectionString") && has("AccountUrl")) {
    issues.push(`Expected a value for exactly one of ${eitherKeys} but received both`);
  } else if (!has("ConnectionString") && !has("AccountUrl")) {
    issues.push(`Expected a value for exactly one of ${eitherKeys} but received neither`);
  }
  for (const key of ["SasToken", "ManagedIdentityClientId"] as const) {
    if (has(key) && !has("AccountUrl")) {
      issues.push(
        `Expected ${keyPath(key)} only together with ${keyPath("AccountUrl")} but received it without ${keyPath("AccountUrl")}`,
      );
    }
  }
  if (has("SasToken") && has("ManagedIdentityClientId")) {
    issues.push(
      `Expected at most one of ${keyPath("SasToken")} or ${keyPath("ManagedIdentityClientId")} but received both`,
    );
  }

  if (issues.length > before) return undefined;
  if (connectionString !== undefined) return { kind: "connection-string", connectionString };
  if (accountUrl === undefined) return undefined;
  if (sasToken !== undefined) return { kind: "sas", accountUrl, sasToken };
  return {
    kind: "token-credential",
    accountUrl,
    ...(managedIdentityClientId === undefined ? {} : { managedIdentityClientId }),
  };
}

function parseAccountUrl(value: unknown, issues: Issues): string | undefined {
  const path = keyPath("AccountUrl");
  const text = readString(value, path, issues);
  if (text === undefined) return undefined;
  const url = parseHttpUrl(text);
  if (url?.search || url?.hash) {
    issues.push(
      expectation(ACCOUNT_URL_EXPECTATION, path, describeUrlValue(url, text)) +
        `; put a SAS token in ${keyPath("SasToken")}`,
    );
    return undefined;
  }
  const secure =
    url?.protocol === "https:" || (url?.protocol === "http:" && LOOPBACK_HOSTS.includes(url.hostname));
  if (url === undefined || !secure || url.username !== "" || url.password !== "") {
    issues.push(expectation(ACCOUNT_URL_EXPECTATION, path, describeUrlValue(url, text)));
    return undefined;
  }
  return text.trim();
}

function parseSasToken(value: unknown, issues: Issues): string | undefined {
  const path = keyPath("SasToken");
  const text = readString(value, path, issues, { secret: true });
  if (text === undefined) return undefined;
  const token = text.trim().replace(/^\?/, "");
  let problem: string | undefined;
  if (token === "") problem = "an empty string";
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(token)) {
    problem = `a whole URL (not shown); put the URL in ${keyPath("AccountUrl")} and only its query string here`;
  } else if (!new URLSearchParams(token).get("sig"))
    problem = "a string without a sig= signature (not shown)";
  if (problem === undefined) return token;
  issues.push(expectation(SAS_TOKEN_EXPECTATION, path, problem));
  return undefined;
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

const LOCAL_KEY_ALGORITHMS = ["RSA-OAEP-256", "RSA-OAEP", "A256KW"] as const;

function parseLocalKey(
  get: (key: ConfigurationKey) => unknown,
  issues: Issues,
): LocalKeySettings | undefined {
  const writeKeyFile = readString(get("LocalKeyFile"), keyPath("LocalKeyFile"), issues);
  if (writeKeyFile === "") issues.push(expectation("a file path", keyPath("LocalKeyFile"), '""'));
  const algorithmValue = readString(get("LocalKeyAlgorithm"), keyPath("LocalKeyAlgorithm"), issues);
  let algorithm: LocalKeySettings["algorithm"];
  if (algorithmValue !== undefined) {
    const known = LOCAL_KEY_ALGORITHMS.find((candidate) => candidate === algorithmValue);
    if (known === undefined) {
      issues.push(
        expectation(
          `one of ${LOCAL_KEY_ALGORITHMS.map((a) => `"${a}"`).join(", ")}`,
          keyPath("LocalKeyAlgorithm"),
          describeReceived(algorithmValue),
        ),
      );
    } else {
      algorithm = known;
    }
  }
  const readOnlyValue = get("LocalKeyFilesForReading");
  const readOnlyKeyFiles: string[] = [];
  if (readOnlyValue !== undefined) {
    if (!Array.isArray(readOnlyValue) || readOnlyValue.some((f) => typeof f !== "string" || f === "")) {
      issues.push(
        expectation(
          "an array of file paths",
          keyPath("LocalKeyFilesForReading"),
          describeReceived(readOnlyValue),
        ),
      );
    } else {
      readOnlyKeyFiles.push(...(readOnlyValue as string[]));
    }
  }
  if (writeKeyFile === undefined || writeKeyFile === "") {
    if (algorithmValue !== undefined || readOnlyValue !== undefined) {
      issues.push(
        `Expected ${keyPath("LocalKeyAlgorithm")} and ${keyPath("LocalKeyFilesForReading")} only together with ${keyPath("LocalKeyFile")} but received them without it`,
      );
    }
    return undefined;
  }
  return { writeKeyFile, ...(algorithm === undefined ? {} : { algorithm }), readOnlyKeyFiles };
}

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
      `localKeyFile=${local.writeKeyFile}${local.algorithm === undefined ? "" : `(${local.algorithm})`}, readOnlyKeyFiles=${local.readOnlyKeyFiles.length}`,
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
  const state = encryption.enabled ? "on" : "off";
  return details.length === 0 ? state : `${state}(${details.join(", ")})`;
}
