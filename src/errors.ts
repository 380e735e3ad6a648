/**
 * Error vocabulary shared by every module. Adapters (Azure, memory, key wrappers) map
 * their own failures into a StorageError with one of these codes; the bridge turns the
 * code into a status that the native shim maps to an OrthancPluginErrorCode in one table.
 */
export type StorageErrorCode =
  /** The blob does not exist. */
  | "not-found"
  /** The blob exists but its bytes or metadata fail verification. */
  | "integrity"
  /** A deadline passed (request timeout, abort). */
  | "timeout"
  /** A create found a different blob already stored under the same name. */
  | "already-exists"
  /** A conditional write found the blob changed since it was read (another ETag). */
  | "changed"
  /** The service cannot be reached or refused us (network, 5xx, auth). */
  | "unavailable"
  /** Bad input from the caller (invalid uuid, range, ...). */
  | "invalid-argument"
  /** Anything else: a bug or an unexpected answer. */
  | "internal";

export class StorageError extends Error {
  readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageError";
    this.code = code;
  }
}

export function isStorageError(error: unknown, code?: StorageErrorCode): error is StorageError {
  return error instanceof StorageError && (code === undefined || error.code === code);
}

/** A one-line description of any thrown value, for logs and bridge messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * A range that ends past the data it reads from: StorageError("invalid-argument"),
 * "range offset=<offset> length=<length> goes beyond the end of the <what> (size <size>)".
 * `what` is the blob (plain blobs) or the attachment (the plaintext of an encrypted blob).
 */
export function rangeBeyondEndError(
  offset: number,
  length: number,
  size: number,
  what: "blob" | "attachment",
): StorageError {
  return new StorageError(
    "invalid-argument",
    `range offset=${offset} length=${length} goes beyond the end of the ${what} (size ${size})`,
  );
}
