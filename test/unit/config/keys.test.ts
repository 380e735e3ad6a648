import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import {
  CONFIGURATION_DEFAULTS,
  CONFIGURATION_KEYS,
  CONFIGURATION_SECTION,
  defaultCryptoThreads,
  keyPath,
} from "../../../src/config/keys.ts";
import { type ParsedConfiguration, parsePluginConfiguration } from "../../../src/config/parse.ts";
import {
  CONNECTION_STRING,
  CONTAINER_EXPECTATION,
  issuesOf,
  orthanc,
} from "../../support/config-fixtures.ts";

describe("the key catalogue", () => {
  it("names the section and every key path in it", () => {
    expect(CONFIGURATION_SECTION).toBe("AzureBlobStorage");
    expect(keyPath("ContainerName")).toBe("AzureBlobStorage.ContainerName");
  });

  it("lists every key once, and has a default only for a listed key", () => {
    expect(new Set(CONFIGURATION_KEYS).size).toBe(CONFIGURATION_KEYS.length);
    const listed: readonly string[] = CONFIGURATION_KEYS;
    expect(Object.keys(CONFIGURATION_DEFAULTS).filter((key) => !listed.includes(key))).toEqual([]);
  });

  it("runs one crypto thread per core, 1 to 4", () => {
    expect(defaultCryptoThreads()).toBe(Math.max(1, Math.min(4, availableParallelism())));
  });
});

describe("a minimal valid configuration", () => {
  it("gets every default", () => {
    const result = parsePluginConfiguration(orthanc());
    expect(result).toEqual({
      enabled: true,
      config: {
        storage: {
          auth: { kind: "connection-string", connectionString: CONNECTION_STRING },
          containerName: "orthanc",
          createContainerIfNotExists: true,
          blobNamePrefix: "",
        },
        requests: {
          requestTimeoutMs: 30_000,
          maxRetries: 3,
          retryDelayMs: 200,
          maxRetryDelayMs: 10_000,
          operationTimeoutMs: 120_000,
          maxConcurrentRequests: 32,
          singleUploadThresholdBytes: 32 * 1024 * 1024,
          uploadBlockSizeBytes: 8 * 1024 * 1024,
          uploadConcurrency: 4,
        },
        encryption: {
          enabled: false,
          keyDecayCount: 1000,
          keyMaxAgeMs: 3_600_000,
          keyPoolSize: 1000,
          keyPoolTtlMs: 3_600_000,
          allowUnencryptedReads: false,
          integrity: { keys: [], strict: false },
        },
        runtime: {
          heapLimitMb: 2048,
          watchdogTimeoutMs: 30_000,
          cryptoThreads: Math.max(1, Math.min(4, availableParallelism())),
          cryptoOffloadMinBytes: 1024 * 1024,
        },
        testing: { enableTestingEndpoints: false, inMemoryStore: false },
      },
    } satisfies ParsedConfiguration);
  });
});

describe("unknown keys", () => {
  const known = CONFIGURATION_KEYS.join(", ");

  it.each<[string, string]>([
    ["ContainerNam", " (did you mean ContainerName?)"],
    ["containername", " (did you mean ContainerName?)"],
    ["MaxRetry", " (did you mean MaxRetries?)"],
    ["EnableStorge", " (did you mean EnableStorage?)"],
    ["BlobNamePrefx", " (did you mean BlobNamePrefix?)"],
    ["StorageEncryption", ""],
    ["Foo", ""],
  ])("refuses %s", (key, suggestion) => {
    expect(issuesOf(orthanc({ [key]: 1 }))).toEqual([
      `Unknown key AzureBlobStorage.${key}; expected one of: ${known}${suggestion}`,
    ]);
  });

  it("does not treat inherited names as known", () => {
    expect(issuesOf(JSON.parse('{"AzureBlobStorage": {"EnableStorage": true, "__proto__": {}}}'))).toEqual([
      "Expected a value for exactly one of AzureBlobStorage.ConnectionString or AzureBlobStorage.AccountUrl but received neither",
      `Expected ${CONTAINER_EXPECTATION} for AzureBlobStorage.ContainerName but received nothing (the key is required when EnableStorage is true)`,
      `Unknown key AzureBlobStorage.__proto__; expected one of: ${known}`,
    ]);
  });
});
