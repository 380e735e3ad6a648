/**
 * Turning encryption on for a container that already holds plain blobs, across Orthanc
 * restarts on the same index: reads follow each blob's metadata, never the current setting.
 */
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite } from "../support/azurite.ts";
import { generateMr } from "../support/dicom.ts";
import { getBuffer, type OrthancInstance, startOrthanc, uploadInstance } from "../support/orthanc.ts";
import { PLUGIN_PATH, pluginSection } from "../support/plugin.ts";
import { scratchDirs } from "../support/scratch.ts";

const scratchDir = scratchDirs();
const ORTHANC_CORRUPTED_FILE = 20;
const ORTHANC_STORAGE_AREA_PLUGIN = 32;

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let keyFile: string;
let workDir: string | undefined;
const plain = generateMr({ seed: 500 });
const encrypted = generateMr({ seed: 501 });
let plainId: string;
let encryptedId: string;

async function withOrthanc<T>(
  settings: Record<string, unknown>,
  body: (orthanc: OrthancInstance) => Promise<T>,
): Promise<T> {
  const orthanc = await startOrthanc({
    plugins: [PLUGIN_PATH],
    azureBlobStorage: pluginSection(azurite.connectionString, { ContainerName: "migration", ...settings }),
    ...(workDir === undefined ? {} : { workDir }),
  });
  workDir = orthanc.workDir;
  try {
    return await body(orthanc);
  } finally {
    await orthanc.stop();
  }
}

async function read(
  orthanc: OrthancInstance,
  id: string,
): Promise<{ status: number; orthancStatus?: number; bytes: Buffer }> {
  const response = await fetch(`${orthanc.url}/instances/${id}/file`);
  const bytes = Buffer.from(await response.arrayBuffer());
  if (response.ok) return { status: response.status, bytes };
  return {
    status: response.status,
    orthancStatus: (JSON.parse(bytes.toString()) as { OrthancStatus: number }).OrthancStatus,
    bytes,
  };
}

beforeAll(async () => {
  const dir = scratchDir("oabs-migration-");
  keyFile = join(dir, "kek.pem");
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }));
  azurite = await startAzurite();
});

afterAll(async () => {
  await azurite?.dispose();
});

describe("migrating a container to encryption", () => {
  it("1. stores an attachment unencrypted while encryption is off", async () => {
    await withOrthanc({ EncryptionEnabled: false }, async (orthanc) => {
      plainId = (await uploadInstance(orthanc.url, plain.bytes)).ID;
    });
  });

  it("2. with encryption on and AllowUnencryptedReads, reads the old blob and encrypts new ones", async () => {
    await withOrthanc(
      { EncryptionEnabled: true, LocalKeyFile: keyFile, AllowUnencryptedReads: true },
      async (orthanc) => {
        expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${plainId}/file`), plain.bytes)).toBe(
          0,
        );
        encryptedId = (await uploadInstance(orthanc.url, encrypted.bytes)).ID;
        expect(
          Buffer.compare(await getBuffer(`${orthanc.url}/instances/${encryptedId}/file`), encrypted.bytes),
        ).toBe(0);
      },
    );
  });

  it("3. without AllowUnencryptedReads, refuses the plain blob (fail closed) and reads the encrypted one", async () => {
    await withOrthanc({ EncryptionEnabled: true, LocalKeyFile: keyFile }, async (orthanc) => {
      const refused = await read(orthanc, plainId);
      expect(refused.status).not.toBe(200);
      expect(refused.orthancStatus).toBe(ORTHANC_CORRUPTED_FILE);
      await orthanc.waitForLog(
        /the blob is not encrypted, and AzureBlobStorage\.AllowUnencryptedReads is false/,
      );
      expect(Buffer.compare((await read(orthanc, encryptedId)).bytes, encrypted.bytes)).toBe(0);
    });
  });

  it("4. with encryption off but the key kept, reads both kinds", async () => {
    await withOrthanc({ EncryptionEnabled: false, LocalKeyFile: keyFile }, async (orthanc) => {
      expect(Buffer.compare((await read(orthanc, plainId)).bytes, plain.bytes)).toBe(0);
      expect(Buffer.compare((await read(orthanc, encryptedId)).bytes, encrypted.bytes)).toBe(0);
    });
  });

  it("5. without any key, says the blob is encrypted and no key is configured", async () => {
    await withOrthanc({ EncryptionEnabled: false }, async (orthanc) => {
      expect(Buffer.compare((await read(orthanc, plainId)).bytes, plain.bytes)).toBe(0);
      const refused = await read(orthanc, encryptedId);
      expect(refused.orthancStatus).toBe(ORTHANC_STORAGE_AREA_PLUGIN);
      await orthanc.waitForLog(
        /the blob is encrypted \(key local:rsa:[0-9a-f]{32}\), but no key is configured \(AzureBlobStorage\.AzureKeyVault or AzureBlobStorage\.LocalKeyFile\)/,
      );
    });
  });
});
