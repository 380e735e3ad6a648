import { describe, expect, it } from "vitest";
import { KEY_VAULT_KEYS } from "../../../src/config/key-vault.ts";
import { CONFIGURATION_KEYS } from "../../../src/config/keys.ts";
import { parsePluginConfiguration } from "../../../src/config/parse.ts";
import type { PluginConfig } from "../../../src/config/types.ts";
import {
  ACCOUNT_KEY,
  ACCOUNT_URL,
  CLIENT_ID,
  CLIENT_SECRET,
  CONNECTION_STRING,
  CONTAINER_EXPECTATION,
  catchError,
  ENTRA_SECRET,
  expectNoSecret,
  issuesOf,
  orthanc,
  orthancWithUrl,
  parseEnabled,
  SAS_TOKEN,
  VAULT,
} from "../../support/config-fixtures.ts";

const PREFIX_EXPECTATION =
  'a blob name prefix of at most 512 characters: letters, digits, ".", "_" and "-" in segments separated by "/", without a leading "/", empty segments, or "." and ".." segments';

describe("disabled configurations", () => {
  it.each<[string, unknown]>([
    ["no section", { StorageDirectory: "/db" }],
    ["an empty configuration", {}],
    ["EnableStorage missing", { AzureBlobStorage: { ContainerName: "orthanc" } }],
    ["EnableStorage false", { AzureBlobStorage: { EnableStorage: false } }],
    [
      "EnableStorage false with otherwise invalid keys",
      { AzureBlobStorage: { EnableStorage: false, ContainerName: "Bad_Name", Bogus: 1, MaxRetries: -5 } },
    ],
  ])("%s gives {enabled: false}", (_name, configuration) => {
    expect(parsePluginConfiguration(configuration)).toEqual({ enabled: false });
  });

  it("rejects an EnableStorage that is not a boolean, even without other keys", () => {
    expect(issuesOf({ AzureBlobStorage: { EnableStorage: "yes" } })).toEqual([
      'Expected a boolean for AzureBlobStorage.EnableStorage but received "yes" (a string)',
    ]);
    expect(issuesOf({ AzureBlobStorage: { EnableStorage: 1 } })).toEqual([
      "Expected a boolean for AzureBlobStorage.EnableStorage but received 1",
    ]);
  });

  it("rejects a section that is not an object", () => {
    expect(issuesOf({ AzureBlobStorage: [] })).toEqual([
      "Expected an object for AzureBlobStorage but received an array",
    ]);
    expect(issuesOf({ AzureBlobStorage: "on" })).toEqual([
      'Expected an object for AzureBlobStorage but received "on" (a string)',
    ]);
  });

  it("rejects an Orthanc configuration that is not an object", () => {
    expect(issuesOf(null)).toEqual(["Expected an object for the Orthanc configuration but received null"]);
  });
});

describe("a minimal valid configuration", () => {
  it("converts every explicit value into the config's units", () => {
    const config = parseEnabled(
      orthanc({
        CreateContainerIfNotExists: false,
        BlobNamePrefix: "site-a",
        RequestTimeoutSeconds: 0.25,
        MaxRetries: 0,
        RetryDelayMs: 50,
        MaxRetryDelayMs: 50,
        OperationTimeoutSeconds: 600,
        MaxConcurrentRequests: 1000,
        SingleUploadThresholdMB: 1.5,
        UploadBlockSizeMB: 4000,
        UploadConcurrency: 64,
        JavaScriptHeapLimitMB: 256,
        WatchdogTimeoutSeconds: 5,
        CryptoThreads: 0,
        CryptoOffloadMinKB: 64,
        EnableTestingEndpoints: true,
        EncryptionEnabled: false,
        KeyDecayCount: 1,
        KeyPoolSize: 0,
        AzureKeyVault: VAULT,
      }),
    );
    expect(config).toEqual({
      storage: {
        auth: { kind: "connection-string", connectionString: CONNECTION_STRING },
        containerName: "orthanc",
        createContainerIfNotExists: false,
        blobNamePrefix: "site-a/",
      },
      requests: {
        requestTimeoutMs: 250,
        maxRetries: 0,
        retryDelayMs: 50,
        maxRetryDelayMs: 50,
        operationTimeoutMs: 600_000,
        maxConcurrentRequests: 1000,
        singleUploadThresholdBytes: 1_572_864,
        uploadBlockSizeBytes: 4000 * 1024 * 1024,
        uploadConcurrency: 64,
      },
      encryption: {
        enabled: false,
        keyDecayCount: 1,
        keyMaxAgeMs: 3_600_000,
        keyPoolSize: 0,
        keyPoolTtlMs: 3_600_000,
        allowUnencryptedReads: false,
        keyVault: {
          vaultUrl: "https://vault.vault.azure.net",
          keyName: "orthanc-kek",
          algorithm: "RSA-OAEP-256",
          credential: { kind: "client-secret", clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
          trustedKeys: [{ vaultUrl: "https://vault.vault.azure.net", keyName: "orthanc-kek" }],
          keyRefreshMs: 300_000,
          maxConcurrentRequests: 8,
        },
        integrity: { keys: [], strict: false },
      },
      runtime: { heapLimitMb: 256, watchdogTimeoutMs: 5000, cryptoThreads: 0, cryptoOffloadMinBytes: 65_536 },
      testing: { enableTestingEndpoints: true, inMemoryStore: false },
    } satisfies PluginConfig);
  });

  it("raises the default MaxRetryDelayMs to RetryDelayMs when that is larger", () => {
    expect(parseEnabled(orthanc({ RetryDelayMs: 20_000 })).requests.maxRetryDelayMs).toBe(20_000);
  });

  it("is deeply frozen", () => {
    const result = parsePluginConfiguration(orthanc({ AzureKeyVault: VAULT, KeyDecayCount: 3 }));
    const unfrozen: string[] = [];
    const walk = (value: unknown, path: string): void => {
      if (typeof value !== "object" || value === null) return;
      if (!Object.isFrozen(value)) unfrozen.push(path);
      for (const [key, nested] of Object.entries(value)) walk(nested, `${path}.${key}`);
    };
    walk(result, "result");
    expect(unfrozen).toEqual([]);
    if (!result.enabled) throw new Error("expected an enabled configuration");
    expect(() => {
      (result.config.storage as { containerName: string }).containerName = "other";
    }).toThrow(TypeError);
    expect(() => {
      (result.config.requests as { maxRetries: number }).maxRetries = 9;
    }).toThrow(TypeError);
    expect(() => {
      (result.config.encryption.keyVault as unknown as { keyName: string }).keyName = "x";
    }).toThrow(TypeError);
    expect(Object.isFrozen(parsePluginConfiguration({}))).toBe(true);
  });
});

describe("ConfigurationError", () => {
  it("lists every issue in its message, one per line", () => {
    const error = catchError(orthanc({ MaxRetries: 21, Bogus: true }));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ConfigurationError");
    expect(error.message).toBe(
      'Invalid "AzureBlobStorage" configuration:\n' +
        "  - Expected an integer from 0 to 20 for AzureBlobStorage.MaxRetries but received 21\n" +
        `  - Unknown key AzureBlobStorage.Bogus; expected one of: ${CONFIGURATION_KEYS.join(", ")}`,
    );
    expect(Object.isFrozen(error.issues)).toBe(true);
  });

  it("reports all problems at once", () => {
    const issues = issuesOf(
      orthanc({
        ContainerName: undefined,
        CreateContainerIfNotExists: "yes",
        MaxConcurrentRequests: 0,
        UploadBlockSizeMB: 0,
        EncryptionEnabled: true,
        KeyDecayCount: -1,
        AzureKeyVault: { ...VAULT, baseUrl: 42 },
        ContainerNam: "orthanc",
      }),
    );
    expect(issues).toEqual([
      `Expected ${CONTAINER_EXPECTATION} for AzureBlobStorage.ContainerName but received nothing (the key is required when EnableStorage is true)`,
      'Expected a boolean for AzureBlobStorage.CreateContainerIfNotExists but received "yes" (a string)',
      "Expected an integer from 1 to 1000 for AzureBlobStorage.MaxConcurrentRequests but received 0",
      "Expected a number from 1 to 4000 for AzureBlobStorage.UploadBlockSizeMB but received 0",
      "Expected an integer of 1 or more for AzureBlobStorage.KeyDecayCount but received -1",
      "Expected a string for AzureBlobStorage.AzureKeyVault.baseUrl but received 42",
      `Unknown key AzureBlobStorage.ContainerNam; expected one of: ${CONFIGURATION_KEYS.join(", ")} (did you mean ContainerName?)`,
    ]);
    expect(issues).toHaveLength(7);
  });
});

describe("type errors", () => {
  it.each<[string, unknown, string]>([
    [
      "EnableStorage",
      "true",
      'Expected a boolean for AzureBlobStorage.EnableStorage but received "true" (a string)',
    ],
    ["EncryptionEnabled", 0, "Expected a boolean for AzureBlobStorage.EncryptionEnabled but received 0"],
    [
      "CreateContainerIfNotExists",
      null,
      "Expected a boolean for AzureBlobStorage.CreateContainerIfNotExists but received null",
    ],
    [
      "EnableTestingEndpoints",
      ["x"],
      "Expected a boolean for AzureBlobStorage.EnableTestingEndpoints but received an array",
    ],
    ["ContainerName", 42, "Expected a string for AzureBlobStorage.ContainerName but received 42"],
    [
      "BlobNamePrefix",
      { a: 1 },
      "Expected a string for AzureBlobStorage.BlobNamePrefix but received an object",
    ],
    [
      "ConnectionString",
      12345,
      "Expected a string for AzureBlobStorage.ConnectionString but received a number",
    ],
    [
      "ConnectionString",
      true,
      "Expected a string for AzureBlobStorage.ConnectionString but received a boolean",
    ],
    ["ConnectionString", null, "Expected a string for AzureBlobStorage.ConnectionString but received null"],
    ["ConnectionString", [], "Expected a string for AzureBlobStorage.ConnectionString but received an array"],
    [
      "RequestTimeoutSeconds",
      "30",
      'Expected a number greater than 0 and at most 3600 for AzureBlobStorage.RequestTimeoutSeconds but received "30" (a string)',
    ],
    [
      "MaxRetries",
      true,
      "Expected an integer from 0 to 20 for AzureBlobStorage.MaxRetries but received true",
    ],
    [
      "RetryDelayMs",
      null,
      "Expected an integer from 1 to 60000 for AzureBlobStorage.RetryDelayMs but received null",
    ],
    [
      "MaxRetryDelayMs",
      "1s",
      'Expected an integer from 200 to 300000 for AzureBlobStorage.MaxRetryDelayMs but received "1s" (a string)',
    ],
    [
      "OperationTimeoutSeconds",
      {},
      "Expected a number greater than 0 and at most 86400 for AzureBlobStorage.OperationTimeoutSeconds but received an object",
    ],
    [
      "MaxConcurrentRequests",
      "32",
      'Expected an integer from 1 to 1000 for AzureBlobStorage.MaxConcurrentRequests but received "32" (a string)',
    ],
    [
      "SingleUploadThresholdMB",
      false,
      "Expected a number greater than 0 and at most 5000 for AzureBlobStorage.SingleUploadThresholdMB but received false",
    ],
    [
      "UploadBlockSizeMB",
      [8],
      "Expected a number from 1 to 4000 for AzureBlobStorage.UploadBlockSizeMB but received an array",
    ],
    [
      "UploadConcurrency",
      "4",
      'Expected an integer from 1 to 64 for AzureBlobStorage.UploadConcurrency but received "4" (a string)',
    ],
    [
      "JavaScriptHeapLimitMB",
      "2GB",
      'Expected an integer from 256 to 65536 for AzureBlobStorage.JavaScriptHeapLimitMB but received "2GB" (a string)',
    ],
    [
      "KeyDecayCount",
      "10",
      'Expected an integer of 1 or more for AzureBlobStorage.KeyDecayCount but received "10" (a string)',
    ],
    [
      "KeyPoolSize",
      null,
      "Expected an integer of 0 or more for AzureBlobStorage.KeyPoolSize but received null",
    ],
    [
      "AzureKeyVault",
      "vault",
      'Expected an object for AzureBlobStorage.AzureKeyVault but received "vault" (a string)',
    ],
    ["AzureKeyVault", [], "Expected an object for AzureBlobStorage.AzureKeyVault but received an array"],
  ])("%s = %j", (key, value, message) => {
    expect(issuesOf(orthanc({ [key]: value }))).toEqual([message]);
  });

  it.each<[string, unknown, string]>([
    ["baseUrl", false, "Expected a string for AzureBlobStorage.AzureKeyVault.baseUrl but received false"],
    ["clientId", 1, "Expected a string for AzureBlobStorage.AzureKeyVault.clientId but received 1"],
    [
      "clientSecret",
      42,
      "Expected a string for AzureBlobStorage.AzureKeyVault.clientSecret but received a number",
    ],
    [
      "clientSecret",
      { value: CLIENT_SECRET },
      "Expected a string for AzureBlobStorage.AzureKeyVault.clientSecret but received an object",
    ],
    ["kid", null, "Expected a string for AzureBlobStorage.AzureKeyVault.kid but received null"],
  ])("AzureKeyVault.%s = %j", (key, value, message) => {
    expect(
      issuesOf(orthanc({ AzureKeyVault: { ...VAULT, kid: `${VAULT.baseUrl}/keys/k`, [key]: value } })),
    ).toEqual([message]);
  });

  it("shows at most 60 characters of a string", () => {
    expect(issuesOf(orthanc({ EnableTestingEndpoints: "x".repeat(100) }))).toEqual([
      `Expected a boolean for AzureBlobStorage.EnableTestingEndpoints but received "${"x".repeat(57)}..." (a string)`,
    ]);
  });
});

describe("range errors", () => {
  it.each<[string, unknown, string]>([
    ["RequestTimeoutSeconds", 0, "a number greater than 0 and at most 3600"],
    ["RequestTimeoutSeconds", -1, "a number greater than 0 and at most 3600"],
    ["RequestTimeoutSeconds", 3601, "a number greater than 0 and at most 3600"],
    ["MaxRetries", -1, "an integer from 0 to 20"],
    ["MaxRetries", 21, "an integer from 0 to 20"],
    ["MaxRetries", 1.5, "an integer from 0 to 20"],
    ["RetryDelayMs", 0, "an integer from 1 to 60000"],
    ["RetryDelayMs", 60001, "an integer from 1 to 60000"],
    ["MaxRetryDelayMs", 300001, "an integer from 200 to 300000"],
    ["MaxRetryDelayMs", 1000.5, "an integer from 200 to 300000"],
    ["OperationTimeoutSeconds", 0, "a number greater than 0 and at most 86400"],
    ["OperationTimeoutSeconds", 86401, "a number greater than 0 and at most 86400"],
    ["MaxConcurrentRequests", 0, "an integer from 1 to 1000"],
    ["MaxConcurrentRequests", 1001, "an integer from 1 to 1000"],
    ["SingleUploadThresholdMB", 0, "a number greater than 0 and at most 5000"],
    ["SingleUploadThresholdMB", 5001, "a number greater than 0 and at most 5000"],
    ["UploadBlockSizeMB", 0.5, "a number from 1 to 4000"],
    ["UploadBlockSizeMB", 4001, "a number from 1 to 4000"],
    ["UploadConcurrency", 0, "an integer from 1 to 64"],
    ["UploadConcurrency", 65, "an integer from 1 to 64"],
    ["UploadConcurrency", 2.5, "an integer from 1 to 64"],
    ["JavaScriptHeapLimitMB", 255, "an integer from 256 to 65536"],
    ["JavaScriptHeapLimitMB", 65537, "an integer from 256 to 65536"],
    ["CryptoThreads", -1, "an integer from 0 to 64"],
    ["CryptoThreads", 65, "an integer from 0 to 64"],
    ["CryptoThreads", 1.5, "an integer from 0 to 64"],
    ["CryptoOffloadMinKB", -1, "an integer from 0 to 1048576"],
    ["CryptoOffloadMinKB", 1048577, "an integer from 0 to 1048576"],
    ["KeyDecayCount", -1, "an integer of 1 or more"],
    ["KeyDecayCount", 2.5, "an integer of 1 or more"],
    ["KeyPoolSize", -1, "an integer of 0 or more"],
    ["KeyPoolSize", 0.5, "an integer of 0 or more"],
  ])("%s = %j", (key, value, expected) => {
    expect(issuesOf(orthanc({ [key]: value }))).toEqual([
      `Expected ${expected} for AzureBlobStorage.${key} but received ${String(value)}`,
    ]);
  });

  it("refuses KeyDecayCount 0, which the old plugin read as 'forever'", () => {
    expect(issuesOf(orthanc({ KeyDecayCount: 0 }))).toEqual([
      'Expected an integer of 1 or more for AzureBlobStorage.KeyDecayCount but received 0 (0 no longer means "forever")',
    ]);
  });

  it("refuses a MaxRetryDelayMs below RetryDelayMs", () => {
    expect(issuesOf(orthanc({ RetryDelayMs: 500, MaxRetryDelayMs: 100 }))).toEqual([
      "Expected an integer from 500 to 300000 for AzureBlobStorage.MaxRetryDelayMs but received 100, which is less than AzureBlobStorage.RetryDelayMs (500)",
    ]);
    expect(issuesOf(orthanc({ MaxRetryDelayMs: 199 }))).toEqual([
      "Expected an integer from 200 to 300000 for AzureBlobStorage.MaxRetryDelayMs but received 199, which is less than AzureBlobStorage.RetryDelayMs (200)",
    ]);
  });

  it("accepts the bounds themselves", () => {
    const config = parseEnabled(
      orthanc({
        RequestTimeoutSeconds: 3600,
        MaxRetries: 20,
        RetryDelayMs: 60000,
        MaxRetryDelayMs: 300000,
        OperationTimeoutSeconds: 86400,
        MaxConcurrentRequests: 1,
        SingleUploadThresholdMB: 5000,
        UploadBlockSizeMB: 1,
        UploadConcurrency: 1,
        JavaScriptHeapLimitMB: 65536,
        CryptoThreads: 64,
      }),
    );
    expect(config.requests).toEqual({
      requestTimeoutMs: 3_600_000,
      maxRetries: 20,
      retryDelayMs: 60_000,
      maxRetryDelayMs: 300_000,
      operationTimeoutMs: 86_400_000,
      maxConcurrentRequests: 1,
      singleUploadThresholdBytes: 5000 * 1024 * 1024,
      uploadBlockSizeBytes: 1024 * 1024,
      uploadConcurrency: 1,
    });
    expect(config.runtime.heapLimitMb).toBe(65536);
    expect(config.runtime.cryptoThreads).toBe(64);
  });
});

describe("EncryptionEnabled", () => {
  it("needs a key-encryption key when true", () => {
    expect(issuesOf(orthanc({ EncryptionEnabled: true }))).toEqual([
      "Expected AzureBlobStorage.AzureKeyVault or AzureBlobStorage.LocalKeyFile when AzureBlobStorage.EncryptionEnabled is true but received neither",
    ]);
  });

  it("accepts the old plugin's Key Vault section as it is", () => {
    const encryption = parseEnabled(orthanc({ EncryptionEnabled: true, AzureKeyVault: VAULT })).encryption;
    expect(encryption.enabled).toBe(true);
    expect(encryption.keyVault?.credential).toEqual({
      kind: "client-secret",
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
    });
  });

  it("refuses two key-encryption keys at once", () => {
    expect(
      issuesOf(orthanc({ EncryptionEnabled: true, AzureKeyVault: VAULT, LocalKeyFile: "/k.pem" })),
    ).toEqual([
      "Expected one key-encryption key, AzureBlobStorage.AzureKeyVault or AzureBlobStorage.LocalKeyFile, but received both",
    ]);
  });

  it.each([
    [
      { KeyMaxAgeSeconds: 0 },
      "Expected a number from 1 to 604800 for AzureBlobStorage.KeyMaxAgeSeconds but received 0",
    ],
    [
      { KeyPoolTtlSeconds: -5 },
      "Expected a number from 1 to 604800 for AzureBlobStorage.KeyPoolTtlSeconds but received -5",
    ],
    [
      { AllowUnencryptedReads: "no" },
      'Expected a boolean for AzureBlobStorage.AllowUnencryptedReads but received "no" (a string)',
    ],
  ])("rejects %j", (section, message) => {
    expect(issuesOf(orthanc(section))).toEqual([message]);
  });
});

describe("ContainerName", () => {
  it("is required", () => {
    expect(issuesOf(orthanc({ ContainerName: undefined }))).toEqual([
      `Expected ${CONTAINER_EXPECTATION} for AzureBlobStorage.ContainerName but received nothing (the key is required when EnableStorage is true)`,
    ]);
  });

  it.each(["abc", "a-b-c", "123", "orthanc-2024", "a".repeat(63)])("accepts %s", (name) => {
    expect(parseEnabled(orthanc({ ContainerName: name })).storage.containerName).toBe(name);
  });

  it.each<[string, string]>([
    ["", '"" (a string), which has 0 characters'],
    ["ab", '"ab" (a string), which has 2 characters'],
    ["a".repeat(64), `"${"a".repeat(57)}..." (a string), which has 64 characters`],
    ["My-Container", '"My-Container" (a string), which contains uppercase letters'],
    ["my_container", '"my_container" (a string), which contains "_"'],
    ["my container", '"my container" (a string), which contains " "'],
    ["orthanc.data", '"orthanc.data" (a string), which contains "."'],
    ["-orthanc", '"-orthanc" (a string), which starts with a hyphen'],
    ["orthanc-", '"orthanc-" (a string), which ends with a hyphen'],
    ["orth--anc", '"orth--anc" (a string), which contains consecutive hyphens'],
  ])("refuses %j", (name, received) => {
    expect(issuesOf(orthanc({ ContainerName: name }))).toEqual([
      `Expected ${CONTAINER_EXPECTATION} for AzureBlobStorage.ContainerName but received ${received}`,
    ]);
  });
});

describe("BlobNamePrefix", () => {
  it.each<[string, string]>([
    ["", ""],
    ["orthanc-a", "orthanc-a/"],
    ["orthanc-a/", "orthanc-a/"],
    ["site.1/Orthanc_A", "site.1/Orthanc_A/"],
    ["a/b/c/", "a/b/c/"],
    ["...", ".../"],
    ["x".repeat(512), `${"x".repeat(512)}/`],
  ])("normalises %j to %j", (prefix, normalised) => {
    expect(parseEnabled(orthanc({ BlobNamePrefix: prefix })).storage.blobNamePrefix).toBe(normalised);
  });

  it.each<[string, string]>([
    ["/orthanc", '"/orthanc" (a string), which starts with "/"'],
    ["/", '"/" (a string), which starts with "/"'],
    ["a//b", '"a//b" (a string), which contains an empty segment ("//")'],
    ["a/b//", '"a/b//" (a string), which contains an empty segment ("//")'],
    ["a/./b", '"a/./b" (a string), which contains a "." or ".." segment'],
    ["..", '".." (a string), which contains a "." or ".." segment'],
    ["a/..", '"a/.." (a string), which contains a "." or ".." segment'],
    ["a b", '"a b" (a string), which contains " "'],
    ["a\\b", '"a\\\\b" (a string), which contains "\\\\"'],
    ["données", '"données" (a string), which contains "é"'],
    ["x".repeat(513), `"${"x".repeat(57)}..." (a string), which has 513 characters`],
  ])("refuses %j", (prefix, received) => {
    expect(issuesOf(orthanc({ BlobNamePrefix: prefix }))).toEqual([
      `Expected ${PREFIX_EXPECTATION} for AzureBlobStorage.BlobNamePrefix but received ${received}`,
    ]);
  });
});

describe("AzureKeyVault (details in key-vault.test.ts)", () => {
  it("refuses unknown keys, suggesting the right spelling", () => {
    expect(issuesOf(orthanc({ AzureKeyVault: { ...VAULT, ClientSecret: CLIENT_SECRET } }))).toEqual([
      `Unknown key AzureBlobStorage.AzureKeyVault.ClientSecret; expected one of: ${KEY_VAULT_KEYS.join(", ")} (did you mean clientSecret?)`,
    ]);
  });
});

describe("secrets", () => {
  const failing: [string, unknown][] = [
    ["a valid connection string with other invalid keys", orthanc({ MaxRetries: -1, Bogus: ACCOUNT_KEY })],
    ["a connection string without AccountName", orthanc({ ConnectionString: `AccountKey=${ACCOUNT_KEY}` })],
    [
      "a connection string with a bare key",
      orthanc({ ConnectionString: `AccountName=a;${ACCOUNT_KEY}`, ContainerName: "X" }),
    ],
    [
      "a connection string with an odd part name",
      orthanc({ ConnectionString: `AccountName=a;${CLIENT_SECRET}=${ACCOUNT_KEY}` }),
    ],
    [
      "a connection string with a misspelt AccountKey",
      orthanc({ ConnectionString: `AccountName=a;AccountKye=${ACCOUNT_KEY}` }),
    ],
    [
      "a connection string with a doubled AccountKey",
      orthanc({ ConnectionString: `AccountName=a;AccountKey=${ACCOUNT_KEY};AccountKey=${ACCOUNT_KEY}` }),
    ],
    ["a non-base64 AccountKey", orthanc({ ConnectionString: `AccountName=a;AccountKey=${CLIENT_SECRET}` })],
    [
      "a connection string with both AccountUrl and a SAS",
      orthanc({ AccountUrl: ACCOUNT_URL, SasToken: SAS_TOKEN }),
    ],
    [
      "a connection string pasted into AccountUrl",
      orthanc({ ConnectionString: undefined, AccountUrl: CONNECTION_STRING }),
    ],
    ["a connection string pasted into ContainerName", orthanc({ ContainerName: CONNECTION_STRING })],
    ["a connection string pasted into BlobNamePrefix", orthanc({ BlobNamePrefix: CONNECTION_STRING })],
    ["a connection string as an unknown key's value", orthanc({ ConectionString: CONNECTION_STRING })],
    ["a SAS URL as AccountUrl", orthancWithUrl({ AccountUrl: `${ACCOUNT_URL}?${SAS_TOKEN}` })],
    ["a SAS URL as SasToken", orthancWithUrl({ SasToken: `${ACCOUNT_URL}?${SAS_TOKEN}` })],
    ["a SAS token without AccountUrl", orthanc({ SasToken: SAS_TOKEN })],
    [
      "a SAS token with a wrong ManagedIdentityClientId",
      orthancWithUrl({ SasToken: SAS_TOKEN, ManagedIdentityClientId: 3 }),
    ],
    [
      "a client secret with invalid Key Vault keys",
      orthanc({ AzureKeyVault: { clientSecret: CLIENT_SECRET, baseUrl: "http://v", secret: CLIENT_SECRET } }),
    ],
    ["a client secret in a wrongly cased key", orthanc({ AzureKeyVault: { ClientSecret: CLIENT_SECRET } })],
    [
      "a client secret as a number-like object",
      orthanc({ AzureKeyVault: { clientSecret: [CLIENT_SECRET] } }),
    ],
    [
      "a client secret with EncryptionEnabled",
      orthanc({ EncryptionEnabled: true, AzureKeyVault: { clientSecret: CLIENT_SECRET } }),
    ],
    [
      "the client secret pasted into clientId",
      orthanc({ AzureKeyVault: { ...VAULT, clientId: CLIENT_SECRET } }),
    ],
    [
      "a client secret pasted into clientId",
      orthanc({ AzureKeyVault: { ...VAULT, clientId: ENTRA_SECRET } }),
    ],
    [
      "a client secret pasted into tenantId",
      orthanc({ AzureKeyVault: { ...VAULT, tenantId: ENTRA_SECRET } }),
    ],
    [
      "a client secret pasted into ManagedIdentityClientId",
      orthancWithUrl({ ManagedIdentityClientId: ENTRA_SECRET }),
    ],
  ];

  it.each(failing)("never appear in errors: %s", (_name, configuration) => {
    const error = catchError(configuration);
    expectNoSecret(error.message);
    expectNoSecret(error.issues.join("\n"));
    expectNoSecret(String(error.stack));
  });
});
