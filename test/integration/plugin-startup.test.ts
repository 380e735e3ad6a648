/**
 * Startup through Orthanc: a bad configuration stops Orthanc with the key named; a
 * disabled plugin leaves Orthanc's own storage in place.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite } from "../support/azurite.ts";
import { generateMr } from "../support/dicom.ts";
import { getBuffer, startOrthanc, startOrthancExpectingFailure, uploadInstance } from "../support/orthanc.ts";
import { PLUGIN_PATH, pluginSection } from "../support/plugin.ts";
import { scratchDirs } from "../support/scratch.ts";

const scratchDir = scratchDirs();
let azurite: Awaited<ReturnType<typeof startAzurite>>;

beforeAll(async () => {
  azurite = await startAzurite();
});

afterAll(async () => {
  await azurite?.dispose();
});

describe("a bad configuration stops Orthanc with a message naming the key", () => {
  it.each([
    [
      "a non-boolean EnableStorage (checked by the shim before Node starts)",
      { EnableStorage: "yes" },
      'Expected a boolean for AzureBlobStorage.EnableStorage but received "yes" (a string)',
    ],
    ["an invalid container name", { ContainerName: "Bad_Name" }, "AzureBlobStorage.ContainerName"],
    [
      "EncryptionEnabled: true without a key",
      { EncryptionEnabled: true },
      "Expected AzureBlobStorage.AzureKeyVault or AzureBlobStorage.LocalKeyFile when AzureBlobStorage.EncryptionEnabled is true but received neither",
    ],
    [
      "a key file that does not exist",
      { EncryptionEnabled: true, LocalKeyFile: "/nonexistent/kek.pem" },
      "/nonexistent/kek.pem",
    ],
    ["a misspelt key", { ContainerNam: "x" }, "Unknown key AzureBlobStorage.ContainerNam"],
    [
      "a heap limit out of range",
      { JavaScriptHeapLimitMB: 10 },
      "Expected an integer from 256 to 65536 for AzureBlobStorage.JavaScriptHeapLimitMB but received 10",
    ],
  ])("%s", async (_name, overrides, expected) => {
    const result = await startOrthancExpectingFailure({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: pluginSection(azurite.connectionString, overrides),
    });
    expect(result.code).not.toBe(0);
    expect(result.log).toContain(expected);
  });

  it("refuses a key file that holds no usable key, naming the file and not its content", async () => {
    const dir = scratchDir("oabs-badkey-");
    const file = join(dir, "kek.pem");
    writeFileSync(
      file,
      "-----BEGIN PRIVATE KEY-----\nTm90QUtleUF0QWxsU2VjcmV0Q29udGVudA==\n-----END PRIVATE KEY-----\n",
    );
    const result = await startOrthancExpectingFailure({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: pluginSection(azurite.connectionString, {
        EncryptionEnabled: true,
        LocalKeyFile: file,
      }),
    });
    expect(result.code).not.toBe(0);
    expect(result.log).toContain(file);
    expect(result.log).not.toContain("Tm90QUtleUF0QWxsU2VjcmV0Q29udGVudA");
  });

  it("reports every problem at once", async () => {
    const result = await startOrthancExpectingFailure({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: pluginSection(azurite.connectionString, {
        ContainerName: "x",
        MaxRetries: -1,
        UploadConcurrency: 0,
      }),
    });
    expect(result.log).toContain("AzureBlobStorage.ContainerName");
    expect(result.log).toContain("AzureBlobStorage.MaxRetries");
    expect(result.log).toContain("AzureBlobStorage.UploadConcurrency");
  });

  it("never writes the account key to the log", async () => {
    const result = await startOrthancExpectingFailure({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: pluginSection(azurite.connectionString, { ContainerName: "Bad_Name" }),
    });
    expect(result.log).toContain("AzureBlobStorage.ContainerName");
    expect(result.log).not.toContain(azurite.accountKey);
  });

  it("refuses to start when the container is missing and creating it is not allowed", async () => {
    const result = await startOrthancExpectingFailure({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: pluginSection(azurite.connectionString, {
        ContainerName: "never-created",
        CreateContainerIfNotExists: false,
      }),
    });
    expect(result.log).toMatch(/never-created/);
    expect(result.log).toContain("CreateContainerIfNotExists");
  });

  it("refuses to start when Blob Storage cannot be reached, saying so", async () => {
    const result = await startOrthancExpectingFailure({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: pluginSection(azurite.connectionString.replace(`:${azurite.blobPort}/`, ":9/"), {
        MaxRetries: 0,
        RequestTimeoutSeconds: 2,
        OperationTimeoutSeconds: 5,
      }),
    });
    expect(result.code).not.toBe(0);
    expect(result.log).toMatch(/AzureBlobStorage: cannot start: .*(unavailable|ECONNREFUSED|connect)/i);
  });
});

describe("EnableStorage not true", () => {
  it("warns and leaves Orthanc's own storage in place", async () => {
    const orthanc = await startOrthanc({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: pluginSection(azurite.connectionString, { EnableStorage: false }),
    });
    try {
      expect(orthanc.log()).toContain("AzureBlobStorage.EnableStorage is not true");
      const mr = generateMr({ seed: 7 });
      const { ID } = await uploadInstance(orthanc.url, mr.bytes);
      expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), mr.bytes)).toBe(0);
      expect((await fetch(`${orthanc.url}/azure-blob-storage/status`)).status).toBe(404);
    } finally {
      await orthanc.stop();
    }
  });
});

describe("InMemoryStoreForTesting", () => {
  it("stores and reads through the plugin without touching Blob Storage, and says so loudly", async () => {
    const orthanc = await startOrthanc({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: pluginSection(azurite.connectionString, {
        ContainerName: "never-touched",
        InMemoryStoreForTesting: true,
      }),
    });
    try {
      expect(orthanc.log()).toContain("InMemoryStoreForTesting is true");
      const mr = generateMr({ seed: 8 });
      const { ID } = await uploadInstance(orthanc.url, mr.bytes);
      expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), mr.bytes)).toBe(0);
      const status = (await (await fetch(`${orthanc.url}/azure-blob-storage/status`)).json()) as {
        operations: { create: { calls: number } };
      };
      expect(status.operations.create.calls).toBe(1);
      const { BlobServiceClient } = await import("@azure/storage-blob");
      const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
        "never-touched",
      );
      expect(await container.exists()).toBe(false);
    } finally {
      await orthanc.stop();
    }
  });
});
