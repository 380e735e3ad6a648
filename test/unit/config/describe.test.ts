import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { describeConfiguration } from "../../../src/config/describe.ts";
import type { PluginConfig } from "../../../src/config/types.ts";
import {
  ACCOUNT_KEY,
  ACCOUNT_URL,
  CLIENT_ID,
  CLIENT_SECRET,
  expectNoSecret,
  orthanc,
  orthancWithUrl,
  parseEnabled,
  SAS_SIGNATURE,
  SAS_TOKEN,
  VAULT,
} from "../../support/config-fixtures.ts";

describe("describeConfiguration", () => {
  it("describes the defaults on one line", () => {
    expect(describeConfiguration(parseEnabled(orthanc()))).toBe(
      "auth=connection-string(DefaultEndpointsProtocol=https;AccountName=myaccount;AccountKey=<redacted>;EndpointSuffix=core.windows.net), " +
        'container=orthanc, blobNamePrefix="", createContainerIfNotExists=true, requestTimeoutMs=30000, maxRetries=3, ' +
        "retryDelayMs=200..10000, operationTimeoutMs=120000, maxConcurrentRequests=32, " +
        "singleUploadThresholdBytes=33554432, uploadBlockSizeBytes=8388608, uploadConcurrency=4, " +
        "encryption=off(keyDecayCount=1000, keyMaxAgeMs=3600000, keyPoolSize=1000, keyPoolTtlMs=3600000, allowUnencryptedReads=false, integrity(keys=none, strict=false)), " +
        `cryptoThreads=${Math.max(1, Math.min(4, availableParallelism()))}, cryptoOffloadMinBytes=1048576, heapLimitMb=2048, watchdogTimeoutMs=30000, testingEndpoints=false`,
    );
  });

  it("describes SAS and token-credential auth, and the Key Vault settings", () => {
    const sas = describeConfiguration(
      parseEnabled(
        orthancWithUrl({
          SasToken: SAS_TOKEN,
          KeyDecayCount: 5,
          AzureKeyVault: VAULT,
        }),
      ),
    );
    expect(sas).toContain(`auth=sas(accountUrl=${ACCOUNT_URL}, sasToken=<redacted>)`);
    expect(sas).toContain(
      "encryption=off(keyDecayCount=5, keyMaxAgeMs=3600000, keyPoolSize=1000, keyPoolTtlMs=3600000, allowUnencryptedReads=false, " +
        `keyVault(key=https://vault.vault.azure.net/keys/orthanc-kek (latest), algorithm=RSA-OAEP-256, client-secret(clientId=${CLIENT_ID}, clientSecret=<redacted>, tenantId=<from the vault's challenge>), trustedKeys=1, keyRefreshMs=300000, maxConcurrentRequests=8), integrity(keys=none, strict=false))`,
    );
    const sealed = describeConfiguration(
      parseEnabled(
        orthanc({
          EncryptionEnabled: true,
          LocalKeyFile: "/kek.pem",
          IntegrityKeys: [
            { File: "/etc/orthanc/ik.key" },
            { KeyId: "local:aes:x", EncryptedKey: "AAAA", Algorithm: "A256KW" },
          ],
          LegacyBlobsModifiedBefore: "2026-01-01T00:00:00Z",
        }),
      ),
    );
    // Wrapped integrity keys are named by their kind only: nothing of the key is printed.
    expect(sealed).toContain(
      "integrity(keys=file:/etc/orthanc/ik.key|wrapped, strict=true, legacyBlobsModifiedBefore=2026-01-01T00:00:00.000Z)",
    );
    expect(sealed).not.toContain("AAAA");
    const clientId = "0f0e0d0c-0b0a-0908-0706-050403020100";
    expect(
      describeConfiguration(parseEnabled(orthancWithUrl({ ManagedIdentityClientId: clientId }))),
    ).toContain(`auth=token-credential(accountUrl=${ACCOUNT_URL}, managedIdentityClientId=${clientId})`);
    const sasConnectionString = describeConfiguration(
      parseEnabled(
        orthanc({ ConnectionString: `BlobEndpoint=${ACCOUNT_URL};SharedAccessSignature=${SAS_TOKEN}` }),
      ),
    );
    expect(sasConnectionString).toContain(
      `auth=connection-string(BlobEndpoint=${ACCOUNT_URL};SharedAccessSignature=<redacted>)`,
    );
  });

  it("redacts secrets even in a config it did not parse", () => {
    const config = parseEnabled(orthanc());
    const handMade: PluginConfig = {
      ...config,
      storage: {
        ...config.storage,
        auth: {
          kind: "connection-string",
          connectionString: `${ACCOUNT_KEY};Weird=${CLIENT_SECRET};BlobEndpoint=https://x.example/?sig=${SAS_SIGNATURE}`,
        },
      },
    };
    expect(describeConfiguration(handMade)).toContain(
      "auth=connection-string(<redacted>;<redacted>;BlobEndpoint=https://x.example?<redacted>)",
    );
  });
});

describe("secrets", () => {
  it.each<[string, unknown]>([
    ["an account-key connection string", orthanc({ AzureKeyVault: VAULT })],
    [
      "a SAS connection string",
      orthanc({ ConnectionString: `BlobEndpoint=${ACCOUNT_URL};SharedAccessSignature=${SAS_TOKEN}` }),
    ],
    ["a SAS token", orthancWithUrl({ SasToken: `?${SAS_TOKEN}` })],
  ])("never appear in describeConfiguration: %s", (_name, configuration) => {
    expectNoSecret(describeConfiguration(parseEnabled(configuration)));
  });
});
