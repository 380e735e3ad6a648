/**
 * Integrity version 2 through Orthanc 1.10.1, as an attacker would try it: with write access to
 * the container and the KEK's public key (or one leaked CEK), but not the deployment integrity
 * key. With StrictIntegrity (the default when IntegrityKeys is set) every forgery reaches Orthanc
 * as CorruptedFile and every genuine instance still reads; without it, the same forgery is served,
 * which is why the setting exists.
 */
import {
  constants,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/bridge/status-report.ts";
import { encryptEnvelope } from "../../src/crypto/envelope.ts";
import { localKeyId } from "../../src/crypto/local-key-wrapper.ts";
import { startAzurite } from "../support/azurite.ts";
import { generateCt, generateMr } from "../support/dicom.ts";
import {
  getBuffer,
  getJson,
  type OrthancInstance,
  readInstanceFile,
  startOrthanc,
  uploadInstance,
} from "../support/orthanc.ts";
import { PLUGIN_PATH, pluginSection } from "../support/plugin.ts";
import { scratchDirs } from "../support/scratch.ts";

const scratchDir = scratchDirs();
const ORTHANC_CORRUPTED_FILE = 20;

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let keyFile: string;
let integrityKeyFile: string;
let publicKey: KeyObject;
let privateKeyPem: string;
const running: OrthancInstance[] = [];

beforeAll(async () => {
  const dir = scratchDir("oabs-integrity-");
  keyFile = join(dir, "kek.pem");
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  privateKeyPem = pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  writeFileSync(keyFile, privateKeyPem, { mode: 0o600 });
  // The attacker's copy: the public key alone (Key Vault hands it to anyone with keys/get).
  publicKey = createPublicKey(pair.publicKey.export({ type: "spki", format: "pem" }));
  integrityKeyFile = join(dir, "integrity.key");
  writeFileSync(integrityKeyFile, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  azurite = await startAzurite();
});

afterAll(async () => {
  for (const orthanc of running) await orthanc.stop();
  await azurite?.dispose();
});

async function start(
  containerName: string,
  settings: Record<string, unknown>,
  workDir?: string,
): Promise<OrthancInstance> {
  const orthanc = await startOrthanc({
    ...(workDir === undefined ? {} : { workDir }),
    plugins: [PLUGIN_PATH],
    azureBlobStorage: pluginSection(azurite.connectionString, {
      ContainerName: containerName,
      EncryptionEnabled: true,
      LocalKeyFile: keyFile,
      ...settings,
    }),
  });
  running.push(orthanc);
  return orthanc;
}

function containerOf(name: string): ContainerClient {
  return BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(name);
}

async function blobNameOf(orthanc: OrthancInstance, id: string): Promise<string> {
  const info = await getJson<{ Uuid: string }>(`${orthanc.url}/instances/${id}/attachments/dicom/info`);
  return `${info.Uuid}.dcm`;
}

/**
 * What an attacker with write access and the public key writes over a blob: a chosen DICOM,
 * under a CEK they minted and wrapped with the public key, sealed as envelope version 1 (the
 * only version whose MAC key they can compute). FORMAT.md is all they need; the project's own
 * encryptEnvelope stands in for their implementation of it.
 */
async function forgeWithPublicKey(
  container: ContainerClient,
  name: string,
  uuid: string,
  chosen: Buffer,
): Promise<void> {
  const cek = randomBytes(32);
  const wrapped = {
    keyId: localKeyId(publicKey),
    algorithm: "RSA-OAEP-256" as const,
    encryptedKey: publicEncrypt(
      { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      cek,
    ),
  };
  const forged = await encryptEnvelope(chosen, { cek, wrapped }, { uuid, contentType: 1 });
  await container.getBlockBlobClient(name).upload(forged.body, forged.body.length, {
    metadata: {
      orthanc_uuid: uuid,
      orthanc_content_type: "1",
      plugin_format: "envelope-1",
      ...forged.metadata,
    },
  });
}

describe("forgery with the public key and write access", () => {
  it("is refused as CorruptedFile with StrictIntegrity, and every other instance still reads", async () => {
    // Below the 1 MiB default, so that sealing and verifying also run on the crypto worker threads.
    const orthanc = await start("strict", {
      IntegrityKeys: [{ File: integrityKeyFile }],
      CryptoThreads: 2,
      CryptoOffloadMinKB: 64,
    });
    const container = containerOf("strict");
    const genuine = [generateCt({ seed: 7001 }), generateMr({ seed: 7002 }), generateMr({ seed: 7003 })];
    const ids: string[] = [];
    for (const instance of genuine) ids.push((await uploadInstance(orthanc.url, instance.bytes)).ID);
    const victim = ids[0] ?? "";
    const name = await blobNameOf(orthanc, victim);
    const stored = await container.getBlobClient(name).getProperties();
    expect(stored.metadata?.plugin_format).toBe("envelope-2");
    expect(JSON.parse(stored.metadata?.oabsintegrity ?? "{}")).toMatchObject({ Version: 2 });

    const swapped = generateMr({ seed: 7099, patientId: "FORGED-PATIENT" });
    await forgeWithPublicKey(container, name, name.slice(0, 36), swapped.bytes);
    const refused = await readInstanceFile(orthanc, victim);
    expect(refused.status).toBe(500);
    expect(refused.orthancStatus).toBe(ORTHANC_CORRUPTED_FILE);
    expect(refused.body.includes(Buffer.from("FORGED-PATIENT"))).toBe(false);
    await orthanc.waitForLog(/StrictIntegrity refuses it/);
    for (const [index, id] of ids.entries()) {
      if (id === victim) continue;
      const read = await readInstanceFile(orthanc, id);
      expect(read.status).toBe(200);
      expect(Buffer.compare(read.body, genuine[index]?.bytes ?? Buffer.alloc(0))).toBe(0);
    }
    // Three seals and two verifications ran on the workers, with the integrity key in their slot.
    const status = await getJson<StatusReport>(`${orthanc.url}/azure-blob-storage/status`);
    expect(status.crypto.offloaded).toBeGreaterThanOrEqual(5);
    expect(status.integrity).toMatchObject({ strict: true, keyIds: [status.integrity.sealingKeyId] });
  });

  it("is served as genuine without StrictIntegrity: the hole the setting closes", async () => {
    const orthanc = await start("lenient", {
      IntegrityKeys: [{ File: integrityKeyFile }],
      StrictIntegrity: false,
    });
    const container = containerOf("lenient");
    const { ID } = await uploadInstance(orthanc.url, generateCt({ seed: 7101 }).bytes);
    const name = await blobNameOf(orthanc, ID);
    const swapped = generateMr({ seed: 7199, patientId: "FORGED-PATIENT" });
    await forgeWithPublicKey(container, name, name.slice(0, 36), swapped.bytes);
    const served = await readInstanceFile(orthanc, ID);
    expect(served.status).toBe(200);
    expect(Buffer.compare(served.body, swapped.bytes)).toBe(0);
  });
});

describe("forgery with one leaked CEK", () => {
  it("is refused as CorruptedFile, sealed as version 1 or as version 2, and the genuine blob still reads", async () => {
    const orthanc = await start("leaked", { IntegrityKeys: [{ File: integrityKeyFile }] });
    const container = containerOf("leaked");
    const genuine = [generateCt({ seed: 7201 }), generateMr({ seed: 7202 })];
    const ids: string[] = [];
    for (const instance of genuine) ids.push((await uploadInstance(orthanc.url, instance.bytes)).ID);
    // The leak: one genuine (wrapped CEK, CEK) pair, e.g. from a memory dump.
    const leakedFrom = await container.getBlobClient(await blobNameOf(orthanc, ids[0] ?? "")).getProperties();
    const data = JSON.parse(leakedFrom.metadata?.encryptiondata ?? "{}") as {
      WrappedContentKey: { KeyId: string; EncryptedKey: string; Algorithm: "RSA-OAEP-256" };
    };
    const encryptedKey = Buffer.from(data.WrappedContentKey.EncryptedKey, "base64");
    const cek = privateDecrypt(
      { key: privateKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      encryptedKey,
    );
    const wrapped = {
      keyId: data.WrappedContentKey.KeyId,
      algorithm: data.WrappedContentKey.Algorithm,
      encryptedKey,
    };

    const victim = ids[1] ?? "";
    const name = await blobNameOf(orthanc, victim);
    const uuid = name.slice(0, 36);
    const chosen = generateMr({ seed: 7299, patientId: "FORGED-PATIENT" }).bytes;
    // Version 1: the MAC key from the leaked CEK; version 2: the attacker's best guess, the v2
    // labels under a key derived from the CEK, with the deployment's (public) IntegrityKeyId.
    const v1 = await encryptEnvelope(chosen, { cek, wrapped }, { uuid, contentType: 1 });
    const integrityKeyId = JSON.parse(leakedFrom.metadata?.oabsintegrity ?? "{}").IntegrityKeyId as string;
    const v2 = await encryptEnvelope(
      chosen,
      { cek, wrapped },
      { uuid, contentType: 1 },
      {
        integrityKey: { id: integrityKeyId, key: cek },
      },
    );
    for (const forged of [v1, v2]) {
      await container
        .getBlockBlobClient(name)
        .upload(forged.body, forged.body.length, { metadata: forged.metadata });
      const refused = await readInstanceFile(orthanc, victim);
      expect(refused.status).toBe(500);
      expect(refused.orthancStatus).toBe(ORTHANC_CORRUPTED_FILE);
    }
    const other = await readInstanceFile(orthanc, ids[0] ?? "");
    expect(Buffer.compare(other.body, genuine[0]?.bytes ?? Buffer.alloc(0))).toBe(0);
  });
});

describe("upgrading a deployment", () => {
  it("keeps reading version 1 blobs last modified before LegacyBlobsModifiedBefore, and refuses one rewritten after it", async () => {
    const before = await start("upgrade", {});
    const old = [generateCt({ seed: 7301 }), generateMr({ seed: 7302 })];
    const ids: string[] = [];
    for (const instance of old) ids.push((await uploadInstance(before.url, instance.bytes)).ID);
    const container = containerOf("upgrade");
    const names: string[] = [];
    for (const id of ids) names.push(await blobNameOf(before, id));
    expect((await container.getBlobClient(names[0] ?? "").getProperties()).metadata?.plugin_format).toBe(
      "envelope-1",
    );
    await before.stop();
    // Azure's Last-Modified has a resolution of one second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const cutoff = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    const after = await start(
      "upgrade",
      { IntegrityKeys: [{ File: integrityKeyFile }], LegacyBlobsModifiedBefore: cutoff },
      before.workDir,
    );
    for (const [index, id] of ids.entries()) {
      const read = await readInstanceFile(after, id);
      expect(read.status).toBe(200);
      expect(Buffer.compare(read.body, old[index]?.bytes ?? Buffer.alloc(0))).toBe(0);
    }
    const fresh = generateCt({ seed: 7303 });
    const { ID } = await uploadInstance(after.url, fresh.bytes);
    expect(Buffer.compare(await getBuffer(`${after.url}/instances/${ID}/file`), fresh.bytes)).toBe(0);

    await forgeWithPublicKey(
      container,
      names[1] ?? "",
      (names[1] ?? "").slice(0, 36),
      generateMr({ seed: 7399 }).bytes,
    );
    const refused = await readInstanceFile(after, ids[1] ?? "");
    expect(refused.orthancStatus).toBe(ORTHANC_CORRUPTED_FILE);
    await after.waitForLog(/not before AzureBlobStorage\.LegacyBlobsModifiedBefore/);
  });
});
