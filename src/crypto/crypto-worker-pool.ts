/**
 * Envelope crypto on worker threads. Node's crypto calls are synchronous, so on the JS thread
 * a blob's AES and HMAC passes hold up every other storage call, and use one core. The pool
 * runs them on `threads` workers, one job per worker at a time, FIFO.
 *
 * Bytes: the input is copied once into a movable ArrayBuffer (in 4 MiB steps, so the JS thread
 * is never held for long) and moved to the worker, or moved as it is when the caller hands it
 * over (a downloaded body); the result is moved back without a copy.
 * Keys: the CEK is written into the worker's SharedArrayBuffer slot for the job, and zeroed
 * when the job settles; it never travels in a message.
 * Failures: a worker that dies fails its job with StorageError("internal") and is replaced; if
 * workers cannot start at all, the pool logs why and runs everything inline (same results).
 */
import { Worker } from "node:worker_threads";
import { StorageError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import {
  CEK_SLOT_LENGTH,
  type CryptoJob,
  type CryptoJobResult,
  type CryptoWorkerData,
  type CryptoWorkerMessage,
  KEY_SLOT_LENGTH,
  movableBytes,
} from "./crypto-worker-protocol.ts";
import { checkCek, type DataKey } from "./data-key.ts";
import type { EncryptedBlob, EnvelopeContext } from "./envelope.ts";
import {
  type DecryptOptions,
  type EncryptOptions,
  type EnvelopeEngine,
  type EnvelopeEngineStats,
  hasPaddingRoom,
  InlineEnvelopeEngine,
} from "./envelope-engine.ts";
import { AES_BLOCK_SIZE } from "./envelope-layout.ts";
import type { IntegrityKey } from "./integrity-key.ts";

export interface CryptoWorkerPoolOptions {
  /** Worker threads, 1-64. */
  threads: number;
  /** The bundled worker (dist/crypto-worker.cjs), run with `eval`. */
  source: string;
  /** Inputs below this many bytes run inline: moving them costs more than it saves. */
  minOffloadBytes?: number;
  /** Startup deadline of a worker. */
  startTimeoutMs?: number;
  logger?: Logger;
}

const DEFAULT_MIN_OFFLOAD_BYTES = 1024 * 1024;
const COPY_STEP = 4 * 1024 * 1024;
/** A worker that dies this many times in a row without finishing a job is not started again. */
const MAX_CONSECUTIVE_FAILURES = 3;

interface PendingJob {
  readonly message: CryptoJob;
  /** The caller's own memory, not a copy, is to be moved to the worker. */
  readonly takesInput: boolean;
  readonly cek: Buffer;
  /** Envelope version 2 jobs: written into the slot after the CEK. */
  readonly integrityKey: IntegrityKey | undefined;
  readonly signal: AbortSignal | undefined;
  settled: boolean;
  resolve(result: Extract<CryptoJobResult, { ok: true }>): void;
  reject(error: unknown): void;
  detach(): void;
}

interface Slot {
  readonly index: number;
  readonly keySlot: SharedArrayBuffer;
  readonly key: Buffer;
  worker: Worker | undefined;
  online: boolean;
  job: PendingJob | undefined;
  consecutiveFailures: number;
}

export class CryptoWorkerPool implements EnvelopeEngine {
  readonly #options: Required<Omit<CryptoWorkerPoolOptions, "logger">>;
  readonly #logger: Logger | undefined;
  readonly #inline = new InlineEnvelopeEngine();
  readonly #slots: Slot[] = [];
  readonly #queue: PendingJob[] = [];
  #nextId = 1;
  #offloaded = 0;
  #inputsTaken = 0;
  #restarts = 0;
  #closed = false;
  /** Until start() succeeds, a dead worker fails the start instead of being restarted. */
  #started = false;

  constructor(options: CryptoWorkerPoolOptions) {
    /* Precondition: a sane number of threads. */
    if (!Number.isInteger(options.threads) || options.threads < 1 || options.threads > 64) {
      throw new StorageError(
        "invalid-argument",
        `Expected an integer between 1 and 64 for the crypto worker threads but received ${String(options.threads)}`,
      );
    }
    this.#options = {
      threads: options.threads,
      source: options.source,
      minOffloadBytes: options.minOffloadBytes ?? DEFAULT_MIN_OFFLOAD_BYTES,
      startTimeoutMs: options.startTimeoutMs ?? 30_000,
    };
    this.#logger = options.logger;
  }

  /**
   * Starts every worker and waits until they run. Resolves false (and logs why) when they
   * cannot start here; the pool then runs everything inline.
   */
  async start(): Promise<boolean> {
    for (let index = 0; index < this.#options.threads; index++) {
      const keySlot = new SharedArrayBuffer(KEY_SLOT_LENGTH);
      this.#slots.push({
        index,
        keySlot,
        key: Buffer.from(keySlot),
        worker: undefined,
        online: false,
        job: undefined,
        consecutiveFailures: 0,
      });
    }
    try {
      await Promise.all(this.#slots.map((slot) => this.#spawn(slot)));
      this.#started = true;
      return true;
    } catch (error) {
      this.#logger?.warning(
        `crypto worker threads could not start (${error instanceof Error ? error.message : String(error)}); ` +
          "encryption runs on the JavaScript thread instead",
      );
      await this.#terminateAll();
      return false;
    }
  }

  /** `inputsTaken`: jobs whose caller's memory moved to the worker without a copy. */
  get stats(): Required<EnvelopeEngineStats> {
    return {
      threads: this.#slots.filter((slot) => slot.worker !== undefined).length,
      offloaded: this.#offloaded,
      inputsTaken: this.#inputsTaken,
      inline: this.#inline.stats.inline,
      restarts: this.#restarts,
      queued: this.#queue.length,
    };
  }

  async encrypt(
    plaintext: Buffer,
    dataKey: DataKey,
    library: string,
    context: EnvelopeContext,
    options: EncryptOptions = {},
  ): Promise<EncryptedBlob> {
    if (!this.#offloads(plaintext.length)) {
      return this.#inline.encrypt(plaintext, dataKey, library, context, options);
    }
    const { keyId, algorithm, encryptedKey } = dataKey.wrapped;
    // The worker encrypts in place: a handed-over input with room for the padding moves as it
    // is (the plugin's create inputs have that room); anything else is copied with room.
    const { data, offset, taken } = await workerInput(
      plaintext,
      options.consumeInput === true && hasPaddingRoom(plaintext),
      AES_BLOCK_SIZE,
    );
    const result = await this.#submit(
      {
        id: this.#nextId++,
        op: "encrypt",
        data,
        offset,
        length: plaintext.length,
        context: { uuid: context.uuid, contentType: context.contentType },
        wrapped: { keyId, algorithm, encryptedKey: new Uint8Array(encryptedKey) },
        library,
        ...(options.integrityKey === undefined ? {} : { integrityKeyId: options.integrityKey.id }),
      },
      taken,
      { cek: dataKey.cek, integrityKey: options.integrityKey },
      options.abortSignal,
    );
    if (result.metadata === undefined)
      throw new StorageError("internal", "the crypto worker returned no metadata");
    return { body: Buffer.from(result.data, result.offset, result.length), metadata: result.metadata };
  }

  async decrypt(
    body: Buffer,
    metadata: Readonly<Record<string, string>>,
    cek: Buffer,
    context: EnvelopeContext,
    options: DecryptOptions = {},
  ): Promise<Buffer> {
    if (!this.#offloads(body.length)) return this.#inline.decrypt(body, metadata, cek, context, options);
    const { data, offset, taken } = await workerInput(body, options.consumeInput === true, 0);
    const result = await this.#submit(
      {
        id: this.#nextId++,
        op: "decrypt",
        data,
        offset,
        length: body.length,
        context: { uuid: context.uuid, contentType: context.contentType },
        metadata: { ...metadata },
        ...(options.integrityKey === undefined ? {} : { integrityKeyId: options.integrityKey.id }),
      },
      taken,
      { cek, integrityKey: options.integrityKey },
      options.abortSignal,
    );
    return Buffer.from(result.data, result.offset, result.length);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      settle(job, () => job.reject(new StorageError("unavailable", "the crypto worker pool is closed")));
    }
    await this.#terminateAll();
  }

  #offloads(length: number): boolean {
    return (
      !this.#closed && length >= this.#options.minOffloadBytes && this.#slots.some((slot) => slot.worker)
    );
  }

  #submit(
    message: CryptoJob,
    takesInput: boolean,
    keys: { cek: Buffer; integrityKey: IntegrityKey | undefined },
    signal: AbortSignal | undefined,
  ): Promise<Extract<CryptoJobResult, { ok: true }>> {
    const { cek, integrityKey } = keys;
    /* Precondition: a CEK and an integrity key of the sizes of the key slot's two parts. */
    try {
      checkCek(cek);
    } catch (error) {
      return Promise.reject(error);
    }
    if (integrityKey !== undefined && integrityKey.key.length !== KEY_SLOT_LENGTH - CEK_SLOT_LENGTH) {
      return Promise.reject(new StorageError("invalid-argument", "Expected a 32-byte integrity key"));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const queued = this.#queue.indexOf(job);
        if (queued >= 0) this.#queue.splice(queued, 1);
        // A running job finishes on its worker; its late result is dropped.
        settle(job, () => reject(signal?.reason));
      };
      const job: PendingJob = {
        message,
        takesInput,
        cek,
        integrityKey,
        signal,
        settled: false,
        resolve,
        reject,
        detach: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(job);
      this.#pump();
    });
  }

  #pump(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) return;
      if (slot.worker === undefined || !slot.online || slot.job !== undefined) continue;
      const job = this.#queue.shift();
      if (job === undefined || job.settled) continue;
      slot.key.set(job.cek, 0);
      if (job.integrityKey === undefined) slot.key.fill(0, CEK_SLOT_LENGTH);
      else slot.key.set(job.integrityKey.key, CEK_SLOT_LENGTH);
      slot.job = job;
      this.#offloaded++;
      slot.worker.postMessage(job.message, [job.message.data]);
      // Moved, not cloned, only if it is detached now (Node clones what it may not move).
      if (job.takesInput && job.message.data.byteLength === 0) this.#inputsTaken++;
    }
    // Every worker died for good while jobs waited: run them inline rather than strand them.
    if (this.#queue.length > 0 && !this.#slots.some((slot) => slot.worker !== undefined)) {
      for (const job of this.#queue.splice(0)) {
        settle(job, () => job.reject(new StorageError("unavailable", "no crypto worker is running")));
      }
    }
  }

  #spawn(slot: Slot): Promise<void> {
    const workerData: CryptoWorkerData = { keySlot: slot.keySlot };
    const worker = new Worker(this.#options.source, {
      eval: true,
      workerData,
      stdout: false,
      stderr: false,
      resourceLimits: { maxOldGenerationSizeMb: 128 },
    });
    slot.worker = worker;
    slot.online = false;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`a worker did not start within ${this.#options.startTimeoutMs} ms`));
        void worker.terminate();
      }, this.#options.startTimeoutMs);
      // Ready when the worker's script has run to its end, not merely when the thread exists.
      worker.on("message", (message: CryptoWorkerMessage) => {
        if ("ready" in message) {
          clearTimeout(timer);
          slot.online = true;
          resolve();
          this.#pump();
          return;
        }
        this.#finish(slot, message);
      });
      worker.on("error", (error: Error) => {
        clearTimeout(timer);
        reject(error);
        this.#logger?.error(`crypto worker ${slot.index} failed: ${error.message}`);
      });
      worker.once("exit", (code: number) => {
        clearTimeout(timer);
        reject(new Error(`a worker exited with code ${code} while starting`));
        this.#exited(slot, worker, code);
      });
    });
  }

  #finish(slot: Slot, result: CryptoJobResult): void {
    const job = slot.job;
    slot.job = undefined;
    slot.key.fill(0);
    slot.consecutiveFailures = 0;
    if (job !== undefined && job.message.id === result.id) {
      settle(job, () => {
        if (result.ok) job.resolve(result);
        else job.reject(new StorageError(result.code, result.message));
      });
    }
    this.#pump();
  }

  #exited(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return;
    const wasOnline = slot.online;
    slot.worker = undefined;
    slot.online = false;
    slot.key.fill(0);
    const job = slot.job;
    slot.job = undefined;
    if (job !== undefined || !wasOnline) slot.consecutiveFailures++;
    if (job !== undefined) {
      settle(job, () =>
        job.reject(
          new StorageError(
            "internal",
            `the crypto worker stopped (exit code ${code}) during ${job.message.op}`,
          ),
        ),
      );
    }
    if (this.#closed || !this.#started) return;
    if (slot.consecutiveFailures >= MAX_CONSECUTIVE_FAILURES) {
      this.#logger?.error(
        `crypto worker ${slot.index} failed ${slot.consecutiveFailures} jobs in a row; it is not restarted`,
      );
      this.#pump();
      return;
    }
    this.#restarts++;
    this.#logger?.warning(`crypto worker ${slot.index} exited with code ${code}; restarting it`);
    this.#spawn(slot).catch(() => {
      // Logged by the error/exit handlers; the slot stays empty until its next exit handling.
    });
  }

  async #terminateAll(): Promise<void> {
    const workers = this.#slots.flatMap((slot) => (slot.worker ? [slot.worker] : []));
    for (const slot of this.#slots) {
      slot.worker = undefined;
      slot.online = false;
      slot.key.fill(0);
      const job = slot.job;
      slot.job = undefined;
      if (job)
        settle(job, () => job.reject(new StorageError("unavailable", "the crypto worker pool is closed")));
    }
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

function settle(job: PendingJob, action: () => void): void {
  if (job.settled) return;
  job.settled = true;
  job.detach();
  action();
}

/**
 * The bytes a job sends to its worker: `view`'s own memory when it may be taken (handed over,
 * and movable), else a movable copy with `room` spare bytes after it.
 */
async function workerInput(
  view: Uint8Array,
  mayTake: boolean,
  room: number,
): Promise<{ data: ArrayBuffer; offset: number; taken: boolean }> {
  const own = mayTake ? movableBytes(view, false) : undefined;
  if (own !== undefined) return { ...own, taken: true };
  return { data: await movableCopy(view, room), offset: 0, taken: false };
}

/**
 * A copy of `view` in an ArrayBuffer of its own (movable), with `room` spare bytes after it,
 * made in steps of COPY_STEP bytes.
 */
async function movableCopy(view: Uint8Array, room = 0): Promise<ArrayBuffer> {
  const copy = new ArrayBuffer(view.length + room);
  const target = new Uint8Array(copy);
  for (let position = 0; position < view.length; position += COPY_STEP) {
    if (position > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    target.set(view.subarray(position, Math.min(position + COPY_STEP, view.length)), position);
  }
  return copy;
}
