/**
 * The one storage abstraction. Implementations: AzureBlobStore (@azure/storage-blob)
 * and MemoryBlobStore. Every method takes an options bag with abortSignal and
 * timeoutInMs (Azure SDK guidelines). Implementations throw only StorageError.
 */
import type { OperationOptions } from "../async/operation-options.ts";
import { StorageError } from "../errors.ts";

export interface CreateBlobOptions extends OperationOptions {
  /** Metadata stored with the blob (names: lowercase C# identifiers, values: ASCII). */
  metadata?: Readonly<Record<string, string>>;
}

export interface BlobProperties {
  contentLength: number;
  metadata: Readonly<Record<string, string>>;
  /** Last-Modified: set by the service on every write of the body or the metadata, never by a client. */
  lastModified?: Date;
  /** ETag: changes on every write of the body or the metadata; conditional writes name it. */
  etag?: string;
}

export interface SetMetadataOptions extends OperationOptions {
  /** Write only if the blob's ETag is still this one; otherwise StorageError("changed"). */
  ifMatch: string;
}

export interface DownloadedBlob {
  /** The caller's own copy: nothing else references its memory. */
  data: Buffer;
  properties: BlobProperties;
}

export interface DeleteResult {
  /** False when there was nothing to delete (which is still a success). */
  existed: boolean;
}

export interface BlobStore {
  /** Human-readable description for logs, never containing secrets. */
  readonly description: string;

  /** Makes sure the container exists (creating it only when allowed). */
  initialize(options?: OperationOptions & { createContainerIfMissing?: boolean }): Promise<void>;

  /**
   * Stores a new blob. Never overwrites: when a blob already exists under that name the
   * call fails with StorageError("already-exists").
   */
  create(name: string, data: Buffer, options?: CreateBlobOptions): Promise<void>;

  /** Whole blob, body and properties from a single request. */
  read(name: string, options?: OperationOptions): Promise<DownloadedBlob>;

  /**
   * Up to `length` (at least 1) bytes from `offset`, clipped at the end of the blob (empty when
   * `offset` is at or past the end), together with the blob's properties (total length,
   * metadata), from the same single request: readers whose layout depends on the blob's size
   * (encrypted blobs) need no second request, and check the range against the size themselves.
   */
  readRange(
    name: string,
    offset: number,
    length: number,
    options?: OperationOptions,
  ): Promise<DownloadedBlob>;

  /** Properties only. */
  getProperties(name: string, options?: OperationOptions): Promise<BlobProperties>;

  /**
   * Replaces all of a blob's metadata, the body untouched, if its ETag is still `ifMatch`
   * (StorageError("changed") otherwise). For metadata-only re-sealing (rewrap, the upgrade to
   * envelope version 2).
   */
  setMetadata(
    name: string,
    metadata: Readonly<Record<string, string>>,
    options: SetMetadataOptions,
  ): Promise<void>;

  /** Deleting a missing blob succeeds with existed: false. */
  delete(name: string, options?: OperationOptions): Promise<DeleteResult>;

  /** Releases sockets and timers. */
  close(): Promise<void>;
}

/**
 * The argument check of BlobStore.readRange, shared by every adapter: StorageError
 * ("invalid-argument") unless `offset` is a non-negative and `length` a positive safe integer.
 */
export function checkRangeArguments(name: string, offset: number, length: number): void {
  if (Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 1) return;
  throw new StorageError(
    "invalid-argument",
    `readRange ${name}: offset must be a non-negative and length a positive safe integer but received offset=${String(offset)}, length=${String(length)}`,
  );
}
