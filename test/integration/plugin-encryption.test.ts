/**
 * Encryption on, end to end: Orthanc 1.10.1 with the plugin (embedded Node 18), Azurite,
 * a local RSA key file. No stored byte is plaintext; reads are authenticated; tampering
 * reaches Orthanc as CorruptedFile; Microsoft's own SDK decrypts our blobs.
 */

import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/bridge/status-report.ts";
import { localKeyId } from "../../src/crypto/local-key-wrapper.ts";
import { startAzurite } from "../support/azurite.ts";
import { generateCt, generateMr, generateMultiFrame } from "../support/dicom.ts";
import {
  getBuffer,
  getJson,
  type OrthancInstance,
  postJson,
  startOrthanc,
  uploadInstance,
} from "../support/orthanc.ts";
import { PLUGIN_PATH, pluginSection, waitFor } from "../support/plugin.ts";
import { scratchDirs } from "../support/scratch.ts";

const scratchDir = scratchDirs();
const ORTHANC_CORRUPTED_FILE = 20;
const CONTAINER = "encrypted";
const PYTHON = "/usr/bin/python3";
const INTEROP_SCRIPT = join(import.meta.dirname, "../support/python/decrypt_with_azure_sdk.py");

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let orthanc: OrthancInstance;
let container: ContainerClient;
let keyFile: string;
let kid: string;

async function status(): Promise<StatusReport> {
  return (await getJson(`${orthanc.url}/azure-blob-storage/status`)) as StatusReport;
}

async function dicomBlobName(instanceId: string): Promise<string> {
  const info = (await getJson(`${orthanc.url}/instances/${instanceId}/attachments/dicom/info`)) as {
    Uuid: string;
  };
  return `${info.Uuid}.dcm`;
}

async function orthancError(url: string): Promise<{ status: number; orthancStatus: unknown; body: Buffer }> {
  const response = await fetch(url);
  const body = Buffer.from(await response.arrayBuffer());
  let orthancStatus: unknown;
  try {
    orthancStatus = (JSON.parse(body.toString()) as { OrthancStatus?: unknown }).OrthancStatus;
  } catch {
    orthancStatus = undefined;
  }
  return { status: response.status, orthancStatus, body };
}

/** What an attacker with write access to the container can do: replace body and metadata. */
async function replaceBlob(name: string, body: Buffer, metadata: Record<string, string>): Promise<void> {
  await container.getBlockBlobClient(name).upload(body, body.length, { metadata });
}

async function downloadWithMetadata(
  name: string,
): Promise<{ body: Buffer; metadata: Record<string, string> }> {
  const client = container.getBlobClient(name);
  const properties = await client.getProperties();
  return { body: await client.downloadToBuffer(), metadata: { ...properties.metadata } };
}

beforeAll(async () => {
  const dir = scratchDir("oabs-kek-");
  keyFile = join(dir, "kek.pem");
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  kid = localKeyId(publicKey);
  azurite = await startAzurite();
  container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(CONTAINER);
  orthanc = await startOrthanc({
    plugins: [PLUGIN_PATH],
    azureBlobStorage: pluginSection(azurite.connectionString, {
      ContainerName: CONTAINER,
      EncryptionEnabled: true,
      LocalKeyFile: keyFile,
      KeyDecayCount: 5,
      CryptoThreads: 2,
      // Below the 1 MiB default, so that every test here also runs the worker path.
      CryptoOffloadMinKB: 64,
      EnableTestingEndpoints: true,
    }),
  });
});

afterAll(async () => {
  await orthanc?.stop();
  await azurite?.dispose();
});

describe("encryption on, through Orthanc", () => {
  it("stores no plaintext: no DICOM magic, no tag value, in any stored blob", async () => {
    const ct = generateCt({ seed: 100, patientId: "PLAINTEXT-CANARY-4711" });
    const { ID } = await uploadInstance(orthanc.url, ct.bytes);
    const name = await dicomBlobName(ID);
    const { body, metadata } = await downloadWithMetadata(name);
    expect(body.length).toBe(16 * (Math.floor(ct.bytes.length / 16) + 1));
    for (const needle of ["DICM", "PLAINTEXT-CANARY-4711", ct.sopInstanceUid, ct.studyInstanceUid]) {
      expect(body.includes(Buffer.from(needle)), needle).toBe(false);
      expect(JSON.stringify(metadata).includes(needle), needle).toBe(false);
    }
    expect(metadata.plugin_format).toBe("envelope-1");
    // readRange works on encrypted blobs, so Orthanc writes no second "until pixel data" attachment.
    const sameAttachment: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix: name.slice(0, 36) }))
      sameAttachment.push(blob.name);
    expect(sameAttachment).toEqual([name]);
    expect(JSON.parse(metadata.encryptiondata ?? "{}")).toMatchObject({
      WrappedContentKey: { KeyId: kid, Algorithm: "RSA-OAEP-256" },
      EncryptionAgent: { Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" },
      EncryptionMode: "FullBlob",
    });
  });

  it("reads /file byte-identical and serves /tags through an authenticated range read", async () => {
    const mr = generateMr({ seed: 101 });
    const { ID } = await uploadInstance(orthanc.url, mr.bytes);
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), mr.bytes)).toBe(0);
    const before = await status();
    const tags = (await getJson(`${orthanc.url}/instances/${ID}/tags?simplify`)) as Record<string, string>;
    expect(tags.PatientID).toBe(mr.patientId);
    const after = await status();
    expect((after.operations.readRange?.calls ?? 0) - (before.operations.readRange?.calls ?? 0)).toBe(1);
    expect((after.operations.readWhole?.calls ?? 0) - (before.operations.readWhole?.calls ?? 0)).toBe(0);
  });

  it("encrypts and decrypts whole blobs on its crypto worker threads, inside Orthanc's process", async () => {
    const ct = generateCt({ seed: 102 });
    const before = await status();
    const { ID } = await uploadInstance(orthanc.url, ct.bytes);
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), ct.bytes)).toBe(0);
    const after = await status();
    expect(after.crypto).toMatchObject({ threads: 2, restarts: 0 });
    expect((after.crypto?.offloaded ?? 0) - (before.crypto?.offloaded ?? 0)).toBe(2);
    // The shim's create input and the downloaded body both moved to the worker, not copied.
    expect((after.crypto?.inputsTaken ?? 0) - (before.crypto?.inputsTaken ?? 0)).toBe(2);
  });

  it("starts its crypto workers again when the JS runtime restarts, and reads what it wrote before", async () => {
    const ct = generateCt({ seed: 103 });
    const { ID } = await uploadInstance(orthanc.url, ct.bytes);
    const before = await status();
    await postJson(`${orthanc.url}/azure-blob-storage/testing/faults`, { fault: "throw" });
    const after = await waitFor(async () => {
      const s = await status().catch(() => undefined);
      return s !== undefined && s.runtime.generation > before.runtime.generation ? s : undefined;
    }, 60_000);
    expect(after.crypto).toMatchObject({ threads: 2, offloaded: 0 });
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), ct.bytes)).toBe(0);
    expect((await status()).crypto?.offloaded).toBe(1);
  });

  it("serves /tags of a large object (larger segments) without reading it all", async () => {
    const big = generateMultiFrame({ seed: 102, frames: 80, rows: 512, columns: 512 });
    expect(big.bytes.length).toBeGreaterThan(40 * 1024 * 1024);
    const { ID } = await uploadInstance(orthanc.url, big.bytes);
    const before = await status();
    const tags = (await getJson(`${orthanc.url}/instances/${ID}/tags?simplify`)) as Record<string, string>;
    expect(tags.NumberOfFrames).toBe("80");
    const after = await status();
    const bytes = (after.operations.readRange?.bytes ?? 0) - (before.operations.readRange?.bytes ?? 0);
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThan(big.bytes.length / 100);
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), big.bytes)).toBe(0);
  });

  it("makes no key-wrapping call per instance once a data key is in use (KeyDecayCount 5)", async () => {
    const before = await status();
    for (let i = 0; i < 10; i++) await uploadInstance(orthanc.url, generateMr({ seed: 200 + i }).bytes);
    const after = await status();
    const wraps = (after.keys?.wraps ?? 0) - (before.keys?.wraps ?? 0);
    expect(wraps).toBeGreaterThanOrEqual(1);
    expect(wraps).toBeLessThanOrEqual(3);
  });
});

describe("tampering reaches Orthanc as CorruptedFile, never as wrong bytes", () => {
  let victimId: string;
  let victimName: string;
  let victim: { body: Buffer; metadata: Record<string, string> };
  let otherName: string;

  beforeAll(async () => {
    victimId = (await uploadInstance(orthanc.url, generateMr({ seed: 300 }).bytes)).ID;
    victimName = await dicomBlobName(victimId);
    victim = await downloadWithMetadata(victimName);
    otherName = await dicomBlobName((await uploadInstance(orthanc.url, generateMr({ seed: 301 }).bytes)).ID);
  });

  const flipAt = async (position: (length: number) => number): Promise<void> => {
    const body = Buffer.from(victim.body);
    const at = position(body.length);
    body[at] = (body[at] ?? 0) ^ 1;
    await replaceBlob(victimName, body, victim.metadata);
  };

  it("a flipped byte in the last segment fails /file, while /tags reads only verified earlier segments", async () => {
    await flipAt((length) => length - 100);
    try {
      const whole = await orthancError(`${orthanc.url}/instances/${victimId}/file`);
      expect(whole.orthancStatus).toBe(ORTHANC_CORRUPTED_FILE);
      const tags = await fetch(`${orthanc.url}/instances/${victimId}/tags?simplify`);
      expect(tags.status).toBe(200);
    } finally {
      await replaceBlob(victimName, victim.body, victim.metadata);
    }
  });

  const cases: Array<[string, () => Promise<void>]> = [
    ["a flipped ciphertext byte in the first segment", () => flipAt(() => 200)],
    [
      "a flipped IV bit (the classic CBC first-block malleability)",
      async () => {
        const data = JSON.parse(victim.metadata.encryptiondata ?? "{}") as { ContentEncryptionIV: string };
        const iv = Buffer.from(data.ContentEncryptionIV, "base64");
        iv[0] = (iv[0] ?? 0) ^ 0x80;
        data.ContentEncryptionIV = iv.toString("base64");
        await replaceBlob(victimName, victim.body, {
          ...victim.metadata,
          encryptiondata: JSON.stringify(data),
        });
      },
    ],
    [
      "a downgrade to plain CSE v1 (integrity entry stripped)",
      async () => {
        const { oabsintegrity: _dropped, ...rest } = victim.metadata;
        await replaceBlob(victimName, victim.body, rest);
      },
    ],
    [
      "another attachment's blob swapped in (body and metadata)",
      async () => {
        const other = await downloadWithMetadata(otherName);
        await replaceBlob(victimName, other.body, other.metadata);
      },
    ],
    [
      "a truncated blob",
      async () => {
        await replaceBlob(victimName, victim.body.subarray(0, victim.body.length - 16), victim.metadata);
      },
    ],
    [
      "a plain blob put in its place",
      async () => {
        await replaceBlob(victimName, generateMr({ seed: 300 }).bytes, { plugin_format: "plain-1" });
      },
    ],
  ];

  it.each(cases)("%s", async (_name, tamper) => {
    await tamper();
    try {
      for (const url of [
        `${orthanc.url}/instances/${victimId}/file`,
        `${orthanc.url}/instances/${victimId}/tags`,
      ]) {
        const result = await orthancError(url);
        expect(result.status, url).not.toBe(200);
        expect(result.orthancStatus, url).toBe(ORTHANC_CORRUPTED_FILE);
        expect(result.body.includes(Buffer.from("DICM")), url).toBe(false);
      }
      await orthanc.waitForLog(new RegExp(`failed for attachment ${victimName.slice(0, 36)}`));
    } finally {
      await replaceBlob(victimName, victim.body, victim.metadata);
    }
    // Restored: reads work again, so the failure came from the tampering alone.
    expect((await fetch(`${orthanc.url}/instances/${victimId}/file`)).status).toBe(200);
  });
});

describe("Orthanc lifecycle with encryption", () => {
  it("zeroes its data keys and stops its workers on /tools/reset, and reads every key back after it", async () => {
    const ct = generateCt({ seed: 500 });
    const { ID } = await uploadInstance(orthanc.url, ct.bytes);
    const before = await status();
    await fetch(`${orthanc.url}/tools/reset`, { method: "POST" }).catch(() => undefined);
    await orthanc.waitForLog(
      /AzureBlobStorage: \[js\] disposed: data keys zeroed, 2 crypto worker\(s\) stopped, store closed/,
      60_000,
    );
    const after = await waitFor(async () => {
      const s = await status().catch(() => undefined);
      return s !== undefined && s.runtime.generation > before.runtime.generation && s.runtime.restarts === 0
        ? s
        : undefined;
    }, 60_000);
    expect(after.crypto).toMatchObject({ threads: 2, offloaded: 0 });
    // Written under a data key of the runtime before the reset: unwrapped again by the new one.
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), ct.bytes)).toBe(0);
    const mr = generateMr({ seed: 501 });
    const again = await uploadInstance(orthanc.url, mr.bytes);
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${again.ID}/file`), mr.bytes)).toBe(0);
    expect(orthanc.log()).not.toMatch(/did not finish releasing/);
  });
});

describe("Microsoft's SDK reads our blobs (the exit path)", () => {
  it("decrypts a blob written by the plugin with azure-storage-blob for Python, given the KEK", async () => {
    const ct = generateCt({ seed: 400 });
    const { ID } = await uploadInstance(orthanc.url, ct.bytes);
    const name = await dicomBlobName(ID);
    const result = spawnSync(
      PYTHON,
      [INTEROP_SCRIPT, azurite.connectionString, CONTAINER, name, keyFile, kid],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    expect(result.status, result.stderr.toString()).toBe(0);
    expect(Buffer.compare(result.stdout, ct.bytes)).toBe(0);
  });
});
