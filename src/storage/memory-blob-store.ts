/**
 * An in-memory BlobStore for unit tests and local experiments. It follows the same contract
 * as AzureBlobStore (never overwrites, ranges clipped at the end, StorageError only) and copies bytes in
 * and out so callers cannot change what is stored.
 */

import { abortedError, combineAbortSignals, delay } from "../async/abort.ts";
import type { OperationOptions } from "../async/operation-options.ts";
import { StorageError } from "../errors.ts";
import {
  type BlobProperties,
  type BlobStore,
  type CreateBlobOptions,
  checkRangeArguments,
  type DeleteResult,
  type DownloadedBlob,
  type SetMetadataOptions,
} from "./blob-store.ts";

export type MemoryBlobStoreOperation =
  | "initialize"
  | "create"
  | "read"
  | "readRange"
  | "getProperties"
  | "setMetadata"
  | "delete";

export interface MemoryBlobStoreOptions {
  /** Delay before every operation (honours abortSignal), to simulate a slow service. */
  latencyMs?: number;
  /** Whether the "container" exists at start; initialize() without creation fails if not. */
  containerExists?: boolean;
  /** Name used in messages. */
  containerName?: string;
}

interface StoredBlob {
  readonly data: Buffer;
  readonly metadata: Readonly<Record<string, string>>;
  /** As Azure's Last-Modified: the time of the last write (whole seconds, like the service). */
  readonly lastModified: Date;
  /** As Azure's ETag: new on every write. */
  readonly etag: string;
}

let writes = 0;
function nextEtag(): string {
  writes += 1;
  return `"0x${writes.toString(16).toUpperCase()}"`;
}

function emptyCounts(): Record<MemoryBlobStoreOperation, number> {
  return { initialize: 0, create: 0, read: 0, readRange: 0, getProperties: 0, setMetadata: 0, delete: 0 };
}

export class MemoryBlobStore implements BlobStore {
  readonly description: string;
  /** Calls per operation (failed and injected-failure calls included). */
  readonly counts: Record<MemoryBlobStoreOperation, number> = emptyCounts();
  /** Largest number of operations that were in flight at the same time. */
  maxInFlight = 0;

  latencyMs: number;
  readonly #containerName: string;
  #containerExists: boolean;
  #inFlight = 0;
  #closed = false;
  readonly #blobs = new Map<string, StoredBlob>();
  readonly #failures = new Map<MemoryBlobStoreOperation, unknown[]>();

  constructor(options: MemoryBlobStoreOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
    this.#containerExists = options.containerExists ?? true;
    this.#containerName = options.containerName ?? "memory";
    this.description = `in-memory blob store "${this.#containerName}"`;
  }

  /** Operations in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Number of stored blobs. */
  get size(): number {
    return this.#blobs.size;
  }

  /** The next call of `operation` throws `error` (queued: several calls inject several failures). */
  failNext(operation: MemoryBlobStoreOperation, error: unknown): void {
    const queue = this.#failures.get(operation) ?? [];
    queue.push(error);
    this.#failures.set(operation, queue);
  }

  resetCounts(): void {
    Object.assign(this.counts, emptyCounts());
    this.maxInFlight = 0;
  }

  has(name: string): boolean {
    return this.#blobs.has(name);
  }

  names(): string[] {
    return [...this.#blobs.keys()];
  }

  /** A copy of the stored bytes (test helper, bypasses counters and failures). */
  peek(name: string): Buffer | undefined {
    const blob = this.#blobs.get(name);
    return blob === undefined ? undefined : Buffer.from(blob.data);
  }

  /** Stores bytes directly, overwriting (test helper, bypasses counters and failures). */
  put(name: string, data: Buffer, metadata: Readonly<Record<string, string>> = {}): void {
    const now = Math.floor(Date.now() / 1000) * 1000;
    this.#blobs.set(name, {
      data: Buffer.from(data),
      metadata: Object.freeze({ ...metadata }),
      lastModified: new Date(now),
      etag: nextEtag(),
    });
  }

  async initialize(options: OperationOptions & { createContainerIfMissing?: boolean } = {}): Promise<void> {
    await this.#operation("initialize", `container "${this.#containerName}"`, options, () => {
      if (this.#containerExists) return;
      if (options.createContainerIfMissing === true) {
        this.#containerExists = true;
        return;
      }
      throw new StorageError(
        "unavailable",
        `Container "${this.#containerName}" does not exist and AzureBlobStorage.CreateContainerIfNotExists is false`,
      );
    });
  }

  async create(name: string, data: Buffer, options: CreateBlobOptions = {}): Promise<void> {
    await this.#operation("create", name, options, () => {
      if (this.#blobs.has(name)) {
        throw new StorageError("already-exists", `create ${name}: a blob already exists under this name`);
      }
      this.put(name, data, options.metadata);
    });
  }

  async read(name: string, options: OperationOptions = {}): Promise<DownloadedBlob> {
    return this.#operation("read", name, options, () => {
      const blob = this.#get("read", name);
      return { data: Buffer.from(blob.data), properties: propertiesOf(blob) };
    });
  }

  async readRange(
    name: string,
    offset: number,
    length: number,
    options: OperationOptions = {},
  ): Promise<DownloadedBlob> {
    return this.#operation("readRange", name, options, () => {
      checkRangeArguments(name, offset, length);
      const blob = this.#get("readRange", name);
      const end = Math.min(offset + length, blob.data.length);
      return {
        data: Buffer.from(blob.data.subarray(Math.min(offset, end), end)),
        properties: propertiesOf(blob),
      };
    });
  }

  async getProperties(name: string, options: OperationOptions = {}): Promise<BlobProperties> {
    return this.#operation("getProperties", name, options, () =>
      propertiesOf(this.#get("getProperties", name)),
    );
  }

  async setMetadata(
    name: string,
    metadata: Readonly<Record<string, string>>,
    options: SetMetadataOptions,
  ): Promise<void> {
    await this.#operation("setMetadata", name, options, () => {
      const blob = this.#get("setMetadata", name);
      if (blob.etag !== options.ifMatch) {
        throw new StorageError(
          "changed",
          `setMetadata ${name}: the blob changed since it was read (its ETag is not the one expected)`,
        );
      }
      this.put(name, blob.data, metadata);
    });
  }

  async delete(name: string, options: OperationOptions = {}): Promise<DeleteResult> {
    return this.#operation("delete", name, options, () => ({ existed: this.#blobs.delete(name) }));
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #get(operation: string, name: string): StoredBlob {
    const blob = this.#blobs.get(name);
    if (blob === undefined) throw new StorageError("not-found", `${operation} ${name}: blob not found`);
    return blob;
  }

  async #operation<T>(
    operation: MemoryBlobStoreOperation,
    subject: string,
    options: OperationOptions,
    body: () => T,
  ): Promise<T> {
    this.counts[operation]++;
    this.#inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
    const combined = combineAbortSignals([options.abortSignal], options.timeoutInMs);
    const { signal } = combined;
    try {
      if (signal.aborted) throw abortedError(operation, subject, signal);
      if (this.latencyMs > 0)
        await delay(this.latencyMs, signal, () => abortedError(operation, subject, signal));
      // Injected failures are thrown as given: tests use them to simulate misbehaving stores.
      const injected = this.#failures.get(operation);
      if (injected !== undefined && injected.length > 0) throw injected.shift();
      if (this.#closed) throw new StorageError("unavailable", `${operation} ${subject}: the store is closed`);
      if (!this.#containerExists && operation !== "initialize") {
        throw new StorageError(
          "unavailable",
          `${operation} ${subject}: container "${this.#containerName}" does not exist`,
        );
      }
      return body();
    } finally {
      combined.dispose();
      this.#inFlight--;
    }
  }
}

function propertiesOf(blob: StoredBlob): BlobProperties {
  return {
    contentLength: blob.data.length,
    metadata: { ...blob.metadata },
    lastModified: new Date(blob.lastModified),
    etag: blob.etag,
  };
}
