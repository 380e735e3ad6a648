import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { CryptoWorkerPool } from "../../../src/crypto/crypto-worker-pool.ts";
import type { DataKey } from "../../../src/crypto/data-key.ts";
import { decryptEnvelope, encryptEnvelope, parseEnvelope } from "../../../src/crypto/envelope.ts";
import { toIntegrityKey } from "../../../src/crypto/integrity-key.ts";
import { StorageError } from "../../../src/errors.ts";
import type { Logger } from "../../../src/logging/logger.ts";
import { cryptoWorkerSource } from "../../support/crypto-worker-source.ts";
import { recordingLogger } from "../../support/recording-logger.ts";

const context = { uuid: "4f0e1a9c-7d3b-4c2a-9e8f-1b2c3d4e5f60", contentType: 1 };
const LIBRARY = "OrthancAzureBlobStorage";

function dataKey(): DataKey {
  return {
    cek: randomBytes(32),
    wrapped: { keyId: "local:rsa:test", algorithm: "RSA-OAEP-256", encryptedKey: randomBytes(256) },
  };
}

const pools: CryptoWorkerPool[] = [];

async function startedPool(threads: number, source = cryptoWorkerSource(), logger?: Logger) {
  const pool = new CryptoWorkerPool({
    threads,
    source,
    minOffloadBytes: 1024,
    ...(logger ? { logger } : {}),
  });
  pools.push(pool);
  return { pool, started: await pool.start() };
}

afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.close();
});

describe("CryptoWorkerPool", () => {
  it("encrypts on a worker into an envelope that the inline code decrypts, leaving its inputs intact", async () => {
    const { pool, started } = await startedPool(2);
    expect(started).toBe(true);
    expect(pool.stats.threads).toBe(2);
    const plaintext = randomBytes(300_001);
    const original = Buffer.from(plaintext);
    const key = dataKey();
    const cek = Buffer.from(key.cek);

    const encrypted = await pool.encrypt(plaintext, key, LIBRARY, context);

    expect(pool.stats.offloaded).toBe(1);
    expect(plaintext.equals(original)).toBe(true);
    expect(key.cek.equals(cek)).toBe(true);
    expect(encrypted.body.length).toBe(300_016);
    const parsed = parseEnvelope(encrypted.metadata, encrypted.body.length);
    expect(parsed.wrapped.keyId).toBe("local:rsa:test");
    expect((await decryptEnvelope(encrypted.body, parsed, key.cek, context)).equals(plaintext)).toBe(true);
  });

  it("decrypts on a worker what the inline code encrypted", async () => {
    const { pool } = await startedPool(1);
    const plaintext = randomBytes(5 * 1024 * 1024 + 3);
    const key = dataKey();
    const encrypted = await encryptEnvelope(plaintext, key, context);

    const decrypted = await pool.decrypt(encrypted.body, encrypted.metadata, key.cek, context);

    expect(pool.stats.offloaded).toBe(1);
    expect(decrypted.equals(plaintext)).toBe(true);
  });

  it("runs inputs below minOffloadBytes inline", async () => {
    const { pool } = await startedPool(1);
    const key = dataKey();
    const encrypted = await pool.encrypt(randomBytes(1000), key, LIBRARY, context);
    await pool.decrypt(encrypted.body, encrypted.metadata, key.cek, context);
    expect(pool.stats).toMatchObject({ offloaded: 0, inline: 2 });
  });

  it("fails a tampered blob with the same integrity error as the inline code", async () => {
    const { pool } = await startedPool(1);
    const key = dataKey();
    const encrypted = await encryptEnvelope(randomBytes(200_000), key, context);
    encrypted.body[100_000] = (encrypted.body[100_000] ?? 0) ^ 1;

    const error = await pool
      .decrypt(encrypted.body, encrypted.metadata, key.cek, context)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: "integrity", message: "encrypted blob failed verification" });
    expect(pool.stats.offloaded).toBe(1);
  });

  it("fails a blob bound to another attachment", async () => {
    const { pool } = await startedPool(1);
    const key = dataKey();
    const encrypted = await encryptEnvelope(randomBytes(200_000), key, context);
    const other = { ...context, uuid: "00000000-0000-4000-8000-000000000000" };
    await expect(pool.decrypt(encrypted.body, encrypted.metadata, key.cek, other)).rejects.toMatchObject({
      code: "integrity",
    });
  });

  it("keeps every concurrent job's bytes and key apart", async () => {
    const { pool } = await startedPool(2);
    const jobs = Array.from({ length: 12 }, (_, index) => ({
      plaintext: randomBytes(50_000 + index * 70_001),
      key: dataKey(),
      context: { uuid: `uuid-${index}`, contentType: index },
    }));

    const encrypted = await Promise.all(
      jobs.map((job) => pool.encrypt(job.plaintext, job.key, LIBRARY, job.context)),
    );
    const decrypted = await Promise.all(
      jobs.map((job, index) => {
        const blob = encrypted[index];
        if (blob === undefined) throw new Error("missing result");
        return pool.decrypt(blob.body, blob.metadata, job.key.cek, job.context);
      }),
    );

    for (const [index, plaintext] of decrypted.entries()) {
      expect(plaintext.equals(jobs[index]?.plaintext ?? Buffer.alloc(0))).toBe(true);
    }
    expect(pool.stats.offloaded).toBe(24);
  });

  it("fails the job of a worker that dies, and replaces the worker", async () => {
    // The real worker, plus a hook that kills the thread on a job for one attachment.
    const source = `${cryptoWorkerSource()}
require("node:worker_threads").parentPort.on("message", (job) => { if (job.context.uuid === "crash") process.exit(3); });`;
    const logger = recordingLogger();
    const { pool } = await startedPool(1, source, logger);
    const key = dataKey();

    const error = await pool
      .encrypt(randomBytes(100_000), key, LIBRARY, { uuid: "crash", contentType: 1 })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: "internal" });
    expect((error as Error).message).toMatch(/crypto worker stopped \(exit code 3\) during encrypt/);
    const plaintext = randomBytes(100_000);
    const encrypted = await pool.encrypt(plaintext, key, LIBRARY, context);
    expect((await pool.decrypt(encrypted.body, encrypted.metadata, key.cek, context)).equals(plaintext)).toBe(
      true,
    );
    expect(pool.stats).toMatchObject({ restarts: 1, threads: 1, offloaded: 3 });
    expect(logger.lines.some((line) => /crypto worker 0 exited with code 3; restarting it/.test(line))).toBe(
      true,
    );
  });

  it("runs everything inline, and says why, when workers cannot start", async () => {
    const logger = recordingLogger();
    const { pool, started } = await startedPool(2, "throw new Error('no workers here')", logger);

    expect(started).toBe(false);
    expect(pool.stats.threads).toBe(0);
    expect(logger.lines.join("\n")).toMatch(/could not start \(no workers here\).*JavaScript thread instead/);
    const key = dataKey();
    const plaintext = randomBytes(100_000);
    const encrypted = await pool.encrypt(plaintext, key, LIBRARY, context);
    expect((await pool.decrypt(encrypted.body, encrypted.metadata, key.cek, context)).equals(plaintext)).toBe(
      true,
    );
    expect(pool.stats).toMatchObject({ offloaded: 0, inline: 2 });
  });

  it("drops a queued job whose signal aborts, and still finishes the running one", async () => {
    const { pool } = await startedPool(1);
    const key = dataKey();
    const big = randomBytes(16 * 1024 * 1024);
    const controller = new AbortController();
    const running = pool.encrypt(big, key, LIBRARY, context);
    const queued = pool.encrypt(randomBytes(100_000), key, LIBRARY, context, {
      abortSignal: controller.signal,
    });
    controller.abort(new StorageError("timeout", "deadline of 1 ms passed"));

    await expect(queued).rejects.toMatchObject({ code: "timeout", message: "deadline of 1 ms passed" });
    const encrypted = await running;
    expect(
      (
        await decryptEnvelope(
          encrypted.body,
          parseEnvelope(encrypted.metadata, encrypted.body.length),
          key.cek,
          context,
        )
      ).equals(big),
    ).toBe(true);
    expect(pool.stats.offloaded).toBe(1);
  });

  it("refuses a thread count outside 1-64", () => {
    expect(() => new CryptoWorkerPool({ threads: 0, source: "" })).toThrow(
      "Expected an integer between 1 and 64 for the crypto worker threads but received 0",
    );
  });
});

describe("CryptoWorkerPool input hand-over", () => {
  it("moves a handed-over body to the worker instead of copying it, and copies one it does not own", async () => {
    const { pool } = await startedPool(1);
    const plaintext = randomBytes(300_000);
    const key = dataKey();
    const encrypted = await encryptEnvelope(plaintext, key, context);
    const kept = Buffer.from(encrypted.body);
    const handedOver = Buffer.from(encrypted.body);

    const fromKept = await pool.decrypt(kept, encrypted.metadata, key.cek, context);
    const fromHandedOver = await pool.decrypt(handedOver, encrypted.metadata, key.cek, context, {
      consumeInput: true,
    });

    expect(fromKept.equals(plaintext)).toBe(true);
    expect(fromHandedOver.equals(plaintext)).toBe(true);
    expect(kept.equals(encrypted.body)).toBe(true);
    // Moved: the caller's view of that memory is gone.
    expect(handedOver.length).toBe(0);
    expect(pool.stats.inputsTaken).toBe(1);
  });
});

describe("CryptoWorkerPool with a deployment integrity key (envelope version 2)", () => {
  it("seals on a worker as version 2, verifies on a worker, and refuses the blob under another integrity key", async () => {
    const { pool } = await startedPool(1);
    const integrityKey = toIntegrityKey(randomBytes(32));
    const plaintext = randomBytes(200_003);
    const key = dataKey();
    const sealed = await pool.encrypt(plaintext, key, LIBRARY, context, { integrityKey });
    expect(pool.stats.offloaded).toBe(1);
    const parsed = parseEnvelope(sealed.metadata, sealed.body.length);
    expect(parsed).toMatchObject({ version: 2, integrityKeyId: integrityKey.id });
    // The inline code verifies what the worker sealed, and only under that integrity key.
    const inline = await decryptEnvelope(sealed.body, parsed, key.cek, context, { integrityKey });
    expect(inline.equals(plaintext)).toBe(true);
    await expect(decryptEnvelope(sealed.body, parsed, key.cek, context)).rejects.toThrow(StorageError);

    // On a worker: the integrity key travels in the key slot, not in the message.
    const onWorker = await pool.decrypt(Buffer.from(sealed.body), sealed.metadata, key.cek, context, {
      integrityKey,
    });
    expect(onWorker.equals(plaintext)).toBe(true);
    const other = toIntegrityKey(randomBytes(32));
    const refused = await pool
      .decrypt(Buffer.from(sealed.body), sealed.metadata, key.cek, context, {
        integrityKey: { ...other, id: integrityKey.id },
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refused).toBeInstanceOf(StorageError);
    expect((refused as StorageError).code).toBe("integrity");
    expect(pool.stats.offloaded).toBe(3);

    // A job without an integrity key after one with it: the slot was zeroed, version 1 again.
    const v1 = await pool.encrypt(randomBytes(100_000), key, LIBRARY, context);
    expect(parseEnvelope(v1.metadata, v1.body.length).version).toBe(1);
  });
});
