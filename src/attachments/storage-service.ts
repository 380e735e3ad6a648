/**
 * The storage operations the Orthanc bridge calls: attachment (uuid, content type) in,
 * blob-store calls out. Every operation waits for a slot in a bounded queue and runs under
 * one deadline (operationTimeoutMs, combined with the caller's abortSignal/timeoutInMs),
 * queueing time included. Failures are thrown as StorageErrors and not logged here: the
 * native shim logs each failure once, with the operation and uuid.
 */

import { abortedError, combineAbortSignals, minTimeout, raceWithSignal } from "../async/abort.ts";
import { ConcurrencyLimiter } from "../async/concurrency-limiter.ts";
import type { OperationOptions } from "../async/operation-options.ts";
import { describeError, StorageError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import { AttachmentCodec, PLAIN_FORMAT } from "./attachment-codec.ts";
import { blobNameFor } from "./naming.ts";

export { PLAIN_FORMAT };

export interface StorageServiceOptions {
  /** "" or a prefix ending in "/". */
  blobNamePrefix: string;
  /** Deadline for a whole operation, queueing and retries included. */
  operationTimeoutMs: number;
  /** Store operations in flight at once; more wait in a FIFO queue. */
  maxConcurrentRequests: number;
  logger: Logger;
  /** Plain or envelope encoding (default: plain, no key). */
  codec?: AttachmentCodec | undefined;
}

export class StorageService {
  readonly #store: BlobStore;
  readonly #prefix: string;
  readonly #operationTimeoutMs: number;
  readonly #limiter: ConcurrencyLimiter;
  readonly #logger: Logger;
  readonly #codec: AttachmentCodec;

  constructor(store: BlobStore, options: StorageServiceOptions) {
    if (!Number.isFinite(options.operationTimeoutMs) || options.operationTimeoutMs <= 0) {
      throw new StorageError(
        "invalid-argument",
        `StorageService needs a positive operationTimeoutMs but received ${String(options.operationTimeoutMs)}`,
      );
    }
    this.#store = store;
    this.#prefix = options.blobNamePrefix;
    this.#operationTimeoutMs = options.operationTimeoutMs;
    this.#limiter = new ConcurrencyLimiter(options.maxConcurrentRequests);
    this.#logger = options.logger;
    this.#codec = options.codec ?? new AttachmentCodec({ encryptWrites: false, allowUnencryptedReads: true });
  }

  /** Operations running against the store / waiting for a slot. */
  get queue(): { active: number; pending: number } {
    return { active: this.#limiter.active, pending: this.#limiter.pending };
  }

  /** The blob name used for an attachment (validates uuid and content type). */
  blobName(uuid: string, contentType: number): string {
    return blobNameFor(this.#prefix, uuid, contentType);
  }

  /**
   * Stores an attachment. Idempotent: when the blob already exists with identical bytes (a
   * retry after a lost response) this succeeds; different bytes are never overwritten.
   * With `consumeInput` the caller hands `data` over (encryption may reuse its memory).
   */
  async create(
    uuid: string,
    contentType: number,
    data: Buffer,
    options: OperationOptions & { consumeInput?: boolean } = {},
  ): Promise<void> {
    const name = this.blobName(uuid, contentType);
    if (!Buffer.isBuffer(data)) {
      throw new StorageError("invalid-argument", `create ${name}: expected the attachment data as a Buffer`);
    }
    const context = { uuid, contentType };
    await this.#run("create", name, options, async (abortSignal) => {
      const encoded = await this.#codec.encode(data, context, {
        abortSignal,
        consumeInput: options.consumeInput === true,
      });
      try {
        await this.#store.create(name, encoded.body, { metadata: encoded.metadata, abortSignal });
        return;
      } catch (error) {
        if (!(error instanceof StorageError && error.code === "already-exists")) throw error;
      }
      // A retry after a lost response finds its own blob: the very bytes just sent (an SDK
      // retry resends them), or, when `data` was not handed over to encryption (which may have
      // overwritten or moved it), the same attachment once decoded (a fresh IV differs).
      const existing = await this.#store.read(name, { abortSignal });
      const sameBlob = existing.data.equals(encoded.body);
      const stored =
        sameBlob || options.consumeInput === true
          ? undefined
          : await this.#codec.decode(existing, context, name, { abortSignal }).catch(() => undefined);
      if (sameBlob || stored?.equals(data) === true) {
        this.#logger.info(
          `create ${name}: an identical blob is already stored (a retry after a lost response?); treating it as success`,
        );
        return;
      }
      throw new StorageError(
        "already-exists",
        `refusing to overwrite blob ${name}: a different blob is already stored under attachment ${uuid}`,
      );
    });
  }

  /** The whole attachment. */
  async readWhole(uuid: string, contentType: number, options: OperationOptions = {}): Promise<Buffer> {
    const name = this.blobName(uuid, contentType);
    return this.#run("read", name, options, async (abortSignal) => {
      const blob = await this.#store.read(name, { abortSignal });
      return this.#codec.decode(blob, { uuid, contentType }, name, { abortSignal });
    });
  }

  /** Exactly `length` bytes from `offset`. */
  async readRange(
    uuid: string,
    contentType: number,
    offset: number,
    length: number,
    options: OperationOptions = {},
  ): Promise<Buffer> {
    const name = this.blobName(uuid, contentType);
    if (!isNonNegativeSafeInteger(offset) || !isNonNegativeSafeInteger(length)) {
      throw new StorageError(
        "invalid-argument",
        `readRange ${name}: offset and length must be non-negative safe integers but received offset=${String(offset)}, length=${String(length)}`,
      );
    }
    return this.#run("readRange", name, options, async (abortSignal) => {
      const data = await this.#codec.readRange(this.#store, name, { uuid, contentType }, offset, length, {
        abortSignal,
      });
      if (data.length !== length) {
        throw new StorageError(
          "internal",
          `readRange ${name}: the store returned ${data.length} bytes instead of ${length} at offset ${offset}`,
        );
      }
      return data;
    });
  }

  /** Deletes an attachment; a missing blob is a success (logged as a warning). */
  async remove(uuid: string, contentType: number, options: OperationOptions = {}): Promise<void> {
    const name = this.blobName(uuid, contentType);
    await this.#run("remove", name, options, async (abortSignal) => {
      const { existed } = await this.#store.delete(name, { abortSignal });
      if (!existed) this.#logger.warning(`remove ${name}: blob was already missing`);
    });
  }

  /**
   * Runs `body` in a limiter slot under the operation deadline. A store that ignores the
   * abort signal cannot hold the caller past the deadline (its late result is dropped), but
   * it keeps its slot until it settles, so the limiter still bounds real concurrency.
   */
  async #run<T>(
    operation: string,
    name: string,
    options: OperationOptions,
    body: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const timeout = minTimeout(this.#operationTimeoutMs, options.timeoutInMs);
    const combined = combineAbortSignals([options.abortSignal], timeout);
    const { signal } = combined;
    const onAbort = (): StorageError => abortedError(operation, name, signal);
    try {
      return await raceWithSignal(
        this.#limiter.run(() => body(signal), { abortSignal: signal }),
        signal,
        onAbort,
      );
    } catch (error) {
      if (error instanceof StorageError && error.code !== "timeout") throw error;
      if (signal.aborted) throw onAbort();
      if (error instanceof StorageError) throw error;
      throw new StorageError("internal", `${operation} ${name}: unexpected error: ${describeError(error)}`, {
        cause: error,
      });
    } finally {
      combined.dispose();
    }
  }
}

function isNonNegativeSafeInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}
