/**
 * Handing an attachment over (`consumeInput`): the plugin's create inputs are its own copies,
 * with room for the AES padding, so encryption takes them over instead of copying them. The
 * retry-after-a-lost-response path must still recognise its own blob.
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { AttachmentCodec } from "../../../src/attachments/attachment-codec.ts";
import { StorageService } from "../../../src/attachments/storage-service.ts";
import { CryptoWorkerPool } from "../../../src/crypto/crypto-worker-pool.ts";
import type { EnvelopeEngine } from "../../../src/crypto/envelope-engine.ts";
import { StorageError } from "../../../src/errors.ts";
import type { CreateBlobOptions } from "../../../src/storage/blob-store.ts";
import { MemoryBlobStore } from "../../../src/storage/memory-blob-store.ts";
import { cryptoWorkerSource } from "../../support/crypto-worker-source.ts";
import { localKeyProvider } from "../../support/local-keys.ts";
import { recordingLogger } from "../../support/recording-logger.ts";

const UUID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const context = { uuid: UUID, contentType: 1 };

/** As the shim hands a create input over: its own ArrayBuffer, with 16 spare bytes after it. */
function shimInput(bytes: Buffer): Buffer {
  const withRoom = Buffer.from(new ArrayBuffer(bytes.length + 16));
  bytes.copy(withRoom);
  return withRoom.subarray(0, bytes.length);
}

/** Stores the blob, then fails as an SDK retry after a lost response does. */
class LostResponseStore extends MemoryBlobStore {
  override async create(name: string, data: Buffer, options?: CreateBlobOptions): Promise<void> {
    await super.create(name, data, options);
    throw new StorageError("already-exists", `blob ${name} already exists`);
  }
}

const pools: CryptoWorkerPool[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.close();
});

async function workerEngine(): Promise<EnvelopeEngine> {
  const pool = new CryptoWorkerPool({ threads: 1, source: cryptoWorkerSource(), minOffloadBytes: 1024 });
  pools.push(pool);
  expect(await pool.start()).toBe(true);
  return pool;
}

describe("AttachmentCodec.encode with consumeInput", () => {
  it("encrypts a handed-over input over its own memory, and it decodes back", async () => {
    const codec = new AttachmentCodec({
      encryptWrites: true,
      allowUnencryptedReads: false,
      keys: localKeyProvider(),
    });
    const plaintext = randomBytes(300_000);
    const input = shimInput(plaintext);

    const encoded = await codec.encode(input, context, { consumeInput: true });

    expect(encoded.body.buffer).toBe(input.buffer);
    expect(encoded.body.length).toBe(300_016);
    const decoded = await codec.decode(
      {
        data: Buffer.from(encoded.body),
        properties: { contentLength: encoded.body.length, metadata: encoded.metadata },
      },
      context,
      "blob",
    );
    expect(decoded.equals(plaintext)).toBe(true);
  });

  it("leaves an input alone without consumeInput, or without room for the padding", async () => {
    const codec = new AttachmentCodec({
      encryptWrites: true,
      allowUnencryptedReads: false,
      keys: localKeyProvider(),
    });
    const plaintext = randomBytes(300_000);
    const kept = shimInput(plaintext);
    const noRoom = Buffer.from(plaintext);

    const a = await codec.encode(kept, context);
    const b = await codec.encode(noRoom, context, { consumeInput: true });

    expect(kept.equals(plaintext)).toBe(true);
    expect(noRoom.equals(plaintext)).toBe(true);
    expect(a.body.buffer).not.toBe(kept.buffer);
    expect(b.body.buffer).not.toBe(noRoom.buffer);
  });

  it("moves a big handed-over input to a crypto worker without a copy", async () => {
    const engine = await workerEngine();
    const codec = new AttachmentCodec({
      encryptWrites: true,
      allowUnencryptedReads: false,
      keys: localKeyProvider(),
      engine,
    });
    const plaintext = randomBytes(2 * 1024 * 1024 + 5);
    const input = shimInput(plaintext);

    const encoded = await codec.encode(input, context, { consumeInput: true });

    expect(input.length).toBe(0); // moved to the worker
    expect(engine.stats.offloaded).toBe(1);
    const decoded = await codec.decode(
      { data: encoded.body, properties: { contentLength: encoded.body.length, metadata: encoded.metadata } },
      context,
      "blob",
    );
    expect(decoded.equals(plaintext)).toBe(true);
  });
});

describe("StorageService.create after a lost response, with the input handed over", () => {
  it.each([
    ["inline", async () => undefined],
    ["on a crypto worker", workerEngine],
  ])("recognises its own encrypted blob (%s)", async (_name, engineOf) => {
    const engine = await engineOf();
    const store = new LostResponseStore();
    const logger = recordingLogger();
    const codec = new AttachmentCodec({
      encryptWrites: true,
      allowUnencryptedReads: false,
      keys: localKeyProvider(),
      engine,
    });
    const service = new StorageService(store, {
      blobNamePrefix: "",
      operationTimeoutMs: 5000,
      maxConcurrentRequests: 4,
      logger,
      codec,
    });
    const plaintext = randomBytes(1_500_000);

    await service.create(UUID, 1, shimInput(plaintext), { consumeInput: true });

    expect(logger.lines.join("\n")).toMatch(/an identical blob is already stored/);
    expect((await service.readWhole(UUID, 1)).equals(plaintext)).toBe(true);
  });

  it("still refuses a different blob under the same name", async () => {
    const store = new MemoryBlobStore();
    const codec = new AttachmentCodec({
      encryptWrites: true,
      allowUnencryptedReads: false,
      keys: localKeyProvider(),
    });
    const service = new StorageService(store, {
      blobNamePrefix: "",
      operationTimeoutMs: 5000,
      maxConcurrentRequests: 4,
      logger: recordingLogger(),
      codec,
    });
    await service.create(UUID, 1, shimInput(randomBytes(1000)), { consumeInput: true });
    await expect(
      service.create(UUID, 1, shimInput(randomBytes(1000)), { consumeInput: true }),
    ).rejects.toMatchObject({
      code: "already-exists",
    });
  });
});
