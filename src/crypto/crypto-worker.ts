/**
 * Entry point of a crypto worker thread (bundled on its own into dist/crypto-worker.cjs and
 * started by CryptoWorkerPool). Runs one job at a time: the same envelope functions as the
 * inline engine, on bytes moved in from the pool, with the keys read from the shared key slot.
 */
import { parentPort, workerData } from "node:worker_threads";
import { isStorageError } from "../errors.ts";
import { releaseAfterLargeAttachment } from "../memory-release.ts";
import type {
  CryptoJob,
  CryptoJobResult,
  CryptoWorkerData,
  CryptoWorkerMessage,
} from "./crypto-worker-protocol.ts";
import { CEK_SLOT_LENGTH, KEY_SLOT_LENGTH, movableBytes } from "./crypto-worker-protocol.ts";
import { decryptEnvelope, encryptEnvelope, parseEnvelope } from "./envelope.ts";
import type { IntegrityKey } from "./integrity-key.ts";

const port = parentPort;
if (port === null) throw new Error("crypto-worker.ts runs as a worker thread only");
const { keySlot } = workerData as CryptoWorkerData;
/** Views of the shared slot, not copies: nothing to zero here. */
const cek = Buffer.from(keySlot, 0, CEK_SLOT_LENGTH);
const integrityKeyBytes = Buffer.from(keySlot, CEK_SLOT_LENGTH, KEY_SLOT_LENGTH - CEK_SLOT_LENGTH);

async function run(job: CryptoJob): Promise<CryptoJobResult> {
  const input = Buffer.from(job.data, job.offset, job.length);
  const integrityKey: IntegrityKey | undefined =
    job.integrityKeyId === undefined ? undefined : { id: job.integrityKeyId, key: integrityKeyBytes };
  if (job.op === "encrypt") {
    const wrapped = { ...job.wrapped, encryptedKey: Buffer.from(job.wrapped.encryptedKey) };
    // The moved copy has 16 bytes of room after the plaintext: no second blob-sized buffer.
    const encrypted = await encryptEnvelope(input, { cek, wrapped }, job.context, {
      library: job.library,
      inPlace: true,
      ...(integrityKey === undefined ? {} : { integrityKey }),
    });
    const { data, offset } = movableBytes(encrypted.body);
    return {
      id: job.id,
      ok: true,
      data,
      offset,
      length: encrypted.body.length,
      metadata: encrypted.metadata,
    };
  }
  const parsed = parseEnvelope(job.metadata, input.length);
  // The worker owns the moved body: the plaintext takes its place.
  const plaintext = await decryptEnvelope(input, parsed, cek, job.context, {
    inPlace: true,
    ...(integrityKey === undefined ? {} : { integrityKey }),
  });
  const { data, offset } = movableBytes(plaintext);
  return { id: job.id, ok: true, data, offset, length: plaintext.length };
}

port.on("message", (job: CryptoJob) => {
  run(job).then(
    (result) => {
      port.postMessage(result, result.ok ? [result.data] : []);
      // The 1 MiB chunk outputs of a big job are garbage now.
      releaseAfterLargeAttachment(job.length);
    },
    (error: unknown) => {
      const failure: CryptoJobResult = isStorageError(error)
        ? { id: job.id, ok: false, code: error.code, message: error.message }
        : {
            id: job.id,
            ok: false,
            code: "internal",
            message: error instanceof Error ? error.message : String(error),
          };
      port.postMessage(failure);
    },
  );
});

port.postMessage({ ready: true } satisfies CryptoWorkerMessage);
