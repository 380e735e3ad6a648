/**
 * The one storage abstraction. Implementations: AzureBlobStore (@azure/storage-blob)
 * and MemoryBlobStore. Every method takes an options bag with abortSignal and
 * timeoutInMs (Azure SDK guidelines). Implementations throw only StorageError.
 */
import type { OperationOptions } from "../async/operation-options.ts";

export interface CreateBlobOptions extends OperationOptions {
  /** Metadata stored with the blob (names: lowercase C# identifiers, values: ASCII). */
  metadata?: Readonly<Record<string, string>>;
}

export interface BlobProperties {
  contentLength: number;
  metadata: Readonly<Record<string, string>>;
  /** Last-Modified: set by the service on every write of the body or the metadata, never by a client. */
  lastModified?: Date;
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

  /** Exactly `length` bytes from `offset` (one ranged request). Short data is an error. */
  readRange(name: string, offset: number, length: number, options?: OperationOptions): Promise<Buffer>;

  /**
   * Up to `length` bytes from `offset`, clipped at the end of the blob, together with the
   * blob's properties (total length, metadata), from the same single request. For readers
   * whose layout depends on the blob's size (encrypted blobs).
   */
  readRangeWithProperties(
    name: string,
    offset: number,
    length: number,
    options?: OperationOptions,
  ): Promise<DownloadedBlob>;

  /** Properties only. */
  getProperties(name: string, options?: OperationOptions): Promise<BlobProperties>;

  /** Deleting a missing blob succeeds with existed: false. */
  delete(name: string, options?: OperationOptions): Promise<DeleteResult>;

  /** Releases sockets and timers. */
  close(): Promise<void>;
}
